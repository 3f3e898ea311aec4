"""Errors shown as one line each, never as a traceback, and the exit status of each kind.

Exit statuses of every ``relsim`` command (documented in ``docs/guarantees.md``):

- 0: done;
- 1: a sweep finished but some of its runs failed (the rest are done);
- 2: a mistake in the input (a file, a flag, the output folder chosen): nothing was done;
- 3: the machine could not do it (not enough memory, a disk full or failing, the output
  folder taken by another relsim at the same moment): nothing partial was left behind;
- 130: interrupted (Ctrl-C or ``kill``).
"""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input. Each message is one line naming file, field and value.

    Args:
        problems: one line per problem.
    """

    exit_code = 2

    def __init__(self, problems: str | Iterable[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ScenarioError(UserError):
    """A scenario or experiment file that cannot be used."""


class ResourceError(UserError):
    """The machine, not the input, stops the work: memory, disk, a folder in use."""

    exit_code = 3


def os_error_line(exc: OSError, doing: str = "") -> str:
    """One line for an ``OSError``: the file, what was being done and the system's reason."""
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or exc.__class__.__name__
    prefix = f"{where}: " if where else ""
    return f"{prefix}{doing + ': ' if doing else ''}{reason}"
