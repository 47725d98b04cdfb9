"""Command-line plumbing of the `gridtwin` command: not imported by any service."""
