"""``python -m simulation``: the same as the ``relsim`` command."""

from simulation.launch import main

main()
