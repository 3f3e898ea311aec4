"""The sweep's progress bar: runs done against the plan, failures, and the rate of this session.

Runs found on disk when a sweep resumes count as done but cost no time, so the rate and the
time left are computed from the runs finished in this session only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class NullBar:
    """A progress bar that shows nothing."""

    def skip(self, n: int) -> None:
        """Count ``n`` runs found on disk."""

    def advance(self, n: int, failed: int) -> None:
        """Count ``n`` runs finished in this session; ``failed`` runs have failed so far."""

    def set_total(self, total: int) -> None:
        """Change the number of runs planned."""


class RichBar:
    """Runs done (skipped ones included) against the plan; rate from this session's runs."""

    def __init__(self, progress: Any, task_id: Any):
        self.progress, self.task_id = progress, task_id
        self.new = 0

    def skip(self, n: int) -> None:
        """Count ``n`` runs found on disk."""
        if n:
            self.progress.update(self.task_id, advance=n)

    def advance(self, n: int, failed: int) -> None:
        """Count ``n`` runs finished in this session; ``failed`` runs have failed so far."""
        self.new += n
        self.progress.update(self.task_id, advance=n, failed=failed, new=self.new)

    def set_total(self, total: int) -> None:
        """Change the number of runs planned."""
        self.progress.update(self.task_id, total=total)


@contextlib.contextmanager
def progress_bar(show: bool, total: int, console: Any) -> Iterator[NullBar | RichBar]:
    """A progress bar for ``total`` runs (one that shows nothing unless ``show``).

    Args:
        show: whether to draw it.
        total: runs planned (sequential replication may raise it: ``set_total``).
        console: the ``rich.console.Console`` to draw on.
    """
    if not show:
        yield NullBar()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    def rate(task: Any) -> float:
        # Runs finished in this session per second: skipped runs cost no time.
        elapsed = task.elapsed or 0.0
        return task.fields.get("new", 0) / elapsed if elapsed > 0 else 0.0

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = rate(task)
            return Text(f"{speed:.2f} runs/s" if speed else "-- runs/s", style="cyan")

    class LeftColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = rate(task)
            if task.finished:
                return Text("done", style="green")
            if not speed or task.total is None:
                return Text("left --:--", style="blue")
            seconds = int((task.total - task.completed) / speed)
            hours, rest = divmod(seconds, 3600)
            return Text(f"left {hours}:{rest // 60:02d}:{rest % 60:02d}", style="blue")

    columns = (
        TextColumn("[bold]sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TextColumn("[red]{task.fields[failed]} failed"),
        RateColumn(),
        TimeElapsedColumn(),
        LeftColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task_id = progress.add_task("sweep", total=total, failed=0, new=0)
        yield RichBar(progress, task_id)
