"""The console's certificate directory (RFC 8550 §3): search, import by upload with a result per entry, one
certificate's details (chain, usages, capabilities, source, revocation, the S/MIME profile check), export, remove.

Computed once for the pages (pages_certs.py) and the REST API (api_certs.py) from the store's directory
(``store.directory``), the trust list (``store.trust.StoredTrust``) and the readers ``mailseal certs import`` and
``mailseal trust add`` use (``pki.truststore.read_certificates``, ``store.ldif.certificates_from_ldif``): no SQL
and no ASN.1 here, only pyca's parsed extensions read for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..cms.algorithms import (
    CONTENT_CIPHERS,
    OID_DES_EDE3_CBC,
    OID_RC2_CBC,
    OID_RSA_ENCRYPTION,
    OID_RSAES_OAEP,
)
from ..cms.identity import fingerprint
from ..errors import CertificateError, UsageError
from ..pki.certfields import certificate_fields
from ..pki.fetching import FetchPolicy
from ..pki.profile import ProfileVerdict, check_certificate, describe_key
from ..pki.truststore import read_certificates
from ..pki.validation import ValidationContext, validate_path
from ..store import audit
from ..store.database import Store
from ..store.directory import Directory, DirectoryEntry
from ..store.ldif import certificates_from_ldif, looks_like_ldif
from ..store.trust import StoredTrust
from .report_certs import CertFacts, cert_facts
from .report_chain import ANCHOR_REVOCATION, ChainEntry, carried_issuers
from .report_view import Revocation, SignerView
from .report_words import BAD, GOOD, REVOCATION_STATES, STATUS_STATES, VALIDITY_STATES, WARN, State
from .service_trust import trust_list
from .uploads import MAX_UPLOAD

#: The largest upload read (as `mailseal certs import` refuses larger files).
MAX_PAGE = 500
ExportFormat = Literal["pem", "der"]

KEY_USAGE_NAMES = (
    ("digital_signature", "digitalSignature"), ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"), ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"), ("key_cert_sign", "keyCertSign"), ("crl_sign", "cRLSign"),
)
EKU_NAMES = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection", ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE:
    "anyExtendedKeyUsage", ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH:
    "clientAuth", ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning", ExtendedKeyUsageOID.TIME_STAMPING:
    "timeStamping", ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
#: SMIMECapabilities OIDs shown by name: the content ciphers mailseal knows (cms.algorithms), then a few others.
CAPABILITY_NAMES = {**{c.oid: c.name for c in CONTENT_CIPHERS.values()},
                    OID_RSAES_OAEP: "RSAES-OAEP", OID_RSA_ENCRYPTION: "RSA (PKCS #1 v1.5)",
                    OID_DES_EDE3_CBC: "des-ede3-cbc (3DES, refused)", OID_RC2_CBC: "rc2-cbc (refused)"}
SOURCE_WORDS = {"imported": "imported by an administrator", "harvested": "harvested from a signed message",
                "ldap": "found in an LDAP directory", "smimea": "found in DNS (SMIMEA)",
                "ca": "issued by the internal CA"}


# -- search ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertRow:
    """One certificate of the directory with every address it is filed under."""

    fingerprint: str
    subject: str
    issuer: str
    addresses: tuple[str, ...]
    sources: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    validity: str

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint_sha256": self.fingerprint, "subject": self.subject, "issuer": self.issuer,
                "addresses": list(self.addresses), "sources": list(self.sources),
                "not_before": _iso(self.not_before), "not_after": _iso(self.not_after), "validity": self.validity}


@dataclass(frozen=True)
class CertPage:
    items: list[CertRow]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {"items": [r.to_dict() for r in self.items], "total": self.total, "limit": self.limit,
                "offset": self.offset, "next_offset": self.next_offset}


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _row(same: Sequence[DirectoryEntry], at: datetime) -> CertRow:
    first = same[0]
    fields = certificate_fields(first.certificate)
    validity = "expired" if at > first.not_after else "not-yet-valid" if at < first.not_before else "valid"
    return CertRow(first.fingerprint, fields.subject or "", fields.issuer or "",
                   tuple(dict.fromkeys(e.address for e in same)), tuple(dict.fromkeys(e.source for e in same)),
                   first.not_before, first.not_after, validity)


def _issuer(entry: DirectoryEntry) -> str:
    return certificate_fields(entry.certificate).issuer or ""


def search(store: Store, at: datetime, *, address: str | None = None, fingerprint_prefix: str | None = None,
           issuer: str | None = None, limit: int = 50, offset: int = 0) -> CertPage:
    """The directory's certificates matching every filter given: part of an address, the start of the SHA-256
    fingerprint (colons allowed), part of the issuer's name (case ignored); by first address, ``limit`` a page.
    Only the certificates of the page shown (and, for the issuer filter, those still in question) are parsed."""
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    directory = Directory(store)
    if not (issuer and issuer.strip()):
        groups, total = directory.search(address, fingerprint_prefix, limit=limit, offset=offset)
        return CertPage([_row(g, at) for g in groups], total, limit, offset)
    # The issuer is inside the DER: filter the certificates the other filters leave, then page.
    needle = issuer.strip().casefold()
    candidates, _ = directory.search(address, fingerprint_prefix)
    kept = [g for g in candidates if needle in _issuer(g[0]).casefold()]
    return CertPage([_row(g, at) for g in kept[offset:offset + limit]], len(kept), limit, offset)


# -- import ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportEntry:
    """What became of one certificate (or of a part of the file that held none): added, known or skipped."""

    status: str  # added | known | skipped
    fingerprint: str | None = None
    subject: str | None = None
    addresses: tuple[str, ...] = ()
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "fingerprint_sha256": self.fingerprint, "subject": self.subject,
                "addresses": list(self.addresses), "reason": self.reason}


@dataclass(frozen=True)
class ImportReport:
    filename: str
    entries: list[ImportEntry] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for e in self.entries if e.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.filename, "added": self.count("added"), "already_known": self.count("known"),
                "skipped": self.count("skipped"), "entries": [e.to_dict() for e in self.entries]}


def read_upload(data: bytes, filename: str, password: str | None) -> tuple[list[x509.Certificate], list[str]]:
    """The certificates of an uploaded file, as `mailseal certs import` and `mailseal trust add` read it: LDIF
    (userCertificate, userSMIMECertificate), else PEM, DER, PKCS#7, SST or PKCS#12 (certificates only; the key,
    if any, is never kept). Also the reasons for the parts that could not be used. A PKCS#12 file that needs a
    password, or was given a wrong one, raises (the form asks again); anything else unreadable raises
    CertificateError."""
    if len(data) > MAX_UPLOAD:
        raise CertificateError(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
    if filename.lower().endswith(".ldif") or looks_like_ldif(data):
        return certificates_from_ldif(data)
    return read_certificates(data, password=password or None), []


def import_certificates(store: Store, data: bytes, filename: str, *, password: str | None = None,
                        actor: str) -> ImportReport:
    """File every certificate of the upload in the directory (source ``imported``; each added address is a
    ``certs.import`` audit event by ``actor``) and say what became of each."""
    report = ImportReport(filename or "upload")
    try:
        certs, reasons = read_upload(data, filename, password)
    except CertificateError as exc:
        report.entries.append(ImportEntry("skipped", reason=exc.message))
        return report
    report.entries.extend(ImportEntry("skipped", reason=r) for r in reasons)
    if not certs:
        return report
    subjects = {fingerprint(c): certificate_fields(c).subject or "" for c in certs}
    for outcome in Directory(store).add_many(certs, actor=actor):
        report.entries.append(ImportEntry(outcome.status, outcome.fingerprint, subjects.get(outcome.fingerprint),
                                          outcome.addresses, outcome.reason))
    return report


# -- one certificate -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileCheck:
    """`mailseal certs check` for one address, in words."""

    address: str | None
    verdict: ProfileVerdict

    @property
    def sign(self) -> str:
        v = self.verdict
        return "Yes: it may sign mail" if v.can_sign else "No: " + "; ".join(v.reasons_sign)

    @property
    def encrypt(self) -> str:
        v = self.verdict
        return "Yes: mail to it may be encrypted" if v.can_encrypt else "No: " + "; ".join(v.reasons_encrypt)

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, **self.verdict.to_dict(), "sign_words": self.sign,
                "encrypt_words": self.encrypt}


@dataclass(frozen=True)
class Capability:
    oid: str
    name: str | None


@dataclass(frozen=True)
class Filing:
    """One address the certificate is filed under: source, dates seen, capabilities learned."""

    address: str
    source: str
    first_seen: datetime
    last_seen: datetime
    capabilities: tuple[Capability, ...] | None
    capabilities_time: datetime | None

    @property
    def source_words(self) -> str:
        return SOURCE_WORDS.get(self.source, self.source)

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "source": self.source, "source_words": self.source_words,
                "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen),
                "capabilities": None if self.capabilities is None else
                [{"oid": c.oid, "name": c.name} for c in self.capabilities],
                "capabilities_time": None if self.capabilities_time is None else _iso(self.capabilities_time)}


@dataclass(frozen=True)
class CertDetail:
    certificate: x509.Certificate
    facts: CertFacts
    key: str
    key_usage: tuple[str, ...] | None  # None: no extension
    extended_key_usage: tuple[str, ...] | None
    filings: tuple[Filing, ...]
    checks: tuple[ProfileCheck, ...]
    status: State  # the path's judgement against the console's trust list
    reasons: tuple[str, ...]
    revocation: State
    revocation_note: str
    chain: tuple[ChainEntry, ...]
    chain_complete: bool
    chain_note: str

    @property
    def fingerprint(self) -> str:
        return self.facts.fingerprint_sha256

    def signer_view(self) -> SignerView:
        """The chain as the verify page's drawing takes it (``chain_svg``): this certificate in a signer's place."""
        label = ", ".join(self.facts.emails) or self.facts.subject
        return SignerView(index=1, status="directory", state=self.status, sentence=self.status.word, label=label,
                          emails=self.facts.emails, signed_by=None, address_matches=None,
                          validation_type=self.facts.validation_type or "", signing_time=None, digest_algorithm="",
                          signature_algorithm="", revocation=Revocation(self.revocation, self.revocation_note,
                                                                        None, ()),
                          chain=self.chain, chain_complete=self.chain_complete, chain_note=self.chain_note,
                          reasons=self.reasons, fingerprint=self.fingerprint)

    def to_dict(self) -> dict[str, Any]:
        f = self.facts
        return {
            "fingerprint_sha256": f.fingerprint_sha256, "subject": f.subject, "issuer": f.issuer,
            "serial": f.serial, "emails": list(f.emails), "not_before": f.not_before, "not_after": f.not_after,
            "validity": f.validity, "key": self.key, "key_usage": _list(self.key_usage),
            "extended_key_usage": _list(self.extended_key_usage), "validation_type": f.validation_type,
            "policies": list(f.policy_oids), "crl_urls": list(f.crl_urls), "ocsp_urls": list(f.ocsp_urls),
            "filed": [x.to_dict() for x in self.filings], "profile": [c.to_dict() for c in self.checks],
            "status": self.status.word, "reasons": list(self.reasons),
            "revocation": {"state": self.revocation.word, "note": self.revocation_note},
            "chain": {"complete": self.chain_complete, "note": self.chain_note,
                      "certificates": [_chain_dict(e) for e in self.chain]},
        }


def _list(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


def _chain_dict(entry: ChainEntry) -> dict[str, Any]:
    c = entry.cert
    return {"role": entry.role, "subject": c.subject, "issuer": c.issuer, "serial": c.serial,
            "fingerprint_sha256": c.fingerprint_sha256, "not_before": c.not_before, "not_after": c.not_after,
            "validity": entry.validity.word, "revocation": entry.revocation.word, "trust": entry.trust}


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def key_usage(cert: x509.Certificate) -> tuple[str, ...] | None:
    ku = _extension(cert, x509.KeyUsage)
    if ku is None:
        return None
    names = [name for attr, name in KEY_USAGE_NAMES if getattr(ku, attr)]
    if ku.key_agreement:
        names += [n for attr, n in (("encipher_only", "encipherOnly"), ("decipher_only", "decipherOnly"))
                  if getattr(ku, attr)]
    return tuple(names)


def extended_key_usage(cert: x509.Certificate) -> tuple[str, ...] | None:
    eku = _extension(cert, x509.ExtendedKeyUsage)
    return None if eku is None else tuple(EKU_NAMES.get(o, o.dotted_string) for o in eku)


def _entries(store: Store, fp: str) -> list[DirectoryEntry]:
    found = Directory(store).show(fp)
    if not found:
        raise UsageError(f"no certificate with fingerprint {fp} in the directory")
    return found


@dataclass(frozen=True)
class RevocationFetch:
    """How the console may fetch revocation for a "check now": the guarded fetcher's policy (public addresses
    only, unless ``[web].fetch_networks`` names others) and the on-disk cache the CLI and gateway share."""

    policy: FetchPolicy
    cache_dir: Path | None = None


def chain_of(cert: x509.Certificate, trust: StoredTrust, at: datetime, fetch: RevocationFetch | None = None
             ) -> tuple[tuple[ChainEntry, ...], bool, str, State, tuple[str, ...], str]:
    """The certificate's path to the console's trust list (validated by ``pki.validation``), as chain entries leaf
    first; when refused, the issuers the trust list holds linked by their signatures. Without ``fetch`` nothing is
    fetched and revocation is not checked; with it, the CRLs and OCSP responders the path names are asked
    (soft-fail: an unreachable source makes revocation "unknown", not the path invalid)."""
    stored = trust.entries()
    anchors = {e.fingerprint for e in stored if e.kind == "anchor"}
    context = ValidationContext(trust=trust.trust_store(), moment=at, revocation_mode="off", check_address=False)
    if fetch is not None:
        context = replace(context, revocation_mode="soft-fail", allow_fetching=True, fetch_policy=fetch.policy,
                          cache_dir=fetch.cache_dir)
    result = validate_path(cert, (), context)
    status = STATUS_STATES.get(result.status, State(WARN, "question", str(result.status)))
    revocation = REVOCATION_STATES.get(result.revocation, REVOCATION_STATES["not-checked"])
    entries: list[ChainEntry] = []
    if result.trusted:
        last = len(result.chain) - 1
        for i, c in enumerate(result.chain):
            facts = cert_facts(c, at)
            if i == last:
                entries.append(ChainEntry("Trust anchor", facts, VALIDITY_STATES[facts.validity], ANCHOR_REVOCATION,
                                          "Trusted: an anchor of the console's trust list"))
            else:
                entries.append(ChainEntry("Certificate" if i == 0 else "Intermediate CA", facts,
                                          VALIDITY_STATES[facts.validity], revocation,
                                          "Chains to the trust anchor"))
        return tuple(entries), True, "The chain leads to a trust anchor.", status, result.reasons, result.revocation
    leaf = cert_facts(cert, at)
    entries.append(ChainEntry("Certificate", leaf, VALIDITY_STATES[leaf.validity], revocation,
                              "Not shown to chain to a trust anchor"))
    for issuer in carried_issuers(cert, [e.certificate for e in stored]):
        facts = cert_facts(issuer, at)
        if facts.fingerprint_sha256 in anchors:
            role, words, rev = "Trust anchor", "Trusted: an anchor of the console's trust list; the path below it " \
                                               "was refused", ANCHOR_REVOCATION
        else:
            role, words, rev = "Intermediate CA", "In the trust list as an intermediate; not validated", \
                REVOCATION_STATES["not-checked"]
        entries.append(ChainEntry(role, facts, VALIDITY_STATES[facts.validity], rev, words))
    note = ("No trusted chain was established: " + "; ".join(result.reasons)) if result.reasons else \
        "No trusted chain was established."
    return tuple(entries), False, note, status, result.reasons, result.revocation


REVOCATION_NOTES = {
    "good": "a CRL or OCSP response says it is not revoked",
    "revoked": "revoked, as a CRL or OCSP response says",
    "unknown": "no CRL or OCSP response could be had",
    "not-checked": "not checked: the console asks the certificate's CRL and OCSP sources only on \"Check "
                   "revocation now\" (the gateway checks revocation when it uses the certificate)",
}


def internal_revocation(cert: x509.Certificate, store: Store, ca_directory: Path | None) -> tuple[str, str] | None:
    """("revoked" or "good", a sentence) when the internal CA issued ``cert``: its register is authoritative for
    what it issued; None for a certificate of another issuer (or without an internal CA)."""
    from ..pki.authority import CertificateAuthority, default_directory
    from ..store.ca_register import open_authority

    where = ca_directory or default_directory()
    if not CertificateAuthority.exists(where):
        return None
    with open_authority(where, store=store) as ca:
        if cert.issuer != ca.certificate.subject:
            return None
        record = ca.find(cert.serial_number)
        if record is None or fingerprint(record.certificate) != fingerprint(cert):
            return None
    if record.revoked_at is not None:
        return "revoked", (f"revoked by the internal CA on {record.revoked_at.strftime('%Y-%m-%d %H:%M UTC')} "
                           f"({record.reason or 'unspecified'})")
    return "good", "not revoked: the internal CA issued it and its register records no revocation"


def detail(store: Store, fp: str, at: datetime, *, ca_directory: Path | None = None,
           fetch: RevocationFetch | None = None) -> CertDetail:
    """One directory certificate by SHA-256 fingerprint (or a unique prefix of 8+ hex digits). ``ca_directory``
    is the internal CA's folder (default: the data directory's), whose register says whether it revoked one of
    its own certificates. With ``fetch`` the revocation sources the path names are asked now (``chain_of``)."""
    found = _entries(store, fp)
    cert = found[0].certificate
    facts = cert_facts(cert, at)
    filings = tuple(Filing(e.address, e.source, e.first_seen, e.last_seen,
                           None if e.capabilities is None else
                           tuple(Capability(o, CAPABILITY_NAMES.get(o)) for o in e.capabilities),
                           e.capabilities_time) for e in found)
    addresses: list[str | None] = [*dict.fromkeys(e.address for e in found)] or [None]
    checks = tuple(ProfileCheck(a, check_certificate(cert, a, at)) for a in addresses)
    chain, complete, note, status, reasons, revocation = chain_of(cert, trust_list(store), at, fetch)
    note_words = REVOCATION_NOTES.get(revocation, revocation)
    known = internal_revocation(cert, store, ca_directory)
    if known is not None:
        revocation, note_words = known
        # The drawing's leaf says what the register says too.
        chain = (replace(chain[0], revocation=REVOCATION_STATES[revocation]), *chain[1:])
    rev_state = REVOCATION_STATES.get(revocation, REVOCATION_STATES["not-checked"])
    if revocation == "revoked":  # whatever the path: a revoked certificate is no use
        status = State(BAD, "cross", "Not valid: certificate revoked")
    elif status.tone == GOOD and rev_state.tone == WARN:
        status = rev_state
    return CertDetail(cert, facts, describe_key(cert), key_usage(cert), extended_key_usage(cert), filings, checks,
                      status, reasons, rev_state, note_words, chain, complete, note)


def check_revocation(store: Store, fp: str, at: datetime, fetch: RevocationFetch, *, actor: str,
                     ca_directory: Path | None = None) -> CertDetail:
    """"Check revocation now": the detail with the certificate's CRL and OCSP sources asked (through the guarded
    fetcher), audited as ``certs.revocation-check`` with the state found (the console makes outbound requests on
    an administrator's behalf: who asked is kept)."""
    found = detail(store, fp, at, ca_directory=ca_directory, fetch=fetch)
    with store.session() as session:
        audit.record(session, "certs.revocation-check", found.facts.fingerprint_sha256,
                     {"state": next(k for k, v in REVOCATION_STATES.items() if v == found.revocation)}, actor)
    return found


def export(store: Store, fp: str, fmt: ExportFormat) -> tuple[bytes, str, str]:
    """(the certificate as PEM or DER, its media type, a file name)."""
    cert = _entries(store, fp)[0].certificate
    full = fingerprint(cert)
    if fmt == "der":
        return cert.public_bytes(Encoding.DER), "application/pkix-cert", f"{full[:16]}.cer"
    if fmt == "pem":
        return cert.public_bytes(Encoding.PEM), "application/x-pem-file", f"{full[:16]}.pem"
    raise UsageError(f"unknown export format {fmt!r}: pem or der")


def remove(store: Store, fp: str, *, actor: str) -> tuple[str, int]:
    """Remove the certificate under every address (one ``certs.remove`` audit event each): (fingerprint, count)."""
    found = _entries(store, fp)
    count = Directory(store).remove(found[0].fingerprint, actor=actor)
    return found[0].fingerprint, count


__all__ = ["CertDetail", "CertPage", "CertRow", "ImportEntry", "ImportReport", "RevocationFetch", "chain_of",
           "check_revocation", "detail", "export",
           "extended_key_usage", "import_certificates", "key_usage", "read_upload", "remove", "search"]
