"""``python -m benchmarks.planted``: the command line (see the package docstring)."""

from __future__ import annotations

from benchmarks.planted._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
