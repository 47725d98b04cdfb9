"""Command-line clients of the running mesh."""
