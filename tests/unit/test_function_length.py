"""No function over 80 lines in training/ or gridtwin/ (the project's style rule, issue 8).

Measured on the AST (first line of the ``def`` to the last line of its body, decorators
excluded), which is exact where ruff's PLR0915 (too many statements) is only a proxy. The
functions listed in ``KNOWN`` predate the rule and are owned by work in progress elsewhere;
each may not grow beyond its listed length, and the list may only shrink (a listed function
that is now short, or gone, fails too, so the entry is removed).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 80
PACKAGES = ("training", "gridtwin")
#: (path, qualified name) -> current length; to be split by their owners.
KNOWN: dict[tuple[str, str], int] = {
    ("gridtwin/features/core.py", "compute_features"): 165,
    ("gridtwin/ingest/validation.py", "validate_reading"): 159,
    ("gridtwin/models/equipment_failure.py", "Model.predict"): 96,
    ("gridtwin/core/telemetry/interceptors.py", "ServerTelemetryInterceptor.intercept_service"): 92,
    ("gridtwin/decision/balancing.py", "plan_moves"): 87,
    ("gridtwin/livefeed.py", "stream_feeder"): 86,
    ("gridtwin/models/harmonic_analysis.py", "Model.predict"): 85,
    ("gridtwin/reports/pdf.py", "_story"): 83,
}


def _functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{node.name}"
            yield name, node.end_lineno - node.lineno + 1
            yield from _functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


@functools.cache
def function_lengths() -> dict[tuple[str, str], int]:
    """Length in lines of every function and method under the packages (generated stubs excluded)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("gridtwin/v1/"):
                continue
            for name, length in _functions(ast.parse(path.read_text(), rel)):
                out[(rel, name)] = length
    return out


def test_measure_counts_nested_and_methods():
    tree = ast.parse("class A:\n    def f(self):\n        def g():\n            return 1\n        return g\n")
    assert dict(_functions(tree)) == {"A.f": 4, "A.f.g": 2}


def test_no_function_over_the_limit():
    lengths = function_lengths()
    too_long = {key: n for key, n in lengths.items() if n > LIMIT and (key not in KNOWN or n > KNOWN[key])}
    assert not too_long, f"functions over {LIMIT} lines (split them): {too_long}"


@pytest.mark.parametrize("key", sorted(KNOWN))
def test_known_exceptions_are_still_needed(key):
    length = function_lengths().get(key)
    assert length is not None and length > LIMIT, f"{key} is now {length} lines: remove it from KNOWN"
