"""Streaming input and output for the commands: files are read in place, results written atomically."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

from ..streamio import BackgroundWriter


@contextmanager
def input_stream(path: str | None) -> Iterator[BinaryIO]:
    """The input file opened in place (so large files are not copied), or stdin."""
    if path is None or path == "-":
        yield sys.stdin.buffer
        return
    with Path(path).open("rb") as fh:
        yield fh


@contextmanager
def output_stream(path: str | None) -> Iterator[BinaryIO]:
    """stdout, or a temporary file beside the target that replaces it only when the command succeeds."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def background(sink: BinaryIO) -> Iterator[BinaryIO]:
    """Writes to ``sink`` from a second thread while the caller computes the next chunk; flushed on exit."""
    writer = BackgroundWriter(sink)
    failed = False
    try:
        yield cast(BinaryIO, writer)  # only write() is used by the streaming writers
    except BaseException:
        failed = True
        raise
    finally:
        try:
            writer.close()
        except BaseException:
            if not failed:
                raise


__all__ = ["background", "input_stream", "output_stream"]
