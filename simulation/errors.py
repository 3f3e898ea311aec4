"""Errors caused by the user's input: reported in one line each, never as a traceback."""

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
