"""DANE TLSA matching for SMTP (RFC 7672 §3, RFC 6698 §2.1, RFC 7671, RFC 7218 acronyms): does a server's
certificate chain match one of the TLSA records of ``_25._tcp.HOST``?

Only DANE-TA(2) and DANE-EE(3) are usable for SMTP (RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not, there
being no agreed set of public CAs for MTAs). DANE-EE matches the server's own certificate or public key and
ignores its names and validity dates (RFC 7672 §3.1.1); DANE-TA matches a trust anchor the server sends in its
chain (§3.1.2 requires it to be sent), the leaf must chain to it by signature, be within its validity dates and
carry one of the reference names: the MX host name or the TLSA base domain (§3.2.2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

DANE_TA = 2
DANE_EE = 3
SELECTORS = (0, 1)  # Cert(0): the whole certificate; SPKI(1): its SubjectPublicKeyInfo
MATCHING_TYPES = (0, 1, 2)  # Full(0), SHA2-256(1), SHA2-512(2)
_ACRONYMS = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}


@dataclass(frozen=True)
class Tlsa:
    """One TLSA record's data (RFC 6698 §2.1): certificate usage, selector, matching type, association data."""

    usage: int
    selector: int
    matching_type: int
    data: bytes

    @property
    def usable(self) -> bool:
        """Usable for SMTP (RFC 7672 §3.1.3): DANE-TA or DANE-EE with a known selector and matching type."""
        return self.usage in (DANE_TA, DANE_EE) and self.selector in SELECTORS and \
            self.matching_type in MATCHING_TYPES

    def __str__(self) -> str:
        name = _ACRONYMS.get(self.usage, str(self.usage))
        return f"{name}({self.usage}) {self.selector} {self.matching_type} {self.data.hex()[:16]}..."


def association(cert: x509.Certificate, selector: int, matching_type: int) -> bytes:
    """The data a TLSA record with this selector and matching type holds for cert (RFC 6698 §2.1.2-2.1.3)."""
    if selector == 0:
        data = cert.public_bytes(serialization.Encoding.DER)
    elif selector == 1:
        data = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        raise ValueError(f"unknown TLSA selector {selector}")
    if matching_type == 0:
        return data
    if matching_type == 1:
        return hashlib.sha256(data).digest()
    if matching_type == 2:
        return hashlib.sha512(data).digest()
    raise ValueError(f"unknown TLSA matching type {matching_type}")


def _matches(record: Tlsa, cert: x509.Certificate) -> bool:
    # Public data on both sides (a hash of a certificate the server sent): no secret to keep in constant time.
    return association(cert, record.selector, record.matching_type) == record.data


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        # RFC 7672 §3.2.3: without a DNS subjectAltName, the subject's CN is the name.
        return [str(a.value).lower().rstrip(".") for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def name_matches(presented: str, reference: str) -> bool:
    """A certificate's DNS name against a reference name; ``*`` only as the whole leftmost label (RFC 7672 §3.2.3)."""
    presented, reference = presented.lower().rstrip("."), reference.lower().rstrip(".")
    if presented.startswith("*."):
        first, _, rest = reference.partition(".")
        return bool(first) and rest == presented[2:]
    return presented == reference


def _chains_to(leaf: x509.Certificate, chain: Sequence[x509.Certificate], anchor: x509.Certificate) -> bool:
    """Whether leaf is issued, certificate by certificate through chain, by anchor (signatures only)."""
    current = leaf
    for _ in range(len(chain) + 1):
        if current == anchor:
            return True
        try:
            current.verify_directly_issued_by(anchor)
            return True
        except (ValueError, TypeError, InvalidSignature):
            pass
        issuer = next((c for c in chain if c != current and c.subject == current.issuer), None)
        if issuer is None:
            return False
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return False
        current = issuer
    return False


def match_chain(records: Sequence[Tlsa], chain_der: Sequence[bytes], reference_names: Sequence[str],
                now: datetime | None = None) -> str | None:
    """Why the chain (leaf first, DER, as the server sent it) matches none of the usable records; None on a match.

    Unusable records are ignored; with none usable the caller needs only encryption (RFC 7672 §2.2), so this
    function is called with at least one usable record."""
    usable = [r for r in records if r.usable]
    if not usable:
        return "no usable TLSA record (only DANE-TA and DANE-EE apply to SMTP, RFC 7672 section 3.1.3)"
    if not chain_der:
        return "the server sent no certificate"
    try:
        chain = [x509.load_der_x509_certificate(der) for der in chain_der]
    except ValueError:
        return "the server's certificate could not be parsed"
    leaf = chain[0]
    if any(r.usage == DANE_EE and _matches(r, leaf) for r in usable):
        return None  # DANE-EE: names and dates do not matter (RFC 7672 §3.1.1)
    anchors = [c for c in chain for r in usable if r.usage == DANE_TA and _matches(r, c)]
    if not anchors:
        return "the server's certificate chain matches none of the TLSA records"
    if not any(_chains_to(leaf, chain[1:], anchor) for anchor in anchors):
        return "the server's certificate is not issued by the trust anchor its TLSA record names"
    moment = now or datetime.now(UTC)
    if not leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc:
        return "the server's certificate is outside its validity dates (DANE-TA checks them)"
    names = _dns_names(leaf)
    if not any(name_matches(n, ref) for n in names for ref in reference_names):
        return (f"the server's certificate names {', '.join(names[:4]) or 'nothing'}, not "
                f"{' or '.join(reference_names)} (DANE-TA checks the name)")
    return None


__all__ = ["DANE_EE", "DANE_TA", "Tlsa", "association", "match_chain", "name_matches"]
