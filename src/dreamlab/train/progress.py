"""Progress bars with rate and ETA for every long loop (rich), quiet when asked or when not a TTY."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["ProgressBar", "progress_bar", "track"]

T = TypeVar("T")


def _enabled(enabled: bool | None) -> bool:
    if enabled is not None:
        return enabled
    # Bars only where a person watches: a terminal, and not under CI or a pytest capture.
    return (
        sys.stderr.isatty() and not os.environ.get("CI") and "PYTEST_CURRENT_TEST" not in os.environ
    )


class _RateColumn(ProgressColumn):
    """Units per second, the way a person reads a training loop's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f}/s", style="cyan")


class ProgressBar:
    """A handle to one bar: ``advance`` it and set a short status text of live metrics."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1) -> None:
        """Move the bar forward by n units."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def status(self, text: str) -> None:
        """Show a short status (for example the latest loss) after the bar."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, status=text)


@contextmanager
def progress_bar(
    total: float, description: str, enabled: bool | None = None
) -> Iterator[ProgressBar]:
    """A bar of ``total`` units with rate and ETA: ``with progress_bar(n, "train") as bar: bar.advance()``."""
    if not _enabled(enabled):
        yield ProgressBar(None, None)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total, status="")
        bar = ProgressBar(progress, task)
        yield bar


def track(
    items: Iterable[T], description: str, total: int | None = None, enabled: bool | None = None
) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar (rate and ETA)."""
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    with progress_bar(total or 0, description, enabled) as bar:
        for item in items:
            yield item
            bar.advance()
