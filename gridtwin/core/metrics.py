"""Kept for code written before `gridtwin.core.telemetry`: re-exports its metric names.
New code imports from `gridtwin.core.telemetry`."""

from gridtwin.core.telemetry import DRIFT_FEATURES, instruments, setup_metrics, shutdown_metrics

__all__ = ["DRIFT_FEATURES", "instruments", "setup_metrics", "shutdown_metrics"]
