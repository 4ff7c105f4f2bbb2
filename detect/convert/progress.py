"""A rich progress bar over a list of work items, off when not wanted (tests, pipes).

Example:
    >>> list(progress_iter([1, 2], "work", enabled=False))
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

T = TypeVar("T")


def progress_iter(items: Sequence[T], description: str, *, enabled: bool = True) -> Iterator[T]:
    """Yield ``items``, advancing a transient rich bar when ``enabled``."""
    if not enabled:
        yield from items
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=len(items))
        for item in items:
            yield item
            bar.advance(task)
