"""Recipients named by address, resolved through the store,:
the one home of that for `mailseal encrypt --to` and the gateway.
(The algorithms: ``capabilities.choose_algorithms``.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from ..errors import MailsealError, RecipientError, TemporaryError
from ..pki.profile import check_certificate
from .directory import Directory
from .keystore import KeyStore
from .lookup import CertificateLookup


@dataclass(frozen=True)
class ResolvedRecipient:
    address: str
    certificate: x509.Certificate
    capabilities: tuple[str, ...] | None  # learned from the correspondent's own signed mail, if any


def resolve_recipient(address: str, directory: Directory, at: datetime | None = None,
                      lookup: CertificateLookup | None = None, keys: KeyStore | None = None) -> ResolvedRecipient:
    """The certificate that may receive encrypted mail for ``address`` and lasts longest: from the directory, or
    through the configured lookup (local directory, then LDAP / DNS SMIMEA); else, for the organisation's own
    users, the certificate of their encryption identity in the key store ``keys`` (its key stays sealed).

    None found is a ``RecipientError``; none found while a source of the lookup did not answer is a
    ``TemporaryError`` (``temporary-failure``): the certificate may be there on a later try, so the gateway
    answers 4xx rather than refuse the message or send it without encryption."""
    failed: tuple[str, ...] = ()
    if lookup is not None:
        result = lookup.lookup(address)
        found, failed = list(result.certificates), result.failed
    else:
        found = directory.certificates_for(address, at)
    usable = sorted((c for c in found if check_certificate(c, email=address, at=at).can_encrypt),
                    key=lambda c: c.not_valid_after_utc, reverse=True)
    if usable:
        return ResolvedRecipient(address, usable[0], directory.capabilities_for(address))
    own = _own_certificate(keys, address, at) if keys is not None else None
    if own is not None:
        return ResolvedRecipient(address, own, directory.capabilities_for(address))
    if failed:
        raise TemporaryError(f"no certificate for {address} yet, and the lookup could not ask "
                             f"{', '.join(failed)}: try again later")
    raise RecipientError(
        f"no usable certificate for {address} in the certificate directory "
        "or through the configured lookup (import one with `mailseal certs import`, or give the file)"
    )


def _own_certificate(keys: KeyStore, address: str, at: datetime | None) -> x509.Certificate | None:
    try:
        return keys.certificate_for(address, "encrypt", at)
    except TemporaryError:  # the store did not answer: no verdict
        raise
    except MailsealError:  # no such identity
        return None


def resolve_recipients(
    addresses: Sequence[str], directory: Directory, at: datetime | None = None,
    lookup: CertificateLookup | None = None, keys: KeyStore | None = None,
) -> list[ResolvedRecipient]:
    """``resolve_recipient`` for each address, in order."""
    return [resolve_recipient(address, directory, at, lookup, keys) for address in addresses]


__all__ = ["ResolvedRecipient", "resolve_recipient", "resolve_recipients"]
