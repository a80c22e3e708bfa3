"""Check the signatures of a CMS SignedData over the received bytes (RFC 5652 §5.6, RFC 8551 §2.5, RFC 8419).

Low level: prefer ``mailseal.verify`` and ``mailseal.open``, which also validate each signer's certificate and
judge it. This module only establishes raw facts: which certificate signed, and whether the maths holds.

``check_signed_data`` works in three steps:

1. Read the SignedData from its stream (``_read_signed_data``): the digest algorithms, the encapsulated content
   (spooled to a temporary file and hashed on the way), the certificates and the SignerInfos, all as their
   received bytes. Only a structure that is not a SignedData at all raises (``MalformedCMSError``), and so does
   one over the limits on signers and certificates (``LimitExceededError``).
2. Load the certificates (``_load_certificates``): each one in both asn1crypto's and pyca's view; those pyca
   cannot read are kept apart, to explain later why a signer has no certificate.
3. Check each SignerInfo (``check_signer``): find the signer's certificate, refuse misplaced unsigned attributes
   and broken digests, digest the content, check the signed attributes (RFC 5652 §11) and the message digest,
   then verify the signature with the certificate's public key (``_verify_raw``).

Every refusal in step 3 is a ``SignerCheck`` with ``intact`` False and a sentence in ``failure``; nothing there
raises. The file reads top-down: the two result values, ``check_signed_data`` and its steps, ``check_signer`` and
its steps; then the readers of received bytes (SignedData, SignerInfo, attributes) and the certificate helpers.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, BinaryIO

from asn1crypto import algos, cms
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, mldsa, padding, rsa

from ..errors import LimitExceededError, MalformedCMSError, MalformedMIMEError, UnsupportedAlgorithmError
from ..limits import DEFAULT_LIMITS, Limits
from ..streamio import Region, Source, region_of, region_of_file, spool
from . import der
from .algorithms import (
    DIGESTS,
    HASH_ML_DSA_OIDS,
    HASH_SLH_DSA_OIDS,
    ML_DSA_OIDS,
    OID_CMS_ALGORITHM_PROTECTION,
    OID_CONTENT_TYPE,
    OID_COUNTERSIGNATURE,
    OID_MESSAGE_DIGEST,
    OID_SIGNING_TIME,
    OID_SMIME_CAPABILITIES,
    PQ_SIGNATURE_NAMES,
    REFUSED_DIGESTS,
    SLH_DSA_OIDS,
    ContentKind,
    hash_algorithm,
)
from .der import BerReader
from .parsing import cms_bytes
from .signing import cert_der, ml_dsa_name, new_hash

MAX_SIGNERS = DEFAULT_LIMITS.max_signers  # the defaults; limits.py
MAX_IN_MEMORY = 256 << 20
MAX_CERTIFICATES = DEFAULT_LIMITS.max_certificates

# What parsing hostile bytes can raise below this module, and nothing broader. Our DER reader raises
# MalformedCMSError. asn1crypto parses lazily, so a bad byte surfaces when a value is read: ValueError (a wrong
# tag, class or length, a bad time; UnicodeDecodeError is one), TypeError (a value that parsed as another ASN.1
# type, e.g. RSASSA-PSS parameters read as Any) or KeyError (a field missing from a short SEQUENCE). Taking the
# first child of an empty element raises IndexError.
_ASN1_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError)
_PARSE_ERRORS: tuple[type[Exception], ...] = (MalformedCMSError, ValueError, TypeError, KeyError, IndexError)


@dataclass(frozen=True)
class SignerCheck:
    """Raw facts about one SignerInfo: what was signed, by which certificate, and whether the maths holds."""

    index: int
    certificate: x509.Certificate | None
    intact: bool
    failure: str | None
    digest_algorithm: str
    signature_algorithm: str
    signing_time: datetime | None
    key_size: int | None
    has_signed_attrs: bool
    capabilities: tuple[str, ...] = ()
    #: The signature could not be checked because its algorithm is not supported (SLH-DSA) or out of profile
    #: (HashML-DSA): neither valid nor proven invalid.
    unsupported: bool = False


@dataclass(frozen=True)
class SignedDataCheck:
    """The result of checking a whole SignedData: its content, certificates and one check per signer."""

    content_region: Region | None
    content_type: str
    detached: bool
    certificates: tuple[x509.Certificate, ...]
    signers: tuple[SignerCheck, ...] = field(default_factory=tuple)

    @property
    def content(self) -> bytes | None:
        """The encapsulated content in memory (small messages); None for a detached signature."""
        if self.content_region is None or self.detached:
            return None
        return self.content_region.read_all(MAX_IN_MEMORY)


# A certificate as received (DER), as asn1crypto reads it (names, key identifier) and as pyca loads it (the key).
CertificateViews = tuple[bytes, a_x509.Certificate, x509.Certificate]


def check_signed_data(
    data: bytes | Source,
    detached_content: bytes | BinaryIO | Region | None = None,
    extra_certificates: list[x509.Certificate] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> SignedDataCheck:
    """Check every signer of a SignedData. Raises only for structures that are not SignedData at all, and
    ``LimitExceededError`` for one past ``limits`` (signers, certificates, attributes of a signer)."""
    parts = _open_signed_data(data, limits)
    certs, unreadable = _load_certificates(parts.certificates, extra_certificates or [])
    certificates = tuple(c[2] for c in certs)
    signers = [_parse_signer_info(tlv) for tlv in parts.signer_infos]
    _check_attribute_counts(signers, limits)
    if parts.content is not None and detached_content is not None:
        # RFC 5652 §5.2: eContent present means the signature is not detached; refuse the ambiguity.
        failure = "the signature carries its own content and detached content was also given"
        # The signer is still looked up, so that the refusal names who signed: an invalid signature of a known
        # signer, not an unknown one. Its checks over the eContent are discarded whatever they found.
        refused = tuple(
            replace(_check_parsed_signer(i, si, certs, unreadable, parts.content, parts.e_type_der,
                                         dict(parts.content_digests)), intact=False, failure=failure)
            for i, si in enumerate(signers))
        return SignedDataCheck(content_region=parts.content, content_type=parts.e_type, detached=False,
                               certificates=certificates, signers=refused)
    if parts.content is not None:
        content: Region | None = parts.content
        digests = dict(parts.content_digests)
    else:
        content = None if detached_content is None else (
            detached_content if isinstance(detached_content, Region) else region_of(detached_content)
        )
        digests = {}
    found: list[SignerCheck] = []
    for i, si in enumerate(signers):
        limits.check_time()  # limits.message_seconds, at each signer: many signers make one long step
        found.append(_check_parsed_signer(i, si, certs, unreadable, content, parts.e_type_der, digests))
    checks = tuple(found)
    return SignedDataCheck(content_region=content, content_type=parts.e_type, detached=parts.content is None,
                           certificates=certificates, signers=checks)


def _check_attribute_counts(signers: list[RawSignerInfo | Exception], limits: Limits) -> None:
    for signer in signers:
        if isinstance(signer, Exception):
            continue
        for kind, attrs in (("signed", signer.signed_attrs), ("unsigned", signer.unsigned_attrs)):
            if attrs is None:
                continue
            try:
                count = len(der.elements(attrs))
            except (MalformedCMSError, ValueError, IndexError):
                continue  # malformed: refused for that signer when its attributes are read
            if count > limits.max_attributes:
                raise LimitExceededError(f"a signer has {count} {kind} attributes; the limit is "
                                         f"{limits.max_attributes} (limits.max_attributes)")


def _open_signed_data(data: bytes | Source, limits: Limits = DEFAULT_LIMITS) -> _SignedParts:
    """Step 1: the parts of the SignedData within the limits; raises for anything that is not one."""
    source = Region.of_bytes(cms_bytes(data)) if isinstance(data, bytes | bytearray | memoryview) else data
    if not source.head(1):
        raise MalformedCMSError("the CMS data is empty")
    try:
        parts = _read_signed_data(source, lambda names: [n for n in names if n in DIGESTS][:4])
    except (MalformedMIMEError, ValueError, TypeError, KeyError, IndexError) as exc:
        # A corrupt base64 body (MalformedMIMEError) or an OID asn1crypto cannot read: not a SignedData we can use.
        raise MalformedCMSError(f"the SignedData structure is malformed ({_short(exc)})") from None
    if len(parts.signer_infos) > limits.max_signers:
        raise LimitExceededError(f"the message has {len(parts.signer_infos)} signers; the limit is "
                                 f"{limits.max_signers} (limits.max_signers)")
    if len(parts.certificates) > limits.max_certificates:
        raise LimitExceededError(
            f"the message carries {len(parts.certificates)} certificates; the limit is {limits.max_certificates} "
            "(limits.max_certificates)"
        )
    return parts


def _load_certificates(
    received: list[bytes], extra: list[x509.Certificate]
) -> tuple[list[CertificateViews], list[bytes]]:
    """Step 2: the certificates of the message (then the extra ones) in both views, and those pyca cannot read.

    A certificate asn1crypto cannot read either is skipped: no SignerInfo can be matched to it."""
    certs: list[CertificateViews] = []
    unreadable: list[bytes] = []
    for raw in received:
        try:
            parsed, loaded = _certificate_pair(raw)
        except _Unreadable:
            unreadable.append(raw)
            continue
        except _ASN1_ERRORS:
            continue
        certs.append((raw, parsed, loaded))
    for cert in extra:
        raw = cert_der(cert)
        certs.append((raw, a_x509.Certificate.load(raw), cert))
    if unreadable:
        # DSA keys inheriting their parameters from the issuer (RFC 3279 §2.3.2): a completed copy stands in for
        # each; path validation goes back to the received bytes (cms.inherited_keys).
        from .inherited_keys import complete_all

        for raw, copy in complete_all(unreadable, [c[2] for c in certs]):
            unreadable.remove(raw)
            certs.append((raw, a_x509.Certificate.load(raw), copy))
    return certs, unreadable


def _parse_signer_info(tlv: bytes) -> RawSignerInfo | Exception:
    """A SignerInfo, or the error that stopped reading it: reported for that signer, not for the whole message."""
    try:
        return RawSignerInfo.parse(tlv)
    except _PARSE_ERRORS as exc:
        return exc


def _check_parsed_signer(
    index: int,
    signer: RawSignerInfo | Exception,
    certs: list[CertificateViews],
    unreadable: list[bytes],
    content: Region | None,
    e_content_type_der: bytes,
    content_digests: dict[str, bytes],
) -> SignerCheck:
    """Step 3 for one SignerInfo, with every error that its bytes can cause turned into a failed check."""
    if isinstance(signer, Exception):
        return _refused(index, f"the SignerInfo is malformed: {signer}", None)
    try:
        check = check_signer(index, signer, certs, content, e_content_type_der, content_digests)
    except (UnsupportedAlgorithm, LimitExceededError, MalformedCMSError, ValueError, TypeError, KeyError,
            IndexError) as exc:
        # public_key() raises UnsupportedAlgorithm for a key type pyca does not know (ML-DSA, ...) and ValueError
        # for a corrupt key; content without signed attributes over MAX_IN_MEMORY raises LimitExceededError.
        return _refused(index, f"the SignerInfo is malformed: {exc}", None)
    if check.certificate is None and any(_safe_match(signer.sid, raw) for raw in unreadable):
        return _refused(index, "the signer's certificate is in the message but cannot be read "
                        "(e.g. a DSA key that inherits its parameters from the issuer)", signer)
    return check


def _refused(index: int, failure: str, signer: RawSignerInfo | Exception | None) -> SignerCheck:
    """A check that stopped before the signer's certificate was known: no certificate, time or key size."""
    parsed = signer if isinstance(signer, RawSignerInfo) else None
    return SignerCheck(
        index=index,
        certificate=None,
        intact=False,
        failure=failure,
        digest_algorithm=parsed.digest_name if parsed else "unknown",
        signature_algorithm=parsed.signature_name if parsed else "unknown",
        signing_time=None,
        key_size=None,
        has_signed_attrs=parsed is not None and parsed.signed_attrs is not None,
    )


def check_signer(
    index: int,
    signer: RawSignerInfo,
    certs: list[CertificateViews],
    content: Region | None,
    e_content_type_der: bytes,
    content_digests: dict[str, bytes],
) -> SignerCheck:
    """Check one SignerInfo (RFC 5652 §5.6): certificate, attributes, message digest, then the signature.

    ``content_digests`` caches the content's digest per algorithm across the signers of one message."""
    views = _signer_certificate(signer, certs)
    certificate = views[2] if views else None
    check = SignerCheck(
        index=index,
        certificate=certificate,
        intact=False,
        failure=None,
        digest_algorithm=signer.digest_name,
        signature_algorithm=signer.signature_name,
        signing_time=None,
        key_size=_key_size(certificate),
        has_signed_attrs=signer.signed_attrs is not None,
    )
    if certificate is None:
        return replace(check, failure="the signer's certificate is neither in the message nor given")
    unsupported = _unsupported_signature(signer, certificate)
    if unsupported is not None:
        return replace(check, failure=unsupported, unsupported=True)
    failure = _unsigned_attributes_problem(signer.unsigned_attrs) or _digest_algorithm_problem(signer.digest_name)
    if failure is not None:
        return replace(check, failure=failure)
    if content is None:
        return replace(check, failure="the signed content is missing (detached signature without its content)")
    digest = _content_digest(content, signer.digest_name, content_digests)
    if signer.signed_attrs is None:
        signed_bytes = content.read_all(MAX_IN_MEMORY)
    else:
        attributes = _read_signed_attributes(signer.signed_attrs, e_content_type_der, signer)
        check = replace(check, signing_time=attributes.signing_time, capabilities=attributes.capabilities)
        if attributes.failure is None and not hmac.compare_digest(der.content_of(attributes.message_digest), digest):
            attributes = replace(attributes, failure="the message digest does not match the content: "
                                 "the message was altered")
        if attributes.failure is not None:
            return replace(check, failure=attributes.failure)
        signed_bytes = signer.to_be_signed()
    failure = _signature_problem(certificate, signer, signed_bytes)
    return replace(check, intact=failure is None, failure=failure)


def _key_size(certificate: x509.Certificate | None) -> int | None:
    if certificate is None:
        return None
    try:
        return getattr(certificate.public_key(), "key_size", None)
    except (UnsupportedAlgorithm, ValueError):
        return None


_HASH_ML_DSA = frozenset(n.replace("-", "_") for n in HASH_ML_DSA_OIDS)
_SLH_DSA = frozenset(n.replace("-", "_") for n in (*SLH_DSA_OIDS, *HASH_SLH_DSA_OIDS))


def _unsupported_signature(signer: RawSignerInfo, certificate: x509.Certificate) -> str | None:
    """Why this signature cannot be checked at all (neither valid nor invalid), or None."""
    name = signer.signature_name
    if name in _HASH_ML_DSA:
        return (f"the signature algorithm {name} (HashML-DSA, pre-hash) is out of profile: RFC 9882 does not "
                "define it for CMS and RFC 9881 forbids its OIDs in certificates")
    if name in _SLH_DSA:
        return (f"the signature algorithm {name} (SLH-DSA, RFC 9814) cannot be checked: pyca/cryptography "
                "has no SLH-DSA")
    try:
        certificate.public_key()
    except UnsupportedAlgorithm:
        return "the signer's public key algorithm is not supported"
    except ValueError:
        return None  # a corrupt key: reported when the signature is checked
    return None


def _algorithm_protection_problem(value: bytes, signer: RawSignerInfo) -> str | None:
    """RFC 6211 §2: the CMSAlgorithmProtection attribute must name the SignerInfo's own algorithms."""
    try:
        parts = der.children(value)
        digest_oid = der.children(parts[0])[0]
        signature = next((p for p in parts[1:] if p[:1] == b"\xa1"), None)
    except _PARSE_ERRORS:
        return "the CMSAlgorithmProtection attribute is malformed"
    if digest_oid != der.children(signer.digest_algorithm)[0]:
        return "the CMSAlgorithmProtection attribute names another digest algorithm (RFC 6211): algorithm substitution"
    if signature is not None:
        try:
            signature_oid = der.children(signature)[0]
        except _PARSE_ERRORS:
            return "the CMSAlgorithmProtection attribute is malformed"
        if signature_oid != der.children(signer.signature_algorithm)[0]:
            return ("the CMSAlgorithmProtection attribute names another signature algorithm (RFC 6211): "
                    "algorithm substitution")
    return None


def _signer_certificate(signer: RawSignerInfo, certs: list[CertificateViews]) -> CertificateViews | None:
    """The certificate the sid names. When several do (the RFC 9881 and RFC 9935 example certificates share one
    issuer and serial), the one whose key fits the signature algorithm is taken, not merely the first."""
    matches = [c for c in certs if _sid_matches(signer.sid, c[0], c[1])]
    if len(matches) > 1:
        fitting = [c for c in matches if _key_fits(c[2], signer.signature_name)]
        if fitting:
            return fitting[0]
    return matches[0] if matches else None


def _key_fits(certificate: x509.Certificate, signature_name: str) -> bool:
    try:
        key = certificate.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return False
    pq = ml_dsa_name(key)
    if pq is not None or signature_name.startswith("ml_dsa"):
        return pq is not None and pq.replace("-", "_") == signature_name
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa" in signature_name
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ecdsa" in signature_name
    return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey) and signature_name.startswith("ed")


def _unsigned_attributes_problem(unsigned_attrs: bytes | None) -> str | None:
    if not unsigned_attrs:
        return None
    try:
        present = parse_attributes(unsigned_attrs)
    except MalformedCMSError:
        return "the unsigned attributes cannot be parsed"
    names = {"content_type": ATTR_CONTENT_TYPE, "message_digest": ATTR_MESSAGE_DIGEST,
             "signing_time": ATTR_SIGNING_TIME}
    misplaced = {name for name, oid in names.items() if oid in present}
    if misplaced:
        # RFC 5652 §11.1-11.3: these attributes MUST be signed attributes, never unsigned ones.
        return f"{', '.join(sorted(misplaced))} must not be an unsigned attribute (RFC 5652 §11)"
    return None


def _digest_algorithm_problem(digest_name: str) -> str | None:
    if digest_name in REFUSED_DIGESTS:
        return f"the digest algorithm {digest_name.upper()} is refused as broken"
    try:
        hash_algorithm(digest_name)
    except UnsupportedAlgorithmError as exc:
        return str(exc)
    return None


def _content_digest(content: Region, digest_name: str, content_digests: dict[str, bytes]) -> bytes:
    """The content's digest, computed once per algorithm (the encapsulated content was hashed while read)."""
    if digest_name not in content_digests:
        h = new_hash(digest_name)
        for chunk in content.chunks():
            h.update(chunk)
        content_digests[digest_name] = h.digest()
    return content_digests[digest_name]


@dataclass(frozen=True)
class _SignedAttributes:
    """What check_signer needs from the signed attributes, or why they are refused (``failure``)."""

    failure: str | None
    message_digest: bytes = b""  # the message-digest attribute's OCTET STRING TLV
    signing_time: datetime | None = None
    capabilities: tuple[str, ...] = ()
    algorithm_protection: bytes | None = None  # the CMSAlgorithmProtection value (RFC 6211), when present


def _read_signed_attributes(contents: bytes, e_content_type_der: bytes, signer: RawSignerInfo) -> _SignedAttributes:
    try:
        attrs = parse_attributes(contents)
    except MalformedCMSError:
        return _SignedAttributes("the signed attributes cannot be parsed")
    failure = _signed_attributes_problem(attrs, e_content_type_der)
    if failure is not None:
        return _SignedAttributes(failure)
    message_digest = attrs[ATTR_MESSAGE_DIGEST][0][0]
    signing_time: datetime | None = None
    try:
        times = attrs.get(ATTR_SIGNING_TIME, [])
        if times:
            signing_time = _signing_time(times[0][0])
        capabilities: tuple[str, ...] = ()
        for values in attrs.get(ATTR_SMIME_CAPABILITIES, [])[:1]:
            capabilities = _capabilities(values[0])
    except _PARSE_ERRORS:
        return _SignedAttributes("the signing-time attribute is malformed", message_digest, signing_time)
    protections = attrs.get(ATTR_CMS_ALGORITHM_PROTECTION, [])
    if len(protections) > 1 or (protections and len(protections[0]) != 1):
        return _SignedAttributes("the signed attributes contain more than one CMSAlgorithmProtection (RFC 6211 §2)")
    protection = protections[0][0] if protections else None
    failure = None if protection is None else _algorithm_protection_problem(protection, signer)
    return _SignedAttributes(failure, message_digest, signing_time, capabilities, protection)


def _signed_attributes_problem(attrs: dict[bytes, list[list[bytes]]], e_content_type_der: bytes) -> str | None:
    """The RFC 5652 §11 rules on which attributes must, and must not, be signed, and how often."""
    types = attrs.get(ATTR_CONTENT_TYPE, [])
    digests = attrs.get(ATTR_MESSAGE_DIGEST, [])
    times = attrs.get(ATTR_SIGNING_TIME, [])
    if len(types) != 1 or len(types[0]) != 1:
        return "the signed attributes must contain exactly one content-type (RFC 5652 §11.1)"
    if types[0][0] != e_content_type_der:
        return "the content-type attribute does not match the signed content's type"
    if len(digests) != 1 or len(digests[0]) != 1 or digests[0][0][:1] != b"\x04":
        return "the signed attributes must contain exactly one message-digest (RFC 5652 §11.2)"
    if ATTR_COUNTERSIGNATURE in attrs:
        return "a countersignature must not be a signed attribute (RFC 5652 §11.4)"
    if len(times) > 1 or (times and len(times[0]) != 1):
        return "the signed attributes contain more than one signing-time (RFC 5652 §11.3)"
    return None


def _signature_problem(certificate: x509.Certificate, signer: RawSignerInfo, signed_bytes: bytes) -> str | None:
    """None when the signature verifies with the certificate's key, else why not."""
    try:
        _verify_raw(certificate.public_key(), signer, signed_bytes)
    except InvalidSignature:
        return "the signature does not match the signer's key: the message or signature was altered"
    except (UnsupportedAlgorithmError, UnsupportedAlgorithm) as exc:
        return f"the signature algorithm cannot be checked: {exc}"
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        # Hostile RSASSA-PSS parameters: asn1crypto cannot read them, or pyca refuses the salt length (ValueError
        # when negative, OverflowError when too large for a C integer) before checking anything.
        return f"the signature cannot be checked: {exc}"
    return None


def _verify_raw(public_key: Any, signer: RawSignerInfo, data: bytes) -> None:
    algo = signer.signature_name
    digest_name = signer.digest_name
    signature = signer.signature
    if isinstance(public_key, rsa.RSAPublicKey):
        if algo == "rsassa_pss":
            params = cms.SignedDigestAlgorithm.load(signer.signature_algorithm)["parameters"]
            h = hash_algorithm(params["hash_algorithm"]["algorithm"].native)
            mgf_hash = hash_algorithm(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
            salt = int(params["salt_length"].native)
            public_key.verify(signature, data, padding.PSS(padding.MGF1(mgf_hash), salt), h)
        else:
            h = hash_algorithm(digest_name)
            if algo not in ("rsassa_pkcs1v15",) and not algo.endswith("_rsa"):
                raise UnsupportedAlgorithmError(f"signature algorithm {algo} does not fit an RSA key")
            public_key.verify(signature, data, padding.PKCS1v15(), h)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hash_algorithm(digest_name)))
    elif isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        public_key.verify(signature, data)
    elif isinstance(public_key, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey):
        # RFC 9882 §3: pure ML-DSA over the signed attributes (or the content), empty context; the algorithm must
        # name the key's own parameter set.
        if der.children(signer.signature_algorithm)[0] != der.oid(ML_DSA_OIDS[ml_dsa_name(public_key) or ""]):
            raise UnsupportedAlgorithmError(f"signature algorithm {algo} does not fit the signer's ML-DSA key")
        public_key.verify(signature, data)
    elif isinstance(public_key, dsa.DSAPublicKey):
        public_key.verify(signature, data, hash_algorithm(digest_name))
    else:
        raise UnsupportedAlgorithmError(f"signature algorithm {algo} is not supported")


# -- Reading the SignedData (step 1) ------------------------------------------------------------------------------


@dataclass
class _SignedParts:
    digest_names: list[str]
    e_type: str
    e_type_der: bytes
    content: Region | None
    content_digests: dict[str, bytes]
    certificates: list[bytes]  # exactly as received: never re-encoded (their signatures must still verify)
    signer_infos: list[bytes]


def _read_signed_data(source: Source, hash_names: Callable[[list[str]], list[str]]) -> _SignedParts:
    """Parse SignedData from a stream; a large eContent goes to a temporary file, hashed on the way."""
    r = BerReader(source.open())
    if r.header().tag != 0x30:
        raise MalformedCMSError("the data is not a CMS structure (it does not start with an ASN.1 SEQUENCE)")
    ctype = r.element()
    if ctype != ContentKind.SIGNED_DATA.der:
        name = cms.ContentType.load(ctype).native if ctype[:1] == b"\x06" else "not CMS"
        raise MalformedCMSError(f"expected SignedData, found {name}")
    if r.header().tag != 0xA0 or r.header().tag != 0x30:
        raise MalformedCMSError("the SignedData structure is malformed")
    r.element()  # version
    digest_names = [_algorithm_name(der.children(alg)[0], "digest") for alg in der.children(r.element())]
    encap = r.header()
    if encap.tag != 0x30:
        raise MalformedCMSError("the encapsulated content info is malformed")
    encap_end = None if encap.length is None else r.position + encap.length
    e_type_der = r.element()
    e_type = _content_type_name(e_type_der)
    content, content_digests = _read_encapsulated_content(r, encap_end, hash_names(digest_names))
    if encap.length is None:
        r.expect_eoc()
    certificates: list[bytes] = []
    if r.peek_tag() == 0xA0:
        certificates = _certificate_ders(r.element())
    if r.peek_tag() == 0xA1:
        r.element()  # CRLs: revocation information is the pki layer's business
    infos = r.element()
    if infos[:1] != b"\x31":
        raise MalformedCMSError("the SignerInfos are not a SET")
    return _SignedParts(digest_names, e_type, e_type_der, content, content_digests, certificates, der.children(infos))


def _read_encapsulated_content(
    r: BerReader, encap_end: int | None, hash_names: list[str]
) -> tuple[Region | None, dict[str, bytes]]:
    """The eContent [0] (absent for a detached signature), spooled and hashed with each algorithm named."""
    inside = r.peek_tag() != 0x00 if encap_end is None else r.position < encap_end
    if not inside or r.peek_tag() != 0xA0:
        return None, {}
    explicit = r.header()
    inner = r.header()
    if inner.tag not in (0x04, 0x24):
        raise MalformedCMSError("the encapsulated content is not an OCTET STRING")
    hashers = {name: new_hash(name) for name in hash_names}
    sink = spool()
    for chunk in r.octets(inner):
        sink.write(chunk)
        for h in hashers.values():
            h.update(chunk)
    if explicit.length is None:
        r.expect_eoc()
    return region_of_file(sink), {n: h.digest() for n, h in hashers.items()}


def _certificate_ders(element: bytes) -> list[bytes]:
    """The X.509 certificates of a [0] IMPLICIT CertificateSet, as their received bytes (other choices skipped)."""
    header, pos = der.parse_header(element)
    end = len(element) - 2 if header.length is None else pos + header.length
    out = []
    while pos < end:
        child, start = der.parse_header(element, pos)
        if child.length is None:
            raise MalformedCMSError("a certificate in the message uses indefinite length")
        stop = start + child.length
        if child.tag == 0x30:
            out.append(element[pos:stop])
        pos = stop
    return out


# -- SignerInfo and attributes, read from their received bytes ----------------------------------------------------

ATTR_CONTENT_TYPE = der.oid(OID_CONTENT_TYPE)
ATTR_MESSAGE_DIGEST = der.oid(OID_MESSAGE_DIGEST)
ATTR_SIGNING_TIME = der.oid(OID_SIGNING_TIME)
ATTR_COUNTERSIGNATURE = der.oid(OID_COUNTERSIGNATURE)
ATTR_SMIME_CAPABILITIES = der.oid(OID_SMIME_CAPABILITIES)
ATTR_CMS_ALGORITHM_PROTECTION = der.oid(OID_CMS_ALGORITHM_PROTECTION)


@dataclass(frozen=True)
class RawSignerInfo:
    """A SignerInfo (RFC 5652 §5.3) as received: the parts read straight from its bytes, nothing re-encoded."""

    sid: bytes  # IssuerAndSerialNumber TLV, or [0] SubjectKeyIdentifier TLV
    digest_algorithm: bytes  # the AlgorithmIdentifier TLV
    digest_name: str
    signed_attrs: bytes | None  # contents of [0] IMPLICIT SET OF Attribute
    signature_algorithm: bytes  # the AlgorithmIdentifier TLV
    signature_name: str
    signature: bytes
    unsigned_attrs: bytes | None

    @classmethod
    def parse(cls, tlv: bytes) -> RawSignerInfo:
        parts = der.children(tlv)
        if len(parts) < 5 or parts[0][:1] != b"\x02":
            raise MalformedCMSError("a SignerInfo is malformed")
        sid, digest_alg = parts[1], parts[2]
        rest = parts[3:]
        signed = None
        if rest and rest[0][:1] == b"\xa0":
            signed = der.content_of(rest[0])
            rest = rest[1:]
        if len(rest) < 2 or rest[1][:1] != b"\x04":
            raise MalformedCMSError("a SignerInfo has no signature")
        unsigned = der.content_of(rest[2]) if len(rest) > 2 and rest[2][:1] == b"\xa1" else None
        return cls(
            sid=sid,
            digest_algorithm=digest_alg,
            digest_name=_algorithm_name(der.children(digest_alg)[0], "digest"),
            signed_attrs=signed,
            signature_algorithm=rest[0],
            signature_name=_algorithm_name(der.children(rest[0])[0], "signature"),
            signature=der.content_of(rest[1]),
            unsigned_attrs=unsigned,
        )

    def to_be_signed(self) -> bytes:
        """The signed attributes re-tagged as SET OF, over their received bytes (RFC 5652 §5.4)."""
        assert self.signed_attrs is not None
        return b"\x31" + der.length_bytes(len(self.signed_attrs)) + self.signed_attrs


def parse_attributes(contents: bytes) -> dict[bytes, list[list[bytes]]]:
    """Attributes (RFC 5652 §5.3) from the received bytes: attribute type OID -> one list of values per occurrence.
    Reading the bytes directly keeps a small message's verification fast and never re-encodes anything."""
    attrs: dict[bytes, list[list[bytes]]] = {}
    for attribute in der.elements(contents):
        parts = der.children(attribute)
        if len(parts) != 2 or parts[0][:1] != b"\x06" or parts[1][:1] != b"\x31":
            raise MalformedCMSError("an attribute is not a type and a SET of values")
        values_set = parts[1]
        attrs.setdefault(parts[0], []).append(der.children(values_set))
    return attrs


def _signing_time(tlv: bytes) -> datetime:
    when: datetime = cms.Time.load(tlv).native
    return when


@lru_cache(maxsize=256)
def _capabilities(value: bytes) -> tuple[str, ...]:
    """SMIMECapabilities (RFC 8551 §2.5.2) as dotted OIDs, in the sender's order of preference."""
    return tuple(decode_oid(der.children(cap)[0]) for cap in der.children(value))


@lru_cache(maxsize=1024)
def decode_oid(tlv: bytes) -> str:
    body = der.content_of(tlv)
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


@lru_cache(maxsize=256)
def _algorithm_name(oid_tlv: bytes, kind: str) -> str:
    # ML-DSA and SLH-DSA are named from our own table: other libraries register their own names for these OIDs
    # with asn1crypto ("mldsa65"), so its answer would depend on what was imported first.
    if kind == "signature" and decode_oid(oid_tlv) in PQ_SIGNATURE_NAMES:
        return PQ_SIGNATURE_NAMES[decode_oid(oid_tlv)]
    cls = algos.DigestAlgorithmId if kind == "digest" else algos.SignedDigestAlgorithmId
    return str(cls.load(oid_tlv).native)


@lru_cache(maxsize=64)
def _content_type_name(oid_tlv: bytes) -> str:
    return str(cms.ContentType.load(oid_tlv).native)


# -- Certificates: loading them, and matching a SignerInfo's sid to one --------------------------------------------

class _Unreadable(Exception):
    def __init__(self, parsed: a_x509.Certificate) -> None:
        super().__init__("certificate not readable by pyca")
        self.parsed = parsed


@lru_cache(maxsize=512)
def _certificate_pair(raw: bytes) -> tuple[a_x509.Certificate, x509.Certificate]:
    """Both views of a certificate, cached by its bytes (asn1crypto's parse is lazy and reused too)."""
    parsed = a_x509.Certificate.load(raw)
    try:
        return parsed, load_certificate(raw)
    except (ValueError, x509.InvalidVersion):
        # pyca's loader raises ValueError for what it cannot parse (e.g. DSA parameters inherited from the
        # issuer, RFC 3279 §2.3.2) and InvalidVersion, which is not a ValueError, for an unknown version.
        raise _Unreadable(parsed) from None


@lru_cache(maxsize=512)
def load_certificate(data: bytes) -> x509.Certificate:
    """Certificates are parsed once by pyca's Rust loader and cached: a gateway sees the same few again and again."""
    return x509.load_der_x509_certificate(data)


@lru_cache(maxsize=512)
def _certificate_ids(raw: bytes) -> tuple[bytes, bytes | None]:
    """The IssuerAndSerialNumber a SignerInfo would name this certificate by (DER), and its key identifier."""
    cert = a_x509.Certificate.load(raw)
    tbs = der.children(raw)[0]
    fields = der.children(tbs)
    if fields[0][:1] == b"\xa0":
        fields = fields[1:]  # [0] version
    serial, issuer = fields[0], fields[2]
    return der.seq(issuer, serial), cert.key_identifier


def _sid_matches(sid: bytes, raw_cert: bytes, parsed: a_x509.Certificate) -> bool:
    issuer_serial, key_id = _certificate_ids(raw_cert)
    if sid[:1] == b"\x30":
        if sid == issuer_serial:
            return True
        try:  # different encodings of the same name: compare as RFC 5280 names
            ias = cms.IssuerAndSerialNumber.load(sid)
            return bool(ias["serial_number"].native == parsed.serial_number and ias["issuer"] == parsed.issuer)
        except _ASN1_ERRORS:
            return False
    return key_id is not None and sid[:1] == b"\x80" and der.content_of(sid) == key_id


def _safe_match(sid: bytes, raw_cert: bytes) -> bool:
    """Whether a certificate pyca could not load is the one the sid names (False when it cannot be read at all)."""
    try:
        return _sid_matches(sid, raw_cert, a_x509.Certificate.load(raw_cert))
    except _PARSE_ERRORS:
        return False


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


__all__ = ["SignedDataCheck", "SignerCheck", "check_signed_data"]
