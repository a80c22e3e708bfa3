"""A throwaway OpenLDAP ``slapd`` for tests: slapd.conf in a temporary directory, mdb backend, 127.0.0.1 only.

Needs the Debian ``slapd`` package (schemas in /etc/ldap/schema: core, cosine, inetorgperson). The server logs
``stats`` to a file so that tests can count the searches it received. Skips when slapd is missing, fails under
``MAILSEAL_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import ldap3
import pytest

from tests.support.processes import terminate

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "test-secret"
SCHEMA_DIR = Path("/etc/ldap/schema")
START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_slapd() -> str:
    """Path of slapd; skip when it (or its schemas) is missing, fail when MAILSEAL_REQUIRE_PEERS=1."""
    path = shutil.which("slapd") or ("/usr/sbin/slapd" if os.access("/usr/sbin/slapd", os.X_OK) else None)
    if path is not None and (SCHEMA_DIR / "inetorgperson.schema").exists():
        return path
    message = "peer slapd not installed (Debian packages slapd ldap-utils)"
    if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
        pytest.fail(f"{message}, and MAILSEAL_REQUIRE_PEERS=1")
    pytest.skip(message)


def _module_path() -> str | None:
    for candidate in ("/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap", "/usr/lib/aarch64-linux-gnu/ldap"):
        if Path(candidate, "back_mdb.la").exists() or Path(candidate, "back_mdb.so").exists():
            return candidate
    return None


class Slapd:
    """slapd on 127.0.0.1 and a free port; ``add_person`` loads entries, ``searches()`` counts SRCH operations."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="mailseal-slapd-"))
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.log = self.root / "slapd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        db = self.root / "db"
        db.mkdir()
        modules = _module_path()
        lines = [f"include {SCHEMA_DIR / name}.schema" for name in ("core", "cosine", "inetorgperson")]
        lines += [f"pidfile {self.root / 'slapd.pid'}", f"argsfile {self.root / 'slapd.args'}"]
        if modules is not None:
            lines += [f"modulepath {modules}", "moduleload back_mdb"]
        lines += [
            "database mdb", f'suffix "{SUFFIX}"', f'rootdn "{ROOT_DN}"', f"rootpw {ROOT_PW}",
            f"directory {db}", "maxsize 10485760", "index mail eq",
            # Anonymous read, as an address book published to mail clients is.
            "access to * by * read",
        ]
        conf = self.root / "slapd.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        conf = self._config()
        test = subprocess.run([self.binary, "-T", "test", "-u", "-f", str(conf)], capture_output=True, timeout=30,
                              check=False)
        if test.returncode:
            raise RuntimeError(f"slaptest failed: {test.stderr.decode(errors='replace')[-800:]}")
        with self.log.open("wb") as log:
            # -d stats keeps slapd in the foreground and logs every operation (SRCH lines) to stderr.
            self.proc = subprocess.Popen([self.binary, "-f", str(conf), "-h", self.url + "/", "-d", "stats"],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited ({self.proc.returncode}): {self.log.read_text(errors='replace')[-800:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("slapd did not start listening in time")
        with self.admin() as conn:
            conn.add(SUFFIX, ["dcObject", "organization"], {"dc": "example", "o": "mailseal tests"})  # type: ignore[no-untyped-call]
            conn.add(f"ou=people,{SUFFIX}", ["organizationalUnit"], {"ou": "people"})  # type: ignore[no-untyped-call]

    def admin(self) -> ldap3.Connection:
        server = ldap3.Server(self.url, connect_timeout=5, get_info=ldap3.NONE)
        return ldap3.Connection(server, user=ROOT_DN, password=ROOT_PW, auto_bind=ldap3.AUTO_BIND_NO_TLS,
                                receive_timeout=5, raise_exceptions=True)

    def add_person(self, uid: str, mail: str, *, smime: list[bytes] | None = None,
                   user_certificate: list[bytes] | None = None) -> str:
        """Add an inetOrgPerson with ``mail`` and certificate values; returns its DN."""
        dn = f"uid={uid},ou=people,{SUFFIX}"
        attrs: dict[str, object] = {"uid": uid, "cn": uid, "sn": uid, "mail": mail}
        if smime:
            attrs["userSMIMECertificate"] = smime
        if user_certificate:
            attrs["userCertificate;binary"] = user_certificate
        with self.admin() as conn:
            conn.add(dn, ["inetOrgPerson"], attrs)  # type: ignore[no-untyped-call]
        return dn

    def searches(self) -> int:
        """How many search operations slapd has logged so far (the admin's own adds are not searches)."""
        return sum(1 for line in self.log.read_text(errors="replace").splitlines() if " SRCH base=" in line)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
