"""``shapeprep`` command line (single-mesh debugging tools come with the watertight engine)."""

from __future__ import annotations

import argparse

from . import __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shapeprep`` command."""
    parser = argparse.ArgumentParser(prog="shapeprep", description=__doc__)
    parser.add_argument("--version", action="version", version=f"shapeprep {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0
