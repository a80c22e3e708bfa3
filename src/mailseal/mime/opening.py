"""Open a message the way a careful mail client does: unwrap every S/MIME layer from the root, report each.

Every layer is a Region (a byte range of the input, or of a temporary file holding a decoded or decrypted
layer), so a 1 GiB message is opened in bounded memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, BinaryIO

from cryptography import x509

from ..cms.decryption import DecryptionInfo, decrypt_stream, decrypt_to, enveloped_recipients
from ..cms.identity import Identity
from ..cms.inspection import RecipientIdentifier
from ..cms.parsing import ContentKind, cms_region, content_type_of, looks_like_cms
from ..cms.verification import SignedDataCheck, check_signed_data
from ..errors import (
    DecryptionError,
    LimitExceededError,
    MalformedCMSError,
    MalformedMIMEError,
    NoMatchingRecipientError,
    NotEncryptedError,
)
from ..limits import DEFAULT_LIMITS, Limits
from ..streamio import Canonicalizer, Region, Source, region_of_file, spool
from .entity import Entity, MessageInput, input_region
from .headerset import HeaderSet, header_set
from .legacydisplay import hidden_chunks, unmarked
from .report import Layer, Report, SignerResult, SignerStatus
from .sender import from_addresses
from .signed import parse_multipart_signed

if TYPE_CHECKING:  # path validation (pyhanko-certvalidator, asyncio) is imported by signed layers only
    from ..pki.validation import ValidationContext

MAX_DEPTH = DEFAULT_LIMITS.max_layers  # the default; limits.py
PKCS7_MIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
SIGNED_TYPES = ("multipart/signed",)
ENVELOPED_KINDS = (ContentKind.ENVELOPED_DATA, ContentKind.AUTH_ENVELOPED_DATA)
OPENED_KINDS = (ContentKind.SIGNED_DATA, *ENVELOPED_KINDS)
PARSE_SLICE = 16 << 10  # bytes given to the email parser between two looks at the clock

#: Picks the keys for one encrypted layer from the certificates the layer is encrypted for (a key store does so):
#: called when that layer is met, so a key that no layer needs is never opened.
KeyChooser = Callable[[Sequence[RecipientIdentifier]], Sequence[Identity]]


@dataclass(frozen=True)
class Opened:
    """The report and the innermost content: ``entity`` alone, ``message`` with the outer fields merged in."""

    report: Report
    inner: Entity
    root: Entity | None  # None for a bare CMS object

    def message_chunks(self) -> Iterator[bytes]:
        if self.root is None:
            yield from self.inner.region.chunks()
        elif self.root is self.inner:
            yield header_block(self.inner.header_lines, self.inner.line_end())
            yield from self.inner.region.chunks()
        else:
            yield merged_header_block(self.root, self._shown_inner())
            yield from self._body_chunks()

    def _hides(self) -> bool:
        """RFC 9788 §4.5.3: written with the protected fields, the legacy display elements are left out."""
        headers = self.report.headers
        return headers is not None and headers.hides_legacy_display

    def _shown_inner(self) -> Entity:
        """The inner entity, its header without the legacy display mark when its own element is hidden."""
        headers = self.report.headers
        if headers is None or not self._hides() or not any(e.at_root for e in headers.legacy_elements):
            return self.inner
        return Entity(tuple(unmarked(ln) for ln in self.inner.header_lines), self.inner.region)

    def _body_chunks(self) -> Iterator[bytes]:
        headers = self.report.headers
        if headers is None or not self._hides():
            yield from self.inner.region.chunks()
        else:
            yield from hidden_chunks(self.inner.region, headers.legacy_elements)

    def write_message(self, out: BinaryIO) -> None:
        for chunk in self.message_chunks():
            out.write(chunk)

    @property
    def message(self) -> bytes:
        return b"".join(self.message_chunks())

    @property
    def entity(self) -> bytes:
        if self.root is None:
            return self.inner.region.read()
        return self.inner.to_bytes()  # the innermost layer as it was unwrapped (``message`` is what a reader sees)


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


def _canonical_copy(content: Region) -> Region:
    tmp = spool()
    canon = Canonicalizer()
    for chunk in content.chunks():
        tmp.write(canon.feed(chunk))
    tmp.write(canon.close())
    return region_of_file(tmp)


def _check_detached(signature: bytes, content: Region, extra: Sequence[x509.Certificate],
                    limits: Limits = DEFAULT_LIMITS) -> SignedDataCheck:
    """Check over the exact received bytes; for LF-only input, over its canonical CRLF form (RFC 8551 §3.1.1)."""
    check = check_signed_data(signature, content, list(extra), limits)
    if check.signers and not all(s.intact for s in check.signers) and content.find(b"\n") >= 0:
        canonical = _canonical_copy(content)
        if canonical.size != content.size:
            second = check_signed_data(signature, canonical, list(extra), limits)
            if sum(s.intact for s in second.signers) > sum(s.intact for s in check.signers):
                return second
    return check


def _mime_content(check: SignedDataCheck) -> SignedDataCheck:
    """RFC 8551 §3.1: the signed content of a message is a MIME entity, eContentType id-data. A signature over
    another type (a timestamp token, a signed receipt) signs something that is not mail, whatever it holds. When no
    signer holds anyway the report says so (the content-type attribute that does not match is the usual reason)."""
    if check.content_type != "data" and any(s.intact for s in check.signers):
        raise MalformedCMSError(f"the signature covers a {check.content_type}, not a MIME entity (id-data): it "
                                "does not sign a message (RFC 8551 §3.1)")
    return check


def _chosen(body: Source, keys: Sequence[Identity] | KeyChooser,
            limits: Limits = DEFAULT_LIMITS) -> Sequence[Identity]:
    return keys(enveloped_recipients(body.open, limits)) if callable(keys) else keys


def _check_expansion(layer: Region, received: int, limits: Limits) -> None:
    """An unwrapped layer may not be more than ``limits.max_expansion`` times the message it came in (64 KiB
    allowed beyond, for the smallest messages)."""
    if layer.size > limits.max_expansion * received + (64 << 10):
        raise LimitExceededError(f"an unwrapped layer of {layer.size} bytes is more than {limits.max_expansion:g} "
                                 f"times the {received} bytes received (limits.max_expansion)")


def _decrypt(body: Source, keys: Sequence[Identity] | KeyChooser, limits: Limits = DEFAULT_LIMITS,
             legacy: frozenset[str] = frozenset()) -> tuple[DecryptionInfo, Region]:
    identities = _chosen(body, keys, limits)
    if not identities:
        raise NoMatchingRecipientError("the message is encrypted: give the recipient's key to open it")
    failed = False
    for ident in identities:
        try:
            return decrypt_stream(body.open, ident.private_key, ident.certificate, limits, legacy)
        except NoMatchingRecipientError:
            continue
        except DecryptionError:
            failed = True
    if failed:
        raise DecryptionError()
    raise NoMatchingRecipientError("the message is not encrypted for any of the keys given")


def unauthenticated_encryption(entity: Entity) -> bool:
    """Whether the root is EnvelopedData (CBC: no integrity of its own, RFC 8551 §2.7 and EFAIL) rather than
    AuthEnvelopedData; False for anything else, including what cannot be read."""
    if classify(entity) != "pkcs7":
        return False
    try:
        return content_type_of(entity.decoded_source()) is ContentKind.ENVELOPED_DATA
    except (MalformedCMSError, MalformedMIMEError):
        return False


def _mentions_smime(entity: Entity) -> bool:
    """Whether the entity's bytes name an S/MIME type at all: most messages do not, and then need no parse."""
    tail = b""
    for chunk in entity.chunks():
        low = tail + chunk.lower()
        if b"pkcs7" in low or b"multipart/signed" in low:
            return True
        tail = low[-16:]
    return False


def _nested_parts(entity: Entity, limits: Limits = DEFAULT_LIMITS) -> tuple[str, ...]:
    """Signed or encrypted parts below the root: reported as parts, never as protection of the message. The walk
    is in document order, as ``Message.walk`` numbers parts, but with a stack: ``LimitExceededError`` past
    ``limits.max_nesting`` levels or ``limits.max_parts`` parts (walk's recursion ended in RecursionError)."""
    ctype, _ = entity.content_type()
    if not ctype.startswith("multipart/") or entity.region.size > 64 << 20 or not _mentions_smime(entity):
        return ()
    found = []
    import email.policy  # the header registry behind it is for this check only

    raw = entity.to_bytes()
    # Counted before parsing: the parser builds every part (and recurses per level) before the walk can stop it.
    if len(_MULTIPART_FIELD.findall(raw)) > limits.max_parts:
        raise LimitExceededError(f"the message has more than {limits.max_parts} parts (limits.max_parts)")
    from email.feedparser import BytesFeedParser

    parser = BytesFeedParser(policy=email.policy.compat32)
    try:
        # fed in slices, so that limits.message_seconds is checked while the parser builds thousands of parts
        for start in range(0, len(raw), PARSE_SLICE):
            limits.check_time()
            parser.feed(raw[start:start + PARSE_SLICE])
        msg = parser.close()
    except RecursionError:  # the email parser recurses once per level: a few hundred levels exhaust the stack
        raise LimitExceededError(f"the message nests multipart entities more than {limits.max_nesting} deep "
                                 "(limits.max_nesting)") from None
    stack: list[tuple[Any, int]] = [(msg, 0)]
    index = -1
    while stack:
        limits.check_time()
        part, depth = stack.pop()
        index += 1
        if depth > limits.max_nesting:
            raise LimitExceededError(f"the message nests multipart entities more than {limits.max_nesting} deep "
                                     "(limits.max_nesting)")
        if index > limits.max_parts:
            raise LimitExceededError(f"the message has more than {limits.max_parts} parts (limits.max_parts)")
        if part.is_multipart():
            children = part.get_payload()
            stack.extend((child, depth + 1) for child in reversed(children if isinstance(children, list) else []))
        if index == 0:
            continue
        t = part.get_content_type()
        if t in SIGNED_TYPES or t in PKCS7_MIME_TYPES or t in ("application/pkcs7-signature",):
            found.append(f"part {index}: {t}")
    return tuple(found)


def header_block(lines: Sequence[bytes], eol: bytes = b"\r\n") -> bytes:
    """Header fields (folded with CRLF as ``Entity`` keeps them) and the blank line, with ``eol`` line ends."""
    if eol != b"\r\n":
        lines = [line.replace(b"\r\n", eol) for line in lines]
    return b"".join(line + eol for line in lines) + eol


def _name(line: bytes) -> bytes:
    return line.partition(b":")[0].strip().lower()


def merged_header_block(outer: Entity, inner: Entity) -> bytes:
    """The header of the unwrapped message: the outer fields, except those the inner entity protects itself
    (RFC 9788), one MIME-Version, then the inner entity's fields; with the inner entity's line ends.

    The outer Content-* fields describe the layer that was removed (application/pkcs7-mime, base64), so the
    inner entity's take their place. RFC 2045 §4 requires MIME-Version on the top-level entity, which an inner
    entity seldom carries: the inner one is kept when present, else the outer one, else ``MIME-Version: 1.0``,
    and never more than one. HP-Outer fields record what went out in the clear (RFC 9788 §2.2): they are not
    fields of the message, so they are left out.
    """
    inner_lines = [ln for ln in inner.header_lines if _name(ln) != b"hp-outer"]
    inner_names = {_name(ln) for ln in inner_lines}
    lines = [ln for ln in outer.outer_lines() if _name(ln) not in inner_names]
    versions = [ln for ln in (*inner_lines, *outer.header_lines) if _name(ln) == b"mime-version"]
    version = versions[0] if versions else b"MIME-Version: 1.0"
    content = [ln for ln in inner_lines if _name(ln) != b"mime-version"]
    return header_block([*lines, version, *content], inner.line_end())


def judge(check: SignedDataCheck, context: ValidationContext, from_addresses: Sequence[str] | None,
          limits: Limits = DEFAULT_LIMITS) -> tuple[SignerResult, ...]:
    """``mime.judgement.judge``, imported when a signed layer is judged: a decrypt never loads path validation."""
    from .judgement import judge as judge_signers

    return judge_signers(check, context, from_addresses, limits)


def _default_context() -> ValidationContext:
    from ..pki.validation import ValidationContext

    return ValidationContext()


def open_message(
    message: MessageInput,
    *,
    identities: Sequence[Identity] | KeyChooser = (),
    context: ValidationContext | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    detached_content: bytes | None = None,
    max_depth: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    keep_inner_encrypted: bool = False,
) -> Opened:
    """Unwrap every layer at the root of the message and return the report and the innermost content.

    ``identities`` are the keys to decrypt with, or a ``KeyChooser`` asked at each encrypted layer. With
    ``keep_inner_encrypted``, an encrypted layer inside a signature that no key given opens is reported as not
    opened (with whom it is for) and unwrapping stops there, so that verifying a signed, then encrypted, then
    signed message shows its outer signature; an encrypted root still raises ``NoMatchingRecipientError``. A message
    past one of ``limits`` (layers, signers, recipients, certificates, attributes, header sizes, parts, nesting,
    expansion) raises ``LimitExceededError``; ``max_depth`` overrides ``limits.max_layers``."""
    ctx = context or _default_context()
    if max_depth is not None:
        limits = replace(limits, max_layers=max_depth)
    max_depth = limits.max_layers
    source = input_region(message)
    if looks_like_cms(source.head(64)):
        return _open_bare(source, identities, ctx, extra_certificates, detached_content, limits)
    layers: list[Layer] = []
    warnings: list[str] = []
    root = Entity.from_region(source, limits)
    current = root
    froms = from_addresses(root)
    for _depth in range(max_depth + 1):
        limits.check_time()
        kind = classify(current)
        if kind is None:
            break
        if len(layers) >= max_depth:
            raise LimitExceededError(f"the message nests more than {max_depth} S/MIME layers (limits.max_layers)")
        if kind == "signed":
            detached = parse_multipart_signed(current, limits)
            check = _mime_content(_check_detached(detached.signature, detached.content, extra_certificates, limits))
            inner = Entity.content_from_region(detached.content, limits)
            signer_froms = from_addresses(inner) or froms
            layers.append(
                Layer("signed", "multipart/signed", judge(check, ctx, signer_froms, limits), covers=inner.content_type()[0])
            )
            current = inner
            continue
        body = current.decoded_source()
        if not body.head(1):
            raise MalformedMIMEError("the application/pkcs7-mime body is empty")
        content_kind = content_type_of(body)
        if content_kind is ContentKind.SIGNED_DATA:
            check = _mime_content(check_signed_data(body, None, list(extra_certificates), limits))
            if not check.signers and check.content_region is None:
                warnings.append("the message carries only certificates (certs-only), no content")
                break
            if check.content_region is None:
                raise MalformedMIMEError("an opaque signed message without its content (detached signature)")
            _check_expansion(check.content_region, source.size, limits)
            current = Entity.content_from_region(check.content_region, limits)
            # RFC 9788: From inside the signed entity (protected headers) is authoritative when present.
            signers = judge(check, ctx, from_addresses(current) or froms, limits)
            layers.append(Layer("signed", "application/pkcs7-mime", signers, covers=current.content_type()[0]))
        elif content_kind in ENVELOPED_KINDS:
            keep = keep_inner_encrypted and bool(layers)
            try:
                chosen = _chosen(body, identities, limits)
            except NoMatchingRecipientError:  # a chooser (the key store's) that holds none of its recipients
                if not keep:
                    raise
                chosen = []
            if not chosen and keep:
                layers.append(_unopened_layer(body, content_kind, limits))
                break
            info, plain = _decrypt(body, chosen, limits, ctx.allow_legacy)
            _check_expansion(plain, source.size, limits)
            layers.append(_encrypted_layer(info, "application/pkcs7-mime"))
            current = Entity.content_from_region(plain, limits)
        else:
            raise NotEncryptedError("the S/MIME body holds a CMS type that mailseal does not open")
    headers = _headers(root, current, layers)
    if headers.from_changed:
        layers = _from_changed(layers, headers)
    warnings.extend(_sender_warning(headers))
    report = Report(tuple(layers), current.content_type()[0], tuple(warnings), _nested_parts(current, limits),
                    headers=headers, allowed_legacy=ctx.allow_legacy)
    return Opened(report, current, root)


def _headers(root: Entity, payload: Entity, layers: Sequence[Layer]) -> HeaderSet:
    """RFC 9788 §4: the protected fields count only when every layer around them holds."""
    sound = bool(layers) and all(
        lay.kind != "signed" or (bool(lay.signers) and all(s.intact for s in lay.signers)) for lay in layers
    )
    encrypted = any(lay.kind != "signed" for lay in layers)
    return header_set(root, payload, sound=sound, encrypted=encrypted)


# A signer judged at least this well is held to the From a reader sees outside too.
_BETTER_THAN_MISMATCH = (SignerStatus.VALID, SignerStatus.WEAK_ALGORITHM)


def _from_changed(layers: list[Layer], headers: HeaderSet) -> list[Layer]:
    """The signer matched the protected From, but the From outside is another one: a reader that shows the outer
    field would show a sender nobody signed for (the Johnny "From vs certificate" spoof), so the signers of every
    signed layer lose ``valid``."""
    import dataclasses

    reason = "the From outside is not the protected From the signer was matched to: it was changed outside"
    out = []
    for layer in layers:
        if layer.kind == "signed":
            signers = tuple(
                dataclasses.replace(s, status=SignerStatus.ADDRESS_MISMATCH, reasons=(*s.reasons, reason))
                if s.status in _BETTER_THAN_MISMATCH else s
                for s in layer.signers
            )
            layer = dataclasses.replace(layer, signers=signers)
        out.append(layer)
    return out


def _sender_warning(headers: HeaderSet) -> list[str]:
    """RFC 5322 §3.6.2: Sender names who sent the message for the author in From; clients show "Sender on behalf
    of From". The signer is held to From, so a different Sender is said."""
    sender, author = headers.value("Sender"), headers.value("From")
    if sender is None or author is None:
        return []
    import email.utils

    sent_by = {a.lower() for _, a in email.utils.getaddresses([sender]) if a}
    authors = {a.lower() for _, a in email.utils.getaddresses([author]) if a}
    if not sent_by or sent_by <= authors:
        return []
    return [f"the Sender ({', '.join(sorted(sent_by))}) is not the From ({', '.join(sorted(authors))}): the message "
            "was sent on behalf of the From, and the signature was matched to the From only"]


def _unopened_layer(body: Source, kind: ContentKind, limits: Limits) -> Layer:
    """An encrypted layer left closed: its type and whom it is for (read from the recipient infos, no key used)."""
    recipients = enveloped_recipients(body.open, limits)
    return Layer("auth-enveloped" if kind is ContentKind.AUTH_ENVELOPED_DATA else "enveloped",
                 "application/pkcs7-mime", recipient_count=len(recipients), opened=False,
                 recipients=tuple(str(r) for r in recipients))


def _encrypted_layer(info: DecryptionInfo, form: str) -> Layer:
    return Layer(
        info.kind,
        form,
        content_algorithm=info.content_algorithm,
        key_algorithm=info.key_algorithm,
        recipient_index=info.recipient_index,
        recipient_count=info.recipient_count,
        integrity_protected=info.integrity_protected,
    )


def _open_bare(
    source: Region,
    identities: Sequence[Identity] | KeyChooser,
    ctx: ValidationContext,
    extra: Sequence[x509.Certificate],
    detached_content: bytes | None,
    limits: Limits,
) -> Opened:
    """A bare CMS object (DER, BER or PEM) rather than a message: unwrap CMS layers only."""
    layers: list[Layer] = []
    warnings = ["a bare CMS object has no From address: signer addresses were not checked"]
    content = cms_region(source)
    for _ in range(limits.max_layers):
        kind = content_type_of(content)
        if kind is ContentKind.SIGNED_DATA:
            check = check_signed_data(content, detached_content, list(extra), limits)
            detached_content = None
            if not check.signers and check.content_region is None:
                warnings.append("the CMS object carries only certificates (certs-only), no content")
                content = Region.of_bytes(b"")
                break
            # A bare CMS object has no From: there is no address to hold the signers to.
            layers.append(Layer("signed", "cms", judge(check, ctx, None, limits)))
            if check.content_region is None or check.detached:
                content = Region.of_bytes(b"")
                break
            content = check.content_region
            _check_expansion(content, source.size, limits)
        elif kind in ENVELOPED_KINDS:
            info, content = _decrypt(content, identities, limits, ctx.allow_legacy)
            _check_expansion(content, source.size, limits)
            layers.append(_encrypted_layer(info, "cms"))
        else:
            raise NotEncryptedError("the CMS object is of a type that mailseal does not open")
        try:
            if content_type_of(content) not in OPENED_KINDS:
                break
        except MalformedCMSError:  # the content is not CMS: this was the innermost layer
            break
    report = Report(tuple(layers), "application/octet-stream", tuple(warnings), allowed_legacy=ctx.allow_legacy)
    return Opened(report, Entity((), content), None)


class _MergingStaging:
    """Staging straight into the caller's output: the decrypted entity's header block is held back until it is
    complete, then written merged with the outer fields, and the rest of the plaintext follows as it comes.
    ``reset`` rewinds and truncates the output, so the output must be a seekable file the caller discards on
    error (the CLI's temporary file that replaces -o only on success)."""

    def __init__(self, out: BinaryIO, root: Entity) -> None:
        self._out = out
        self._root = root
        self._start = out.tell()
        self._head = bytearray()
        self._done = False

    def write(self, data: bytes, /) -> object:
        if self._done:
            return self._out.write(data)
        self._head += data
        if _HEADER_END.search(self._head) or len(self._head) > 1 << 20:
            self.finish()
        return len(data)

    def finish(self) -> None:
        if self._done:
            return
        inner = Entity.content_from_region(Region.of_bytes(bytes(self._head)))
        self._out.write(merged_header_block(self._root, inner))
        self._out.write(inner.region.read())
        self._head = bytearray()
        self._done = True

    def reset(self) -> None:
        self._out.seek(self._start)
        self._out.truncate()
        self._head = bytearray()
        self._done = False


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MULTIPART_FIELD = re.compile(rb"(?im)^content-type:[ \t]*multipart/")


def decrypt_message(
    message: MessageInput, identity: Identity | KeyChooser, out: BinaryIO | None = None, *,
    out_is_staging: bool = False, limits: Limits = DEFAULT_LIMITS, allow_legacy: frozenset[str] = frozenset(),
) -> bytes | None:
    """Decrypt the root encryption layer only; write (or return) the outer fields with the decrypted entity.
    ``identity`` is the key, or a ``KeyChooser`` that picks it from the recipients the layer names.
    ``allow_legacy`` names the legacy ciphers accepted by explicit choice ("rc2"; cms.algorithms).

    With ``out_is_staging`` the plaintext is written into ``out`` as it is decrypted, which saves a copy of a
    large message: only for a seekable output that the caller throws away when this raises.
    """
    source = input_region(message)
    if looks_like_cms(source.head(64)):
        bare = cms_region(source)
        if content_type_of(bare) not in ENVELOPED_KINDS:
            raise NotEncryptedError("the CMS object is not EnvelopedData or AuthEnvelopedData")
        _, plain = _decrypt(bare, [identity] if isinstance(identity, Identity) else identity, limits, allow_legacy)
        opened = Opened(Report(), Entity((), plain), None)
    else:
        root = Entity.from_region(source, limits)
        if classify(root) != "pkcs7":
            raise NotEncryptedError("the message is not encrypted (no application/pkcs7-mime body at its root)")
        body = root.decoded_source()
        if content_type_of(body) not in ENVELOPED_KINDS:
            raise NotEncryptedError("the S/MIME body is not encrypted data")
        chosen = [identity] if isinstance(identity, Identity) else _chosen(body, identity, limits)
        if out is not None and out_is_staging and len(chosen) == 1:
            staging = _MergingStaging(out, root)
            decrypt_to(body.open, chosen[0].private_key, chosen[0].certificate, staging, limits, allow_legacy)
            staging.finish()
            return None
        _, plain = _decrypt(body, chosen, limits, allow_legacy)
        opened = Opened(Report(), Entity.content_from_region(plain, limits), root)
    if out is None:
        return opened.message
    opened.write_message(out)
    return None


__all__ = [
    "KeyChooser", "Opened", "classify", "decrypt_message", "from_addresses", "open_message",
    "unauthenticated_encryption",
]
