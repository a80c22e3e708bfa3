"""Security keys as the second factor of console accounts (docs/web.md, "Signing in"): WebAuthn Level 2
registration and authentication ceremonies (W3C WebAuthn §7.1, §7.2) checked with py_webauthn, the credentials in
the shared store so that every console node knows them.

The relying party is the console: its id is the host name people open it at and its origin the URL's scheme, host
and port (``RelyingParty``); an answer made for another origin or relying party id is refused. Challenges are
kept by the caller with the session that asked for them (``WebSessions.put_challenge``/``take_challenge``), so a
challenge is bound to one session, used once and short-lived.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import SecurityKeyError, UsageError
from . import audit
from .database import Store
from .tables import utcnow, webauthn_credentials

RP_NAME = "mailseal console"
#: How long a challenge waits for its answer; the browser is asked to give up after TIMEOUT_MS.
CHALLENGE_TTL = timedelta(minutes=2)
TIMEOUT_MS = 60_000
MAX_LABEL_CHARS = 64
#: Keys one account may register (each is tried by the browser at sign-in: a bound keeps the list short).
MAX_KEYS = 10
#: The transport hints a browser may report (WebAuthn §5.8.4); anything else is dropped.
TRANSPORTS = ("ble", "hybrid", "internal", "nfc", "smart-card", "usb")
_W = webauthn_credentials.c


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class RelyingParty:
    """The console as a WebAuthn relying party: ``id`` its host name, ``origin`` ``scheme://host[:port]``."""

    id: str
    origin: str
    name: str = RP_NAME


@dataclass(frozen=True)
class SecurityKey:
    """A registered security key as listed: never its public key."""

    id: int
    account: str
    credential_id: str  # base64url, as WebAuthn names it
    label: str
    transports: tuple[str, ...]
    sign_count: int
    created: datetime
    last_used: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "account": self.account, "credential_id": self.credential_id, "label": self.label,
                "transports": list(self.transports), "sign_count": self.sign_count, "created": _iso(self.created),
                "last_used": _iso(self.last_used)}


def _key(row: Any) -> SecurityKey:
    transports = tuple(t for t in str(row.transports).split(",") if t)
    return SecurityKey(row.id, row.account, row.credential_id, row.label, transports, int(row.sign_count),
                       row.created, row.last_used)


def user_handle(account: str) -> bytes:
    """The WebAuthn user handle of an account: stable (a second key of the same account is the same user to the
    authenticator) and not the name itself (WebAuthn §14.6.1 asks for no personal data in it)."""
    return hashlib.sha256(b"mailseal console account\0" + account.encode()).digest()


def check_label(label: str, default: str) -> str:
    chosen = " ".join(label.split()) or default
    if len(chosen) > MAX_LABEL_CHARS or not chosen.isprintable():
        raise UsageError(f"a security key's label is at most {MAX_LABEL_CHARS} printable characters")
    return chosen


def _response(credential: str | Mapping[str, Any]) -> dict[str, Any]:
    """The browser's PublicKeyCredential as JSON (WebAuthn §5.1.8 ``toJSON()``: base64url fields)."""
    try:
        parsed = json.loads(credential) if isinstance(credential, str) else dict(credential)
    except ValueError:
        raise SecurityKeyError("the security key's answer is not JSON") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("id"), str):
        raise SecurityKeyError("the security key's answer has no credential id")
    return parsed


def _refused(exc: Exception) -> SecurityKeyError:
    # py_webauthn raises its own exceptions for a refused answer, and ValueError/TypeError/KeyError for fields of
    # the wrong shape (bad base64url, missing keys): to the caller all of them are one refusal, with the reason.
    return SecurityKeyError(f"the security key's answer was refused: {exc}")


class SecurityKeys:
    """The security keys of console accounts in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, account: str) -> list[SecurityKey]:
        with self.store.lookup() as conn:
            rows = conn.execute(select(webauthn_credentials).where(_W.account == account).order_by(_W.id))
            return [_key(r) for r in rows]

    def count(self, account: str) -> int:
        with self.store.lookup() as conn:
            return int(conn.execute(select(func.count()).select_from(webauthn_credentials)
                                    .where(_W.account == account)).scalar_one())

    def counts(self) -> dict[str, int]:
        """How many keys each account that has any has registered."""
        with self.store.lookup() as conn:
            rows = conn.execute(select(_W.account, func.count()).group_by(_W.account))
            return {str(account): int(n) for account, n in rows}

    def remove(self, account: str, key_id: int, actor: str | None = None) -> SecurityKey:
        """Forget the key ``key_id`` of ``account`` (audited ``admins.webauthn-remove``)."""
        with self.store.session() as session:
            row = session.execute(select(webauthn_credentials)
                                  .where(_W.id == key_id, _W.account == account)).first()
            if row is None:
                raise UsageError(f"no security key {key_id} of the console account {account!r}")
            session.execute(delete(webauthn_credentials).where(_W.id == key_id))
            audit.record(session, "admins.webauthn-remove", account,
                         {"key": key_id, "label": row.label, "credential": row.credential_id[:16]}, actor)
        return _key(row)

    # Registration (WebAuthn §7.1).

    def registration_options(self, account: str, rp: RelyingParty) -> tuple[str, bytes]:
        """The ``PublicKeyCredentialCreationOptions`` for ``navigator.credentials.create`` (JSON) and the
        challenge in them, for the caller to keep with the session. Keys the account has are excluded (an
        authenticator is registered once); user verification is preferred; no attestation is asked for."""
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers.cose import COSEAlgorithmIdentifier as Alg
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            AuthenticatorTransport,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        keys = self.list(account)
        if len(keys) >= MAX_KEYS:
            raise UsageError(f"the account {account!r} has {MAX_KEYS} security keys already: remove one first")
        options = generate_registration_options(
            rp_id=rp.id, rp_name=rp.name, user_name=account, user_id=user_handle(account), timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.PREFERRED),
            exclude_credentials=[PublicKeyCredentialDescriptor(
                id=_bytes(k.credential_id), transports=[AuthenticatorTransport(t) for t in k.transports])
                for k in keys],
            supported_pub_key_algs=[Alg.EDDSA, Alg.ECDSA_SHA_256, Alg.RSASSA_PKCS1_v1_5_SHA_256])
        return options_to_json(options), options.challenge

    def register(self, account: str, rp: RelyingParty, challenge: bytes | None, credential: str | Mapping[str, Any],
                 label: str = "", actor: str | None = None, now: datetime | None = None) -> SecurityKey:
        """Check the answer of ``navigator.credentials.create`` against ``challenge`` (None: there was none, or
        it was used or expired) and ``rp``, and keep the new key (audited ``admins.webauthn-add``)."""
        from webauthn import verify_registration_response
        from webauthn.helpers import bytes_to_base64url
        from webauthn.helpers.exceptions import WebAuthnException

        answer = _response(credential)
        if challenge is None:
            raise SecurityKeyError("the security key's answer came without a pending challenge (used or expired)")
        if self.count(account) >= MAX_KEYS:
            raise UsageError(f"the account {account!r} has {MAX_KEYS} security keys already: remove one first")
        try:
            verified = verify_registration_response(credential=answer, expected_challenge=challenge,
                                                    expected_rp_id=rp.id, expected_origin=rp.origin)
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise _refused(exc) from None
        given = answer["response"].get("transports") or []  # a dict: the verification read it
        transports = sorted({t for t in given if isinstance(t, str) and t in TRANSPORTS})
        moment = now or utcnow()
        chosen = check_label(label, f"security key {moment:%Y-%m-%d %H:%M}")
        credential_id = bytes_to_base64url(verified.credential_id)
        try:
            with self.store.session() as session:
                inserted = session.connection().execute(insert(webauthn_credentials).values(
                    account=account, credential_id=credential_id, public_key=verified.credential_public_key,
                    sign_count=verified.sign_count, transports=",".join(transports), label=chosen,
                    created=moment)).inserted_primary_key
                assert inserted is not None
                key_id = int(inserted[0])
                audit.record(session, "admins.webauthn-add", account,
                             {"key": key_id, "label": chosen, "credential": credential_id[:16],
                              "user_verified": verified.user_verified}, actor)
        except IntegrityError:
            raise SecurityKeyError("this security key is registered already") from None
        return SecurityKey(key_id, account, credential_id, chosen, tuple(transports), verified.sign_count,
                           moment, None)

    # Authentication (WebAuthn §7.2).

    def authentication_options(self, account: str, rp: RelyingParty) -> tuple[str, bytes]:
        """The ``PublicKeyCredentialRequestOptions`` for ``navigator.credentials.get`` naming the account's keys
        (JSON), and the challenge in them; a UsageError when the account has none."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers.structs import (
            AuthenticatorTransport,
            PublicKeyCredentialDescriptor,
            UserVerificationRequirement,
        )

        keys = self.list(account)
        if not keys:
            raise UsageError(f"the console account {account!r} has no security key")
        options = generate_authentication_options(
            rp_id=rp.id, timeout=TIMEOUT_MS, user_verification=UserVerificationRequirement.PREFERRED,
            allow_credentials=[PublicKeyCredentialDescriptor(
                id=_bytes(k.credential_id), transports=[AuthenticatorTransport(t) for t in k.transports])
                for k in keys])
        return options_to_json(options), options.challenge

    def authenticate(self, account: str, rp: RelyingParty, challenge: bytes | None,
                     credential: str | Mapping[str, Any], now: datetime | None = None) -> SecurityKey:
        """Check the answer of ``navigator.credentials.get``: one of ``account``'s keys, signed over
        ``challenge`` for ``rp``, with a signature counter above the one last seen (or both zero: an
        authenticator without a counter). The key's counter and last use are kept; a SecurityKeyError otherwise."""
        from webauthn import verify_authentication_response
        from webauthn.helpers.exceptions import WebAuthnException

        answer = _response(credential)
        if challenge is None:
            raise SecurityKeyError("the security key's answer came without a pending challenge (used or expired)")
        with self.store.lookup() as conn:
            row = conn.execute(select(webauthn_credentials)
                               .where(_W.credential_id == answer["id"], _W.account == account)).first()
        if row is None:
            raise SecurityKeyError("the security key is not one of this account's")
        try:
            verified = verify_authentication_response(
                credential=answer, expected_challenge=challenge, expected_rp_id=rp.id, expected_origin=rp.origin,
                credential_public_key=bytes(row.public_key), credential_current_sign_count=int(row.sign_count))
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise _refused(exc) from None
        moment = now or utcnow()
        with self.store.session() as session:
            # Compare and set: of two answers racing with the same counter, one moves it on and the other fails.
            moved = session.connection().execute(
                update(webauthn_credentials).where(_W.id == row.id, _W.sign_count == row.sign_count)
                .values(sign_count=verified.new_sign_count, last_used=moment)).rowcount
        if moved != 1:
            raise SecurityKeyError("the security key's signature counter changed meanwhile: try again")
        return SecurityKey(row.id, account, row.credential_id, row.label, _key(row).transports,
                           verified.new_sign_count, row.created, moment)


def _bytes(credential_id: str) -> bytes:
    from webauthn import base64url_to_bytes

    return base64url_to_bytes(credential_id)


__all__ = ["CHALLENGE_TTL", "MAX_KEYS", "RP_NAME", "RelyingParty", "SecurityKey", "SecurityKeys", "check_label",
           "user_handle"]
