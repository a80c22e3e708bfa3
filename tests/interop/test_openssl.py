"""Interop with OpenSSL 3.0 `openssl cms`, both directions: signing, verification, encryption, decryption.

mailseal is driven through its command line (docs/cli.md); the keys come from the generated test PKI.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli
from tests.support.peers import openssl_cms, openssl_cms_proc, require_peer
from tests.support.testpki import TestPKI, User

pytestmark = pytest.mark.interop

ASCII_BODY = (
    b"Hello Bob,\r\n"
    b"\r\n"
    b"this message travels between mailseal and OpenSSL.\r\n"
    b"Line with trailing spaces   \r\n"
    b"-- \r\n"
    b"Alice\r\n"
)
UTF8_BODY = "Grüße aus Köln,\r\nnaïve café — 8-bit UTF-8 text.\r\n-- \r\nAlice\r\n".encode()
BODY_LINES = {
    "ascii": [b"this message travels between mailseal and OpenSSL.", b"Line with trailing spaces   "],
    "utf8": ["Grüße aus Köln,".encode(), "naïve café — 8-bit UTF-8 text.".encode()],
}


@pytest.fixture(autouse=True)
def _openssl() -> None:
    require_peer("openssl")


# -- messages ---------------------------------------------------------------------------------------------


def entity(variant: str = "ascii") -> bytes:
    """The MIME entity (Content-Type headers + body) that gets signed or encrypted."""
    if variant == "utf8":
        return b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + UTF8_BODY
    return b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + ASCII_BODY


def outer_headers(sender: str, to: str = "bob@example.org", eol: bytes = b"\r\n") -> bytes:
    lines = [
        f"From: Alice Example <{sender}>",
        f"To: {to}",
        "Subject: mailseal interop with openssl",
        "Date: Sat, 28 Nov 2026 10:00:00 +0000",
        "Message-ID: <interop-openssl@example.org>",
    ]
    return b"".join(line.encode() + eol for line in lines)


def message(sender: str, variant: str = "ascii", to: str = "bob@example.org") -> bytes:
    """A complete RFC 5322 message from `sender`."""
    return outer_headers(sender, to) + b"MIME-Version: 1.0\r\n" + entity(variant)


def with_headers(openssl_output: bytes, sender: str, to: str = "bob@example.org") -> bytes:
    """openssl writes only MIME headers: put From/To/Subject in front, with the same line ending."""
    eol = b"\r\n" if openssl_output.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    return outer_headers(sender, to, eol) + openssl_output


def ok(proc: subprocess.CompletedProcess[bytes], what: str) -> bytes:
    assert proc.returncode == 0, (
        f"{what}: exit {proc.returncode}\nstderr: {proc.stderr.decode(errors='replace')}\n"
        f"stdout: {proc.stdout[:2000].decode(errors='replace')}"
    )
    return proc.stdout


def report(proc: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"verify --json did not print JSON (exit {proc.returncode}): {proc.stdout[:500]!r} "
            f"stderr: {proc.stderr.decode(errors='replace')}"
        ) from exc
    return data


def assert_canonical_text(entity_bytes: bytes, variant: str, who: str) -> None:
    """CRLF line ends throughout, and the body decodes (whatever transfer encoding) to the original lines."""
    assert re.search(rb"(?<!\r)\n", entity_bytes) is None, f"bare LF in {who}'s canonical entity"
    part = email.message_from_bytes(entity_bytes, policy=email.policy.default)
    text = part.get_content()
    assert isinstance(text, str), f"{who}: not a text entity: {entity_bytes[:300]!r}"
    for line in BODY_LINES[variant]:
        assert line.decode() in text.splitlines(), f"{line!r} missing from {who}'s entity: {entity_bytes!r}"


def header_block(data: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0]


def first_part(signed: bytes) -> bytes:
    """The exact bytes of the first body part of a multipart/signed message (the signed entity)."""
    headers = re.sub(rb"\r?\n[ \t]+", b" ", header_block(signed))
    found = re.search(rb'(?i)boundary="?([^";\r\n]+)"?', headers)
    assert found, f"no multipart boundary in the headers: {headers!r}"
    delimiter = re.escape(b"--" + found.group(1))
    part = re.search(rb"(?m)^" + delimiter + rb"[ \t]*\r?\n(.*?)\r?\n" + delimiter + rb"\r?$", signed, re.DOTALL)
    assert part, "multipart/signed must have a content part followed by another delimiter"
    return part.group(1)


# -- mailseal signs, openssl verifies ---------------------------------------------------------------------


@dataclass(frozen=True)
class SignCase:
    key_type: str
    digest: str
    pss: bool = False
    opaque: bool = False
    variant: str = "ascii"


def _sign_id(c: SignCase) -> str:
    alg = ("rsa-pss" if c.pss else "rsa-pkcs1") if c.key_type.startswith("rsa") else "ecdsa-" + c.key_type[3:]
    suffix = "-utf8" if c.variant == "utf8" else ""
    return f"{alg}-{c.digest}-{'opaque' if c.opaque else 'detached'}{suffix}"


SIGN_CASES = [
    SignCase("rsa2048", "sha256"),
    SignCase("rsa2048", "sha256", opaque=True),
    SignCase("rsa2048", "sha384"),
    SignCase("rsa2048", "sha512", opaque=True),
    SignCase("rsa2048", "sha256", variant="utf8"),
    SignCase("rsa2048", "sha256", pss=True),
    SignCase("rsa2048", "sha384", pss=True, opaque=True),
    SignCase("rsa2048", "sha512", pss=True),
    SignCase("ec-p256", "sha256"),
    SignCase("ec-p256", "sha256", opaque=True, variant="utf8"),
    SignCase("ec-p384", "sha384"),
    SignCase("ec-p384", "sha384", opaque=True),
    SignCase("ec-p521", "sha512"),
    SignCase("ec-p521", "sha512", opaque=True),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=_sign_id(c)) for c in SIGN_CASES])
def test_mailseal_signs_openssl_verifies(case: SignCase, pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    alice = pki.user("alice", case.key_type)
    args = ["sign", "--key", alice.key_path, "--cert", alice.cert_path, "--chain", alice.chain_path]
    args += ["--digest", case.digest] + (["--pss"] if case.pss else []) + (["--opaque"] if case.opaque else [])
    signed = ok(run_cli(*args, input=message(alice.email, case.variant)), "mailseal sign")

    headers = header_block(signed)
    assert re.search(rb"(?m)^From: Alice Example <alice@example.org>\r?$", headers), "From must stay outside"
    if case.opaque:
        assert re.search(rb"(?i)application/(x-)?pkcs7-mime", headers)
        assert re.search(rb"(?i)smime-type=\"?signed-data", headers)
    else:
        assert re.search(rb"(?i)multipart/signed", headers)

    (tmp_path / "signed.eml").write_bytes(signed)
    # OpenSSL 3.0 `cms -verify` has no -untrusted: the intermediate must travel in the message (the default).
    openssl_cms(
        "-verify", "-CAfile", pki.root_path, "-purpose", "smimesign", "-verify_email", alice.email,
        "-in", tmp_path / "signed.eml", "-out", tmp_path / "content",
    )  # fmt: skip
    content = (tmp_path / "content").read_bytes()
    assert_canonical_text(content, case.variant, "openssl -verify")
    assert re.match(rb"(?i)content-type: text/plain", content), "the signed entity starts with its headers"
    if not case.opaque:
        assert content == first_part(signed), "openssl's content must be the canonical first part"

    printed = openssl_cms("-cmsout", "-print", "-in", tmp_path / "signed.eml").decode()
    assert re.search(rf"digestAlgorithm:\s*\n\s*algorithm: {case.digest}", printed), printed[:3000]
    sig_alg = re.findall(r"signatureAlgorithm:\s*\n\s*algorithm: (\S+)", printed)
    assert len(sig_alg) == 1, printed[-3000:]
    if case.pss:
        assert sig_alg == ["rsassaPss"]
    elif case.key_type.startswith("rsa"):
        assert re.fullmatch(r"rsaEncryption|sha\d+WithRSAEncryption", sig_alg[0]), sig_alg
    else:
        assert sig_alg == [f"ecdsa-with-{case.digest.upper()}"], sig_alg


def test_mailseal_signs_p12_key_openssl_verifies_rsa_pkcs1_sha256_detached(
    pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    alice = pki.user("alice")
    proc = run_cli("sign", "--key", alice.p12_path, "--pass", "pass:test", input=message(alice.email))
    (tmp_path / "signed.eml").write_bytes(ok(proc, "mailseal sign with PKCS#12"))
    openssl_cms("-verify", "-CAfile", pki.root_path, "-purpose", "smimesign", "-in", tmp_path / "signed.eml")


def test_mailseal_signs_no_chain_openssl_needs_intermediate_ecdsa_p256_sha256_detached(
    pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    alice = pki.user("alice", "ec-p256")
    args = ["sign", "--key", alice.key_path, "--cert", alice.cert_path, "--chain", alice.chain_path, "--no-chain"]
    (tmp_path / "signed.eml").write_bytes(ok(run_cli(*args, input=message(alice.email)), "mailseal sign"))
    verify: list[str | Path] = [
        "-verify",
        "-purpose",
        "smimesign",
        "-in",
        tmp_path / "signed.eml",
        "-out",
        tmp_path / "out",
    ]
    refused = openssl_cms_proc(*verify, "-CAfile", pki.root_path)
    assert refused.returncode != 0, "without the intermediate in the message openssl cannot build the chain"
    assert b"unable to get local issuer certificate" in refused.stderr, refused.stderr
    (tmp_path / "ca.pem").write_bytes(pki.root_path.read_bytes() + pki.intermediate_path.read_bytes())
    openssl_cms(*verify, "-CAfile", tmp_path / "ca.pem")  # the signer certificate itself is still included
    assert_canonical_text((tmp_path / "out").read_bytes(), "ascii", "openssl -verify")


# -- openssl signs, mailseal verifies ---------------------------------------------------------------------


def openssl_sign(
    user: User, tmp_path: Path, *, digest: str = "sha256", pss: bool = False, opaque: bool = False,
    variant: str = "ascii", crlf: bool = True, extra: tuple[str | Path, ...] = (),
) -> bytes:  # fmt: skip
    (tmp_path / "part.txt").write_bytes(entity(variant))
    args: list[str | Path] = ["-sign", "-in", tmp_path / "part.txt", "-signer", user.cert_path]
    args += ["-inkey", user.key_path, "-certfile", user.chain_path, "-md", digest]
    args += (["-keyopt", "rsa_padding_mode:pss"] if pss else []) + (["-nodetach"] if opaque else [])
    args += ["-crlfeol"] if crlf else []
    return openssl_cms(*args, *extra)


@pytest.mark.parametrize(
    ("key_type", "digest", "pss", "opaque", "variant", "crlf"),
    [
        pytest.param("rsa2048", "sha256", False, False, "ascii", True, id="rsa-pkcs1-sha256-detached"),
        pytest.param("rsa2048", "sha256", False, True, "ascii", True, id="rsa-pkcs1-sha256-opaque"),
        pytest.param("rsa2048", "sha512", False, False, "utf8", True, id="rsa-pkcs1-sha512-detached-utf8"),
        pytest.param("rsa2048", "sha256", False, False, "ascii", False, id="rsa-pkcs1-sha256-detached-lf"),
        pytest.param("rsa2048", "sha256", True, False, "ascii", True, id="rsa-pss-sha256-detached"),
        pytest.param("rsa2048", "sha384", True, True, "utf8", True, id="rsa-pss-sha384-opaque-utf8"),
        pytest.param("ec-p256", "sha256", False, False, "ascii", True, id="ecdsa-p256-sha256-detached"),
        pytest.param("ec-p256", "sha256", False, True, "ascii", True, id="ecdsa-p256-sha256-opaque"),
        pytest.param("ec-p384", "sha384", False, False, "utf8", True, id="ecdsa-p384-sha384-detached-utf8"),
        pytest.param("ec-p521", "sha512", False, True, "ascii", True, id="ecdsa-p521-sha512-opaque"),
    ],
)
def test_openssl_signs_mailseal_verifies(
    key_type: str, digest: str, pss: bool, opaque: bool, variant: str, crlf: bool,
    pki: TestPKI, run_cli: RunCli, tmp_path: Path,
) -> None:  # fmt: skip
    alice = pki.user("alice", key_type)
    signed = with_headers(
        openssl_sign(alice, tmp_path, digest=digest, pss=pss, opaque=opaque, variant=variant, crlf=crlf),
        alice.email,
    )
    out = tmp_path / "content.out"
    proc = run_cli("verify", "--trust", pki.root_path, "--json", "-o", out, input=signed)
    ok(proc, "mailseal verify")
    rep = report(proc)
    assert rep["status"] == "valid" and rep["signed"] is True
    assert len(rep["signers"]) == 1
    signer = rep["signers"][0]
    assert signer["status"] == "valid" and signer["intact"] is True and signer["trusted"] is True
    assert signer["emails"] == [alice.email]
    assert signer["digest_algorithm"] == digest
    assert len(signer["chain"]) == 3 and "mailseal Test Root" in signer["chain"][-1], signer["chain"]
    assert rep["covers"] == "text/plain"
    sig_alg = signer["signature_algorithm"].lower()
    if key_type.startswith("ec"):
        assert "ecdsa" in sig_alg
    else:
        assert ("pss" in sig_alg) == pss, sig_alg
    content = out.read_bytes()
    for line in BODY_LINES[variant]:
        assert line in content, f"{line!r} missing from the content mailseal wrote: {content!r}"


@pytest.mark.parametrize(
    ("extra", "signers"),
    [
        pytest.param(("-noattr",), 1, id="rsa-pkcs1-sha256-detached-no-signed-attributes"),
        pytest.param(("-keyid",), 1, id="rsa-pkcs1-sha256-detached-signer-by-ski"),
        pytest.param(("-nodetach", "-stream"), 1, id="rsa-pkcs1-sha256-opaque-indefinite-ber"),
        pytest.param(("-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:max"), 1, id="rsa-pss-maxsalt"),
        pytest.param(("-signer", "EC_CERT", "-inkey", "EC_KEY"), 2, id="two-signers-rsa-pkcs1-and-ecdsa-p256"),
    ],
)
def test_openssl_signs_variant_mailseal_verifies(
    extra: tuple[str, ...], signers: int, pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    alice, alice_ec = pki.user("alice"), pki.user("alice", "ec-p256")
    paths = {"EC_CERT": alice_ec.cert_path, "EC_KEY": alice_ec.key_path}
    signed = with_headers(openssl_sign(alice, tmp_path, extra=tuple(paths.get(a, a) for a in extra)), alice.email)
    proc = run_cli("verify", "--trust", pki.root_path, "--json", input=signed)
    ok(proc, "mailseal verify")
    rep = report(proc)
    assert rep["status"] == "valid" and len(rep["signers"]) == signers
    assert all(s["status"] == "valid" and s["emails"] == [alice.email] for s in rep["signers"]), rep["signers"]


def test_openssl_signs_without_certs_mailseal_verifies_with_certs_option(
    pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    alice = pki.user("alice")
    signed = with_headers(openssl_sign(alice, tmp_path, extra=("-nocerts",)), alice.email)
    proc = run_cli("verify", "--trust", pki.root_path, "--json", input=signed)
    assert proc.returncode == 1 and report(proc)["status"] == "unknown-signer", proc.stdout
    (tmp_path / "certs.pem").write_bytes(alice.cert_path.read_bytes() + alice.chain_path.read_bytes())
    proc = run_cli("verify", "--trust", pki.root_path, "--json", "--certs", tmp_path / "certs.pem", input=signed)
    ok(proc, "mailseal verify --certs")
    assert report(proc)["status"] == "valid"


def test_openssl_signs_mailseal_verifies_address_mismatch(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    alice = pki.user("alice")
    signed = with_headers(openssl_sign(alice, tmp_path), "mallory@example.org")
    proc = run_cli("verify", "--trust", pki.root_path, "--json", input=signed)
    assert proc.returncode == 1, proc.stderr
    rep = report(proc)
    assert rep["status"] == "address-mismatch"
    assert rep["signers"][0]["status"] == "address-mismatch"
    assert rep["signers"][0]["intact"] is True


def _tamper_detached(signed: bytes) -> bytes:
    target = b"travels between"
    assert signed.count(target) == 1
    return signed.replace(target, b"travels betweem")


def _tamper_opaque(signed: bytes) -> bytes:
    head, _, b64 = re.split(rb"(\r?\n\r?\n)", signed, maxsplit=1)
    der = base64.b64decode(b64)
    assert der.count(b"travels between") == 1
    der = der.replace(b"travels between", b"travels betweem")
    eol = b"\r\n" if b"\r\n" in head else b"\n"
    lines = [base64.b64encode(der)[i : i + 64] for i in range(0, len(base64.b64encode(der)), 64)]
    return head + eol + eol + eol.join(lines) + eol


@pytest.mark.parametrize("opaque", [pytest.param(False, id="detached"), pytest.param(True, id="opaque")])
def test_openssl_signs_tampered_mailseal_rejects_rsa_pkcs1_sha256(
    opaque: bool, pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    alice = pki.user("alice")
    signed = with_headers(openssl_sign(alice, tmp_path, opaque=opaque), alice.email)
    # The untouched message verifies, so the failure below comes from the one changed byte.
    ok(run_cli("verify", "--trust", pki.root_path, "--json", input=signed), "verify untouched")
    tampered = _tamper_opaque(signed) if opaque else _tamper_detached(signed)
    proc = run_cli("verify", "--trust", pki.root_path, "--json", input=tampered)
    assert proc.returncode == 1, proc.stderr
    rep = report(proc)
    assert rep["status"] == "invalid-signature"
    assert rep["signers"][0]["status"] == "invalid-signature"
    assert rep["signers"][0]["intact"] is False


# -- mailseal encrypts, openssl decrypts ------------------------------------------------------------------

CIPHER_OIDS = {"aes256-gcm": "aes-256-gcm", "aes128-gcm": "aes-128-gcm", "aes256-cbc": "aes-256-cbc",
               "aes128-cbc": "aes-128-cbc"}  # fmt: skip


@pytest.mark.parametrize(
    ("key_type", "padding", "cipher"),
    [
        pytest.param("rsa2048", "pkcs1v15", "aes256-gcm", id="rsa-pkcs1-aes256-gcm"),
        pytest.param("rsa2048", "pkcs1v15", "aes128-cbc", id="rsa-pkcs1-aes128-cbc"),
        pytest.param("rsa2048", "oaep", "aes256-gcm", id="rsa-oaep-aes256-gcm"),
        pytest.param("rsa2048", "oaep", "aes128-gcm", id="rsa-oaep-aes128-gcm"),
        pytest.param("rsa2048", "oaep", "aes256-cbc", id="rsa-oaep-aes256-cbc"),
        pytest.param("ec-p256", None, "aes256-gcm", id="ecdh-p256-aes256-gcm"),
        pytest.param("ec-p256", None, "aes128-cbc", id="ecdh-p256-aes128-cbc"),
        pytest.param("ec-p384", None, "aes128-gcm", id="ecdh-p384-aes128-gcm"),
        pytest.param("ec-p384", None, "aes256-cbc", id="ecdh-p384-aes256-cbc"),
        pytest.param("ec-p521", None, "aes256-gcm", id="ecdh-p521-aes256-gcm"),
    ],
)
def test_mailseal_encrypts_openssl_decrypts(
    key_type: str, padding: str | None, cipher: str, pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    alice, bob = pki.user("alice"), pki.user("bob", key_type)
    args = ["encrypt", "--to", bob.cert_path, "--cipher", cipher] + ([f"--{padding}"] if padding else [])
    encrypted = ok(run_cli(*args, input=message(alice.email, "utf8", to=bob.email)), "mailseal encrypt")
    headers = header_block(encrypted)
    kind = b"authEnveloped-data" if "gcm" in cipher else b"enveloped-data"
    assert re.search(rb"(?i)smime-type=\"?" + kind + rb"\b", headers), headers
    assert b"Subject: mailseal interop with openssl" in headers, "outer headers stay outside"

    (tmp_path / "enc.eml").write_bytes(encrypted)
    printed = openssl_cms("-cmsout", "-print", "-in", tmp_path / "enc.eml").decode()
    assert f"algorithm: {CIPHER_OIDS[cipher]} " in printed, printed[:3000]
    if padding:
        assert ("rsaesOaep" in printed) == (padding == "oaep"), printed[:3000]
    else:
        assert "dhSinglePass" in printed, printed[:3000]
    plain = openssl_cms("-decrypt", "-recip", bob.cert_path, "-inkey", bob.key_path, "-in", tmp_path / "enc.eml")
    assert_canonical_text(plain, "utf8", "openssl -decrypt")


def test_mailseal_encrypts_rsa_ecdh_and_sender_openssl_decrypts_each_aes256_gcm(
    pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    alice, bob, carol = pki.user("alice", "ec-p384"), pki.user("bob"), pki.user("carol", "ec-p256")
    args = ["encrypt", "--to", bob.cert_path, "--to", carol.cert_path, "--sender-cert", alice.cert_path]
    encrypted = ok(run_cli(*args, "--cipher", "aes256-gcm", input=message(alice.email, "utf8")), "encrypt")
    (tmp_path / "enc.eml").write_bytes(encrypted)
    for user in (bob, carol, alice):
        plain = openssl_cms("-decrypt", "-recip", user.cert_path, "-inkey", user.key_path, "-in", tmp_path / "enc.eml")
        assert_canonical_text(plain, "utf8", f"openssl -decrypt as {user.name}")
    eve = pki.user("eve")
    refused = openssl_cms_proc("-decrypt", "-recip", eve.cert_path, "-inkey", eve.key_path, "-in", tmp_path / "enc.eml")
    assert refused.returncode != 0, "a non-recipient must not decrypt"


# -- openssl encrypts, mailseal decrypts ------------------------------------------------------------------


def openssl_encrypt(
    recipients: list[tuple[User, list[str]]], cipher: str, tmp_path: Path, *, der: bool = False
) -> bytes:
    (tmp_path / "part.txt").write_bytes(entity("utf8"))
    args: list[str | Path] = ["-encrypt", "-binary", "-in", tmp_path / "part.txt", f"-{cipher}"]
    for user, keyopts in recipients:
        args += ["-recip", user.cert_path]
        for opt in keyopts:
            args += ["-keyopt", opt]
    args += ["-outform", "DER"] if der else ["-crlfeol"]
    return openssl_cms(*args)


OAEP256 = ["rsa_padding_mode:oaep", "rsa_oaep_md:sha256"]
KDF256 = ["ecdh_kdf_md:sha256"]


@pytest.mark.parametrize(
    ("key_type", "keyopts", "cipher"),
    [
        pytest.param("rsa2048", [], "aes-256-gcm", id="rsa-pkcs1-aes256-gcm"),
        pytest.param("rsa2048", [], "aes-128-gcm", id="rsa-pkcs1-aes128-gcm"),
        pytest.param("rsa2048", [], "aes-256-cbc", id="rsa-pkcs1-aes256-cbc"),
        pytest.param("rsa2048", [], "aes-128-cbc", id="rsa-pkcs1-aes128-cbc"),
        pytest.param("rsa2048", OAEP256, "aes-256-gcm", id="rsa-oaep-sha256-aes256-gcm"),
        pytest.param("rsa2048", OAEP256, "aes-128-cbc", id="rsa-oaep-sha256-aes128-cbc"),
        pytest.param("ec-p256", [], "aes-256-gcm", id="ecdh-p256-sha1kdf-aes256-gcm"),
        pytest.param("ec-p256", KDF256, "aes-128-cbc", id="ecdh-p256-sha256kdf-aes128-cbc"),
        pytest.param("ec-p384", [], "aes-256-cbc", id="ecdh-p384-sha1kdf-aes256-cbc"),
        pytest.param("ec-p384", KDF256, "aes-256-gcm", id="ecdh-p384-sha256kdf-aes256-gcm"),
        pytest.param("ec-p384", KDF256, "aes-128-gcm", id="ecdh-p384-sha256kdf-aes128-gcm"),
        pytest.param("ec-p521", ["ecdh_kdf_md:sha512"], "aes-256-cbc", id="ecdh-p521-sha512kdf-aes256-cbc"),
        pytest.param("ec-p256", ["ecdh_cofactor_mode:1", *KDF256], "aes-256-gcm", id="ecdh-cofactor-p256-sha256kdf-aes256-gcm"),
        pytest.param("rsa2048", ["rsa_padding_mode:oaep"], "aes-256-gcm", id="rsa-oaep-sha1-aes256-gcm"),
    ],
)
def test_openssl_encrypts_mailseal_decrypts(
    key_type: str, keyopts: list[str], cipher: str, pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    bob = pki.user("bob", key_type)
    alice = pki.user("alice")
    encrypted = with_headers(openssl_encrypt([(bob, keyopts)], cipher, tmp_path), alice.email, bob.email)
    proc = run_cli("decrypt", "--key", bob.key_path, "--cert", bob.cert_path, input=encrypted)
    plain = ok(proc, "mailseal decrypt")
    assert b"Subject: mailseal interop with openssl" in header_block(plain), "outer headers are kept"
    assert b"application/pkcs7-mime" not in header_block(plain).lower()
    for line in BODY_LINES["utf8"]:
        assert line + b"\r\n" in plain, f"{line!r} missing from mailseal's plaintext: {plain!r}"


@pytest.mark.parametrize(
    ("mine", "keyopts"),
    [
        pytest.param("rsa2048", OAEP256, id="rsa-oaep-third-of-three-aes256-gcm"),
        pytest.param("ec-p256", KDF256, id="ecdh-p256-third-of-three-aes256-gcm"),
        pytest.param("rsa2048", [], id="rsa-pkcs1-third-of-three-aes256-gcm"),
    ],
)
def test_openssl_encrypts_several_recipients_mailseal_decrypts(
    mine: str, keyopts: list[str], pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    carol, dave, bob = pki.user("carol"), pki.user("dave", "ec-p384"), pki.user("bob", mine)
    recipients = [(carol, []), (dave, []), (bob, keyopts)]
    encrypted = with_headers(openssl_encrypt(recipients, "aes-256-gcm", tmp_path), carol.email, bob.email)
    plain = ok(run_cli("decrypt", "--key", bob.key_path, "--cert", bob.cert_path, input=encrypted), "decrypt")
    assert UTF8_BODY in plain


def test_openssl_encrypts_bare_der_mailseal_decrypts_rsa_pkcs1_aes256_cbc(
    pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    bob = pki.user("bob")
    der = openssl_encrypt([(bob, [])], "aes-256-cbc", tmp_path, der=True)
    assert der[:1] == b"\x30"
    plain = ok(run_cli("decrypt", "--key", bob.p12_path, "--pass", "pass:test", input=der), "decrypt DER")
    assert plain == entity("utf8"), "a bare CMS object decrypts to exactly the encrypted content"


def test_openssl_encrypts_mailseal_refuses_wrong_key_rsa_aes256_gcm(
    pki: TestPKI, run_cli: RunCli, tmp_path: Path
) -> None:
    bob, eve = pki.user("bob"), pki.user("eve")
    encrypted = with_headers(openssl_encrypt([(bob, [])], "aes-256-gcm", tmp_path), "alice@example.org")
    proc = run_cli("decrypt", "--key", eve.key_path, "--cert", eve.cert_path, input=encrypted)
    assert proc.returncode == 1, proc.stderr
    assert UTF8_BODY not in proc.stdout
    assert re.fullmatch(rb"mailseal: error\[[^\]]+\]: [^\n]+\n?", proc.stderr), proc.stderr
