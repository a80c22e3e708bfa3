"""Check the signatures of a CMS SignedData over the received bytes (RFC 5652 §5.6, RFC 8551 §2.5, RFC 8419)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, BinaryIO

from asn1crypto import cms
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from ..errors import LimitExceededError, MalformedCMSError, UnsupportedAlgorithmError
from ..streamio import Region, Source, region_of, region_of_file, spool
from . import der
from .algorithms import DIGESTS, REFUSED_DIGESTS, hash_algorithm
from .der import BerReader
from .parsing import cms_bytes
from .signing import cert_der, new_hash

MAX_SIGNERS = 16
MAX_IN_MEMORY = 256 << 20
MAX_CERTIFICATES = 64


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
    elif isinstance(public_key, dsa.DSAPublicKey):
        public_key.verify(signature, data, hash_algorithm(digest_name))
    else:
        raise UnsupportedAlgorithmError(f"signature algorithm {algo} is not supported")


ATTR_CONTENT_TYPE = der.oid("1.2.840.113549.1.9.3")
ATTR_MESSAGE_DIGEST = der.oid("1.2.840.113549.1.9.4")
ATTR_SIGNING_TIME = der.oid("1.2.840.113549.1.9.5")
ATTR_COUNTERSIGNATURE = der.oid("1.2.840.113549.1.9.6")
ATTR_SMIME_CAPABILITIES = der.oid("1.2.840.113549.1.9.15")




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
def _capabilities(value: bytes) -> tuple[str, ...]:
    """SMIMECapabilities (RFC 8551 §2.5.2) as dotted OIDs, in the sender's order of preference."""
    return tuple(decode_oid(der.children(cap)[0]) for cap in der.children(value))


def _signing_time(tlv: bytes) -> datetime:
    return cms.Time.load(tlv).native  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RawSignerInfo:
    """A SignerInfo (RFC 5652 §5.3) as received: the parts read straight from its bytes, nothing re-encoded."""

    sid: bytes  # IssuerAndSerialNumber TLV, or [0] SubjectKeyIdentifier TLV
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
            sid, _algorithm_name(der.children(digest_alg)[0], "digest"), signed,
            rest[0], _algorithm_name(der.children(rest[0])[0], "signature"),
            der.content_of(rest[1]), unsigned,
        )

    def to_be_signed(self) -> bytes:
        """The signed attributes re-tagged as SET OF, over their received bytes (RFC 5652 §5.4)."""
        assert self.signed_attrs is not None
        return b"\x31" + der.length_bytes(len(self.signed_attrs)) + self.signed_attrs


@lru_cache(maxsize=256)
def _algorithm_name(oid_tlv: bytes, kind: str) -> str:
    from asn1crypto import algos

    cls = algos.DigestAlgorithmId if kind == "digest" else algos.SignedDigestAlgorithmId
    return str(cls.load(oid_tlv).native)


@lru_cache(maxsize=64)
def _content_type_name(oid_tlv: bytes) -> str:
    return str(cms.ContentType.load(oid_tlv).native)


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
        except Exception:
            return False
    return key_id is not None and sid[:1] == b"\x80" and der.content_of(sid) == key_id


def check_signer(
    index: int,
    signer: RawSignerInfo,
    certs: list[tuple[bytes, a_x509.Certificate, x509.Certificate]],
    content: Region | None,
    e_content_type_der: bytes,
    content_digests: dict[str, bytes],
) -> SignerCheck:
    cert_pair = next((c for c in certs if _sid_matches(signer.sid, c[0], c[1])), None)
    digest_name = signer.digest_name
    sig_name = signer.signature_name
    has_attrs = signer.signed_attrs is not None
    signing_time: datetime | None = None
    caps: tuple[str, ...] = ()
    pub_cert = cert_pair[2] if cert_pair else None
    key_size = getattr(pub_cert.public_key(), "key_size", None) if pub_cert else None

    def result(intact: bool, failure: str | None) -> SignerCheck:
        return SignerCheck(
            index, pub_cert, intact, failure, digest_name, sig_name, signing_time, key_size, has_attrs, caps
        )

    if cert_pair is None:
        return result(False, "the signer's certificate is neither in the message nor given")
    if signer.unsigned_attrs:
        try:
            present = parse_attributes(signer.unsigned_attrs)
        except Exception:
            return result(False, "the unsigned attributes cannot be parsed")
        names = {"content_type": ATTR_CONTENT_TYPE, "message_digest": ATTR_MESSAGE_DIGEST,
                 "signing_time": ATTR_SIGNING_TIME}
        misplaced = {name for name, oid in names.items() if oid in present}
        if misplaced:
            # RFC 5652 §11.1-11.3: these attributes MUST be signed attributes, never unsigned ones.
            return result(False, f"{', '.join(sorted(misplaced))} must not be an unsigned attribute (RFC 5652 §11)")
    if digest_name in REFUSED_DIGESTS:
        return result(False, f"the digest algorithm {digest_name.upper()} is refused as broken")
    try:
        hash_algorithm(digest_name)
    except UnsupportedAlgorithmError as exc:
        return result(False, str(exc))
    if content is None:
        return result(False, "the signed content is missing (detached signature without its content)")
    if digest_name not in content_digests:
        h = new_hash(digest_name)
        for chunk in content.chunks():
            h.update(chunk)
        content_digests[digest_name] = h.digest()
    actual = content_digests[digest_name]
    if has_attrs:
        try:
            attrs = parse_attributes(signer.signed_attrs or b"")
        except Exception:
            return result(False, "the signed attributes cannot be parsed")
        types = attrs.get(ATTR_CONTENT_TYPE, [])
        digests = attrs.get(ATTR_MESSAGE_DIGEST, [])
        times = attrs.get(ATTR_SIGNING_TIME, [])
        if len(types) != 1 or len(types[0]) != 1:
            return result(False, "the signed attributes must contain exactly one content-type (RFC 5652 §11.1)")
        if types[0][0] != e_content_type_der:
            return result(False, "the content-type attribute does not match the signed content's type")
        if len(digests) != 1 or len(digests[0]) != 1 or digests[0][0][:1] != b"\x04":
            return result(False, "the signed attributes must contain exactly one message-digest (RFC 5652 §11.2)")
        if ATTR_COUNTERSIGNATURE in attrs:
            return result(False, "a countersignature must not be a signed attribute (RFC 5652 §11.4)")
        if len(times) > 1 or (times and len(times[0]) != 1):
            return result(False, "the signed attributes contain more than one signing-time (RFC 5652 §11.3)")
        try:
            if times:
                signing_time = _signing_time(times[0][0])
            for caps_value in attrs.get(ATTR_SMIME_CAPABILITIES, [])[:1]:
                caps = _capabilities(caps_value[0])
        except Exception:
            return result(False, "the signing-time attribute is malformed")
        if not hashlib_compare(der.content_of(digests[0][0]), actual):
            return result(False, "the message digest does not match the content: the message was altered")
        data = signer.to_be_signed()
    else:
        data = content.read_all(MAX_IN_MEMORY)
    try:
        _verify_raw(cert_pair[2].public_key(), signer, data)
    except InvalidSignature:
        return result(False, "the signature does not match the signer's key: the message or signature was altered")
    except (UnsupportedAlgorithmError, UnsupportedAlgorithm) as exc:
        return result(False, f"the signature algorithm cannot be checked: {exc}")
    except Exception as exc:
        return result(False, f"the signature cannot be checked: {exc}")
    return result(True, None)


def _safe_match(sid: bytes, raw_cert: bytes) -> bool:
    try:
        return _sid_matches(sid, raw_cert, a_x509.Certificate.load(raw_cert))
    except Exception:
        return False


def hashlib_compare(a: Any, b: bytes) -> bool:
    import hmac

    return isinstance(a, bytes) and hmac.compare_digest(a, b)


OID_SIGNED_DATA = der.oid("1.2.840.113549.1.7.2")


@dataclass
class _SignedParts:
    digest_names: list[str]
    e_type: str
    e_type_der: bytes
    content: Region | None
    content_digests: dict[str, bytes]
    certificates: list[bytes]  # exactly as received: never re-encoded (their signatures must still verify)
    signer_infos: list[bytes]


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


def _read_signed_data(source: Source, hash_names: Callable[[list[str]], list[str]]) -> _SignedParts:
    """Parse SignedData from a stream; a large eContent goes to a temporary file, hashed on the way."""
    r = BerReader(source.open())
    if r.header().tag != 0x30:
        raise MalformedCMSError("the data is not a CMS structure (it does not start with an ASN.1 SEQUENCE)")
    ctype = r.element()
    if ctype != OID_SIGNED_DATA:
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
    content: Region | None = None
    content_digests: dict[str, bytes] = {}
    inside = r.peek_tag() != 0x00 if encap_end is None else r.position < encap_end
    if inside and r.peek_tag() == 0xA0:
        explicit = r.header()
        inner = r.header()
        if inner.tag not in (0x04, 0x24):
            raise MalformedCMSError("the encapsulated content is not an OCTET STRING")
        hashers = {name: new_hash(name) for name in hash_names(digest_names)}
        sink = spool()
        for chunk in r.octets(inner):
            sink.write(chunk)
            for h in hashers.values():
                h.update(chunk)
        if explicit.length is None:
            r.expect_eoc()
        content = region_of_file(sink)
        content_digests = {n: h.digest() for n, h in hashers.items()}
    if encap.length is None:
        r.expect_eoc()
    certificates: list[bytes] = []
    if r.peek_tag() == 0xA0:
        certificates = _certificate_ders(r.element())
    if r.peek_tag() == 0xA1:
        r.element()  # CRLs: revocation information is the pki layer's business
    infos = r.element()
    signer_infos = der.children(infos) if infos[:1] == b"\x31" else []
    if infos[:1] != b"\x31":
        raise MalformedCMSError("the SignerInfos are not a SET")
    return _SignedParts(digest_names, e_type, e_type_der, content, content_digests, certificates, signer_infos)


def check_signed_data(
    data: bytes | Source,
    detached_content: bytes | BinaryIO | Region | None = None,
    extra_certificates: list[x509.Certificate] | None = None,
) -> SignedDataCheck:
    """Check every signer of a SignedData. Raises only for structures that are not SignedData at all."""
    source = Region.of_bytes(cms_bytes(data)) if isinstance(data, bytes | bytearray | memoryview) else data
    if not source.head(1):
        raise MalformedCMSError("the CMS data is empty")
    try:
        parts = _read_signed_data(source, lambda names: [n for n in names if n in DIGESTS][:4])
    except (MalformedCMSError, LimitExceededError):
        raise
    except Exception as exc:
        raise MalformedCMSError(f"the SignedData structure is malformed ({_short(exc)})") from None
    e_type = parts.e_type
    a_certs = parts.certificates
    signer_infos = parts.signer_infos
    if len(signer_infos) > MAX_SIGNERS:
        raise LimitExceededError(f"the message has {len(signer_infos)} signers; the limit is {MAX_SIGNERS}")
    if len(a_certs) > MAX_CERTIFICATES:
        raise LimitExceededError(f"the message carries {len(a_certs)} certificates; the limit is {MAX_CERTIFICATES}")
    pairs: list[tuple[bytes, a_x509.Certificate, x509.Certificate]] = []
    unreadable: list[bytes] = []
    for raw in a_certs:
        try:
            parsed, loaded = _certificate_pair(raw)
            pairs.append((raw, parsed, loaded))
        except _Unreadable:
            unreadable.append(raw)
        except Exception:
            continue
    for extra in extra_certificates or []:
        raw = cert_der(extra)
        pairs.append((raw, a_x509.Certificate.load(raw), extra))
    signers: list[RawSignerInfo | Exception] = []
    for tlv in signer_infos:
        try:
            signers.append(RawSignerInfo.parse(tlv))
        except Exception as exc:
            signers.append(exc)
    embedded = parts.content
    if embedded is not None and detached_content is not None:
        # RFC 5652 §5.2: eContent present means the signature is not detached; refuse the ambiguity.
        checks = tuple(
            SignerCheck(
                i, None, False, "the signature carries its own content and detached content was also given",
                si.digest_name if isinstance(si, RawSignerInfo) else "unknown",
                si.signature_name if isinstance(si, RawSignerInfo) else "unknown",
                None, None, isinstance(si, RawSignerInfo) and si.signed_attrs is not None,
            )
            for i, si in enumerate(signers)
        )
        return SignedDataCheck(embedded, e_type, False, tuple(p[2] for p in pairs), checks)
    if embedded is not None:
        content: Region | None = embedded
        digests: dict[str, bytes] = dict(parts.content_digests)
    else:
        content = None if detached_content is None else (
            detached_content if isinstance(detached_content, Region) else region_of(detached_content)
        )
        digests = {}
    checks_list = []
    for i, si in enumerate(signers):
        try:
            if isinstance(si, Exception):
                raise si
            one = check_signer(i, si, pairs, content, parts.e_type_der, digests)
            if one.certificate is None and any(_safe_match(si.sid, raw) for raw in unreadable):
                one = SignerCheck(
                    i, None, False, "the signer's certificate is in the message but cannot be read "
                    "(e.g. a DSA key that inherits its parameters from the issuer)",
                    one.digest_algorithm, one.signature_algorithm, None, None, one.has_signed_attrs,
                )
            checks_list.append(one)
        except Exception as exc:
            checks_list.append(
                SignerCheck(i, None, False, f"the SignerInfo is malformed: {exc}", "unknown", "unknown",
                            None, None, False)
            )
    return SignedDataCheck(content, e_type, embedded is None, tuple(p[2] for p in pairs), tuple(checks_list))


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
    except Exception:
        raise _Unreadable(parsed) from None


@lru_cache(maxsize=512)
def load_certificate(data: bytes) -> x509.Certificate:
    """Certificates are parsed once by pyca's Rust loader and cached: a gateway sees the same few again and again."""
    return x509.load_der_x509_certificate(data)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


__all__ = ["SignedDataCheck", "SignerCheck", "check_signed_data", "fingerprint"]
