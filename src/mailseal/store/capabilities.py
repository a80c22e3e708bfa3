"""Choosing algorithms from recipients' SMIMECapabilities (RFC 8551 §2.5.2, §2.7): content cipher and key transport."""

from __future__ import annotations

from collections.abc import Sequence

from ..cms.algorithms import CONTENT_CIPHERS, DEFAULT_CIPHER
from ..cms.algorithms import OID_RSAES_OAEP as RSAES_OAEP
from ..cms.enveloping import KeyTransport
from ..errors import RecipientError, UsageError

#: Strongest first (issue 5): AEAD before CBC, 256-bit before 128-bit, the order of ``CONTENT_CIPHERS``.
CIPHER_PREFERENCE: tuple[str, ...] = tuple(CONTENT_CIPHERS)
#: SMIMECapability OIDs of those ciphers, to their names (the OIDs live in ``cms.algorithms``).
CIPHER_OIDS: dict[str, str] = {c.oid: c.name for c in CONTENT_CIPHERS.values()}
#: RFC 8551 §2.7.1.2: with no knowledge of the recipient's capabilities, use AES-256 GCM.
DEFAULT_FOR_UNKNOWN = DEFAULT_CIPHER
DEFAULT_FLOOR = "aes128-cbc"


def _allowed(floor: str) -> tuple[str, ...]:
    if floor not in CIPHER_PREFERENCE:
        raise UsageError(f"unknown cipher floor {floor!r}; choose one of {', '.join(CIPHER_PREFERENCE)}")
    return CIPHER_PREFERENCE[: CIPHER_PREFERENCE.index(floor) + 1]


def choose_cipher(recipients_caps: Sequence[tuple[str, ...] | None], floor: str = DEFAULT_FLOOR) -> str:
    """The strongest content cipher at or above ``floor`` that every recipient advertised.

    A recipient whose capabilities are unknown (None), or whose advertisement names no cipher at or above the
    floor, constrains nothing: advertisements below the floor are ignored, never obeyed. When nobody constrains
    the choice the answer is AES-256 GCM (RFC 8551 §2.7.1.2). Recipients with no cipher in common raise
    ``RecipientError``: they need separate messages (RFC 8551 §2.7.3).
    """
    allowed = _allowed(floor)
    common = set(allowed)
    for caps in recipients_caps:
        if caps is None:
            continue
        offered = {CIPHER_OIDS[oid] for oid in caps if oid in CIPHER_OIDS} & set(allowed)
        if offered:
            common &= offered
    if common == set(allowed):
        return DEFAULT_FOR_UNKNOWN if DEFAULT_FOR_UNKNOWN in allowed else allowed[0]
    for name in allowed:
        if name in common:
            return name
    raise RecipientError(f"the recipients share no content cipher at or above {floor}: send them separate messages")


def choose_key_transport(caps: tuple[str, ...] | None) -> KeyTransport:
    """RSAES-OAEP only for a recipient who advertised it (RFC 8551 §2.3); PKCS#1 v1.5 otherwise."""
    return "oaep" if caps is not None and RSAES_OAEP in caps else "pkcs1v15"


def choose_key_transport_for_all(recipients_caps: Sequence[tuple[str, ...] | None]) -> KeyTransport:
    """One key transport for a message to several RSA recipients: OAEP only when every one advertised it."""
    if recipients_caps and all(choose_key_transport(c) == "oaep" for c in recipients_caps):
        return "oaep"
    return "pkcs1v15"


def choose_algorithms(recipients_caps: Sequence[tuple[str, ...] | None], *, default: str = DEFAULT_FOR_UNKNOWN,
                      floor: str = DEFAULT_FLOOR) -> tuple[str, KeyTransport]:
    """Content cipher and key transport for one message to every recipient (RFC 8551 §2.7): when none advertised
    its capabilities (a certificate given as a file advertises nothing), the ``default`` cipher and PKCS#1 v1.5;
    else the strongest cipher at or above ``floor`` every advertiser supports, and OAEP only when every recipient
    advertised it. `mailseal encrypt` and the gateway both choose here."""
    if all(caps is None for caps in recipients_caps):
        return default, "pkcs1v15"
    return choose_cipher(recipients_caps, floor), choose_key_transport_for_all(recipients_caps)


__all__ = [
    "CIPHER_OIDS",
    "CIPHER_PREFERENCE",
    "DEFAULT_FLOOR",
    "DEFAULT_FOR_UNKNOWN",
    "RSAES_OAEP",
    "choose_algorithms",
    "choose_cipher",
    "choose_key_transport",
    "choose_key_transport_for_all",
]
