"""Tiny Markdown table helper for training reports (tabulate is not a dependency)."""

from __future__ import annotations

import pandas as pd


def table(df: pd.DataFrame | pd.Series, digits: int = 4) -> str:
    """A DataFrame/Series as a GitHub Markdown table (index as the first column)."""
    frame = df.to_frame() if isinstance(df, pd.Series) else df

    def fmt(v: object) -> str:
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join([str(frame.index.name or "")] + [str(c) for c in frame.columns]) + " |"
    sep = "|" + "---|" * (len(frame.columns) + 1)
    rows = [
        "| " + " | ".join([fmt(i)] + [fmt(v) for v in r]) + " |"
        for i, r in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    return "\n".join([head, sep, *rows])
