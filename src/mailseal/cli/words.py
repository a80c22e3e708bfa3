"""What a command line names, read with the standard library only (the launcher reads it before anything else is
imported)."""

from __future__ import annotations


def command_word(argv: list[str]) -> str | None:
    """The first word that is not an option, nor the value of ``--home``: the command's name."""
    words = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] != "--home")]
    return words[0] if words else None


__all__ = ["command_word"]
