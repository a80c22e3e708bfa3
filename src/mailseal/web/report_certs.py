"""What the verify page shows of one certificate: names, validity, CA/B Forum validation type, revocation sources.

Read from the certificates the Report already holds (``SignerResult.certificate`` and ``chain``), through pyca's
x509 objects and ``pki.certfields``, never raising: a hostile certificate whose extensions do not parse shows
"(cannot be parsed)" rather than failing the page. The S/MIME Baseline Requirements (CA/B Forum, §7.1.6.1) name
the validation type in a certificatePolicies OID ``2.23.140.1.5.<type>.<generation>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..pki.certfields import certificate_fields

#: What the text shows for a name that cannot be parsed (as the CLI's renderer does).
UNREADABLE = "(cannot be parsed)"

#: S/MIME BR §7.1.6.1: 2.23.140.1.5.{1 mailbox, 2 organization, 3 sponsor, 4 individual}.{1 legacy, 2 multipurpose, 3 strict}.
CABF_SMIME_ARC = "2.23.140.1.5."
VALIDATION_KINDS = {"1": "Mailbox-validated", "2": "Organization-validated", "3": "Sponsor-validated",
                    "4": "Individual-validated"}
GENERATIONS = {"1": "legacy", "2": "multipurpose", "3": "strict"}

_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")


@dataclass(frozen=True)
class CertFacts:
    """The shown facts of one certificate; every text is plain (templates and the SVG escape it)."""

    subject: str
    issuer: str
    serial: str
    fingerprint_sha256: str
    emails: tuple[str, ...]
    not_before: str
    not_after: str
    validity: str  # "valid" | "expired" | "not-yet-valid" at the time the page was made
    self_issued: bool
    validation_type: str | None  # "Mailbox-validated, strict"; None without a CA/B Forum S/MIME policy
    policy_oids: tuple[str, ...]
    crl_urls: tuple[str, ...]
    ocsp_urls: tuple[str, ...]
    pem: str  # public certificate, for the download link


def _iso_day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def validation_type(policy_oids: tuple[str, ...]) -> str | None:
    """The CA/B Forum S/MIME validation type named by the policy OIDs, or None when none is named."""
    for oid in policy_oids:
        if not oid.startswith(CABF_SMIME_ARC):
            continue
        parts = oid[len(CABF_SMIME_ARC):].split(".")
        if len(parts) == 2 and parts[0] in VALIDATION_KINDS and parts[1] in GENERATIONS:
            return f"{VALIDATION_KINDS[parts[0]]}, {GENERATIONS[parts[1]]}"
    return None


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):  # ValueError: extensions that cannot be parsed
        return None


def policy_oids(cert: x509.Certificate) -> tuple[str, ...]:
    ext = _extension(cert, x509.CertificatePolicies)
    if not isinstance(ext, x509.CertificatePolicies):
        return ()
    return tuple(p.policy_identifier.dotted_string for p in ext)


def _uris(names: list[x509.GeneralName] | None) -> list[str]:
    return [n.value for n in names or () if isinstance(n, x509.UniformResourceIdentifier)]


def revocation_sources(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The CRL distribution points and OCSP responders the certificate names (RFC 5280 §4.2.1.13, §4.2.2.1)."""
    crls: list[str] = []
    ocsps: list[str] = []
    dps = _extension(cert, x509.CRLDistributionPoints)
    if isinstance(dps, x509.CRLDistributionPoints):
        for dp in dps:
            crls.extend(_uris(dp.full_name))
    aia = _extension(cert, x509.AuthorityInformationAccess)
    if isinstance(aia, x509.AuthorityInformationAccess):
        ocsps.extend(_uris([d.access_location for d in aia
                            if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP]))
    return tuple(crls), tuple(ocsps)


def validity_at(cert: x509.Certificate, at: datetime) -> str:
    if at < cert.not_valid_before_utc:
        return "not-yet-valid"
    if at > cert.not_valid_after_utc:
        return "expired"
    return "valid"


def cert_facts(cert: x509.Certificate, at: datetime) -> CertFacts:
    fields = certificate_fields(cert)
    oids = policy_oids(cert)
    crls, ocsps = revocation_sources(cert)
    try:
        self_issued = cert.subject == cert.issuer
    except ValueError:
        self_issued = False
    return CertFacts(
        subject=UNREADABLE if fields.subject is None else (fields.subject or "(empty subject)"),
        issuer=UNREADABLE if fields.issuer is None else (fields.issuer or "(empty issuer)"),
        serial=fields.serial,
        fingerprint_sha256=fields.fingerprint_sha256,
        emails=fields.emails,
        not_before=_iso_day(cert.not_valid_before_utc),
        not_after=_iso_day(cert.not_valid_after_utc),
        validity=validity_at(cert, at),
        self_issued=self_issued,
        validation_type=validation_type(oids),
        policy_oids=oids,
        crl_urls=crls,
        ocsp_urls=ocsps,
        pem=cert.public_bytes(Encoding.PEM).decode("ascii"),
    )


def revocation_method(state: str, reasons: tuple[str, ...], leaf: CertFacts | None) -> str:
    """How revocation was checked, as far as the Report tells. It keeps the state and the verifier's sentences, not
    the source that answered: a refusal names its source (CRL or OCSP); otherwise the sources the certificate
    offers are named beside what the state says."""
    if state == "not-checked":
        return "not checked: revocation checking was off, or the signature failed before it"
    if state == "revoked":
        text = " ".join(r for r in reasons if "revoked" in r.lower())
        used = [name for name in ("CRL", "OCSP") if re.search(rf"\b{name}\b", text)]
        if used:
            return " and ".join(used)
    offered = [*(f"CRL {u}" for u in leaf.crl_urls), *(f"OCSP {u}" for u in leaf.ocsp_urls)] if leaf else []
    where = "the certificate names " + ", ".join(offered) if offered else "the certificate names no CRL or OCSP source"
    if state == "good":
        return f"a CRL or OCSP response the verifier was given or fetched (which one is not recorded); {where}"
    return f"no CRL or OCSP response answered; {where}"


_AT_ON = re.compile(r"at (\d{2}:\d{2}:\d{2}) on (\d{4}-\d{2}-\d{2})")


def revocation_time(reasons: tuple[str, ...]) -> str | None:
    """The revocation time a verifier sentence gives ("... revoked since 2026-...", "... revoked at 04:29:23 on
    2026-12-07" as pyhanko-certvalidator words it)."""
    for reason in reasons:
        if "revoked" not in reason.lower():
            continue
        at_on = _AT_ON.search(reason)
        if at_on:
            return f"{at_on.group(2)} {at_on.group(1)} UTC"
        found = _ISO_TIME.search(reason)
        if found:
            return found.group(0)
    return None


__all__ = ["UNREADABLE", "CertFacts", "cert_facts", "policy_oids", "revocation_method", "revocation_sources",
           "revocation_time", "validation_type", "validity_at"]
