"""Keeps glibc from handing large buffers back to the kernel after every chunk.

Streaming allocates and frees buffers of about a megabyte per chunk. By default glibc serves such sizes with
fresh ``mmap`` regions (or trims the heap top as soon as they are freed), so every chunk pays page faults on
memory it just released: measured, that was a third of the time of ``mailseal encrypt`` on 100 MiB. Raising the
mmap and trim thresholds makes freed chunks reusable; peak memory is unchanged (it is set by the chunk pipeline,
not by the thresholds). A no-op on other C libraries.
"""

from __future__ import annotations

import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for this setting on 64-bit systems
TRIM_THRESHOLD = 128 << 20


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed buffers for reuse. True when the settings were taken."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


__all__ = ["keep_freed_memory"]
