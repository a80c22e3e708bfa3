"""Recipients and signers named by address, resolved through the store (issue 5: `encrypt --to`, `sign --from`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from ..errors import RecipientError
from ..pki.profile import check_certificate
from .capabilities import choose_cipher, choose_key_transport_for_all
from .directory import Directory


@dataclass(frozen=True)
class ResolvedRecipient:
    address: str
    certificate: x509.Certificate
    capabilities: tuple[str, ...] | None  # learned from the correspondent's own signed mail, if any


def resolve_recipients(
    addresses: Sequence[str], directory: Directory, at: datetime | None = None
) -> list[ResolvedRecipient]:
    """For each address, the directory certificate that may receive encrypted mail and lasts longest."""
    out = []
    for address in addresses:
        usable = [c for c in directory.certificates_for(address, at)
                  if check_certificate(c, email=address, at=at).can_encrypt]
        if not usable:
            raise RecipientError(
                f"no usable certificate for {address} in the certificate directory "
                "(import one with `mailseal certs import`, or give the certificate file)"
            )
        out.append(ResolvedRecipient(address, usable[0], directory.capabilities_for(address)))
    return out


def algorithms_for(recipients: Sequence[ResolvedRecipient], floor: str = "aes128-cbc") -> tuple[str, str]:
    """Content cipher and key transport every resolved recipient supports (RFC 8551 §2.7)."""
    caps = [r.capabilities for r in recipients]
    return choose_cipher(caps, floor), choose_key_transport_for_all(caps)


__all__ = ["ResolvedRecipient", "algorithms_for", "resolve_recipients"]
