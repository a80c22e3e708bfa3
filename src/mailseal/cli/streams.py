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


def stdin(what: str = "the message") -> BinaryIO:
    """Standard input; on a terminal, first a line on stderr saying what is expected and how to end it (someone
    who forgot ``-i`` otherwise sees a command that seems to hang)."""
    if sys.stdin.isatty():
        from .terminal import quiet_requested

        if not quiet_requested():
            print(f"mailseal: reading {what} from standard input (end with Ctrl-D)", file=sys.stderr, flush=True)
    return sys.stdin.buffer


@contextmanager
def input_stream(path: str | None, what: str = "the message", *, progress: bool = True) -> Iterator[BinaryIO]:
    """The input file opened in place (so large files are not copied), or stdin. A regular file of more than
    ``progress.LARGE_FILE`` bytes (given by -i or redirected to stdin) shows a progress bar on a terminal, unless
    ``progress`` is False (``--json``)."""
    from .progress import reading

    if path is None or path == "-":
        with reading(stdin(what), "standard input", allowed=progress) as source:
            yield source
        return
    with Path(path).open("rb") as fh, reading(fh, path, allowed=progress) as source:
        yield source


def umask_mode() -> int:
    """The mode a new file gets from the umask (what ``open()`` and the shell's ``>`` give it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def output_stream(path: str | None, *, private: bool = False) -> Iterator[BinaryIO]:
    """stdout, or a temporary file beside the target that replaces it only when the command succeeds.

    The file gets the mode the umask gives, as a shell redirection would; ``private`` output (decrypted content,
    key material) is 0600 whatever the umask, from its first byte (the temporary file is created so).
    """
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if target.exists() and not target.is_file():
        # A device or a pipe (/dev/null, a FIFO) is written in place: renaming over it would replace it.
        with target.open("wb") as fh:
            yield fh
        return
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if not private:
            os.fchmod(fd, umask_mode())
        with os.fdopen(fd, "w+b") as fh:
            _STAGING.add(id(fh))
            try:
                yield fh
            finally:
                _STAGING.discard(id(fh))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_STAGING: set[int] = set()  # ids of the temporary files output_stream() has open


def is_staging(sink: BinaryIO) -> bool:
    """True for the temporary file output_stream() makes: it is deleted on failure, so it may hold unverified
    plaintext; stdout and devices are not."""
    return id(sink) in _STAGING


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


__all__ = ["background", "input_stream", "is_staging", "output_stream", "stdin", "umask_mode"]
