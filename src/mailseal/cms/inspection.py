"""A readable dump of a CMS object's structure: content types, algorithms, recipients, signers (RFC 5652)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, core
from asn1crypto import x509 as x509_asn1
from cryptography import x509

from .algorithms import PQ_SIGNATURE_NAMES
from .kemri import is_kem_ori, parse_kemri
from .names import asn1_name_text, serial_text
from .parsing import parse_content_info


@dataclass(frozen=True)
class RecipientIdentifier:
    """A recipient as a RecipientInfo names it (RFC 5652 §6.2.1 RecipientIdentifier, §6.2.2 for key agreement):
    the certificate's issuer (DER, as received) and serial number, or its subjectKeyIdentifier."""

    issuer: bytes | None = None
    serial: int | None = None
    subject_key_identifier: bytes | None = None

    @classmethod
    def from_asn1(cls, rid: Any) -> RecipientIdentifier:
        """From an asn1crypto RecipientIdentifier or KeyAgreeRecipientIdentifier."""
        if rid.name == "issuer_and_serial_number":
            return cls(issuer=rid.chosen["issuer"].dump(), serial=int(rid.chosen["serial_number"].native))
        if rid.name == "r_key_id":
            return cls(subject_key_identifier=bytes(rid.chosen["subject_key_identifier"].native))
        return cls(subject_key_identifier=bytes(rid.chosen.native))

    def matches(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` is the certificate this identifier names: issuer names compared as RFC 5280 names
        when their encodings differ, the key identifier against the certificate's (or, without the extension,
        the one RFC 5280 §4.2.1.2 method 1 computes)."""
        if self.subject_key_identifier is not None:
            return self.subject_key_identifier == certificate_ski(cert)
        if self.serial != cert.serial_number or self.issuer is None:
            return False
        issuer = cert.issuer.public_bytes()
        if self.issuer == issuer:
            return True
        try:
            return bool(x509_asn1.Name.load(self.issuer) == x509_asn1.Name.load(issuer))
        except ValueError:
            return False

    def to_dict(self) -> dict[str, Any]:
        if self.subject_key_identifier is not None:
            return {"subject_key_identifier": self.subject_key_identifier.hex()}
        return {"issuer": asn1_name_text(x509_asn1.Name.load(self.issuer or b"")),
                "serial": serial_text(self.serial or 0)}

    def __str__(self) -> str:
        if self.subject_key_identifier is not None:
            return f"subjectKeyIdentifier {self.subject_key_identifier.hex()}"
        fields = self.to_dict()
        return f"serial {fields['serial']} issued by {fields['issuer']}"


def certificate_ski(cert: x509.Certificate) -> bytes:
    """The certificate's subjectKeyIdentifier, or the SHA-1 of its public key when it has none (RFC 5280
    §4.2.1.2 method 1, what senders compute for such a certificate)."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def recipient_identifiers(info: cms.RecipientInfo) -> list[RecipientIdentifier]:
    """The certificates one RecipientInfo names: one for key transport, one per recipientEncryptedKey for key
    agreement; none for KEK, password or other recipient infos (they name no certificate)."""
    if info.name == "ktri":
        return [RecipientIdentifier.from_asn1(info.chosen["rid"])]
    if info.name == "kari":
        return [RecipientIdentifier.from_asn1(rek["rid"]) for rek in info.chosen["recipient_encrypted_keys"]]
    if info.name == "ori" and is_kem_ori(info.dump()):
        return [_kem_rid(parse_kemri(info.dump()).rid)]
    return []


def _kem_rid(rid: bytes) -> RecipientIdentifier:
    """The RecipientIdentifier of a KEMRecipientInfo (RFC 9629 §3: the same CHOICE as key transport's)."""
    return RecipientIdentifier.from_asn1(cms.RecipientIdentifier.load(rid))


def _signature_name(oid: Any) -> str:
    """The signature algorithm's name; ML-DSA and SLH-DSA by our table, as verification names them."""
    return PQ_SIGNATURE_NAMES.get(oid.dotted) or str(oid.native)


def _rid(rid: Any) -> dict[str, Any]:
    return RecipientIdentifier.from_asn1(rid).to_dict()


def _recipients(infos: cms.RecipientInfos) -> list[dict[str, Any]]:
    out = []
    for ri in infos:
        entry: dict[str, Any] = {"type": ri.name}
        if ri.name == "ktri":
            entry["key_algorithm"] = ri.chosen["key_encryption_algorithm"]["algorithm"].native
            entry.update(recipient_identifiers(ri)[0].to_dict())
        elif ri.name == "kari":
            alg = ri.chosen["key_encryption_algorithm"]
            entry["key_algorithm"] = alg["algorithm"].native
            entry["key_wrap"] = alg["parameters"]["algorithm"].native if alg["parameters"].native else None
            entry["recipients"] = [r.to_dict() for r in recipient_identifiers(ri)]
        elif ri.name == "ori" and is_kem_ori(ri.dump()):
            kem = parse_kemri(ri.dump())
            entry.update({"type": "kemri", "key_algorithm": kem.kem, "kdf": kem.kdf, "key_wrap": kem.wrap,
                          "ukm": kem.ukm is not None})
            entry.update(_kem_rid(kem.rid).to_dict())
        elif ri.name == "kekri":
            entry["kek_id"] = ri.chosen["kekid"]["key_identifier"].native.hex()
        out.append(entry)
    return out


def inspect_cms(data: bytes) -> dict[str, Any]:
    info = parse_content_info(data)
    ctype = info["content_type"].native
    out: dict[str, Any] = {"content_type": ctype}
    try:
        content = info["content"]
        if ctype == "signed_data":
            encap = content["encap_content_info"]
            out["encapsulated_content_type"] = encap["content_type"].native
            out["detached"] = encap["content"].native is None
            certs = content["certificates"]
            out["certificates"] = (
                [asn1_name_text(c.chosen.subject) for c in certs if c.name == "certificate"]
                if not isinstance(certs, core.Void) else []
            )
            signers = []
            for si in content["signer_infos"]:
                attrs = [a["type"].native for a in si["signed_attrs"]] if si["signed_attrs"].contents else []
                signers.append({
                    "sid": _rid(si["sid"]),
                    "digest_algorithm": si["digest_algorithm"]["algorithm"].native,
                    "signature_algorithm": _signature_name(si["signature_algorithm"]["algorithm"]),
                    "signed_attributes": attrs,
                })
            out["signers"] = signers
        elif ctype in ("enveloped_data", "authenticated_enveloped_data"):
            key = "auth_encrypted_content_info" if ctype == "authenticated_enveloped_data" else "encrypted_content_info"
            eci = content[key]
            out["content_algorithm"] = eci["content_encryption_algorithm"]["algorithm"].native
            out["encrypted_content_length"] = len(eci["encrypted_content"].native or b"")
            out["recipients"] = _recipients(content["recipient_infos"])
    except Exception as exc:
        out["error"] = f"the structure is malformed: {exc}"
    return out


__all__ = ["RecipientIdentifier", "certificate_ski", "inspect_cms", "recipient_identifiers"]
