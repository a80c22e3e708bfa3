"""Reading the `[policy]` settings: typed getters that raise ConfigurationError naming the table and key at fault."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from ..errors import ConfigurationError

E = TypeVar("E", bound=StrEnum)

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.I)
_MULTIPLIERS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` when a choice is close to ``word``, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} must be a table, not {_kind(value)}")
    return value


def check_keys(tbl: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse unknown keys: a typo must never silently fall back to a default."""
    known = tuple(allowed)
    for key, value in tbl.items():
        if key in known:
            continue
        hint = did_you_mean(key, known)
        if not hint and isinstance(value, Mapping) and "." not in key:
            # `[policy.domains.partner.example]` without quotes nests tables; say how to write it.
            hint = ' (a domain or address as a table name must be quoted, e.g. [policy.domains."partner.example"])'
        raise ConfigurationError(f'{where}: unknown key "{key}"{hint}')


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{where} must be true or false, not {_kind(value)}")
    return value


def string(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{where} must be a string, not {_kind(value)}")
    if not empty and not value.strip():
        raise ConfigurationError(f"{where} must not be empty")
    return value


def choice(value: Any, enum: type[E], where: str) -> E:
    text = string(value, where)
    try:
        return enum(text.strip().lower())
    except ValueError:
        names = [m.value for m in enum]
        raise ConfigurationError(
            f'{where}: "{text}" is not one of {", ".join(names)}{did_you_mean(text.lower(), names)}'
        ) from None


def string_list(value: Any, where: str) -> tuple[str, ...]:
    """A list of non-empty strings; a single string is taken as a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigurationError(f"{where} must be a non-empty list of strings, not {_kind(value)}")
    return tuple(string(v, f"{where}[{i}]") for i, v in enumerate(value))


def positive_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigurationError(f"{where} must be a positive number, not {value!r}")
    return float(value)


def size(value: Any, where: str) -> int:
    """Bytes: an integer, or a string with a binary multiple ("512K", "10M", "1G"; 1K = 1024)."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{where} must be a size in bytes, not {_kind(value)}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigurationError(f"{where} must not be negative")
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(m.group(1)) * _MULTIPLIERS[(m.group(2) or "")[:1].lower()]
    raise ConfigurationError(f'{where}: {value!r} is not a size (bytes, or a number with K, M or G such as "10M")')


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


__all__ = ["boolean", "check_keys", "choice", "did_you_mean", "positive_number", "size", "string", "string_list",
           "table"]
