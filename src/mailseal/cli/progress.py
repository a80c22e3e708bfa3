"""Progress bars for long work: bulk imports and large input files (rich, drawn on stderr).

A bar is drawn only when stderr is a terminal, and never with ``--quiet`` or ``--json``: scripts, pipes and
mail filters see nothing. ``rich`` is imported only when a bar is actually drawn, so that the commands that
never show one, and every small message, do not pay for its import at start-up.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .terminal import quiet_requested, stderr_is_terminal

if TYPE_CHECKING:
    from rich.progress import Progress

#: An input file larger than this shows a bar while it is read (smaller ones take well under a second).
LARGE_FILE = 50 * 1024 * 1024

#: Bulk work with fewer items than this finishes before a bar would be worth drawing.
MANY_ITEMS = 2

Advance = Callable[[int], None]


def enabled(allowed: bool = True) -> bool:
    """Whether a bar may be drawn: ``allowed`` (False for ``--json``), not ``--quiet``, stderr a terminal."""
    return allowed and not quiet_requested() and stderr_is_terminal()


def _progress(*, transfer: bool) -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    counting = (DownloadColumn(), TransferSpeedColumn()) if transfer else (MofNCompleteColumn(),)
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TaskProgressColumn(),
                    *counting, TimeRemainingColumn(), console=Console(stderr=True),
                    # stdout carries the command's output (a signed message, a report): never captured or moved.
                    redirect_stdout=False, redirect_stderr=False)


def _nothing(n: int = 1) -> None:
    return None


@contextmanager
def counting(total: int, description: str, *, allowed: bool = True) -> Iterator[Advance]:
    """A bar over ``total`` items (files, certificates); yields ``advance(n)``. Nothing is drawn for a handful
    of items, off a terminal, or with ``--quiet``/``--json``."""
    if total < MANY_ITEMS or not enabled(allowed):
        yield _nothing
        return
    with _progress(transfer=False) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        yield advance


def _regular_size(fh: BinaryIO) -> int | None:
    try:
        info = os.fstat(fh.fileno())
    except (OSError, AttributeError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


@contextmanager
def reading(fh: BinaryIO, name: str, *, allowed: bool = True) -> Iterator[BinaryIO]:
    """``fh`` itself, or, for a regular file over ``LARGE_FILE`` on a terminal, the same file wrapped so that a bar
    follows the read position (a message is read in place and partly twice: headers and boundaries, then the
    bytes that are hashed or decrypted, so the bar shows where the reading is)."""
    size = _regular_size(fh)
    if size is None or size < LARGE_FILE or not enabled(allowed):
        yield fh
        return
    with _progress(transfer=True) as progress:
        task = progress.add_task(f"reading {Path(name).name}", total=size)
        yield progress.wrap_file(fh, task_id=task)
        # The last read is often a seek back to the start (the header again): the work itself is done.
        progress.update(task, completed=size)


__all__ = ["LARGE_FILE", "MANY_ITEMS", "Advance", "counting", "enabled", "reading"]
