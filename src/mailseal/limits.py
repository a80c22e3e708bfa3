"""Resource limits on what a message may make mailseal do: the ``[limits]`` table of ``mailseal.toml``.

Every parser that reads what strangers send stops at one of these, with ``LimitExceededError`` (code
``limit-exceeded``): the CLI prints ``error[limit-exceeded]``, the gateway stamps or refuses the message. The
defaults are generous for real mail and small enough that no message can make a process spend unbounded time or
memory; docs/limits.md lists each with what it bounds and why the default is what it is.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import ConfigurationError, TimeLimitExceededError

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
class Deadline:
    """When the work on one message must stop (``limits.message_seconds`` from its start), as a ``time.monotonic``
    value: the loops that one message can make long (parts, signers, recipient infos, layers) check it at each
    turn, so a single pathological step stops in bounded time, not only the next step."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def check(self) -> None:
        """``TimeLimitExceededError`` once the time is up (the gateway answers 451 4.3.0, the CLI
        ``error[limit-exceeded]``)."""
        if time.monotonic() > self.at:
            raise TimeLimitExceededError(f"processing the message took more than {self.seconds:g} seconds "
                                         "(limits.message_seconds)")


@dataclass(frozen=True)
class Limits:
    """The limits in force; ``Limits()`` is the safe default. Built from settings by ``from_settings``. A copy
    made by ``started()`` carries the ``Deadline`` of one message: every parser given it checks the time too."""

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
    deadline: Deadline | None = field(default=None, compare=False)  # not a setting: set by started()

    def __post_init__(self) -> None:
        for f in self.settings():
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
        known = {f.name: f for f in cls.settings()}
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

    @classmethod
    def settings(cls) -> tuple[Any, ...]:
        """The fields that are settings (keys of ``[limits]``), in order."""
        return tuple(f for f in fields(cls) if f.name != "deadline")

    def started(self, seconds: float | None = None) -> Limits:
        """These limits with the deadline of a message whose work starts now: ``message_seconds`` (or
        ``seconds``) from now."""
        return replace(self, deadline=Deadline.after(self.message_seconds if seconds is None else seconds))

    def check_time(self) -> None:
        """``TimeLimitExceededError`` past the deadline, when these limits carry one."""
        if self.deadline is not None:
            self.deadline.check()


#: The default limits, for callers given none.
DEFAULT_LIMITS = Limits()


__all__ = ["DEFAULT_LIMITS", "DESCRIPTIONS", "Deadline", "Limits"]
