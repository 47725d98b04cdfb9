"""`python -m gridsim ...` entry point."""

from gridsim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
