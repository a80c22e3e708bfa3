"""The high-level API on e-mail messages: sign, encrypt, decrypt, verify and open (RFC 8551)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, overload

from cryptography import x509

from .cms.algorithms import DEFAULT_CIPHER
from .cms.identity import Identity, dedupe
from .mime.entity import MessageInput

# Each verb imports what it needs when called: `mailseal sign` never loads path validation, and so on.
if TYPE_CHECKING:
    from .cms.enveloping import KeyTransport, RecipientId
    from .limits import Limits
    from .mime.opening import Opened
    from .mime.report import Report
    from .pki.truststore import TrustStore
    from .pki.validation import ValidationContext


@overload
def sign(
    message: MessageInput, identity: Identity, *, opaque: bool = ..., digest: str = ..., pss: bool = ...,
    include_certs: bool = ..., include_chain: bool = ..., protect_headers: bool = ...,
    include_capabilities: bool = ..., to_be_encrypted: bool = ..., allow_from_mismatch: bool = ...,
    out: None = ...,
) -> bytes: ...
@overload
def sign(
    message: MessageInput, identity: Identity, *, opaque: bool = ..., digest: str = ..., pss: bool = ...,
    include_certs: bool = ..., include_chain: bool = ..., protect_headers: bool = ...,
    include_capabilities: bool = ..., to_be_encrypted: bool = ..., allow_from_mismatch: bool = ...,
    out: BinaryIO,
) -> None: ...
def sign(
    message: MessageInput,
    identity: Identity,
    *,
    opaque: bool = False,
    digest: str = "sha256",
    pss: bool = False,
    include_certs: bool = True,
    include_chain: bool = True,
    protect_headers: bool = False,
    include_capabilities: bool = True,
    to_be_encrypted: bool = False,
    allow_from_mismatch: bool = False,
    out: BinaryIO | None = None,
) -> bytes | None:
    """Sign a message: detached ``multipart/signed`` by default, opaque ``application/pkcs7-mime`` on request.

    ``protect_headers`` copies From, To, Cc, Subject, ... into the signed entity with ``hp="clear"`` (RFC 9788);
    with ``to_be_encrypted`` as well, for a message that is encrypted next (``encrypt(..., protect_headers=True)``),
    the copies are marked ``hp="cipher"`` and the outer Subject becomes ``[...]`` (RFC 9788 §3.3 hcp_baseline);
    ``include_capabilities=False`` leaves out the SMIMECapabilities attribute (RFC 8551 §2.5.2).

    Every From address must be one of the signing certificate's addresses (RFC 8550 §3: readers flag the
    signature otherwise): a message without From, or with a From the certificate does not name, raises
    ``FromMismatchError`` (code ``from-mismatch``) unless ``allow_from_mismatch=True``.
    With ``out`` the signed message is streamed there (bounded memory) and None is returned.
    """
    from .mime.signed import SignOptions, sign_message

    options = SignOptions(
        opaque, digest, pss, include_certs, include_chain,
        protect_headers=protect_headers, include_capabilities=include_capabilities, to_be_encrypted=to_be_encrypted,
        allow_from_mismatch=allow_from_mismatch,
    )
    return sign_message(message, identity, options, out)


@overload
def encrypt(
    message: MessageInput, recipients: Sequence[x509.Certificate], *, cipher: str = ...,
    key_transport: KeyTransport = ..., recipient_id: RecipientId = ...,
    sender: Identity | x509.Certificate | None = ..., context: ValidationContext | None = ...,
    protect_headers: bool = ..., out: None = ...,
) -> bytes: ...
@overload
def encrypt(
    message: MessageInput, recipients: Sequence[x509.Certificate], *, cipher: str = ...,
    key_transport: KeyTransport = ..., recipient_id: RecipientId = ...,
    sender: Identity | x509.Certificate | None = ..., context: ValidationContext | None = ...,
    protect_headers: bool = ..., out: BinaryIO,
) -> None: ...
def encrypt(
    message: MessageInput,
    recipients: Sequence[x509.Certificate],
    *,
    cipher: str = DEFAULT_CIPHER,
    key_transport: KeyTransport = "pkcs1v15",
    recipient_id: RecipientId = "issuer-serial",
    sender: Identity | x509.Certificate | None = None,
    context: ValidationContext | None = None,
    protect_headers: bool = False,
    out: BinaryIO | None = None,
) -> bytes | None:
    """Encrypt a message for the recipients (and the sender, when given, so the sent copy stays readable).

    ``protect_headers`` copies From, To, Cc, Subject, ... into the encrypted entity with ``hp="cipher"`` and
    sends the Subject as ``[...]`` (RFC 9788 hcp_baseline). A message signed with ``protect_headers`` is
    protected by its signed layer; one signed without it is refused (its real Subject would be lost).

    Every recipient is checked first (S/MIME profile, validity; with a ``context`` holding trust anchors also the
    path and revocation): an unsuitable, expired, untrusted or revoked recipient raises ``RecipientError``.
    """
    certs = list(recipients)
    if sender is not None:
        certs.append(sender.certificate if isinstance(sender, Identity) else sender)
    from .pki.recipients import check_recipients

    check_recipients(certs, context)
    from .mime.enveloped import EncryptOptions, encrypt_message

    options = EncryptOptions(cipher, key_transport, recipient_id, protect_headers=protect_headers)
    return encrypt_message(message, dedupe(certs), options, out)


@overload
def decrypt(message: MessageInput, identity: Identity, *, out: None = ..., out_is_staging: bool = ...,
            limits: Limits | None = ..., allow_legacy: frozenset[str] = ...) -> bytes: ...
@overload
def decrypt(message: MessageInput, identity: Identity, *, out: BinaryIO, out_is_staging: bool = ...,
            limits: Limits | None = ..., allow_legacy: frozenset[str] = ...) -> None: ...
def decrypt(
    message: MessageInput, identity: Identity, *, out: BinaryIO | None = None, out_is_staging: bool = False,
    limits: Limits | None = None, allow_legacy: frozenset[str] = frozenset(),
) -> bytes | None:
    """Decrypt the message's root encryption layer; raises one opaque ``DecryptionError`` on any key failure.

    The plaintext is released (returned or written to ``out``) only after the tag or padding has been checked.
    ``out_is_staging=True`` lets a caller whose ``out`` is a seekable file it deletes on error (as the CLI's
    temporary output is) receive the plaintext as it is decrypted, saving a copy. ``allow_legacy`` accepts legacy
    ciphers by explicit choice (``{"rc2"}``; 3DES is always decrypted; ``cms.algorithms.LEGACY_ALGORITHMS``).
    """
    from .limits import DEFAULT_LIMITS
    from .mime.opening import decrypt_message

    return decrypt_message(message, identity, out, out_is_staging=out_is_staging, limits=limits or DEFAULT_LIMITS,
                           allow_legacy=allow_legacy)


def _context(
    context: ValidationContext | None, trust: TrustStore | None, at: datetime | None
) -> ValidationContext:
    if context is not None:
        if trust is not None or at is not None:
            raise ValueError("pass either a ValidationContext or trust/at, not both")
        return context
    from .pki.truststore import TrustStore
    from .pki.validation import ValidationContext

    return ValidationContext(trust=trust or TrustStore(), moment=at)


def verify(
    message: MessageInput,
    context: ValidationContext | None = None,
    *,
    trust: TrustStore | None = None,
    at: datetime | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    detached_content: bytes | None = None,
    limits: Limits | None = None,
) -> Report:
    """Verify the signatures at the message's root. Without trust anchors no signer is ever ``valid``. A
    message past one of ``limits`` (default ``Limits()``) raises ``LimitExceededError``."""
    from .limits import DEFAULT_LIMITS
    from .mime.opening import open_message

    opened = open_message(
        message,
        context=_context(context, trust, at),
        extra_certificates=extra_certificates,
        detached_content=detached_content,
        limits=limits or DEFAULT_LIMITS,
    )
    return opened.report


def open(
    message: MessageInput,
    identities: Sequence[Identity] = (),
    context: ValidationContext | None = None,
    *,
    trust: TrustStore | None = None,
    at: datetime | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    limits: Limits | None = None,
) -> Opened:
    """Unwrap every layer (decrypt, verify, nested) and return the report and the innermost content. A message
    past one of ``limits`` (default ``Limits()``) raises ``LimitExceededError``."""
    from .limits import DEFAULT_LIMITS
    from .mime.opening import open_message

    return open_message(
        message,
        identities=identities,
        context=_context(context, trust, at),
        extra_certificates=extra_certificates,
        limits=limits or DEFAULT_LIMITS,
    )


__all__ = ["decrypt", "encrypt", "open", "sign", "verify"]
