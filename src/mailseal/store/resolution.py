"""Recipients named by address, resolved through the store,:
the one home of that for `mailseal encrypt --to` and the gateway.
(The algorithms: ``capabilities.choose_algorithms``.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ..cms.kemri import kem_name
from ..errors import MailsealError, RecipientError, TemporaryError
from ..pki.profile import check_certificate
from .directory import Directory
from .keystore import KeyStore
from .lookup import CertificateLookup


@dataclass(frozen=True)
class ResolvedRecipient:
    address: str
    certificate: x509.Certificate  # the first of ``certificates``
    capabilities: tuple[str, ...] | None  # learned from the correspondent's own signed mail, if any
    #: Every certificate to encrypt to for this address: a classical and an ML-KEM one in hybrid mode.
    certificates: tuple[x509.Certificate, ...] = ()

    @property
    def all_certificates(self) -> tuple[x509.Certificate, ...]:
        return self.certificates or (self.certificate,)


def is_post_quantum(cert: x509.Certificate) -> bool:
    """Whether the certificate's key is an ML-KEM key (RFC 9935)."""
    try:
        return kem_name(cert.public_key()) is not None
    except (UnsupportedAlgorithm, ValueError):
        return False


def choose_certificates(usable: Sequence[x509.Certificate], mode: str, address: str) -> tuple[x509.Certificate, ...]:
    """The certificates to encrypt to among ``usable`` (best first), by the post-quantum mode of [policy.smime]
    (docs/pq.md): the best classical and the best ML-KEM certificate (hybrid), the ML-KEM one alone when there is
    one (prefer_pq), or only an ML-KEM one (require_pq; none is a RecipientError)."""
    pq = [c for c in usable if is_post_quantum(c)][:1]
    classical = [c for c in usable if not is_post_quantum(c)][:1]
    if mode == "require_pq":
        if not pq:
            raise RecipientError(f"{address} has no ML-KEM certificate, and post_quantum = require_pq")
        return tuple(pq)
    if mode == "prefer_pq":
        return tuple(pq or classical)
    return (*pq, *classical)


def resolve_recipient(address: str, directory: Directory, at: datetime | None = None,
                      lookup: CertificateLookup | None = None, keys: KeyStore | None = None,
                      post_quantum: str = "hybrid") -> ResolvedRecipient:
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
        chosen = choose_certificates(usable, post_quantum, address)
        return ResolvedRecipient(address, chosen[0], directory.capabilities_for(address), chosen)
    own = _own_certificate(keys, address, at) if keys is not None else None
    if own is not None:
        chosen = choose_certificates([own], post_quantum, address)
        return ResolvedRecipient(address, chosen[0], directory.capabilities_for(address), chosen)
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
    lookup: CertificateLookup | None = None, keys: KeyStore | None = None, post_quantum: str = "hybrid",
) -> list[ResolvedRecipient]:
    """``resolve_recipient`` for each address, in order."""
    return [resolve_recipient(address, directory, at, lookup, keys, post_quantum) for address in addresses]


__all__ = ["ResolvedRecipient", "choose_certificates", "is_post_quantum", "resolve_recipient", "resolve_recipients"]
