"""``python -m simulation``: the same as the ``relsim`` command."""

import sys

from simulation.cli import main

sys.exit(main())
