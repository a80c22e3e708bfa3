"""What policy can ask for one recipient: the modes, and the per-recipient settings that inherit global -> domain ->
user -> rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from . import validation as v


class Direction(StrEnum):
    """Which way a message goes for one recipient, from the envelope sender's and the recipient's domains."""

    OUTBOUND = "outbound"  # internal sender -> external recipient
    INBOUND = "inbound"  # external sender -> internal recipient
    INTERNAL = "internal"  # both internal
    RELAY = "relay"  # neither: the gateway must refuse it


class SignMode(StrEnum):
    ALWAYS = "always"  # sign, or refuse the recipient when the sender may not or cannot sign
    IF_KEY = "if-key"  # sign when the sender has a signing key
    NEVER = "never"


class EncryptMode(StrEnum):
    REQUIRE = "require"  # encrypt, or refuse/hold the recipient when no certificate is found
    IF_POSSIBLE = "if-possible"  # encrypt when a certificate is found
    NEVER = "never"
    PORTAL = "portal"  # always through the recipient portal (docs/portal.md)
    ENCRYPT_OR_PORTAL = "encrypt-or-portal"  # S/MIME when a certificate is found, else the portal


class MissingCertificate(StrEnum):
    """What ``encrypt = "require"`` does for a recipient with no usable certificate."""

    REJECT = "reject"
    HOLD = "hold"


class Action(StrEnum):
    """What happens to one recipient as a whole."""

    DELIVER = "deliver"
    REJECT = "reject"
    HOLD = "hold"


#: The settings of [policy], [policy.domains."D"], [policy.users."A"] and of rules, with their defaults.
DEFAULTS: Mapping[str, Any] = {
    "sign": SignMode.IF_KEY,
    "encrypt": EncryptMode.IF_POSSIBLE,
    "on_missing_certificate": MissingCertificate.REJECT,
    "decrypt_inbound": True,
    "verify_inbound": True,
    "strip_signatures": False,
    "subject_tag_encrypted": None,
    "subject_tag_signed": None,
    "subject_tag_failed": None,
}
ACTION_KEYS: tuple[str, ...] = tuple(DEFAULTS)
#: ``sign`` follows the sender (the envelope sender's user, then domain entry); every other key follows the recipient.
SENDER_KEYS: frozenset[str] = frozenset({"sign"})
#: The keys that matter for each direction; they choose which source names the recipient's deciding rule (the
#: most specific source; on a tie, the first key listed).
OUTBOUND_KEYS: tuple[str, ...] = ("encrypt", "on_missing_certificate", "sign")
INBOUND_KEYS: tuple[str, ...] = ("decrypt_inbound", "verify_inbound", "strip_signatures", "subject_tag_encrypted",
                                 "subject_tag_signed", "subject_tag_failed")


@dataclass(frozen=True)
class ActionSettings:
    """Per-recipient settings as written in one table: None means "not set here, inherit"."""

    sign: SignMode | None = None
    encrypt: EncryptMode | None = None
    on_missing_certificate: MissingCertificate | None = None
    decrypt_inbound: bool | None = None
    verify_inbound: bool | None = None
    strip_signatures: bool | None = None
    subject_tag_encrypted: str | None = None
    subject_tag_signed: str | None = None
    subject_tag_failed: str | None = None

    @classmethod
    def parse(cls, tbl: Mapping[str, Any], where: str) -> ActionSettings:
        """The action keys of ``tbl`` (other keys are the caller's to check)."""
        kwargs: dict[str, Any] = {}
        for key in ACTION_KEYS:
            if key not in tbl:
                continue
            value, at = tbl[key], f"{where}.{key}"
            if key == "sign":
                kwargs[key] = v.choice(value, SignMode, at)
            elif key == "encrypt":
                kwargs[key] = v.choice(value, EncryptMode, at)
            elif key == "on_missing_certificate":
                kwargs[key] = v.choice(value, MissingCertificate, at)
            elif key.startswith("subject_tag_"):
                kwargs[key] = v.string(value, at)
            else:
                kwargs[key] = v.boolean(value, at)
        return cls(**kwargs)

    def items(self) -> dict[str, Any]:
        """The keys set in this table."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def to_dict(self) -> dict[str, Any]:
        return {k: str(val) if isinstance(val, StrEnum) else val for k, val in self.items().items()}


@dataclass(frozen=True)
class EffectiveSettings:
    """Every per-recipient setting with its value (no inheritance left to do): e.g. the global settings."""

    sign: SignMode = SignMode.IF_KEY
    encrypt: EncryptMode = EncryptMode.IF_POSSIBLE
    on_missing_certificate: MissingCertificate = MissingCertificate.REJECT
    decrypt_inbound: bool = True
    verify_inbound: bool = True
    strip_signatures: bool = False
    subject_tag_encrypted: str | None = None
    subject_tag_signed: str | None = None
    subject_tag_failed: str | None = None


@dataclass(frozen=True)
class Resolved:
    """Every per-recipient setting with a value, and where each value came from (``"default"``, ``"global"``,
    ``"domain partner.example"``, ``"user alice@example.org"``, ``"rule NAME"``)."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]

    @classmethod
    def layered(cls, layers: list[tuple[str, ActionSettings, frozenset[str] | None]]) -> Resolved:
        """Apply ``(source, settings, only_these_keys)`` layers in order, later winning; None means every key."""
        values: dict[str, Any] = dict(DEFAULTS)
        sources = dict.fromkeys(DEFAULTS, "default")
        for source, settings, only in layers:
            for key, value in settings.items().items():
                if only is None or key in only:
                    values[key] = value
                    sources[key] = source
        return cls(values, sources)

    @property
    def sign(self) -> SignMode:
        return SignMode(self.values["sign"])

    @property
    def encrypt(self) -> EncryptMode:
        return EncryptMode(self.values["encrypt"])

    @property
    def on_missing_certificate(self) -> MissingCertificate:
        return MissingCertificate(self.values["on_missing_certificate"])

    @property
    def effective(self) -> EffectiveSettings:
        return EffectiveSettings(**self.values)

    def plain(self) -> dict[str, Any]:
        """The values as JSON-ready plain types."""
        return {k: str(val) if isinstance(val, StrEnum) else val for k, val in self.values.items()}

    def flag(self, key: str) -> bool:
        return bool(self.values[key])

    def text(self, key: str) -> str | None:
        value = self.values[key]
        return None if value is None else str(value)


__all__ = ["ACTION_KEYS", "DEFAULTS", "INBOUND_KEYS", "OUTBOUND_KEYS", "SENDER_KEYS", "Action", "ActionSettings",
           "Direction", "EffectiveSettings", "EncryptMode", "MissingCertificate", "Resolved", "SignMode"]
