"""The README's headline table is regenerated between its markers on publish, and only there."""

from __future__ import annotations

from pathlib import Path

from gridtwin.registry import MODEL_MODULE
from training.report import README_MARKERS, publish_readme_table


def test_table_replaces_only_the_marked_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    start, end = README_MARKERS
    readme.write_text(f"intro\n{start}\nold table\n{end}\noutro\n")
    assert publish_readme_table(readme, tmp_path / "empty-registry")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{end}\noutro\n")
    assert "old table" not in text
    assert all(f"| {name} | – | not registered |" in text for name in MODEL_MODULE)


def test_a_readme_without_markers_is_left_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    assert not publish_readme_table(readme, tmp_path)
    assert readme.read_text() == "no markers here\n"
