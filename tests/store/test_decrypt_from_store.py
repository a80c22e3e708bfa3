"""Decrypting with the key store's identities (issue 13 point 8): ``decrypt``, ``open`` and ``verify`` without
``--key`` find the identity a message is encrypted for, and unseal only that key.

The lookup (``KeyStore.identities_for_recipients``) runs on SQLite and PostgreSQL; the commands run as
subprocesses on a SQLite store, on messages mailseal and OpenSSL encrypted (RSA key transport, ECDH key agreement;
recipients named by issuer and serial or by subjectKeyIdentifier).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

import mailseal
from mailseal.cms.decryption import enveloped_recipients
from mailseal.cms.identity import Identity
from mailseal.cms.inspection import RecipientIdentifier, certificate_ski
from mailseal.cms.names import name_text, serial_text
from mailseal.store import KeyStore, Store
from tests.store import certgen
from tests.store.conftest import FAST_SCRYPT, PASSPHRASE
from tests.support.peers import openssl_cms
from tests.support.testpki import TestPKI, User

REPO = Path(__file__).resolve().parents[2]
STORE_PASS = "s3cret"
MESSAGE = (b"From: sender@example.net\r\nTo: alice@example.org, carol@example.org\r\nSubject: for the store\r\n"
           b"Content-Type: text/plain\r\n\r\nOpened with a key from the store.\r\n")
BODY = b"Opened with a key from the store."


def _identity(user: User) -> Identity:
    return Identity(user.key, user.cert, tuple(user.chain))


def _rids(message: bytes) -> tuple[RecipientIdentifier, ...]:
    """The recipients of an encrypted message, as the message layer reads them."""
    from mailseal.mime.entity import Entity
    from mailseal.streamio import Region

    body = Entity.from_region(Region.of_bytes(message)).decoded_source()
    return enveloped_recipients(body.open)


# -- the lookup: KeyStore.identities_for_recipients, on both backends ---------------------------------------


def test_lookup_by_issuer_serial_and_by_ski(keystore: KeyStore, pki: TestPKI) -> None:
    alice, carol, bob = pki.user("alice"), pki.user("carol", "ec-p256"), pki.user("bob")
    keystore.add(_identity(alice))
    keystore.add(_identity(carol))
    by_serial = _rids(mailseal.encrypt(MESSAGE, [bob.cert, carol.cert, alice.cert]))
    serials = {bob.cert.serial_number: None, carol.cert.serial_number: "carol@example.org",
               alice.cert.serial_number: "alice@example.org"}
    assert sorted(r.serial or 0 for r in by_serial) == sorted(serials)
    # In the order of the message's recipient infos (a DER SET OF: sorted by encoding, not as given).
    in_order = [serials[r.serial or 0] for r in by_serial if serials[r.serial or 0]]
    assert [r.address for r in keystore.identities_for_recipients(by_serial)] == in_order
    assert [r.address for r in keystore.identities_for_recipients(by_serial[::-1])] == in_order[::-1]
    by_ski = _rids(mailseal.encrypt(MESSAGE, [alice.cert], recipient_id="ski"))
    assert by_ski == (RecipientIdentifier(subject_key_identifier=certificate_ski(alice.cert)),)
    assert [r.address for r in keystore.identities_for_recipients(by_ski)] == ["alice@example.org"]
    assert keystore.identities_for_recipients(by_serial, "carol@example.org")[0].address == "carol@example.org"
    assert keystore.identities_for_recipients(by_ski, "carol@example.org") == []
    assert keystore.identities_for_recipients(_rids(mailseal.encrypt(MESSAGE, [bob.cert]))) == []


def test_lookup_never_asks_for_the_passphrase(store: Store, pki: TestPKI) -> None:
    alice = pki.user("alice")
    KeyStore(store, PASSPHRASE, scrypt=FAST_SCRYPT).add(_identity(alice))
    asked: list[bool] = []

    def passphrase() -> bytes:
        asked.append(True)
        return PASSPHRASE

    reader = KeyStore(store, passphrase, scrypt=FAST_SCRYPT)
    rids = _rids(mailseal.encrypt(MESSAGE, [alice.cert]))
    [record] = reader.identities_for_recipients(rids)
    assert record.address == "alice@example.org" and not asked
    assert reader.get(record.id).certificate == alice.cert and asked == [True]


def test_a_certificate_without_ski_extension_matches_the_computed_identifier(keystore: KeyStore) -> None:
    cert = certgen.make_cert("noski@example.org")
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    keystore.add(Identity(certgen._keys()[1], cert, ()))
    # mailseal and OpenSSL refuse to name such a certificate by key identifier; other senders use the SHA-1 of
    # the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1).
    point = cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    rid = RecipientIdentifier(subject_key_identifier=hashlib.sha1(point).digest())
    assert [r.address for r in keystore.identities_for_recipients([rid])] == ["noski@example.org"]


def test_issuer_names_compare_by_meaning(pki: TestPKI) -> None:
    alice = pki.user("alice")
    printable = x509.Name([x509.NameAttribute(a.oid, str(a.value), _ASN1Type.PrintableString)
                           for a in alice.cert.issuer])
    assert printable.public_bytes() != alice.cert.issuer.public_bytes()
    assert RecipientIdentifier(printable.public_bytes(), alice.cert.serial_number).matches(alice.cert)
    other = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")])
    assert not RecipientIdentifier(other.public_bytes(), alice.cert.serial_number).matches(alice.cert)
    assert not RecipientIdentifier(alice.cert.issuer.public_bytes(), alice.cert.serial_number + 1).matches(alice.cert)


def test_open_message_asks_the_chooser_at_each_encrypted_layer(pki: TestPKI) -> None:
    """The message layer's hook: the chooser gets each layer's recipients, outermost first, and never runs for a
    message without an encrypted layer."""
    from mailseal.mime.opening import decrypt_message, open_message

    alice, carol = pki.user("alice"), pki.user("carol", "ec-p256")
    keys = {alice.cert.serial_number: _identity(alice), carol.cert.serial_number: _identity(carol)}
    asked: list[list[int]] = []

    def chooser(recipients: Sequence[RecipientIdentifier]) -> list[Identity]:
        asked.append([r.serial or 0 for r in recipients])
        return [keys[r.serial] for r in recipients if r.serial in keys]

    nested = mailseal.encrypt(mailseal.sign(mailseal.encrypt(MESSAGE, [carol.cert]), _identity(alice)),
                              [alice.cert])
    opened = open_message(nested, identities=chooser)
    assert asked == [[alice.cert.serial_number], [carol.cert.serial_number]]
    assert BODY in opened.message and [layer.kind for layer in opened.report.layers] == [
        "auth-enveloped", "signed", "auth-enveloped"]
    asked.clear()
    assert BODY in (decrypt_message(mailseal.encrypt(MESSAGE, [carol.cert]), chooser) or b"")
    assert asked == [[carol.cert.serial_number]]
    asked.clear()
    open_message(mailseal.sign(MESSAGE, _identity(alice)), identities=chooser)
    assert asked == []


# -- the commands --------------------------------------------------------------------------------------------


def run(home: Path, *args: str | Path, input: bytes = b"", passphrase: str | None = STORE_PASS
        ) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a session of its own (no terminal to ask a passphrase on), with only this home's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSEAL_")}
    env.update(PYTHONPATH=str(REPO / "src"), MAILSEAL_HOME=str(home))
    if passphrase is not None:
        env["MAILSEAL_STORE_PASSPHRASE"] = passphrase
    return subprocess.run([sys.executable, "-m", "mailseal.cli.main", *map(str, args)], input=input,
                          capture_output=True, env=env, timeout=120, check=False, start_new_session=True)


def ok(proc: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Path:
    """A store holding alice (RSA), carol (EC P-256) and dave (RSA); bob is nobody's identity here."""
    home = tmp_path_factory.mktemp("decrypt-store") / "home"
    users = [pki.user("alice"), pki.user("carol", "ec-p256"), pki.user("dave")]
    ok(run(home, "keys", "import", *(u.p12_path for u in users), "--pass", "pass:test"))
    return home


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _openssl_encrypt(tmp_path: Path, *certs: Path, keyid: bool = False, der: bool = False) -> bytes:
    part = _write(tmp_path, "part.eml", MESSAGE)
    args: list[str | Path] = ["-encrypt", "-in", part, "-aes-256-cbc", "-crlfeol"]
    for cert in certs:
        args += ["-recip", cert]
    if keyid:
        args.append("-keyid")
    if der:
        args += ["-outform", "DER"]
    return openssl_cms(*args)


@pytest.mark.parametrize("producer", ["mailseal-issuer-serial", "mailseal-ski", "openssl-issuer-serial",
                                      "openssl-keyid"])
@pytest.mark.parametrize("who", ["alice-rsa", "carol-ec"])
def test_decrypt_without_key_uses_the_store(home: Path, pki: TestPKI, tmp_path: Path, producer: str,
                                            who: str) -> None:
    user = pki.user("alice") if who == "alice-rsa" else pki.user("carol", "ec-p256")
    if producer.startswith("mailseal"):
        sealed = mailseal.encrypt(MESSAGE, [user.cert], cipher="aes256-gcm",
                                  recipient_id="ski" if producer == "mailseal-ski" else "issuer-serial")
    else:
        sealed = _openssl_encrypt(tmp_path, user.cert_path, keyid=producer == "openssl-keyid")
    proc = ok(run(home, "decrypt", "-i", _write(tmp_path, "enc.eml", sealed)))
    assert BODY in proc.stdout
    notice = proc.stderr.decode()
    assert "decrypted with identity " in notice and f"({user.email}, " in notice and "key in the key store" in notice
    assert "Subject: for the store" in proc.stdout.decode()  # the outer fields kept, as with --key


def test_decrypt_to_a_file_a_bare_cms_object_and_quietly(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    carol = pki.user("carol", "ec-p256")
    der = _write(tmp_path, "enc.der", _openssl_encrypt(tmp_path, carol.cert_path, der=True))
    ok(run(home, "decrypt", "-i", der, "-o", tmp_path / "plain"))
    assert BODY in (tmp_path / "plain").read_bytes()
    assert (tmp_path / "plain").stat().st_mode & 0o777 == 0o600
    # A message to a file: the plaintext is staged in the output as it is decrypted (the path --key takes too).
    mime = _write(tmp_path, "enc.eml", mailseal.encrypt(MESSAGE, [carol.cert]))
    quiet = ok(run(home, "-q", "decrypt", "-i", mime, "-o", tmp_path / "plain.eml"))
    assert quiet.stderr == b""  # -q: no notice
    plain = (tmp_path / "plain.eml").read_bytes()
    assert plain.startswith(b"From: sender@example.net\r\n") and plain.endswith(BODY + b"\r\n")


def test_open_without_key_names_the_identity(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    carol = pki.user("carol", "ec-p256")
    enc = _write(tmp_path, "enc.eml", _openssl_encrypt(tmp_path, carol.cert_path))
    report = json.loads(ok(run(home, "open", "--json", "-i", enc)).stdout)
    assert report["encrypted"] and report["layers"][0]["key_algorithm"].startswith("dh_single_pass")
    [used] = report["decrypted_with"]
    assert used["address"] == "carol@example.org" and used["key_location"] == "store"
    text = ok(run(home, "open", "-i", enc, "-o", tmp_path / "content.eml")).stdout.decode()
    assert "decrypted with identity" in text and "carol@example.org" in text
    assert BODY in (tmp_path / "content.eml").read_bytes()


def test_a_message_for_two_recipients_of_whom_one_is_ours(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    bob, alice = pki.user("bob"), pki.user("alice")
    enc = _write(tmp_path, "enc.eml", _openssl_encrypt(tmp_path, bob.cert_path, alice.cert_path))
    proc = ok(run(home, "decrypt", "-i", enc))
    assert BODY in proc.stdout and "alice@example.org" in proc.stderr.decode()
    report = json.loads(ok(run(home, "open", "--json", "-i", enc)).stdout)
    alice_index = [r.serial for r in _rids(enc.read_bytes())].index(alice.cert.serial_number)
    assert report["layers"][0]["recipient_index"] == alice_index and report["layers"][0]["recipient_count"] == 2
    assert [u["address"] for u in report["decrypted_with"]] == ["alice@example.org"]


def test_as_picks_the_identity(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    alice, carol = pki.user("alice"), pki.user("carol", "ec-p256")
    enc = _write(tmp_path, "enc.eml", mailseal.encrypt(MESSAGE, [alice.cert, carol.cert]))
    order = [{alice.cert.serial_number: "alice", carol.cert.serial_number: "carol"}[r.serial or 0]
             for r in _rids(enc.read_bytes())]
    # Without --as: the identity of the first recipient info the store holds; with it, the one asked for.
    assert f"({order[0]}@example.org, " in ok(run(home, "decrypt", "-i", enc)).stderr.decode()
    for name in order[::-1]:
        picked = ok(run(home, "decrypt", "--as", f"{name}@example.org", "-i", enc))
        assert BODY in picked.stdout and f"({name}@example.org, " in picked.stderr.decode()
    report = json.loads(ok(run(home, "open", "--as", "carol@EXAMPLE.org", "--json", "-i", enc)).stdout)
    assert [u["address"] for u in report["decrypted_with"]] == ["carol@example.org"]
    assert report["layers"][0]["recipient_index"] == order.index("carol")

    not_recipient = run(home, "decrypt", "--as", "dave@example.org", "-i", enc)
    assert not_recipient.returncode == 1 and not_recipient.stdout == b""
    err = not_recipient.stderr.decode()
    assert err.startswith("mailseal: error[no-matching-recipient]: the message is encrypted for 2 recipient(s)")
    assert "the identity of dave@example.org is not one of them" in err
    unknown = run(home, "decrypt", "--as", "nobody@example.org", "-i", enc)
    assert unknown.returncode == 2 and b"error[usage]: --as nobody@example.org: no identity" in unknown.stderr
    both = run(home, "decrypt", "--as", "alice@example.org", "--key", alice.key_path, "-i", enc)
    assert both.returncode == 2 and b"error[usage]" in both.stderr


@pytest.mark.parametrize("command", ["decrypt", "open", "verify"])
def test_no_identity_matches_without_unlocking_the_store(home: Path, pki: TestPKI, tmp_path: Path,
                                                         command: str) -> None:
    bob = pki.user("bob")
    enc = _write(tmp_path, "enc.eml", mailseal.encrypt(MESSAGE, [bob.cert]))
    expected = (f"mailseal: error[no-matching-recipient]: the message is encrypted for 1 recipient(s) (serial "
                f"{serial_text(bob.cert.serial_number)} issued by {name_text(bob.cert.issuer)}) "
                "and none of the 3 identities in the key store is one of them: give the key with --key\n")
    # A wrong passphrase, and none at all (no terminal to ask on): either would fail at an unlock, so the
    # recipient error proves the key-encryption key was never derived.
    for passphrase in ("wrong passphrase", None):
        proc = run(home, command, "-i", enc, passphrase=passphrase)
        assert (proc.returncode, proc.stderr.decode(), proc.stdout) == (1, expected, b"")


def test_a_wrong_passphrase_fails_once_an_identity_matches(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    enc = _write(tmp_path, "enc.eml", mailseal.encrypt(MESSAGE, [pki.user("alice").cert]))
    proc = run(home, "decrypt", "-i", enc, passphrase="wrong passphrase")
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode() == "mailseal: error[wrong-password]: the key store passphrase is wrong\n"


def test_open_nested_layers_with_a_store_identity_each(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    """encrypted (alice) > signed (alice) > encrypted (carol) > signed (alice): each encrypted layer is opened
    with the identity it names."""
    alice, carol = pki.user("alice"), pki.user("carol", "ec-p256")
    signer = _identity(alice)
    message = MESSAGE.replace(b"sender@example.net", b"alice@example.org")
    inner = mailseal.encrypt(mailseal.sign(message, signer), [carol.cert], cipher="aes256-cbc")
    nested = mailseal.encrypt(mailseal.sign(inner, signer), [alice.cert, pki.user("bob").cert])
    enc = _write(tmp_path, "nested.eml", nested)
    proc = ok(run(home, "open", "--json", "--trust", pki.root_path, "-i", enc, "-o", tmp_path / "content.eml"))
    report = json.loads(proc.stdout)
    assert [layer["kind"] for layer in report["layers"]] == ["auth-enveloped", "signed", "enveloped", "signed"]
    assert [u["address"] for u in report["decrypted_with"]] == ["alice@example.org", "carol@example.org"]
    assert all(layer["status"] == "valid" for layer in report["layers"] if layer["kind"] == "signed")
    assert BODY in (tmp_path / "content.eml").read_bytes()


def test_verify_opens_an_encrypted_signed_message_with_the_store(home: Path, pki: TestPKI, tmp_path: Path) -> None:
    alice, carol = pki.user("alice"), pki.user("carol", "ec-p256")
    message = MESSAGE.replace(b"sender@example.net", b"alice@example.org")
    enc = _write(tmp_path, "enc.eml", mailseal.encrypt(mailseal.sign(message, _identity(alice)), [carol.cert]))
    report = json.loads(ok(run(home, "verify", "--json", "--trust", pki.root_path, "-i", enc)).stdout)
    assert report["status"] == "valid" and report["encrypted"]
    assert [u["address"] for u in report["decrypted_with"]] == ["carol@example.org"]


def test_a_signed_only_message_never_opens_the_store(tmp_path: Path, pki: TestPKI) -> None:
    alice = pki.user("alice")
    message = MESSAGE.replace(b"sender@example.net", b"alice@example.org")
    signed = _write(tmp_path, "signed.eml", mailseal.sign(message, _identity(alice)))
    home = tmp_path / "fresh-home"
    for command in ("open", "verify"):
        proc = run(home, command, "--json", "--trust", pki.root_path, "-i", signed, passphrase=None)
        assert proc.returncode == 0, proc.stderr.decode()
        assert "decrypted_with" not in json.loads(proc.stdout)
    assert not (home / "mailseal.db").exists()
