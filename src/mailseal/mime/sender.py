"""The message's From addresses, and the rule that a signer's certificate names them (RFC 8550 §3, RFC 8551 §3).

A reader checks that the From address is one of the signer certificate's addresses (rfc822Name, or the subject's
emailAddress when the certificate has no subjectAltName address) and flags the signature when it is not; gpgsm
and Thunderbird refuse to sign such a message. So does ``mailseal.sign`` unless told ``allow_from_mismatch``.
"""

from __future__ import annotations

import re

from cryptography import x509

from ..errors import FromMismatchError
from ..pki.profile import certificate_emails, email_matches
from .entity import Entity

_ONE_MAILBOX = re.compile(r'\s*(?:(?:"[^"\\]*"|[^<>",;:@()\\]*)\s*<([^<>@\s",;:()]+@[^<>@\s",;:()]+)>|([^<>@\s",;:()]+@[^<>@\s",;:()]+))\s*')


def from_addresses(entity: Entity) -> list[str]:
    """The addr-specs of the From field(s): a lone plain mailbox is read directly, anything else by RFC 5322.

    A display name that looks like an address (``"boss@corp.example" <eve@evil.example>``) is a display name:
    the address is the one in angle brackets.
    """
    values = entity.fields("From")
    if len(values) == 1:
        simple = _ONE_MAILBOX.fullmatch(values[0])
        if simple:
            return [simple.group(1) or simple.group(2)]
    import email.utils  # the header parser only for the unusual From

    return [addr for _, addr in email.utils.getaddresses(values) if addr]


def check_signer_from(entity: Entity, certificate: x509.Certificate) -> None:
    """Raise FromMismatchError unless the message has a From and each of its addresses is the certificate's."""
    froms = from_addresses(entity)
    own = tuple(certificate_emails(certificate))
    named = ", ".join(own) if own else "none: the certificate names no e-mail address"
    override = "allow_from_mismatch (--allow-from-mismatch) signs it anyway"
    if not froms:
        raise FromMismatchError(
            f"the message has no From address, so no reader can match it to the signing certificate's "
            f"addresses ({named}): add a From field, or {override}", (), own)
    foreign = [addr for addr in froms if not email_matches(addr, certificate)]
    if foreign:
        which = "address " + foreign[0] + " is" if len(foreign) == 1 else "addresses " + ", ".join(foreign) + " are"
        raise FromMismatchError(
            f"the From {which} not among the signing certificate's addresses ({named}), so readers would flag the "
            f"signature (RFC 8550 §3): sign with a key for that address, or {override}", tuple(froms), own)


__all__ = ["check_signer_from", "from_addresses"]
