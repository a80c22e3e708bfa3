"""`mailseal init --system`: the system layout of a gateway: account, settings and secrets, data directory."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import click

from ..errors import UsageError
from .common import handle_errors

#: What `init --system` creates, as docs/deploy.md ("Install") describes it.
CONFIG_DIR = Path("/etc/mailseal")
DATA_DIR = Path("/var/lib/mailseal")
USER = "mailseal"
SETTINGS_FILE = "mailseal.toml"
PASSPHRASE_FILE = "store-passphrase"

STARTER_SETTINGS = """\
# mailseal gateway settings (docs/gateway.md, docs/deploy.md). Check with:
#   mailseal serve --config {config} --check-config
[gateway]
listen = "127.0.0.1:10025"           # Postfix's "mailseal" transport connects here (docs/deploy.md, mode a)
next_hop = "127.0.0.1:10026"         # Postfix's re-injection listener
hostname = "{hostname}"
accepted_domains = ["example.org"]   # replace with the organisation's own domains
trusted_networks = ["127.0.0.0/8"]

[gateway.outbound_tls]
mode = "none"                        # the next hop is Postfix on loopback

[policy]
sign = "if-key"                      # sign outgoing mail when the sender has a key in the store
"""


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int
    text: str


def _account(user: str, home: Path, report: list[str], create: bool) -> tuple[int, int]:
    """The system account ``user`` (uid, gid), created with ``useradd --system`` when absent."""
    try:
        entry = pwd.getpwnam(user)
        report.append(f"ok      the user {user} exists (uid {entry.pw_uid})")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        pass
    if not create:
        raise UsageError(f"there is no user {user}: create it, or leave out --no-create-user")
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    done = subprocess.run([useradd, "--system", "--user-group", "--home-dir", str(home), "--no-create-home",
                           "--shell", shell, "--comment", "mailseal gateway", user],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UsageError(f"useradd could not create the user {user}: {done.stderr.strip()}")
    entry = pwd.getpwnam(user)
    report.append(f"created the system user {user} (uid {entry.pw_uid})")
    return entry.pw_uid, entry.pw_gid


def _settle(path: Path, owner: Owner, mode: int, report: list[str], what: str, created: bool) -> None:
    """Give ``path`` its owner and mode; say what was done (or that nothing was)."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"{path} is a symbolic link: mailseal init does not follow it")
    fixes = []
    if (st.st_uid, st.st_gid) != (owner.uid, owner.gid):
        os.chown(path, owner.uid, owner.gid)
        fixes.append(f"owner {owner.text}")
    if stat.S_IMODE(st.st_mode) != mode:
        path.chmod(mode)
        fixes.append(f"mode {mode:04o}")
    if created:
        report.append(f"created {what} {path} ({owner.text} {mode:04o})")
    elif fixes:
        report.append(f"fixed   {what} {path}: {', '.join(fixes)}")
    else:
        report.append(f"ok      {what} {path} ({owner.text} {mode:04o})")


def _directory(path: Path, owner: Owner, mode: int, report: list[str]) -> None:
    created = not path.exists()
    if created:
        path.mkdir(parents=True, mode=0o700)
    elif not path.is_dir():
        raise UsageError(f"{path} exists and is not a directory")
    _settle(path, owner, mode, report, "directory", created)


def _file(path: Path, content: bytes, owner: Owner, mode: int, report: list[str]) -> None:
    """Write ``content`` when the file does not exist (an existing one is never overwritten: it may hold the
    passphrase the store's keys are sealed with); O_EXCL and the mode from the start, so no secret is ever
    readable by others."""
    created = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        created = True
        with os.fdopen(fd, "wb") as out:
            out.write(content)
    _settle(path, owner, mode, report, "file", created)


def initialise(config_dir: Path, data_dir: Path, user: str, create_user: bool = True) -> list[str]:
    """Create (or check) the system layout; the report, one line per item. Idempotent: existing files are kept,
    only a wrong owner or mode is corrected."""
    report: list[str] = []
    uid, gid = _account(user, data_dir, report, create_user)
    group = grp.getgrgid(gid).gr_name
    root_group = Owner(0, gid, f"root:{group}")
    _directory(config_dir, root_group, 0o750, report)
    settings = config_dir / SETTINGS_FILE
    _file(settings, STARTER_SETTINGS.format(config=settings, hostname=socket.getfqdn()).encode(), root_group, 0o640,
          report)
    # 32 random bytes as 64 hex digits and a line end (the store ignores one trailing line end): readable text
    # that survives copying, `systemd-creds`, and `MAILSEAL_STORE_KEYFILE`.
    _file(config_dir / PASSPHRASE_FILE, (secrets.token_hex(32) + "\n").encode(), root_group, 0o640, report)
    _directory(data_dir, Owner(uid, gid, f"{user}:{group}"), 0o700, report)
    return report


@click.command("init")
@click.option("--system", "system", is_flag=True,
              help="Create the system layout for `mailseal serve` under systemd (needs root).")
@click.option("--prefix", type=click.Path(file_okay=False), default="/", show_default=True,
              help="Create everything under this folder instead of / (for packaging and tests).")
@click.option("--config-dir", type=click.Path(file_okay=False), default=str(CONFIG_DIR), show_default=True,
              help="Settings and secrets (inside --prefix).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=str(DATA_DIR), show_default=True,
              help="The data directory, $MAILSEAL_HOME of the service (inside --prefix).")
@click.option("--user", default=USER, show_default=True, help="The system account the gateway runs as.")
@click.option("--no-create-user", is_flag=True, help="Refuse to run when the account does not exist.")
@handle_errors
def init_cmd(system: bool, prefix: str, config_dir: str, data_dir: str, user: str, no_create_user: bool) -> None:
    """Prepare a machine for the gateway: the system account, /etc/mailseal (settings, store passphrase) and
    /var/lib/mailseal (data). Running it again changes nothing that is in place and says so."""
    if not system:
        raise UsageError("only the system layout is supported: mailseal init --system (as root)")
    if os.geteuid() != 0:
        raise UsageError("mailseal init --system must run as root (it creates a user and sets owners)")
    root = Path(prefix).absolute()

    def under_prefix(path: str) -> Path:
        return root / Path(path).relative_to(Path(path).anchor)

    report = initialise(under_prefix(config_dir), under_prefix(data_dir), user, create_user=not no_create_user)
    for line in report:
        click.echo(line)
    if all(line.startswith("ok") for line in report):
        click.echo("nothing to do: everything is in place")
