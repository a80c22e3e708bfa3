"""Drive NSS's ``certutil``/``pk12util``/``cmsutil`` non-interactively for interop tests.

``Nss`` is a context manager owning a throw-away ``sql:`` database with an empty password.  Every
subprocess has a timeout and reads nothing from a terminal.

How ``cmsutil -D`` reports (NSS 3.87, checked here):
- without ``-h``: exit 0 and the content on stdout when every signature is good and trusted; exit 1 with
  ``signer 0 status = DigestMismatch`` (or ``SigningCertNotTrusted``...) and ``SEC_ERROR_*`` on stderr
  otherwise;
- with ``-h N``: always exit 0 (!), a header block ``signer0.status=GoodSignature;`` per signer on stdout.
``decode`` therefore runs both and needs both to agree before it calls a signature good.

Limits of NSS 3.87 found here: no AuthEnvelopedData (AES-GCM), no RSA-OAEP key transport
(``SEC_ERROR_UNSUPPORTED_KEYALG``), no ECDH key agreement (encrypting to an EC certificate gives
``SEC_ERROR_INVALID_ALGORITHM``, decrypting one ``SEC_ERROR_BAD_DER``).  ECDSA signing and verifying work.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tests.support.gpgsm import PeerError, PeerLacksFeature

TIMEOUT = 30.0

__all__ = ["DecodeResult", "Nss", "PeerError", "PeerLacksFeature"]


@dataclass
class Proc:
    returncode: int
    stdout: bytes
    stderr: str

    def describe(self) -> str:
        return f"exit {self.returncode}\nstderr:\n{self.stderr}"


@dataclass
class DecodeResult:
    proc: Proc  # the plain ``-D`` run (exit code, content)
    statuses: list[str] = field(default_factory=list)  # signerN.status values from the ``-h`` run
    types: list[str] = field(default_factory=list)  # CMS content types, outermost first

    @property
    def content(self) -> bytes:
        return self.proc.stdout

    @property
    def good(self) -> bool:
        """Signed, every signer GoodSignature, and cmsutil exited 0."""
        return self.proc.returncode == 0 and bool(self.statuses) and all(s == "GoodSignature" for s in self.statuses)

    def describe(self) -> str:
        return f"{self.proc.describe()}\nstatuses: {self.statuses}\ntypes: {self.types}"


class Nss:
    """A throw-away NSS database.  Use as ``with Nss() as n: ...``."""

    def __init__(self) -> None:
        for tool in ("certutil", "pk12util", "cmsutil"):
            if shutil.which(tool) is None:
                raise PeerError(f"{tool} is not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="n", dir="/tmp"))
        self.db = f"sql:{self.dir}"
        self._n = 0
        self._run(["certutil", "-N", "-d", self.db, "--empty-password"], check=True)

    def __enter__(self) -> Nss:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # plumbing ----------------------------------------------------------------------------------
    def _tmp(self, suffix: str) -> Path:
        self._n += 1
        return self.dir / f"f{self._n}{suffix}"

    def _run(self, cmd: list[str], check: bool = False) -> Proc:
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PeerError(f"timed out: {cmd}") from exc
        proc = Proc(p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))
        if check and proc.returncode != 0:
            raise PeerError(f"{' '.join(cmd)} failed:\n{proc.describe()}")
        return proc

    def key_nicknames(self) -> list[str]:
        proc = self._run(["certutil", "-K", "-d", self.db])
        names = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            m = re.match(r"<\s*\d+>\s+\S+\s+\S+\s+(.+)$", line.strip())
            if m:
                names.append(m.group(1).strip())
        return names

    # keys and certificates ---------------------------------------------------------------------
    def import_p12(self, path: Path, password: str) -> str:
        """Import key + certificates; returns the nickname of the new key's certificate."""
        before = set(self.key_nicknames())
        self._run(["pk12util", "-i", str(path), "-d", self.db, "-W", password], check=True)
        new = [n for n in self.key_nicknames() if n not in before]
        if len(new) != 1:
            raise PeerError(f"pk12util import of {path}: expected one new key, got {new}")
        return new[0]

    def add_cert(self, path: Path, nickname: str, trust: str = ",,") -> None:
        """Add one certificate (PEM or DER); ``trust="C,C,C"`` makes it a trusted CA."""
        self._run(["certutil", "-A", "-d", self.db, "-n", nickname, "-t", trust, "-i", str(path)], check=True)

    def trust_ca(self, path: Path, nickname: str = "test-root") -> None:
        self.add_cert(path, nickname, "C,C,C")

    # operations --------------------------------------------------------------------------------
    def sign(self, content: bytes, nickname: str, detached: bool = True, digest: str = "SHA256") -> bytes:
        src, out = self._tmp(".txt"), self._tmp(".p7s")
        src.write_bytes(content)
        cmd = [
            "cmsutil",
            "-S",
            "-d",
            self.db,
            "-N",
            nickname,
            "-H",
            digest,
            "-G",
            "-i",
            str(src),
            "-o",
            str(out),
        ]
        if detached:
            cmd.append("-T")
        self._run(cmd, check=True)
        der = out.read_bytes()
        if not der:
            raise PeerError("cmsutil -S wrote nothing")
        return der

    def encrypt(self, content: bytes, recipient: str) -> bytes:
        """DER EnvelopedData to ``recipient`` (nickname or e-mail address of a certificate in the db)."""
        src, out = self._tmp(".txt"), self._tmp(".p7m")
        src.write_bytes(content)
        proc = self._run(["cmsutil", "-E", "-d", self.db, "-r", recipient, "-i", str(src), "-o", str(out)])
        if "SEC_ERROR_INVALID_ALGORITHM" in proc.stderr:
            raise PeerLacksFeature(f"cmsutil cannot encrypt to {recipient}:\n{proc.describe()}")
        if proc.returncode != 0 or not out.exists() or not out.stat().st_size:
            raise PeerError(f"cmsutil -E failed:\n{proc.describe()}")
        return out.read_bytes()

    def decode(self, cms: bytes, detached_content: bytes | None = None) -> DecodeResult:
        """``cmsutil -D``: decrypt and/or verify; returns exit code, content and signer statuses."""
        src = self._tmp(".p7")
        src.write_bytes(cms)
        base = ["cmsutil", "-D", "-d", self.db, "-i", str(src)]
        if detached_content is not None:
            data = self._tmp(".txt")
            data.write_bytes(detached_content)
            base += ["-c", str(data)]
        plain = self._run(base)
        info = self._run([*base, "-h", "9", "-n"])
        header = info.stdout.decode("utf-8", "replace")
        statuses = re.findall(r"signer\d+\.status=([A-Za-z]+);", header)
        types = re.findall(r"type=([A-Za-z]+);", header)
        return DecodeResult(plain, statuses, types)
