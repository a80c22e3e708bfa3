"""Open a message the way a careful mail client does: unwrap every S/MIME layer from the root, report each."""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from ..cms.decryption import DecryptedContent, decrypt_data
from ..cms.identity import Identity
from ..cms.parsing import looks_like_cms, parse_content_info
from ..cms.verification import SignedDataCheck, check_signed_data
from ..errors import (
    DecryptionError,
    LimitExceededError,
    MalformedMIMEError,
    NoMatchingRecipientError,
    NotEncryptedError,
)
from ..pki.validation import ValidationContext
from .canonical import has_bare_lf, to_crlf
from .entity import Entity, MessageInput, read_input
from .judgement import judge
from .report import Layer, Report
from .signed import parse_multipart_signed

MAX_DEPTH = 8
PKCS7_MIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
SIGNED_TYPES = ("multipart/signed",)


@dataclass(frozen=True)
class Opened:
    """The report and the innermost content: ``entity`` alone, ``message`` with the outer fields merged in."""

    report: Report
    entity: bytes
    message: bytes


def from_addresses(entity: Entity) -> list[str]:
    values = entity.fields("From")
    return [addr for _, addr in email.utils.getaddresses(values) if addr]


def classify(entity: Entity) -> str | None:
    """'signed' for multipart/signed, 'pkcs7' for an application/pkcs7-mime body, None for anything else."""
    ctype, params = entity.content_type()
    if ctype in SIGNED_TYPES:
        protocol = params.get("protocol", "").lower()
        if protocol in ("application/pkcs7-signature", "application/x-pkcs7-signature"):
            return "signed"
        return None
    if ctype in PKCS7_MIME_TYPES:
        return "pkcs7"
    if ctype == "application/octet-stream" and (entity.filename() or "").lower().endswith((".p7m", ".p7s")):
        return "pkcs7"
    return None


def _check_detached(signature: bytes, content: bytes, extra: Sequence[x509.Certificate]) -> tuple[SignedDataCheck, bytes]:
    """Check over the exact received bytes; for LF-only input, over its canonical CRLF form (RFC 8551 §3.1.1)."""
    check = check_signed_data(signature, content, list(extra))
    if not all(s.intact for s in check.signers) and has_bare_lf(content):
        canonical = to_crlf(content)
        second = check_signed_data(signature, canonical, list(extra))
        if sum(s.intact for s in second.signers) > sum(s.intact for s in check.signers):
            return second, canonical
    return check, content


def _decrypt(der: bytes, identities: Sequence[Identity]) -> DecryptedContent:
    if not identities:
        raise NoMatchingRecipientError("the message is encrypted: give the recipient's key to open it")
    failed = False
    for ident in identities:
        try:
            return decrypt_data(der, ident.private_key, ident.certificate)
        except NoMatchingRecipientError:
            continue
        except DecryptionError:
            failed = True
    if failed:
        raise DecryptionError()
    raise NoMatchingRecipientError("the message is not encrypted for any of the keys given")


def _nested_parts(entity: Entity) -> tuple[str, ...]:
    """Signed or encrypted parts below the root: reported as parts, never as protection of the message."""
    ctype, _ = entity.content_type()
    if not ctype.startswith("multipart/") or len(entity.body) > 64 << 20:
        return ()
    found = []
    msg = email.message_from_bytes(entity.to_bytes(), policy=email.policy.compat32)
    for index, part in enumerate(msg.walk()):
        if index == 0:
            continue
        t = part.get_content_type()
        if t in SIGNED_TYPES or t in PKCS7_MIME_TYPES or t in ("application/pkcs7-signature",):
            found.append(f"part {index}: {t}")
    return tuple(found)


def merge_headers(outer: Entity, inner: Entity) -> bytes:
    """Outer fields, except those the inner entity protects itself (RFC 9788), then the inner entity."""
    inner_names = {ln.partition(b":")[0].strip().lower() for ln in inner.header_lines}
    lines = [ln for ln in outer.outer_lines() if ln.partition(b":")[0].strip().lower() not in inner_names]
    return b"".join(line + b"\r\n" for line in lines) + inner.to_bytes()


def open_message(
    message: MessageInput,
    *,
    identities: Sequence[Identity] = (),
    context: ValidationContext | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    detached_content: bytes | None = None,
    max_depth: int = MAX_DEPTH,
) -> Opened:
    """Unwrap every layer at the root of the message and return the report and the innermost content."""
    ctx = context or ValidationContext()
    raw = read_input(message)
    layers: list[Layer] = []
    warnings: list[str] = []
    if looks_like_cms(raw) and not raw.lstrip()[:1].isalpha():
        return _open_bare(raw, identities, ctx, extra_certificates, detached_content, max_depth)
    root = Entity.parse(raw)
    current = root
    froms = from_addresses(root)
    for _depth in range(max_depth + 1):
        kind = classify(current)
        if kind is None:
            break
        if len(layers) >= max_depth:
            raise LimitExceededError(f"the message nests more than {max_depth} S/MIME layers")
        if kind == "signed":
            detached = parse_multipart_signed(current)
            check, signed_bytes = _check_detached(detached.signature, detached.content, extra_certificates)
            inner = Entity.parse_content(signed_bytes)
            signer_froms = from_addresses(inner) or froms
            layers.append(
                Layer("signed", "multipart/signed", judge(check, ctx, signer_froms), covers=inner.content_type()[0])
            )
            current = inner
            continue
        der = current.decoded_body()
        if not der:
            raise MalformedMIMEError("the application/pkcs7-mime body is empty")
        layer, content = _unwrap_cms(der, identities, ctx, extra_certificates, froms)
        if layer is None:
            warnings.append("the message carries only certificates (certs-only), no content")
            break
        current = Entity.parse_content(content)
        if layer.kind == "signed":
            # RFC 9788: From inside the signed entity (protected headers) is authoritative when present.
            check = check_signed_data(der, None, list(extra_certificates))
            signers = judge(check, ctx, from_addresses(current) or froms)
            layer = Layer("signed", "application/pkcs7-mime", signers, covers=current.content_type()[0])
        layers.append(layer)
    report = Report(tuple(layers), current.content_type()[0], tuple(warnings), _nested_parts(current))
    return Opened(report, current.to_bytes(), merge_headers(root, current) if current is not root else raw)


def _unwrap_cms(
    der: bytes,
    identities: Sequence[Identity],
    ctx: ValidationContext,
    extra: Sequence[x509.Certificate],
    froms: list[str],
) -> tuple[Layer | None, bytes]:
    info = parse_content_info(der)
    ctype = info["content_type"].native
    if ctype == "signed_data":
        check = check_signed_data(der, None, list(extra))
        if not check.signers and check.content is None:
            return None, b""
        if check.content is None:
            raise MalformedMIMEError("an opaque signed message without its content (detached signature)")
        return Layer("signed", "application/pkcs7-mime"), check.content
    if ctype in ("enveloped_data", "authenticated_enveloped_data"):
        result = _decrypt(der, identities)
        layer = Layer(
            result.kind,
            "application/pkcs7-mime",
            content_algorithm=result.content_algorithm,
            key_algorithm=result.key_algorithm,
            recipient_index=result.recipient_index,
            recipient_count=result.recipient_count,
            integrity_protected=result.integrity_protected,
        )
        return layer, result.content
    raise NotEncryptedError(f"the S/MIME body holds CMS {ctype}, which mailseal does not open")


def _open_bare(
    raw: bytes,
    identities: Sequence[Identity],
    ctx: ValidationContext,
    extra: Sequence[x509.Certificate],
    detached_content: bytes | None,
    max_depth: int,
) -> Opened:
    """A bare CMS object (DER, BER or PEM) rather than a message: unwrap CMS layers only."""
    layers: list[Layer] = []
    warnings = ["a bare CMS object has no From address: signer addresses were not checked"]
    content = raw
    for _ in range(max_depth):
        info = parse_content_info(content)
        ctype = info["content_type"].native
        if ctype == "signed_data":
            check = check_signed_data(content, detached_content, list(extra))
            detached_content = None
            if not check.signers and check.content is None:
                warnings.append("the CMS object carries only certificates (certs-only), no content")
                content = b""
                break
            # A bare CMS object has no From: there is no address to hold the signers to.
            layers.append(Layer("signed", "cms", judge(check, ctx, None)))
            if check.content is None:
                content = b""
                break
            content = check.content
        elif ctype in ("enveloped_data", "authenticated_enveloped_data"):
            layer, content = _unwrap_cms(content, identities, ctx, extra, [])
            assert layer is not None
            layers.append(layer)
        else:
            raise NotEncryptedError(f"the CMS object is {ctype}, which mailseal does not open")
        if not looks_like_cms(content) or not content.startswith(b"\x30"):
            break
        try:
            parse_content_info(content)
        except Exception:
            break
    report = Report(tuple(layers), "application/octet-stream", tuple(warnings))
    return Opened(report, content, content)


def decrypt_message(message: MessageInput, identity: Identity) -> bytes:
    """Decrypt the root encryption layer only; return the outer fields with the decrypted entity."""
    raw = read_input(message)
    if looks_like_cms(raw) and not raw.lstrip()[:1].isalpha():
        return _decrypt(raw, [identity]).content
    root = Entity.parse(raw)
    if classify(root) != "pkcs7":
        raise NotEncryptedError("the message is not encrypted (no application/pkcs7-mime body at its root)")
    der = root.decoded_body()
    info = parse_content_info(der)
    if info["content_type"].native not in ("enveloped_data", "authenticated_enveloped_data"):
        raise NotEncryptedError(f"the S/MIME body is {info['content_type'].native}, not encrypted data")
    content = _decrypt(der, [identity]).content
    return merge_headers(root, Entity.parse_content(content))


__all__ = ["Opened", "classify", "decrypt_message", "from_addresses", "open_message"]
