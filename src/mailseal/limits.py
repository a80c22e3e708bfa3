"""Resource limits on what a message may make mailseal do: the ``[limits]`` table of ``mailseal.toml``.

Every parser that reads what strangers send stops at one of these, with ``LimitExceededError`` (code
``limit-exceeded``): the CLI prints ``error[limit-exceeded]``, the gateway stamps or refuses the message. The
defaults are generous for real mail and small enough that no message can make a process spend unbounded time or
memory; docs/limits.md lists each with what it bounds and why the default is what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigurationError

#: How each limit reads in messages and docs: name -> (unit, what it bounds).
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "max_layers": ("layers", "S/MIME layers (signed, encrypted) nested in one message"),
    "max_nesting": ("levels", "multipart entities nested inside one another"),
    "max_parts": ("parts", "body parts of one multipart entity, and of the whole message"),
    "max_signers": ("signers", "SignerInfos in one SignedData"),
    "max_recipient_infos": ("recipients", "RecipientInfos in one EnvelopedData or AuthEnvelopedData"),
    "max_certificates": ("certificates", "certificates carried in one SignedData"),
    "max_attributes": ("attributes", "signed or unsigned attributes of one signer"),
    "max_header_size": ("bytes", "the header block of one entity"),
    "max_header_fields": ("fields", "header fields of one entity"),
    "max_header_line": ("bytes", "one header field, continuation lines included"),
    "max_expansion": ("times", "an unwrapped layer's size over the size of the message it came in"),
    "message_seconds": ("seconds", "the gateway's work on one message (answered 451, tried again later)"),
}


@dataclass(frozen=True)
class Limits:
    """The limits in force; ``Limits()`` is the safe default. Built from settings by ``from_settings``."""

    max_layers: int = 8
    max_nesting: int = 50
    max_parts: int = 1000
    max_signers: int = 16
    max_recipient_infos: int = 1000
    max_certificates: int = 64
    max_attributes: int = 64
    max_header_size: int = 1 << 20
    max_header_fields: int = 2000
    max_header_line: int = 256 << 10
    max_expansion: float = 4.0
    message_seconds: float = 300.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"limits.{f.name} must be a positive number")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Limits:
        """The ``[limits]`` table, read strictly: an unknown key or a value that is not a positive number is a
        ``ConfigurationError`` naming it; a key left out keeps its default."""
        table = settings.get("limits", {})
        if not isinstance(table, Mapping):
            raise ConfigurationError("[limits] must be a table")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ConfigurationError(f"[limits] has unknown keys: {', '.join(unknown)} "
                                     f"(known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        for name, value in table.items():
            wants_float = known[name].type in ("float", float)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
                    or (isinstance(value, float) and not wants_float) or value != value or value == float("inf"):
                kind = "a positive number" if wants_float else "a positive integer"
                raise ConfigurationError(f"limits.{name} must be {kind}")
            values[name] = float(value) if wants_float else value
        return cls(**values)


#: The default limits, for callers given none.
DEFAULT_LIMITS = Limits()


__all__ = ["DEFAULT_LIMITS", "DESCRIPTIONS", "Limits"]
