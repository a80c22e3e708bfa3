"""Recipients and signers named by address, resolved through the store (issue 5: `encrypt --to`, `sign --from`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from ..errors import RecipientError, TemporaryError
from ..pki.profile import check_certificate
from .capabilities import choose_cipher, choose_key_transport_for_all
from .directory import Directory
from .lookup import CertificateLookup


@dataclass(frozen=True)
class ResolvedRecipient:
    address: str
    certificate: x509.Certificate
    capabilities: tuple[str, ...] | None  # learned from the correspondent's own signed mail, if any


def resolve_recipients(
    addresses: Sequence[str], directory: Directory, at: datetime | None = None,
    lookup: CertificateLookup | None = None,
) -> list[ResolvedRecipient]:
    """For each address, the certificate that may receive encrypted mail and lasts longest: from the directory,
    or through the configured lookup (local directory, then LDAP / DNS SMIMEA).

    None found is a ``RecipientError``; none found while a source of the lookup did not answer is a
    ``TemporaryError`` (``temporary-failure``): the certificate may be there on a later try, so the gateway
    answers 4xx rather than refuse the message or send it without encryption."""
    out = []
    for address in addresses:
        failed: tuple[str, ...] = ()
        if lookup is not None:
            result = lookup.lookup(address)
            found, failed = list(result.certificates), result.failed
        else:
            found = directory.certificates_for(address, at)
        usable = sorted((c for c in found if check_certificate(c, email=address, at=at).can_encrypt),
                        key=lambda c: c.not_valid_after_utc, reverse=True)
        if not usable and failed:
            raise TemporaryError(f"no certificate for {address} yet, and the lookup could not ask "
                                 f"{', '.join(failed)}: try again later")
        if not usable:
            raise RecipientError(
                f"no usable certificate for {address} in the certificate directory "
                "or through the configured lookup (import one with `mailseal certs import`, or give the file)"
            )
        out.append(ResolvedRecipient(address, usable[0], directory.capabilities_for(address)))
    return out


def algorithms_for(recipients: Sequence[ResolvedRecipient], floor: str = "aes128-cbc") -> tuple[str, str]:
    """Content cipher and key transport every resolved recipient supports (RFC 8551 §2.7)."""
    caps = [r.capabilities for r in recipients]
    return choose_cipher(caps, floor), choose_key_transport_for_all(caps)


__all__ = ["ResolvedRecipient", "algorithms_for", "resolve_recipients"]
