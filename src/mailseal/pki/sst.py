"""Microsoft serialized certificate stores (.sst): read and write, as [MS-OSHARED] §2.3.2.5 documents them.

An ``.sst`` file is what PowerShell's ``Export-Certificate -Type SST`` and ``CertSaveStore(...,
CERT_STORE_SAVE_AS_STORE, ...)`` write, and what Exchange Online's ``Set-SmimeConfig
-SMIMECertificateIssuingCA`` takes. The layout (all integers unsigned 32-bit little-endian):

    header      version 0x00000000, file type 0x54524543 (the bytes ``00 00 00 00 43 45 52 54``)
    groups      per certificate: zero or more property elements, then the certificate element
    element     property id, encoding type (1 = X509_ASN_ENCODING), length, value[length]
    end marker  id 0 followed by eight zero bytes (twelve zero bytes in all)

The certificate element has id 0x20 (CERT_CERT_PROP_ID) and holds the DER certificate; it closes its group.
Property ids are at most 0xFFFF. A store may also hold CRLs (id 0x21) and CTLs (id 0x22) with their own
property groups; they are skipped, as are properties, since only the certificates matter for trust.

Some tools save a store "as PKCS #7" under the same extension: a SignedData certs-only bundle (RFC 5652 §5).
``read_sst`` accepts that too, told apart by its first byte (an ASN.1 SEQUENCE, 0x30).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..cms.identity import load_certificates
from ..errors import CertificateError

#: ``version`` (0) and ``fileType`` ("CERT" as a little-endian 0x54524543).
SST_MAGIC = b"\x00\x00\x00\x00CERT"
#: CERT_FRIENDLY_NAME_PROP_ID: UTF-16LE text ending in a NUL character, what certmgr shows as "Friendly Name".
FRIENDLY_NAME_PROP_ID = 11
#: CERT_CERT_PROP_ID: the element that holds the DER certificate and closes a group.
CERT_PROP_ID = 0x20
#: CERT_CRL_PROP_ID and CERT_CTL_PROP_ID: elements holding a CRL or a CTL, which close their group likewise.
CRL_PROP_ID = 0x21
CTL_PROP_ID = 0x22
#: X509_ASN_ENCODING, the only encoding type the format defines.
X509_ASN_ENCODING = 1
#: [MS-OSHARED] §2.3.2.5.3: a property id "MUST be less than or equal to 0x0000FFFF".
MAX_PROP_ID = 0xFFFF

_ELEMENT = struct.Struct("<III")
_END_MARKER = b"\x00" * _ELEMENT.size


@dataclass(frozen=True)
class Element:
    """One serialized element: where it starts in the file, its property id, encoding type and value."""

    offset: int
    prop_id: int
    encoding: int
    value: bytes


def looks_like_sst(data: bytes) -> bool:
    """True when the data opens with the serialized-store header."""
    return data.startswith(SST_MAGIC)


def iter_elements(data: bytes) -> Iterator[Element]:
    """Every element of a serialized store up to (not including) the end marker, checking the framing.

    Raises CertificateError for a bad header, an element cut short, a length beyond the end of the file, an
    impossible property id, a missing end marker or bytes after it. Values are not interpreted here.
    """
    if len(data) < len(SST_MAGIC):
        raise CertificateError(f"the serialized certificate store is truncated: {len(data)} bytes, no header")
    if data[4:8] != SST_MAGIC[4:8]:
        raise CertificateError("not a serialized certificate store (.sst): the header does not read 'CERT'")
    if data[:4] != SST_MAGIC[:4]:
        version = struct.unpack_from("<I", data)[0]
        raise CertificateError(f"unsupported serialized certificate store version {version:#x} (expected 0)")
    pos = len(SST_MAGIC)
    while True:
        if pos == len(data):
            raise CertificateError("the serialized certificate store is truncated: it has no end marker")
        if len(data) - pos < _ELEMENT.size:
            raise CertificateError(
                f"the serialized certificate store is truncated: {len(data) - pos} bytes at offset {pos}"
                f" where a {_ELEMENT.size}-byte element header belongs"
            )
        prop_id, encoding, length = _ELEMENT.unpack_from(data, pos)
        if prop_id == 0:
            if data[pos : pos + _ELEMENT.size] != _END_MARKER:
                raise CertificateError(f"malformed end marker at offset {pos} in the serialized certificate store")
            end = pos + _ELEMENT.size
            if end != len(data):
                raise CertificateError(
                    f"the serialized certificate store has {len(data) - end} unexpected bytes after its end marker"
                )
            return
        if prop_id > MAX_PROP_ID:
            raise CertificateError(
                f"malformed serialized certificate store: element at offset {pos} has property id {prop_id:#x}"
                f" (at most {MAX_PROP_ID:#x} allowed)"
            )
        start = pos + _ELEMENT.size
        if length > len(data) - start:
            raise CertificateError(
                f"malformed serialized certificate store: element at offset {pos} claims {length} bytes"
                f" but only {len(data) - start} remain"
            )
        yield Element(pos, prop_id, encoding, data[start : start + length])
        pos = start + length


def read_sst(data: bytes) -> list[x509.Certificate]:
    """The certificates of a serialized store (or of a PKCS#7 certs-only ``.sst``), in file order.

    Properties (friendly names, hashes, key identifiers, ...), CRLs and CTLs are skipped. Anything malformed
    raises CertificateError (code ``malformed-certificate``).
    """
    if not looks_like_sst(data) and data[4:8] != b"CERT":
        if data[:1] == b"\x30":
            # certmgr's "PKCS #7" save type: a SignedData certs-only bundle, DER or indefinite-length BER.
            return load_certificates(data)
        raise CertificateError(
            "not a serialized certificate store (.sst): it starts with neither the header 00 00 00 00 43 45 52 54"
            " nor a PKCS#7 structure"
        )
    certs: list[x509.Certificate] = []
    pending_properties = 0
    for element in iter_elements(data):
        if element.prop_id == CERT_PROP_ID:
            if element.encoding != X509_ASN_ENCODING:
                raise CertificateError(
                    f"certificate element at offset {element.offset} has encoding type {element.encoding:#x};"
                    f" only X509_ASN_ENCODING (1) is defined"
                )
            try:
                certs.append(x509.load_der_x509_certificate(element.value))
            except (ValueError, x509.InvalidVersion) as exc:
                raise CertificateError(
                    f"certificate element at offset {element.offset} is not a DER X.509 certificate:"
                    f" {str(exc).splitlines()[0] if str(exc) else 'parse error'}"
                ) from None
            pending_properties = 0
        elif element.prop_id in (CRL_PROP_ID, CTL_PROP_ID):
            pending_properties = 0
        else:
            pending_properties += 1
    if pending_properties:
        raise CertificateError(
            f"malformed serialized certificate store: {pending_properties} property element(s) before the end"
            " marker belong to no certificate"
        )
    return certs


def _element(prop_id: int, value: bytes) -> bytes:
    return _ELEMENT.pack(prop_id, X509_ASN_ENCODING, len(value)) + value


def friendly_name(cert: x509.Certificate) -> str:
    """A short display name: the subject's commonName, else its RFC 4514 string."""
    names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def write_sst(certs: Sequence[x509.Certificate], *, friendly_names: bool = False) -> bytes:
    """A serialized store holding `certs` in order, as CertSaveStore(CERT_STORE_SAVE_AS_STORE) writes it.

    Without ``friendly_names`` each group is the certificate element alone (byte for byte what Windows writes
    for a store whose certificates carry no properties); with it, a CERT_FRIENDLY_NAME_PROP_ID property (the
    subject's commonName) precedes each certificate so certmgr shows a name.
    """
    out = bytearray(SST_MAGIC)
    for cert in certs:
        if friendly_names:
            out += _element(FRIENDLY_NAME_PROP_ID, (friendly_name(cert) + "\x00").encode("utf-16-le"))
        out += _element(CERT_PROP_ID, cert.public_bytes(serialization.Encoding.DER))
    out += _END_MARKER
    return bytes(out)


__all__ = [
    "CERT_PROP_ID",
    "CRL_PROP_ID",
    "CTL_PROP_ID",
    "FRIENDLY_NAME_PROP_ID",
    "SST_MAGIC",
    "X509_ASN_ENCODING",
    "Element",
    "friendly_name",
    "iter_elements",
    "looks_like_sst",
    "read_sst",
    "write_sst",
]
