"""Drive GnuPG's ``gpgsm`` non-interactively for interop tests.

``Gpgsm`` is a context manager owning a throw-away ``GNUPGHOME`` (short path under /tmp: the gpg-agent
socket path has a length limit).  Every subprocess has a timeout and reads no terminal; results are judged
from ``--status-fd`` lines and exit codes, never from translated messages.  The agent (and dirmngr, if one
started) is killed on exit.

Facts for gpgsm 2.2.40 (Debian 12), checked here:
- default content cipher for ``--encrypt`` is AES-128-CBC; ``--cipher-algo AES256`` selects AES-256-CBC;
- it decrypts RSA PKCS#1 v1.5 key transport only (RSA-OAEP: "error getting encrypted session key");
- it verifies ECDSA signatures, but importing an EC PKCS#12 segfaults, and it refuses EC recipients
  ("Wrong key usage"), so it can neither sign with ECDSA nor do ECDH;
- only legacy (3DES/RC2) PKCS#12 files import.

The module also holds small S/MIME message helpers shared by the gpgsm and NSS interop tests
(splitting a multipart/signed message into signed entity + signature, wrapping peer output in messages).
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

TIMEOUT = 30.0


class PeerError(RuntimeError):
    """A peer command failed in a way the test did not ask for."""


class PeerLacksFeature(PeerError):
    """The peer cannot do what was asked (a limitation of that peer version, not a mailseal bug)."""


# --------------------------------------------------------------------------------------------------
# Certificate helpers
# --------------------------------------------------------------------------------------------------


def load_certs(path: Path) -> list[x509.Certificate]:
    """All certificates of a PEM bundle or a single DER certificate."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def sha1_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def cert_email(path: Path) -> str:
    """The first rfc822Name of the (first) certificate in ``path``."""
    cert = load_certs(path)[0]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        names = []
    if not names:
        attrs = cert.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS)
        names = [str(a.value) for a in attrs]
    if not names:
        raise ValueError(f"{path}: certificate has no e-mail address")
    return names[0]


# --------------------------------------------------------------------------------------------------
# gpgsm driver
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    status: list[list[str]]  # ``[GNUPG:] KEYWORD args...`` lines, split, without the prefix
    stderr: str
    output: bytes = b""

    def keywords(self) -> list[str]:
        return [line[0] for line in self.status if line]

    def describe(self) -> str:
        status = "\n".join(" ".join(s) for s in self.status)
        return f"exit {self.returncode}\nstatus:\n{status}\nstderr:\n{self.stderr}"


@dataclass
class VerifyResult:
    run: Run
    content: bytes = b""  # the encapsulated content (opaque signatures only)
    signers: list[str] = field(default_factory=list)  # GOODSIG user ids

    @property
    def good(self) -> bool:
        """Exit 0, at least one GOODSIG + VALIDSIG, no BADSIG/ERRSIG/EXPSIG..."""
        kw = self.run.keywords()
        bad = {"BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG"}
        return self.run.returncode == 0 and "GOODSIG" in kw and "VALIDSIG" in kw and not bad.intersection(kw)

    @property
    def bad_signature(self) -> bool:
        return "BADSIG" in self.run.keywords()

    @property
    def trusted(self) -> bool:
        return "TRUST_FULLY" in self.run.keywords() or "TRUST_ULTIMATE" in self.run.keywords()


class Gpgsm:
    """A throw-away gpgsm home.  Use as ``with Gpgsm() as g: ...``."""

    def __init__(self) -> None:
        if shutil.which("gpgsm") is None:
            raise PeerError("gpgsm is not installed")
        # Short path: gpg-agent's socket lives here when /run/user/UID is absent (108-byte limit).
        self.home = Path(tempfile.mkdtemp(prefix="g", dir="/tmp"))
        self.home.chmod(0o700)
        (self.home / "gpgsm.conf").write_text("disable-crl-checks\ndisable-dirmngr\n")
        (self.home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
        (self.home / "trustlist.txt").write_text("")
        self._env = {**os.environ, "GNUPGHOME": str(self.home), "LC_ALL": "C", "LANGUAGE": "C"}
        self._env.pop("GPG_AGENT_INFO", None)
        self._n = 0

    # context management ------------------------------------------------------------------------
    def __enter__(self) -> Gpgsm:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for component in ("gpg-agent", "dirmngr"):
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    ["gpgconf", "--kill", component],
                    env=self._env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
        shutil.rmtree(self.home, ignore_errors=True)

    # plumbing ----------------------------------------------------------------------------------
    def _tmp(self, suffix: str) -> Path:
        self._n += 1
        return self.home / f"f{self._n}{suffix}"

    def _run(self, args: list[str], passphrase: str | None = None, out: Path | None = None) -> Run:
        cmd = ["gpgsm", "--batch", "--no-tty", "--status-fd", "1"]
        if passphrase is not None:
            cmd += ["--pinentry-mode", "loopback", "--passphrase-fd", "0"]
        cmd += args
        try:
            proc = subprocess.run(
                cmd,
                input=(passphrase + "\n").encode() if passphrase is not None else b"",
                capture_output=True,
                env=self._env,
                timeout=TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PeerError(f"gpgsm timed out: {cmd}") from exc
        status = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            if line.startswith("[GNUPG:] "):
                status.append(line[len("[GNUPG:] ") :].split())
        output = out.read_bytes() if out is not None and out.exists() else b""
        return Run(proc.returncode, status, proc.stderr.decode("utf-8", "replace"), output)

    # keys and certificates ---------------------------------------------------------------------
    def import_p12(self, path: Path, passphrase: str) -> Run:
        """Import a legacy PKCS#12 (key + certificates).  Raises PeerLacksFeature for EC keys on 2.2.

        gpgsm 2.2.40 cannot decrypt the key bag of some legacy PKCS#12 files that OpenSSL and pyca read without
        trouble; which ones depends on the random salt (1 of 52 in a trial). Such a file is encoded again, with
        a fresh salt, and imported once more: the setup step, not the interoperability under test."""
        run = self._run(["--import", str(path)], passphrase=passphrase)
        for _attempt in range(4):
            if run.returncode == 0 or "decryption failed" not in run.stderr:
                break
            again = self._tmp(".p12")
            again.write_bytes(_reencoded_legacy_p12(path.read_bytes(), passphrase))
            run = self._run(["--import", str(again)], passphrase=passphrase)
        if run.returncode < 0 or run.returncode > 128:  # killed by a signal (segfault on EC keys)
            raise PeerLacksFeature(f"gpgsm crashed importing {path.name}:\n{run.describe()}")
        if run.returncode != 0 or "IMPORT_OK" not in run.keywords():
            raise PeerError(f"gpgsm could not import {path}:\n{run.describe()}")
        if "IMPORT_PROBLEM" in run.keywords():
            raise PeerError(f"gpgsm import problem for {path}:\n{run.describe()}")
        return run

    def import_certs(self, *paths: Path) -> None:
        for path in paths:
            run = self._run(["--import", str(path)])
            if run.returncode != 0:
                raise PeerError(f"gpgsm could not import {path}:\n{run.describe()}")

    def trust_root(self, path: Path) -> str:
        """Import the root certificate(s) of ``path`` and mark them trusted (``FPR S relax``)."""
        self.import_certs(path)
        fprs = [sha1_fingerprint(c) for c in load_certs(path)]
        with (self.home / "trustlist.txt").open("a") as fh:
            for fpr in fprs:
                fh.write(f"{fpr} S relax\n")
        return fprs[0]

    # operations --------------------------------------------------------------------------------
    def sign(self, content: bytes, signer_cert: Path, passphrase: str, detached: bool = True) -> bytes:
        """DER SignedData over ``content`` (exact bytes), by the key of ``signer_cert``."""
        src, out = self._tmp(".txt"), self._tmp(".p7s")
        src.write_bytes(content)
        fpr = sha1_fingerprint(load_certs(signer_cert)[0])
        mode = "--detach-sign" if detached else "--sign"
        run = self._run(["-u", fpr, mode, "-o", str(out), str(src)], passphrase=passphrase, out=out)
        if run.returncode != 0 or "SIG_CREATED" not in run.keywords() or not run.output:
            raise PeerError(f"gpgsm sign failed:\n{run.describe()}")
        return run.output

    def verify(self, signature: bytes, content: bytes | None = None) -> VerifyResult:
        """Verify a DER/PEM signature; detached when ``content`` is given, else opaque."""
        sig = self._tmp(".p7s")
        sig.write_bytes(signature)
        if content is not None:
            data = self._tmp(".txt")
            data.write_bytes(content)
            run = self._run(["--verify", str(sig), str(data)])
            result = VerifyResult(run)
        else:
            out = self._tmp(".out")
            run = self._run(["--verify", "-o", str(out), str(sig)], out=out)
            result = VerifyResult(run, content=run.output)
        result.signers = [" ".join(s[2:]) for s in run.status if s and s[0] == "GOODSIG"]
        return result

    def encrypt(self, content: bytes, recipient_cert: Path, cipher: str | None = None) -> bytes:
        """DER EnvelopedData of ``content`` to ``recipient_cert`` (imported first)."""
        self.import_certs(recipient_cert)
        src, out = self._tmp(".txt"), self._tmp(".p7m")
        src.write_bytes(content)
        fpr = sha1_fingerprint(load_certs(recipient_cert)[0])
        args = ["-r", fpr]
        if cipher is not None:
            args += ["--cipher-algo", cipher]
        run = self._run([*args, "--encrypt", "-o", str(out), str(src)], out=out)
        if "INV_RECP" in run.keywords():
            raise PeerLacksFeature(f"gpgsm refuses recipient {recipient_cert.name}:\n{run.describe()}")
        if run.returncode != 0 or not run.output:
            raise PeerError(f"gpgsm encrypt failed:\n{run.describe()}")
        return run.output

    def decrypt(self, envelope: bytes, passphrase: str) -> Run:
        """Decrypt DER EnvelopedData; ``.output`` holds the plaintext, DECRYPTION_OKAY marks success."""
        src, out = self._tmp(".p7m"), self._tmp(".out")
        src.write_bytes(envelope)
        return self._run(["--decrypt", "-o", str(out), str(src)], passphrase=passphrase, out=out)


# --------------------------------------------------------------------------------------------------
# S/MIME message helpers (shared by the gpgsm and NSS interop tests)
# --------------------------------------------------------------------------------------------------

BOUNDARY = "----=_mailseal_interop_7f3a"


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def split_multipart_signed(raw: bytes) -> tuple[bytes, bytes]:
    """(signed entity bytes, DER signature) of a multipart/signed message.

    The entity is the exact byte range between the first boundary line and the line break before the
    next boundary, as RFC 1847 defines it.  Should the message use bare LF line ends, the entity is
    canonicalised to CRLF, as a receiving agent would.
    """
    msg = parse(raw)
    if msg.get_content_type() != "multipart/signed":
        raise ValueError(f"not multipart/signed: {msg.get_content_type()}")
    boundary = msg.get_boundary()
    if boundary is None:
        raise ValueError("multipart/signed without boundary")
    delim = re.escape(b"--" + boundary.encode("ascii"))
    m = re.search(rb"(?:^|\r?\n)" + delim + rb"[ \t]*\r?\n(.*?)\r?\n" + delim, raw, re.S)
    if m is None:
        raise ValueError("cannot find the signed entity between boundaries")
    entity = m.group(1)
    entity = re.sub(rb"(?<!\r)\n", b"\r\n", entity)
    parts = msg.get_payload()
    if not isinstance(parts, list) or len(parts) != 2:
        raise ValueError("multipart/signed must have exactly two parts")
    sig_part = parts[1]
    if not isinstance(sig_part, Message):
        raise ValueError("malformed signature part")
    if sig_part.get_content_type() not in ("application/pkcs7-signature", "application/x-pkcs7-signature"):
        raise ValueError(f"second part is {sig_part.get_content_type()}")
    sig = sig_part.get_payload(decode=True)
    if not isinstance(sig, bytes) or not sig:
        raise ValueError("empty signature part")
    return entity, sig


def pkcs7_mime_der(raw: bytes) -> tuple[str, bytes]:
    """(smime-type, DER) of an application/pkcs7-mime message."""
    msg = parse(raw)
    if msg.get_content_type() not in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        raise ValueError(f"not application/pkcs7-mime: {msg.get_content_type()}")
    der = msg.get_payload(decode=True)
    if not isinstance(der, bytes) or not der:
        raise ValueError("empty application/pkcs7-mime body")
    return str(msg.get_param("smime-type") or ""), der


def _b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def _headers(sender: str, to: str, subject: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    ).encode("ascii")


def entity(body: str) -> bytes:
    """A small text/plain MIME entity in canonical (CRLF) form, as a signer would sign it."""
    lines = "\r\n".join(body.splitlines())
    return (
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + lines + "\r\n"
    ).encode("utf-8")


def message(body: str, sender: str, to: str, subject: str = "interop") -> bytes:
    """An RFC 5322 message (input for ``mailseal sign``/``encrypt``)."""
    return _headers(sender, to, subject) + entity(body)


def wrap_detached(signed_entity: bytes, signature: bytes, sender: str, to: str) -> bytes:
    """A multipart/signed message around a peer's detached DER signature."""
    delim = b"--" + BOUNDARY.encode("ascii")
    head = (
        'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;\r\n'
        f' boundary="{BOUNDARY}"\r\n\r\nThis is an S/MIME signed message\r\n\r\n'
    ).encode("ascii")
    sig_headers = (
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n'
    )
    return b"".join(
        [
            _headers(sender, to, "interop detached"),
            head,
            delim + b"\r\n" + signed_entity + b"\r\n",
            delim + b"\r\n" + sig_headers + _b64(signature) + b"\r\n\r\n",
            delim + b"--\r\n",
        ]
    )


def wrap_pkcs7_mime(der: bytes, smime_type: str, sender: str, to: str) -> bytes:
    """An application/pkcs7-mime message (signed-data or enveloped-data) around a peer's DER output."""
    return (
        _headers(sender, to, f"interop {smime_type}")
        + f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"\r\n'.encode()
        + b"Content-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
        + _b64(der)
        + b"\r\n"
    )


def _reencoded_legacy_p12(data: bytes, passphrase: str) -> bytes:
    """The same key and certificates as a new legacy (3DES, SHA-1 MAC) PKCS#12 with a fresh random salt."""
    key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase.encode())
    if key is None:
        raise PeerError("the PKCS#12 file holds no usable private key")
    builder = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
    )
    return pkcs12.serialize_key_and_certificates(b"key", key, cert, extra, builder.build(passphrase.encode()))
