"""A readable dump of a CMS object's structure: content types, algorithms, recipients, signers (RFC 5652)."""

from __future__ import annotations

from typing import Any

from asn1crypto import cms, core

from .names import asn1_name_text, serial_text
from .parsing import parse_content_info


def _rid(rid: Any) -> dict[str, Any]:
    if rid.name in ("issuer_and_serial_number",):
        return {"issuer": asn1_name_text(rid.chosen["issuer"]), "serial": serial_text(rid.chosen["serial_number"].native)}
    if rid.name == "r_key_id":
        return {"subject_key_identifier": rid.chosen["subject_key_identifier"].native.hex()}
    return {"subject_key_identifier": rid.chosen.native.hex()}


def _recipients(infos: cms.RecipientInfos) -> list[dict[str, Any]]:
    out = []
    for ri in infos:
        entry: dict[str, Any] = {"type": ri.name}
        if ri.name == "ktri":
            entry["key_algorithm"] = ri.chosen["key_encryption_algorithm"]["algorithm"].native
            entry.update(_rid(ri.chosen["rid"]))
        elif ri.name == "kari":
            alg = ri.chosen["key_encryption_algorithm"]
            entry["key_algorithm"] = alg["algorithm"].native
            entry["key_wrap"] = alg["parameters"]["algorithm"].native if alg["parameters"].native else None
            entry["recipients"] = [_rid(rek["rid"]) for rek in ri.chosen["recipient_encrypted_keys"]]
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
                    "signature_algorithm": si["signature_algorithm"]["algorithm"].native,
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


__all__ = ["inspect_cms"]
