"""Token identities in the key store (SQLite and PostgreSQL): filed by location, never by key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import mailseal
from mailseal.cms.token import TokenKey
from mailseal.errors import TokenError, UsageError
from mailseal.pki.truststore import TrustStore
from mailseal.store import KeyStore, Store
from mailseal.store.database import HEAD_REVISION
from tests.pkcs11.softhsm import HSM

MESSAGE = b"From: hsm-rsa@example.org\r\nTo: bob@example.org\r\nSubject: t\r\n\r\nStored on a token.\r\n"


def _keystore(url: str) -> KeyStore:
    # No passphrase: token identities never need the key-encryption key.
    return KeyStore(Store.open(url), lambda: pytest.fail("the store passphrase was asked for"))  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_round_trip_sign_and_decrypt(store_url: str, hsm: HSM, which: str) -> None:
    ks = _keystore(store_url)
    [row_id] = ks.add_token_identity(hsm.identity(which), usage="dual")
    address = f"hsm-{which}@example.org"
    ident = ks.identity_for(address, "sign")
    assert isinstance(ident.private_key, TokenKey)
    signed = mailseal.sign(MESSAGE.replace(b"hsm-rsa@", f"hsm-{which}@".encode()), ident)
    assert mailseal.verify(signed, trust=TrustStore((hsm.pki.root_cert,))).signers[0].status == "valid"
    enc = mailseal.encrypt(MESSAGE, [ident.certificate])
    assert b"Stored on a token." in mailseal.decrypt(enc, ks.identity_for(address, "encrypt"))
    [record] = ks.list(address)
    assert record.id == row_id
    assert record.key_location.startswith("pkcs11:token=mailseal-test;id=")
    assert record.to_dict()["key_location"] == record.key_location
    ks.store.close()


def test_add_files_token_identities_by_location(store_url: str, hsm: HSM) -> None:
    ks = _keystore(store_url)
    ks.add(hsm.identity("rsa"))  # add() sees the token key and stores its location
    with ks.store.reading() as session:
        row = session.execute(text("SELECT encrypted_key, key_location FROM identities")).one()
    assert row[0] is None
    assert "pin" not in row[1].lower()
    ks.store.close()


def test_row_needs_exactly_one_key_place(store_url: str, hsm: HSM) -> None:
    ks = _keystore(store_url)
    ks.add_token_identity(hsm.identity("rsa"))
    with pytest.raises(IntegrityError), ks.store.session() as session:
        session.execute(text("UPDATE identities SET key_location = NULL"))
    ks.store.close()


def test_token_identity_is_not_exported(store_url: str, hsm: HSM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_ALLOW_KEY_EXPORT", "1")
    ks = _keystore(store_url)
    [row_id] = ks.add_token_identity(hsm.identity("ec"))
    with pytest.raises(TokenError, match="cannot be exported"):
        ks.export_pkcs12(row_id, b"pw")
    ks.store.close()


def test_add_token_identity_refuses_a_software_key(store_url: str, hsm: HSM) -> None:
    from tests.support.messages import ident

    ks = _keystore(store_url)
    with pytest.raises(UsageError, match="not on a PKCS#11 token"):
        ks.add_token_identity(ident(hsm.pki.user("alice")))
    ks.store.close()


def _secret_forms(key: object) -> dict[str, bytes]:
    assert hasattr(key, "private_bytes")
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    n = key.private_numbers()  # type: ignore[attr-defined]
    d = n.d.to_bytes((n.d.bit_length() + 7) // 8, "big")
    return {"pkcs8-der": pkcs8, "d": d, "p": n.p.to_bytes((n.p.bit_length() + 7) // 8, "big"),
            "base64-of-der": base64.b64encode(pkcs8)[:64], "d-hex": d.hex().encode()}


def test_no_private_key_in_the_store(store_url: str, hsm: HSM) -> None:
    """The imported key (known to the test, unknown to mailseal) appears nowhere in the database."""
    store = Store.open(store_url)
    KeyStore(store).add_token_identity(hsm.identity("imported"))
    forms = _secret_forms(hsm.imported_key)
    if store.dialect == "sqlite":
        store.close()
        data_dir = Path(str(store.engine.url.database)).parent
        blobs = {str(p): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}
        assert any(p.endswith("mailseal.db") for p in blobs)
    else:
        with store.engine.connect() as conn:
            rows = [*conn.execute(text("SELECT * FROM identities")).all(),
                    *conn.execute(text("SELECT * FROM audit_log")).all()]
        blobs = {"rows": b"".join(bytes(v) if isinstance(v, bytes | memoryview) else repr(v).encode()
                                  for row in rows for v in row)}
        store.close()
    assert blobs
    for where, blob in blobs.items():
        for name, secret in forms.items():
            assert secret not in blob, f"{name} of the private key found in {where}"


def test_migration_keeps_existing_identities(store_url: str, hsm: HSM) -> None:
    """A store made at revision 0001 (keys in the store only) upgrades with its identities intact."""
    from alembic import command
    from alembic.config import Config

    from mailseal.store.database import MIGRATIONS, make_engine, migrate
    from tests.support.messages import ident

    engine = make_engine(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))  # the database is writable at 0001
    engine.dispose()
    # Rows written by the 0001 code: an encrypted key and no location column yet.
    old = make_engine(store_url)
    alice = ident(hsm.pki.user("alice"))
    with old.begin() as conn:
        conn.execute(text(
            "INSERT INTO identities (address, usage, fingerprint, certificate, chain, encrypted_key, not_before, "
            "not_after, created) VALUES ('alice@example.org', 'dual', 'f', :c, '[]', :k, :t, :t, :t)"),
            {"c": alice.certificate.public_bytes(serialization.Encoding.DER), "k": b"\x01sealed",
             "t": alice.certificate.not_valid_before_utc.replace(tzinfo=None)})
    migrate(old)
    with old.begin() as conn:
        row = conn.execute(text("SELECT encrypted_key, key_location FROM identities")).one()
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    old.dispose()
    assert bytes(row[0]) == b"\x01sealed"
    assert row[1] is None
    assert version == HEAD_REVISION
