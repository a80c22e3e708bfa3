"""Publishing the organisation's own certificates for senders outside: DNS SMIMEA (RFC 8162), LDIF (RFC 2849), PEM/P7B.

What Exchange does with its global address list: the certificates of the organisation's own users are exported so
that correspondents outside can encrypt to them. "Our users" are, in this order:

- the key store's identities (the gateway holds their keys: it decrypts for them);
- the certificates the internal CA issued (``mailseal ca issue``; the users hold the keys in their clients);
- the certificate directory's entries filed by the CA (source ``ca``) and those an administrator imported
  (source ``imported``) at an accepted domain. Harvested, LDAP and SMIMEA entries were learned from outside and
  are never republished.

When accepted domains are known (``is_ours``, from `[gateway].accepted_domains` through the policy layer) an
address outside them is not published. A certificate is published for an address only when it can receive
encrypted mail for it now (``pki.profile.check_certificate``: the address is one of the certificate's, EKU
emailProtection or none, key usage, key, validity) and the internal CA has not revoked it; every certificate left
out is reported with the reason, never dropped silently. No path validation or online revocation check is done
here: the recipient's side does both when it uses the certificate.

The functions below are pure: they turn a :class:`Selection` into text or bytes; :func:`published` summarises
what goes where, for the CLI and the web console.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from ..cms.identity import fingerprint
from ..cms.names import name_text, serial_text
from ..errors import UsageError
from ..pki.profile import check_certificate, normalize_address
from .database import Store
from .smimea import SMIMEA_TYPE, SmimeaSource, owner_name

if TYPE_CHECKING:
    from .lookup import Source

#: Where a published certificate comes from (see the module docstring).
ORIGINS: tuple[str, ...] = ("keystore", "ca", "directory")
#: Directory sources that count as the organisation's own (the others were learned from outside).
DIRECTORY_SOURCES: tuple[str, ...] = ("ca", "imported")
#: RFC 6698 §2.1.1 certificate usages (RFC 8162 §2 reuses them): PKIX-TA, PKIX-EE, DANE-TA, DANE-EE.
USAGE_NAMES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
#: RFC 6698 §2.1.2 selectors and §2.1.3 matching types.
SELECTOR_NAMES = {0: "full certificate", 1: "SubjectPublicKeyInfo"}
MATCHING_NAMES = {0: "exact", 1: "SHA-256", 2: "SHA-512"}
_HEX_LINE = 64  # hex digits per zone-file line inside the parentheses
_LDIF_WIDTH = 76  # RFC 2849 folds lines; 76 columns is what ldapsearch writes


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class PublishedCertificate:
    """One certificate published for one address, with the chain known for it and where it was found."""

    address: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    origins: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def common_name(self) -> str:
        names = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.address.rpartition("@")[0]

    def to_dict(self) -> dict[str, Any]:
        cert = self.certificate
        return {"address": self.address, "fingerprint_sha256": self.fingerprint, "subject": name_text(cert.subject),
                "issuer": name_text(cert.issuer), "serial": serial_text(cert.serial_number),
                "not_after": _iso(cert.not_valid_after_utc), "origins": list(self.origins)}


@dataclass(frozen=True)
class SkippedCertificate:
    """A certificate of ours that is not published, and why."""

    address: str
    fingerprint: str
    subject: str
    origins: tuple[str, ...]
    reason: str

    def note(self) -> str:
        """One line for stderr or a page: address, certificate and reason."""
        return f"{self.address}: {self.subject or '(empty subject)'} ({self.fingerprint[:16]}) not published: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "fingerprint_sha256": self.fingerprint, "subject": self.subject,
                "origins": list(self.origins), "reason": self.reason}


@dataclass(frozen=True)
class Selection:
    """The certificates to publish and those left out, as judged at ``at``."""

    certificates: tuple[PublishedCertificate, ...]
    skipped: tuple[SkippedCertificate, ...]
    at: datetime

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(sorted({c.domain for c in self.certificates}))

    def only(self, domains: Iterable[str]) -> Selection:
        """The part of the selection at ``domains`` (exact domains, case ignored)."""
        wanted = {normalize_address(f"x@{d.strip().rstrip('.')}").rpartition("@")[2] for d in domains}
        return Selection(tuple(c for c in self.certificates if c.domain in wanted),
                         tuple(s for s in self.skipped if s.address.rpartition("@")[2] in wanted), self.at)


@dataclass
class _Candidate:
    address: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    origins: list[str] = field(default_factory=list)


def _revocations(ca_directory: Path | None, store: Store | None) -> tuple[dict[str, str], list[tuple[str, x509.Certificate, tuple[x509.Certificate, ...]]]]:
    """The internal CA's revoked certificates (fingerprint -> reason) and what it issued (address, cert, chain),
    from its register (the store's when there is a store: ``ca_register.open_authority``)."""
    from ..pki.authority import CertificateAuthority, default_directory
    from .ca_register import open_authority

    where = ca_directory or default_directory()
    if not CertificateAuthority.exists(where):
        return {}, []
    revoked: dict[str, str] = {}
    issued: list[tuple[str, x509.Certificate, tuple[x509.Certificate, ...]]] = []
    with open_authority(where, store=store) as ca:
        for record in ca.records():
            cert = record.certificate
            if record.revoked_at is not None:
                revoked[fingerprint(cert)] = (f"revoked by the internal CA on {record.revoked_at.date().isoformat()} "
                                              f"({record.reason or 'unspecified'})")
            issued.append((record.email, cert, (ca.certificate,)))
    return revoked, issued


def _left_out(address: str, fp: str, cert: x509.Certificate, is_ours: Callable[[str], bool] | None,
              revoked: dict[str, str], at: datetime) -> str | None:
    """Why ``cert`` is not published for ``address``, or None when it is."""
    if is_ours is not None and not is_ours(address):
        return "the address is not at an accepted domain (gateway.accepted_domains)"
    if fp in revoked:
        return revoked[fp]
    verdict = check_certificate(cert, address, at)
    return None if verdict.can_encrypt else verdict.reasons_encrypt[0]


def select_certificates(store: Store | None, *, is_ours: Callable[[str], bool] | None = None,
                        at: datetime | None = None, ca_directory: Path | None = None,
                        domains: Sequence[str] = ()) -> Selection:
    """The organisation's certificates to publish (see the module docstring), judged at ``at`` (default now).

    ``is_ours`` says whether an address is at an accepted domain (``Policy.is_internal``); without it the key
    store's and the CA's addresses are all taken as ours and the directory is not consulted (nothing would tell
    an imported correspondent from a colleague). ``ca_directory`` is the internal CA's folder (default: the data
    directory's ``ca``; absent is fine). ``domains`` narrows the result to those domains.
    """
    from .directory import Directory
    from .keystore import KeyStore

    when = at or datetime.now(UTC)
    candidates: dict[tuple[str, str], _Candidate] = {}

    def offer(address: str, cert: x509.Certificate, chain: tuple[x509.Certificate, ...], origin: str) -> None:
        key = (normalize_address(address), fingerprint(cert))
        found = candidates.setdefault(key, _Candidate(key[0], cert, chain))
        if not found.chain and chain:
            found.chain = chain
        if origin not in found.origins:
            found.origins.append(origin)

    if store is not None:
        for record, cert, chain in KeyStore(store).certificates():
            offer(record.address, cert, chain, "keystore")
    revoked, issued = _revocations(ca_directory, store)
    for address, cert, chain in issued:
        offer(address, cert, chain, "ca")
    if store is not None:
        for entry in Directory(store).entries(DIRECTORY_SOURCES):
            if entry.source == "ca" or (is_ours is not None and is_ours(entry.address)):
                offer(entry.address, entry.certificate, (), "directory")

    wanted = {d.strip().rstrip(".").lower() for d in domains}
    published: list[PublishedCertificate] = []
    skipped: list[SkippedCertificate] = []
    for (address, fp), cand in candidates.items():
        if wanted and address.rpartition("@")[2] not in wanted:
            continue
        origins = tuple(o for o in ORIGINS if o in cand.origins)
        reason = _left_out(address, fp, cand.certificate, is_ours, revoked, when)
        if reason is None:
            published.append(PublishedCertificate(address, cand.certificate, cand.chain, origins))
        else:
            skipped.append(SkippedCertificate(address, fp, name_text(cand.certificate.subject), origins, reason))
    published.sort(key=lambda c: (c.domain, c.address, -c.certificate.not_valid_after_utc.timestamp()))
    skipped.sort(key=lambda s: (s.address.rpartition("@")[2], s.address, s.fingerprint))
    return Selection(tuple(published), tuple(skipped), when)


# -- DNS SMIMEA (RFC 8162) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmimeaParameters:
    """The RFC 6698 §2.1.1-§2.1.3 fields of the records written: by default ``3 0 0``, the whole certificate
    (DANE-EE), the only form from which a sender can obtain the certificate rather than only check one."""

    usage: int = 3
    selector: int = 0
    matching_type: int = 0

    def __post_init__(self) -> None:
        if self.usage not in USAGE_NAMES:
            raise UsageError("the SMIMEA certificate usage must be 0, 1, 2 or 3 (RFC 6698 §2.1.1)")
        if self.selector not in SELECTOR_NAMES:
            raise UsageError("the SMIMEA selector must be 0 (full certificate) or 1 (SubjectPublicKeyInfo)")
        if self.matching_type not in MATCHING_NAMES:
            raise UsageError("the SMIMEA matching type must be 0 (exact), 1 (SHA-256) or 2 (SHA-512)")

    @property
    def carries_certificate(self) -> bool:
        return self.selector == 0 and self.matching_type == 0

    def describe(self) -> str:
        return (f"SMIMEA {self.usage} {self.selector} {self.matching_type} ({USAGE_NAMES[self.usage]}, "
                f"{SELECTOR_NAMES[self.selector]}, {MATCHING_NAMES[self.matching_type]})")


def association_data(cert: x509.Certificate, selector: int, matching_type: int) -> bytes:
    """The certificate association data (RFC 6698 §2.1.4): the DER certificate or SubjectPublicKeyInfo
    (§2.1.2), as it is or hashed with SHA-256 or SHA-512 (§2.1.3)."""
    if selector == 0:
        data = cert.public_bytes(serialization.Encoding.DER)
    else:
        data = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    if matching_type == 1:
        return hashlib.sha256(data).digest()
    if matching_type == 2:
        return hashlib.sha512(data).digest()
    return data


def smimea_rdata(cert: x509.Certificate, params: SmimeaParameters) -> bytes:
    """The wire form of one record's data (RFC 8162 §2 = RFC 6698 §2.1): three octets, then the data."""
    return bytes([params.usage, params.selector, params.matching_type]) + association_data(
        cert, params.selector, params.matching_type)


def _hex_lines(data: bytes, indent: str) -> str:
    digits = data.hex()
    return "\n".join(indent + digits[i:i + _HEX_LINE] for i in range(0, len(digits), _HEX_LINE))


def smimea_zone(selection: Selection, domain: str, *, params: SmimeaParameters | None = None,
                ttl: int | None = None, generic: bool = False) -> str:
    """A zone-file fragment with the SMIMEA records of ``domain`` (RFC 1035 §5 master-file syntax, absolute
    owner names, to ``$INCLUDE`` in that domain's zone). ``generic`` writes RFC 3597 §5 ``TYPE53 \\# LEN HEX``
    for DNS servers that do not know the SMIMEA type; the records are the same on the wire."""
    params = params or SmimeaParameters()
    if ttl is not None and not 0 <= ttl <= 2**31 - 1:
        raise UsageError("the TTL must be between 0 and 2147483647 seconds (RFC 2181 §8)")
    part = selection.only([domain])
    name = domain.strip().rstrip(".").lower()
    lines = [f"; SMIMEA records (RFC 8162) for {name}: {len(part.certificates)} certificate(s), "
             f"written by mailseal at {_iso(selection.at.replace(microsecond=0))}",
             f"; {params.describe()}"]
    if not params.carries_certificate:
        lines.append("; these records only let a sender check a certificate it obtained elsewhere")
    written: set[tuple[str, bytes]] = set()
    for pub in part.certificates:
        owner = owner_name(pub.address)
        rdata = smimea_rdata(pub.certificate, params)
        if (owner, rdata) in written:
            continue  # two certificates with one key give one SPKI record
        written.add((owner, rdata))
        cert = pub.certificate
        lines.append("")
        lines.append(f"; {pub.address}: {name_text(cert.subject) or '(empty subject)'}, serial "
                     f"{serial_text(cert.serial_number)}, until {_iso(cert.not_valid_after_utc)}")
        head = f"{owner}{'' if ttl is None else f' {ttl}'} IN "
        if generic:
            head += f"TYPE{SMIMEA_TYPE} \\# {len(rdata)} ("
            body = _hex_lines(rdata, "    ")
        else:
            head += f"SMIMEA {params.usage} {params.selector} {params.matching_type} ("
            body = _hex_lines(rdata[3:], "    ")
        lines += [head, body + " )"]
    return "\n".join(lines) + "\n"


# -- LDIF (RFC 2849) for an LDAP directory --------------------------------------------------------------------


def _safe_string(value: str) -> bool:
    """RFC 2849 §2 SAFE-STRING: ASCII without NUL, LF, CR; not starting with space, colon or '<'; and (note 8)
    not ending with a space. Anything else is written base64 (``::``)."""
    if not value:
        return True
    if value[0] in " :<" or value.endswith(" "):
        return False
    return all(0 < ord(ch) < 128 and ch not in "\r\n" for ch in value)


def _fold(line: str) -> list[str]:
    # RFC 2849 §2: a long line continues on lines that start with one space (which the reader drops).
    out = [line[:_LDIF_WIDTH]]
    rest = line[_LDIF_WIDTH:]
    while rest:
        out.append(" " + rest[:_LDIF_WIDTH - 1])
        rest = rest[_LDIF_WIDTH - 1:]
    return out


def _attribute(name: str, value: str | bytes) -> list[str]:
    if isinstance(value, str) and _safe_string(value):
        return _fold(f"{name}: {value}")
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return _fold(f"{name}:: {base64.b64encode(raw).decode('ascii')}")


def entry_dn(address: str, base_dn: str) -> str:
    """The DN of an address's entry: ``mail=ADDRESS`` (RFC 4514 §2.4 escaping) under ``base_dn``."""
    from ldap3.utils.dn import escape_rdn

    return f"mail={escape_rdn(address)},{base_dn}"


def check_base_dn(base_dn: str) -> str:
    """``base_dn`` when it is a DN (RFC 4514), else a ``UsageError``."""
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    text = base_dn.strip()
    try:
        if not text or not parse_dn(text):
            raise LDAPInvalidDnError(text)
    except LDAPInvalidDnError:
        raise UsageError(f"{base_dn!r} is not an LDAP DN (for example ou=people,dc=example,dc=org)") from None
    return text


def ldif(selection: Selection, base_dn: str, *, smime_bundle: bool = False) -> str:
    """inetOrgPerson entries (RFC 2798), one per address, under ``base_dn``: ``mail`` and one
    ``userCertificate;binary`` value (RFC 4523 §2.1, RFC 4522) per certificate, the form :mod:`.ldif` reads and
    :mod:`.ldap` looks up. ``smime_bundle`` adds ``userSMIMECertificate`` (RFC 2798 §2.8): a PKCS#7 certs-only
    bundle of each certificate with its chain, for clients that want the chain too. For ``ldapadd``."""
    base = check_base_dn(base_dn)
    by_address: dict[str, list[PublishedCertificate]] = {}
    for pub in selection.certificates:
        by_address.setdefault(pub.address, []).append(pub)
    lines = ["version: 1", f"# certificates of {len(by_address)} address(es), written by mailseal at "
             f"{_iso(selection.at.replace(microsecond=0))}"]
    for address, pubs in by_address.items():
        cn = pubs[0].common_name
        lines.append("")
        lines += _attribute("dn", entry_dn(address, base))
        lines += [f"objectClass: {oc}" for oc in ("top", "person", "organizationalPerson", "inetOrgPerson")]
        lines += _attribute("cn", cn)
        lines += _attribute("sn", cn)
        lines += _attribute("mail", address)
        for pub in pubs:
            lines += _attribute("userCertificate;binary", pub.certificate.public_bytes(serialization.Encoding.DER))
        if smime_bundle:
            for pub in pubs:
                lines += _attribute("userSMIMECertificate", pkcs7.serialize_certificates(
                    [pub.certificate, *pub.chain], serialization.Encoding.DER))
    return "\n".join(lines) + "\n"


# -- PEM and PKCS#7 bundles -------------------------------------------------------------------------------------


def _bundle(selection: Selection, chain: bool) -> list[tuple[x509.Certificate, list[str]]]:
    """Each certificate once (its addresses listed), then, with ``chain``, each chain certificate once."""
    leaves: dict[str, tuple[x509.Certificate, list[str]]] = {}
    for pub in selection.certificates:
        leaves.setdefault(pub.fingerprint, (pub.certificate, []))[1].append(pub.address)
    extra: dict[str, x509.Certificate] = {}
    if chain:
        for pub in selection.certificates:
            for cert in pub.chain:
                fp = fingerprint(cert)
                if fp not in leaves:
                    extra.setdefault(fp, cert)
    return [*leaves.values(), *((c, []) for c in extra.values())]


def pem_bundle(selection: Selection, *, chain: bool = False) -> str:
    """The certificates as one PEM file, each after comment lines naming its addresses and subject (text before
    ``-----BEGIN`` is ignored by PEM readers, RFC 7468 §2)."""
    blocks = []
    for cert, addresses in _bundle(selection, chain):
        head = [f"# {', '.join(addresses) if addresses else 'issuer certificate'}",
                f"# subject: {name_text(cert.subject) or '(empty)'}", f"# not after: {_iso(cert.not_valid_after_utc)}"]
        blocks.append("\n".join(head) + "\n" + cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))
    return "".join(blocks)


def p7b_bundle(selection: Selection, *, chain: bool = False, pem: bool = False) -> bytes:
    """The certificates as a PKCS#7 certs-only SignedData (RFC 2315 §9.1 degenerate case, RFC 8551 §3.2.2),
    DER (a Windows ``.p7b``) or PEM. An empty selection cannot be written: a ``UsageError``."""
    certs = [cert for cert, _ in _bundle(selection, chain)]
    if not certs:
        raise UsageError("no certificate to publish: a PKCS#7 bundle needs at least one")
    return pkcs7.serialize_certificates(certs, serialization.Encoding.PEM if pem else serialization.Encoding.DER)


# -- what is published where ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicationCheck:
    """Whether one source (DNS SMIMEA, LDAP) serves one published certificate now: ``published``, ``missing``
    (the source answered without it) or ``error`` (the source could not be asked; ``detail`` says why)."""

    address: str
    fingerprint: str
    source: str
    status: str
    detail: str | None = None


def _smimea_status(source: SmimeaSource, pub: PublishedCertificate, params: SmimeaParameters) -> tuple[str, str | None]:
    from dns.exception import DNSException

    from .smimea import SmimeaQueryError

    try:
        records = source.records(pub.address)
    except (DNSException, SmimeaQueryError, OSError) as exc:
        return "error", f"SMIMEA query to {source.config.nameserver} failed: {exc or type(exc).__name__}"
    wanted = smimea_rdata(pub.certificate, params)
    found = any(bytes([r.usage, r.selector, r.matching_type]) + r.data == wanted for r in records)
    return ("published", None) if found else ("missing", f"{len(records)} other SMIMEA record(s)" if records else None)


def check_publication(selection: Selection, sources: Sequence[Source],
                      params: SmimeaParameters | None = None) -> tuple[PublicationCheck, ...]:
    """Ask each source whether it serves each published certificate (one query per source and address): an
    SMIMEA source must hold the record ``smimea_zone`` writes with ``params``, any other source (LDAP) must return
    the certificate. Nothing raises: a source that cannot be asked gives ``error`` checks."""
    params = params or SmimeaParameters()
    out: list[PublicationCheck] = []
    answers: dict[tuple[int, str], tuple[x509.Certificate, ...] | str] = {}
    for pub in selection.certificates:
        for source in sources:
            if isinstance(source, SmimeaSource):
                status, detail = _smimea_status(source, pub, params)
                out.append(PublicationCheck(pub.address, pub.fingerprint, source.name, status, detail))
                continue
            key = (id(source), pub.address)
            if key not in answers:
                result = source.search(pub.address)
                answers[key] = result.error if result.error is not None else result.certificates
            answer = answers[key]
            if isinstance(answer, str):
                out.append(PublicationCheck(pub.address, pub.fingerprint, source.name, "error", answer))
            else:
                status = "published" if pub.certificate in answer else "missing"
                out.append(PublicationCheck(pub.address, pub.fingerprint, source.name, status))
    return tuple(out)


@dataclass(frozen=True)
class PublishingSummary:
    """What would be published where: per certificate its SMIMEA owner name and record, its LDIF entry (when a
    base DN is given) and its place in the bundles; then what is left out and why."""

    selection: Selection
    params: SmimeaParameters
    base_dn: str | None = None
    checks: tuple[PublicationCheck, ...] = ()

    @property
    def missing(self) -> tuple[PublicationCheck, ...]:
        """The checks that did not find a published certificate where it should be (missing or error)."""
        return tuple(c for c in self.checks if c.status != "published")

    def found(self, pub: PublishedCertificate) -> dict[str, dict[str, Any]]:
        """Per checked source, what it said of ``pub``: ``{"smimea": {"status": "published", "detail": None}}``."""
        return {c.source: {"status": c.status, "detail": c.detail} for c in self.checks
                if c.address == pub.address and c.fingerprint == pub.fingerprint}

    def to_dict(self) -> dict[str, Any]:
        sel = self.selection
        certs = []
        for pub in sel.certificates:
            where: dict[str, Any] = {
                "smimea": {"owner": owner_name(pub.address),
                           "record": f"SMIMEA {self.params.usage} {self.params.selector} {self.params.matching_type}"},
                "ldif": None if self.base_dn is None else {"dn": entry_dn(pub.address, self.base_dn)},
                "bundle": True,
            }
            certs.append({**pub.to_dict(), "published": where, "found": self.found(pub)})
        return {"at": _iso(sel.at), "domains": list(sel.domains), "certificates": certs,
                "skipped": [s.to_dict() for s in sel.skipped]}


def published(store: Store | None, *, is_ours: Callable[[str], bool] | None = None, at: datetime | None = None,
              ca_directory: Path | None = None, domains: Sequence[str] = (), params: SmimeaParameters | None = None,
              base_dn: str | None = None, check: Sequence[Source] = ()) -> PublishingSummary:
    """The summary of what :func:`select_certificates` publishes where (the console's page, `certs publish`);
    with ``check``, whether those sources (the `[lookup]` LDAP and SMIMEA servers) serve each certificate now."""
    selection = select_certificates(store, is_ours=is_ours, at=at, ca_directory=ca_directory, domains=domains)
    params = params or SmimeaParameters()
    return PublishingSummary(selection, params, None if base_dn is None else check_base_dn(base_dn),
                             check_publication(selection, check, params) if check else ())


__all__ = [
    "DIRECTORY_SOURCES",
    "ORIGINS",
    "PublicationCheck",
    "PublishedCertificate",
    "PublishingSummary",
    "Selection",
    "SkippedCertificate",
    "SmimeaParameters",
    "association_data",
    "check_base_dn",
    "check_publication",
    "entry_dn",
    "ldif",
    "p7b_bundle",
    "pem_bundle",
    "published",
    "select_certificates",
    "smimea_rdata",
    "smimea_zone",
]
