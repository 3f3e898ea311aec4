"""The playing clock: which period a playing dashboard should show, at a steady pace.

Drawing a period's charts costs far more than simulating it, and more on a busy machine. A
fixed pause between periods would make ten years take as long as the drawing allows; the clock
instead keeps the pace in months a second and lets the page skip the frames it cannot draw in
time, so a class sees the same ten years in the same number of seconds on any machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PlayClock:
    """A pace in periods a second, started at a period and a moment.

    Args:
        period: the period on show when playing started.
        started: the moment playing started (seconds, :func:`time.monotonic`).
        pace: periods a second (above 0).
    """

    period: int
    started: float
    pace: float

    def due(self, now: float) -> int:
        """The period that should be on show at ``now``: the next one at once, then on pace."""
        return self.period + 1 + math.floor((now - self.started) * self.pace)

    def wait(self, shown: int, now: float) -> float:
        """Seconds until the period after ``shown`` is due (0 when it is due already)."""
        next_due = self.started + (shown - self.period) / self.pace
        return max(0.0, next_due - now)
