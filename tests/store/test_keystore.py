"""The key store: keys encrypted at rest, the passphrase checked, the newest valid identity per address and usage."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from mailseal.cms.identity import Identity
from mailseal.errors import UsageError, WrongPasswordError
from mailseal.store import KeyStore, Store, events, resolve_passphrase
from tests.store.conftest import FAST_SCRYPT, PASSPHRASE
from tests.support.testpki import TestPKI


def _ident(pki: TestPKI, name: str, **kw: object) -> Identity:
    user = pki.user(name, **kw)  # type: ignore[arg-type]
    return Identity(user.key, user.cert, tuple(user.chain))


def test_identity_round_trips(keystore: KeyStore, pki: TestPKI) -> None:
    ident = _ident(pki, "alice")
    keystore.add(ident, "dual")
    back = keystore.identity_for("alice@example.org", "sign")
    assert back.certificate == ident.certificate
    assert back.chain == ident.chain
    assert back.private_key.private_numbers() == ident.private_key.private_numbers()  # type: ignore[union-attr]


def test_wrong_passphrase_raises_wrong_password(store: Store, pki: TestPKI) -> None:
    KeyStore(store, PASSPHRASE, scrypt=FAST_SCRYPT).add(_ident(pki, "alice"))
    with pytest.raises(WrongPasswordError, match="passphrase is wrong"):
        KeyStore(store, b"not the passphrase").identity_for("alice@example.org")


def test_usage_selects_signing_or_encryption_identity(keystore: KeyStore, pki: TestPKI) -> None:
    signing = _ident(pki, "bob-sign", email="bob@example.org")
    encryption = _ident(pki, "bob-enc", email="bob@example.org")
    keystore.add(signing, "sign")
    keystore.add(encryption, "encrypt")
    assert keystore.identity_for("bob@example.org", "sign").certificate == signing.certificate
    assert keystore.identity_for("bob@example.org", "encrypt").certificate == encryption.certificate


def test_newest_valid_identity_wins(keystore: KeyStore, pki: TestPKI) -> None:
    now = datetime.now(UTC)
    old = _ident(pki, "carol-old", email="carol@example.org", not_before=now - timedelta(days=300))
    new = _ident(pki, "carol-new", email="carol@example.org", not_before=now - timedelta(days=2))
    keystore.add(new)
    keystore.add(old)
    assert keystore.identity_for("carol@example.org").certificate == new.certificate


def test_expired_identity_is_not_used(keystore: KeyStore, pki: TestPKI) -> None:
    now = datetime.now(UTC)
    ident = _ident(pki, "dan", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    keystore.add(ident)
    with pytest.raises(UsageError, match="no valid sign identity"):
        keystore.identity_for("dan@example.org")
    assert keystore.identity_for("dan@example.org", at=now - timedelta(days=5)).certificate == ident.certificate


def test_same_identity_twice_is_refused(keystore: KeyStore, pki: TestPKI) -> None:
    keystore.add(_ident(pki, "erin"))
    with pytest.raises(UsageError, match="already in the key store"):
        keystore.add(_ident(pki, "erin"))


def test_remove_by_address_and_audit(keystore: KeyStore, pki: TestPKI) -> None:
    keystore.add(_ident(pki, "fay"))
    assert keystore.remove("fay@example.org") == 1
    assert keystore.list() == []
    assert [e.action for e in events(keystore.store)] == ["keystore.init", "keys.import", "keys.remove"]


def test_export_refused_without_env(keystore: KeyStore, pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    (ident_id,) = keystore.add(_ident(pki, "gus"))
    monkeypatch.delenv("MAILSEAL_ALLOW_KEY_EXPORT", raising=False)
    with pytest.raises(UsageError, match="export is disabled"):
        keystore.export_pkcs12(ident_id, b"pw")
    monkeypatch.setenv("MAILSEAL_ALLOW_KEY_EXPORT", "1")
    assert Identity.from_pkcs12(keystore.export_pkcs12(ident_id, b"pw"), b"pw").certificate == \
        pki.user("gus").cert


def _secret_forms(ident: Identity) -> dict[str, bytes]:
    key = ident.private_key
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    trad = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    body = b"".join(pem.splitlines()[1:-1])
    return {"pkcs8-der": pkcs8, "pkcs1-der": trad, "pem": pem, "pem-base64-line": pem.splitlines()[1],
            "base64": body[:64], "base64-of-der": base64.b64encode(pkcs8)[:64]}


def test_no_private_key_in_clear_on_disk(store_url: str, pki: TestPKI, tmp_path: Path) -> None:
    store = Store.open(store_url)
    ident = _ident(pki, "hal")
    KeyStore(store, PASSPHRASE, scrypt=FAST_SCRYPT).add(ident)
    forms = _secret_forms(ident)
    if store.dialect == "sqlite":
        store.close()  # checkpoints the WAL into the file; the -wal/-shm files are read too if they remain
        data_dir = Path(str(store.engine.url.database)).parent
        blobs = {str(p): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}
        assert any(p.endswith("mailseal.db") for p in blobs)
    else:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM identities")).all() + conn.execute(
                text("SELECT * FROM settings")).all() + conn.execute(text("SELECT * FROM audit_log")).all()
        blobs = {"rows": b"".join(bytes(v) if isinstance(v, bytes | memoryview) else repr(v).encode()
                                  for row in rows for v in row)}
        store.close()
    assert blobs
    for where, blob in blobs.items():
        for name, secret in forms.items():
            assert secret not in blob, f"{name} of the private key found in {where}"


def test_secret_forms_are_detectable(pki: TestPKI) -> None:
    """The grep above can fail: the same search finds the key in an unencrypted PEM file."""
    ident = _ident(pki, "hal")
    plain = Path(pki.user("hal").key_path).read_bytes()
    assert any(secret in plain for secret in _secret_forms(ident).values())


def test_passphrase_from_env_then_keyfile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAILSEAL_STORE_PASSPHRASE", "from-env")
    assert resolve_passphrase() == b"from-env"
    monkeypatch.delenv("MAILSEAL_STORE_PASSPHRASE")
    keyfile = tmp_path / "kek"
    keyfile.write_bytes(os.urandom(32) + b"k")  # not ending in a line end: that one would not count
    monkeypatch.setenv("MAILSEAL_STORE_KEYFILE", str(keyfile))
    assert resolve_passphrase() == keyfile.read_bytes()
    monkeypatch.delenv("MAILSEAL_STORE_KEYFILE")
    with pytest.raises(UsageError, match="no key store passphrase"):
        resolve_passphrase()
    assert resolve_passphrase(lambda: b"typed") == b"typed"


def test_usage_follows_the_certificate_when_not_given(keystore: KeyStore, pki: TestPKI) -> None:
    keystore.add(_ident(pki, "sig-only", email="s@example.org", key_usage={"digitalSignature"}))
    keystore.add(_ident(pki, "both", email="d@example.org"))
    assert [r.usage for r in keystore.list("s@example.org")] == ["sign"]
    assert [r.usage for r in keystore.list("d@example.org")] == ["dual"]


@pytest.mark.parametrize("usage", ["dual", "encrypt"])
def test_sign_only_certificate_is_refused_for_encryption(keystore: KeyStore, pki: TestPKI, usage: str) -> None:
    from mailseal.errors import CertificateUsageError

    ident = _ident(pki, "sig-only2", email="t@example.org", key_usage={"digitalSignature"})
    with pytest.raises(CertificateUsageError, match=f"does not allow usage {usage}: .*keyEncipherment"):
        keystore.add(ident, usage)
    assert keystore.list("t@example.org") == []
