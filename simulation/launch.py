"""The ``relsim`` command's entry point: light, so that Ctrl-C while relsim loads is quiet.

Importing the command line takes about a second (Mesa, pandas, numba); a Ctrl-C in that second
would otherwise end in a Python traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Load the command line and run it; a Ctrl-C while loading exits with status 130."""
    try:
        from simulation.cli import entry_point
    except KeyboardInterrupt:
        sys.stderr.write("interrupted while starting: nothing was done\n")
        raise SystemExit(130) from None
    entry_point()
