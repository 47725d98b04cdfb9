"""The models' overview (docs/models/README.md) carries the serving-path block per cadence:
`evaluate_serving --publish` inserts or replaces it, and retraining keeps it."""

from __future__ import annotations

from pathlib import Path

from training.report import write_overview
from training.serving_eval.report import README_END, README_START, publish_overview
from training.serving_eval.verdict import MET, NOT_MET


def _results(served: float) -> dict:
    row = {
        "model": "voltage_anomaly",
        "metric": "false alarms, % of normal readings",
        "served": served,
        "baseline": 0.5,
        "verdict": MET if served < 0.5 else NOT_MET,
        "cadence": "1 s",
        "baseline_name": "EN 50160 rule",
        "goal": "≤ 1 %",
    }
    return {"1 s": {"rows": [row]}, "1 min": {"rows": [row]}}


def _block(text: str) -> str:
    return text.split(README_START, 1)[1].split(README_END, 1)[0]


def test_publish_inserts_then_replaces_and_training_keeps_it(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    overview = write_overview(tmp_path, registry)
    assert README_START not in overview.read_text()

    assert publish_overview(_results(0.25), overview)
    text = overview.read_text()
    assert "0.25 vs 0.5 (met)" in _block(text)
    assert text.index(README_END) < text.index("| module | model | algorithm | version |")

    assert publish_overview(_results(0.75), overview)
    text = overview.read_text()
    assert text.count(README_START) == 1
    assert "0.75 vs 0.5 (**not met**)" in _block(text) and "0.25" not in _block(text)

    write_overview(tmp_path, registry)  # a retrain rewrites the overview
    kept = overview.read_text()
    assert kept.count(README_START) == 1 and "0.75 vs 0.5 (**not met**)" in _block(kept)


def test_no_overview_nothing_written(tmp_path: Path) -> None:
    assert not publish_overview(_results(0.25), tmp_path / "README.md")
    assert not (tmp_path / "README.md").exists()
