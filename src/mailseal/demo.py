"""`make run`: the gateway on its embedded default, with a demo organisation and a local sink.

The data directory is ``--home DIR`` (``make run`` gives ``mailseal-data`` in the clone), else ``$MAILSEAL_HOME``,
else ``$XDG_DATA_HOME/mailseal``; below, HOME. First run: an internal CA in ``HOME/ca``, users alice@example.org
(RSA) and bob@example.org (ECDSA/ECDH P-256) with keys in the store, an outside partner carol@partner.example whose
certificate is in the directory (her key in ``HOME/demo/carol.p12`` so that you can read what she would receive),
the CA in the trust list and a settings file ``HOME/mailseal.toml``. Then SMTP on 127.0.0.1:2525 relays to a sink
on 127.0.0.1:2526 that writes every delivered message into ``HOME/sink/``, and the web console on
http://127.0.0.1:8443/ (docs/web.md) with the account ``admin``, whose password is generated at set-up and printed
once (``mailseal admins passwd admin`` makes a new one). ``--port``, ``--sink-port``, ``--metrics-port`` and
``--web-port`` choose other ports; they are written into the settings file, so a later run without them keeps
them.

The store passphrase of the demo is a random key file, ``HOME/demo/store.key``: fine for a demonstration,
not for real keys (use ``$MAILSEAL_STORE_PASSPHRASE`` or a key file kept elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import json
import os
import re
import secrets
import shlex
import smtplib
import sys
import time
import tomllib
import traceback
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from .cli.common import EXIT_NOT_VALID, EXIT_USAGE, NOT_VALID_CODES, fail
from .cli.serve import ListenFailure, is_listen_error, listen_error, start_listening
from .cms.identity import Identity
from .errors import ConfigurationError, ErrorCode, MailsealError

SMTP_PORT = 2525
SINK_PORT = 2526
METRICS_PORT = 9125
WEB_PORT = 8443
#: The console account the demo makes; its password is generated at set-up and printed once.
ADMIN = "admin"
USERS = (("alice@example.org", "rsa2048"), ("bob@example.org", "p256"))
PARTNER = "carol@partner.example"
#: An outside recipient without a certificate: the demo's policy sends mail for outside.example through the
#: recipient portal (docs/portal.md).
OUTSIDER = "dave@outside.example"
PORTAL_PORT = 8444
DEMO_PASSWORD = b"demo"

SETTINGS = """\
# mailseal demo settings (docs/gateway.md, docs/policy.md). Written by `make run`; edit freely.
[gateway]
listen = "127.0.0.1:{port}"
next_hop = "127.0.0.1:{sink_port}"
hostname = "mailseal.example.org"
accepted_domains = ["example.org"]
trusted_networks = ["127.0.0.0/8", "::1/128"]
max_message_size = "50M"
metrics_listen = "127.0.0.1:{metrics_port}"

[policy]
sign = "if-key"              # sign outbound mail of users whose keys are held
encrypt = "if-possible"      # encrypt when every recipient of a copy has a certificate
decrypt_inbound = true
verify_inbound = true
subject_tag_failed = "[S/MIME FAILED]"

[policy.smime]
encryption_algorithm = "aes256-gcm"
{web}{portal}"""

#: The console's table (docs/web.md): plain HTTP, which the console allows on loopback only.
WEB_TABLE = """
[web]
listen = "127.0.0.1:{web_port}"
"""


#: The recipient portal (docs/portal.md): outside.example has no certificates, so its mail goes to the portal.
PORTAL_TABLE = """
[policy.domains."outside.example"]
encrypt = "portal"           # a notification with a link instead of the message; read in the browser

[portal]
listen = "127.0.0.1:{portal_port}"
base_url = "http://127.0.0.1:{portal_port}/"
outbox_poll_seconds = 1

[portal.brands."example.org"]
background_colour = "#0b3d91"
introduction_text = "has sent you a protected message through Example Org's portal."
read_button_text = "Read the message"
"""


def _key_file(home: Path) -> Path:
    return home / "demo" / "store.key"


@dataclass(frozen=True)
class Ports:
    """The ports of the demo: the gateway's SMTP, the sink it relays to, its metrics, the web console, the
    recipient portal."""

    smtp: int = SMTP_PORT
    sink: int = SINK_PORT
    metrics: int = METRICS_PORT
    web: int = WEB_PORT
    portal: int = PORTAL_PORT


#: Where each port is set in the settings file, and the demo option that chooses it.
_PORT_KEYS = (("smtp", "listen", "--port"), ("sink", "next_hop", "--sink-port"), ("metrics", "metrics_listen",
                                                                                  "--metrics-port"))


def ports_in(settings_file: Path) -> Ports:
    """The ports a settings file the demo wrote names (the defaults for what it does not name)."""
    if not settings_file.is_file():
        return Ports()
    from .gateway.settings import parse_hostport

    try:
        table = tomllib.loads(settings_file.read_text(encoding="utf-8")).get("gateway", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the settings file {settings_file} is not valid TOML: {exc}") from None
    found = {field: parse_hostport(table[key], f"gateway.{key}")[1]
             for field, key, _option in _PORT_KEYS if key in table}
    tables = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    for name in ("web", "portal"):
        table = tables.get(name, {})
        if isinstance(table, dict) and "listen" in table:
            found[name] = parse_hostport(table["listen"], f"{name}.listen")[1]
    return Ports(**found)


def _with_table_lines(text: str, name: str, lines: dict[str, str]) -> str:
    """The settings text with the keys ``lines`` names set (a line replaced, else added) inside the table
    ``[name]`` when there is one; everything else kept as it is."""
    header = re.search(rf"^\[{name}\][ \t]*(#.*)?$", text, re.M)
    if header is None:
        return text
    following = re.search(r"^\s*\[", text[header.end():], re.M)
    end = header.end() + following.start() if following else len(text)
    table = text[header.end():end]
    for key, line in lines.items():
        table, found = re.subn(rf"^{key}[ \t]*=.*$", line, table, count=1, flags=re.M)
        if not found:
            table = f"\n{line}" + table
    return text[:header.end()] + table + text[end:]


def with_ports(text: str, ports: Ports) -> str:
    """The settings text with the [gateway] table's listen, next_hop and metrics_listen set to ``ports``, and the
    [web] and [portal] tables' listen (and the portal's base_url) when there are such tables; every other line
    (the user's edits included) is kept as it is."""
    text = _with_table_lines(text, "web", {"listen": f'listen = "127.0.0.1:{ports.web}"'})
    text = _with_table_lines(text, "portal", {"listen": f'listen = "127.0.0.1:{ports.portal}"',
                                              "base_url": f'base_url = "http://127.0.0.1:{ports.portal}/"'})
    header = re.search(r"^\[gateway\][ \t]*(#.*)?$", text, re.M)
    if header is None:
        text = text.rstrip("\n") + "\n\n[gateway]\n"
        header = re.search(r"^\[gateway\][ \t]*$", text, re.M)
        assert header is not None
    following = re.search(r"^\s*\[", text[header.end():], re.M)
    end = header.end() + following.start() if following else len(text)
    table = text[header.end():end]
    for field, key, _option in _PORT_KEYS:
        line = f'{key} = "127.0.0.1:{getattr(ports, field)}"'
        table, found = re.subn(rf"^{key}[ \t]*=.*$", line, table, count=1, flags=re.M)
        if not found:
            table = f"\n{line}" + table
    return text[:header.end()] + table + text[end:]


def setup(home: Path, ports: Ports = Ports()) -> bool:
    """Create the demo organisation in ``home`` unless it is there; True when it was created now. The settings
    file names ``ports`` either way (the ports given on a later run replace those of an earlier one)."""
    settings_file = home / "mailseal.toml"
    key_file = _key_file(home)
    os.environ["MAILSEAL_STORE_KEYFILE"] = str(key_file)
    if settings_file.exists() and key_file.exists():
        current = settings_file.read_text(encoding="utf-8")
        if re.search(r"^\[web\]", current, re.M) is None:  # made before the demo had a console
            current = current.rstrip("\n") + "\n" + WEB_TABLE.format(web_port=ports.web)
        if re.search(r"^\[portal\]", current, re.M) is None:  # made before the demo had a portal
            current = current.rstrip("\n") + "\n" + PORTAL_TABLE.format(portal_port=ports.portal)
        wanted = with_ports(current, ports)
        if wanted != settings_file.read_text(encoding="utf-8"):
            settings_file.write_text(wanted, encoding="utf-8")
        return False
    from .pki.authority import CertificateAuthority
    from .store.database import Store
    from .store.directory import Directory
    from .store.keystore import KeyStore
    from .store.trust import StoredTrust

    (home / "demo").mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    key_file.write_text(secrets.token_hex(32))
    key_file.chmod(0o600)
    passphrase = key_file.read_bytes()
    ca = CertificateAuthority.create("mailseal demo CA", passphrase, directory=home / "ca", key_type="p256")
    store = Store.open()
    try:
        # the store exists, so the trust list lives in it (docs/trust.md): the gateway and the CLI both read it
        StoredTrust(store).add([ca.certificate], actor="demo")
        keys = KeyStore(store, passphrase)
        for address, key_type in USERS:
            issued = ca.issue(address, usage="dual", key_type=key_type)
            keys.add(Identity(issued.key, issued.certificate, (ca.certificate,)), actor="demo")
        carol = ca.issue(PARTNER, usage="dual", key_type="rsa2048")
        assert isinstance(carol.key, rsa.RSAPrivateKey)
        Directory(store).add(carol.certificate, "imported", actor="demo")
        (home / "demo" / "carol.p12").write_bytes(pkcs12.serialize_key_and_certificates(
            b"carol", carol.key, carol.certificate, [ca.certificate],
            BestAvailableEncryption(DEMO_PASSWORD)))
    finally:
        store.close()
    settings_file.write_text(SETTINGS.format(port=ports.smtp, sink_port=ports.sink, metrics_port=ports.metrics,
                                             web=WEB_TABLE.format(web_port=ports.web),
                                             portal=PORTAL_TABLE.format(portal_port=ports.portal)))
    return True


def first_admin() -> str | None:
    """The console account ``admin`` with a generated password, unless it exists: the password (to print once;
    only its argon2id hash is kept), or None when the account was already there."""
    from .store.admins import Admins, generate_password
    from .store.database import Store

    store = Store.open()
    try:
        admins = Admins(store)
        if admins.get(ADMIN) is not None:
            return None
        password = generate_password()
        admins.add(ADMIN, password, "admin", actor="demo")
        return password
    finally:
        store.close()


def sample_message(sender: str, recipient: str, subject: str, text: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg["Date"] = formatdate(localtime=True)  # RFC 5322 §3.6: Date and From are the two required fields
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(text)
    return msg.as_bytes(policy=email.policy.SMTP)


def _mailseal_command() -> str:
    """How to run mailseal from any folder: the script beside this Python (the clone's .venv), else from PATH."""
    beside = Path(sys.executable).absolute().with_name("mailseal")
    return shlex.quote(str(beside)) if beside.is_file() else "mailseal"


def console_lines(home: Path, url: str, password: str | None) -> str:
    """The console's URL and account: the password when it was made on this run (it is never shown again)."""
    reset = f"{_mailseal_command()} --home {shlex.quote(str(home))} admins passwd {ADMIN}"
    if password is not None:
        return (f"web console: {url} user {ADMIN}, password {password}\n"
                f"(shown this once; a new one: {reset})")
    return f"web console: {url} user {ADMIN} (password printed when it was made; a new one: {reset})"


def instructions(home: Path, port: int, console: str = "", portal_port: int = PORTAL_PORT) -> str:
    """What `make run` prints: every command names the data directory in full, so it works from any folder."""
    q = shlex.quote
    hello, sink, carol = home / "demo" / "hello.eml", home / "sink", home / "demo" / "carol.p12"
    mailseal = f"{_mailseal_command()} --home {q(str(home))}"
    send = (f"import smtplib; smtplib.SMTP(\"127.0.0.1\", {port}).sendmail(\"alice@example.org\", "
            f"[\"{PARTNER}\"], open({json.dumps(str(hello))}, \"rb\").read())")
    outside = home / "demo" / "outside.eml"
    send_outside = (f"import smtplib; smtplib.SMTP(\"127.0.0.1\", {port}).sendmail(\"alice@example.org\", "
                    f"[\"{OUTSIDER}\"], open({json.dumps(str(outside))}, \"rb\").read())")
    return f"""
mailseal gateway: SMTP on 127.0.0.1:{port}, delivering to {sink}/ (one .eml file per delivered copy)
data directory: {home} (the commands below name it, so they work from any folder)
demo organisation: alice@example.org and bob@example.org (keys held), partner carol@partner.example
(certificate in the directory; her key: {carol}, password "demo"), and {OUTSIDER} outside without a
certificate, who reads in the recipient portal
{console}

send a test message (alice -> carol: signed with alice's key, encrypted for carol):
  curl -s smtp://127.0.0.1:{port} --mail-from alice@example.org --mail-rcpt {PARTNER} --upload-file {q(str(hello))}
or from Python:
  python3 -c {q(send)}
then look at it, and open the newest copy as carol:
  ls {q(str(sink))}/
  {mailseal} open --key {q(str(carol))} --pass pass:demo -i "$(ls -t {q(str(sink))}/*.eml | head -n 1)"
what the policy decides for a message:
  {mailseal} policy explain --from alice@example.org --to {PARTNER}
send to an outside recipient without a certificate ({OUTSIDER}: through the recipient portal):
  python3 -c {q(send_outside)}
the sink then holds dave's notification (no content, a link http://127.0.0.1:{portal_port}/m/...): open the link
in a browser, ask for a passcode (it arrives in the sink too), read and answer the message; the administrator sees
who read what when, and can revoke or extend:
  {mailseal} portal list
what the data directory holds:
  {mailseal} status
Ctrl-C stops.
"""


def _self_test(home: Path, port: int) -> int:
    """Send alice -> carol and check the sink got a signed and encrypted copy carol can open."""
    from . import api
    from .cms.identity import Identity as Ident
    from .store.trust import effective_trust_store

    before = set((home / "sink").glob("*.eml"))
    data = sample_message("alice@example.org", PARTNER, "demo", "Hello Carol, this is sealed.\n")
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.sendmail("alice@example.org", [PARTNER], data)
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        print(f"self-test: the gateway answered {exc.smtp_code} {reply}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + 30
    while not (new := set((home / "sink").glob("*.eml")) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not new:
        print("self-test: nothing arrived in the sink", file=sys.stderr)
        return 1
    key, cert, chain = pkcs12.load_key_and_certificates((home / "demo" / "carol.p12").read_bytes(), DEMO_PASSWORD)
    assert cert is not None and key is not None
    opened = api.open(next(iter(new)).read_bytes(), [Ident(key, cert, tuple(chain))],  # type: ignore[arg-type]
                      trust=effective_trust_store(home))
    ok = opened.report.encrypted and opened.report.valid and b"this is sealed" in opened.message
    print(f"self-test: delivered {next(iter(new)).name}: encrypted={opened.report.encrypted} "
          f"signature={opened.report.status} -> {'OK' if ok else 'FAILED'}")
    return 0 if ok and _portal_self_test(home, port) else 1


def _portal_self_test(home: Path, port: int) -> bool:
    """Send alice -> dave (no certificate: the portal) and check the sink got a notification with a link and
    none of the message."""
    before = set((home / "sink").glob("*.eml"))
    text = "Hello Dave, read this in the portal.\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail("alice@example.org", [OUTSIDER], sample_message("alice@example.org", OUTSIDER, "demo", text))
    deadline = time.monotonic() + 30
    while not (new := set((home / "sink").glob("*.eml")) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    data = next(iter(new)).read_bytes() if new else b""
    ok = b"/m/" in data and text.strip().encode() not in data
    print(f"self-test: portal notification for {OUTSIDER}: {'OK' if ok else 'FAILED'}")
    return ok


def _port_error(exc: OSError, port: int, option: str) -> MailsealError:

    return listen_error(exc, port, f'{option} N (make run DEMO_ARGS="{option} N")')


async def _start_portal(store: Any, settings: dict[str, Any]) -> tuple[Any, asyncio.Task[None]] | None:
    """The recipient portal on [portal] listen, so that the notification's link opens (docs/portal.md)."""
    from .policy.portal_settings import parse_portal
    from .web import portal_server

    if "portal" not in settings:
        return None
    chosen = parse_portal(settings)
    served = portal_server.for_settings(store, chosen)
    try:
        return served, await portal_server.start(served, chosen.host, chosen.port)
    except OSError as exc:
        if not is_listen_error(exc):
            raise
        # The rest of the demo works without it: one line says why the links will not open, and how to fix it.
        print(f"mailseal demo: the recipient portal is not served: "
              f"{listen_error(exc, chosen.port, 'portal.listen in the settings file').message}", file=sys.stderr)
        return None


async def _serve(home: Path, ports: Ports, self_test: bool, password: str | None = None) -> int:
    from .cli.held_port import RunningGatewayHeld
    from .config import load_settings
    from .gateway.build import build_gateway
    from .gateway.sink import start_sink
    from .web import server
    from .web.settings import parse_web

    try:
        sink = await start_sink(home / "sink", port=ports.sink)
    except OSError as exc:
        if not is_listen_error(exc):
            raise
        raise _port_error(exc, ports.sink, "--sink-port") from exc
    try:
        settings = load_settings()
        gateway = build_gateway(settings)
        try:
            await start_listening(gateway)
        except ListenFailure as failure:
            raise (_port_error(failure.error, ports.metrics, "--metrics-port") if failure.which == "metrics"
                   else _port_error(failure.error, ports.smtp, "--port")) from failure.error
        console = portal = None
        try:
            if self_test:
                return await asyncio.get_running_loop().run_in_executor(None, _self_test, home, gateway.port)
            web = parse_web(settings)
            try:
                console = await server.start(gateway.resources.store, web, RunningGatewayHeld(gateway))
            except OSError as exc:
                if not is_listen_error(exc):
                    raise
                raise _port_error(exc, web.port, "--web-port") from exc
            portal = await _start_portal(gateway.resources.store, settings)
            print(instructions(home, gateway.port, console_lines(home, web.url, password),
                               ports_in(home / "mailseal.toml").portal), flush=True)
            await asyncio.Event().wait()  # until Ctrl-C
            return 0
        finally:
            if console is not None:
                await server.stop(*console)
            if portal is not None:
                from .web import portal_server

                await portal_server.stop(*portal)
            await gateway.stop()
    finally:
        sink.close()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, as every mailseal error (the usage is in --help).
        print(f"mailseal: error[usage]: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1-65535)")
    return int(value)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m mailseal.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", metavar="DIR",
                        help="the demo's data directory (make run: mailseal-data in the clone); default "
                             "$MAILSEAL_HOME, else $XDG_DATA_HOME/mailseal")
    for _field, key, option in _PORT_KEYS:
        parser.add_argument(option, type=_port, metavar="N",
                            help=f"gateway.{key}'s port; default: the settings file's, else "
                                 f"{getattr(Ports(), _field)} (kept for later runs)")
    parser.add_argument("--web-port", type=_port, metavar="N",
                        help=f"the web console's port (web.listen); default: the settings file's, else {WEB_PORT} "
                             "(kept for later runs)")
    parser.add_argument("--portal-port", type=_port, metavar="N",
                        help=f"the recipient portal's port (portal.listen and base_url); default: the settings "
                             f"file's, else {PORTAL_PORT} (kept for later runs)")
    parser.add_argument("--self-test", action="store_true", help="send one message through, check it, exit")
    parser.add_argument("--setup-only", action="store_true", help="create the demo organisation, do not serve")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    from .config import CONFIG_ENV, HOME_ENV, data_dir
    from .store.database import DB_URL_ENV
    from .store.keystore import PASSPHRASE_ENV

    if args.home:
        os.environ[HOME_ENV] = os.path.abspath(args.home)
    home = data_dir(create=True)
    # The demo is self-contained whatever the shell exports: its home, its settings file, its SQLite store and
    # its key file (set by setup()), never a production database or passphrase.
    os.environ[HOME_ENV] = str(home)
    settings_file = home / "mailseal.toml"
    os.environ[CONFIG_ENV] = str(settings_file)
    for inherited in (DB_URL_ENV, PASSPHRASE_ENV):
        os.environ.pop(inherited, None)
    before = ports_in(settings_file)
    given = {field: getattr(args, option[2:].replace("-", "_")) for field, _key, option in _PORT_KEYS}
    given["web"] = args.web_port
    given["portal"] = args.portal_port
    ports = Ports(**{field: value if value is not None else getattr(before, field) for field, value in given.items()})
    if setup(home, ports):
        print(f"created the demo organisation in {home}/")
    password = first_admin()
    if password is not None and (args.setup_only or args.self_test):  # no console then: the password now
        print(f"web console account {ADMIN}, password {password} (shown this once)")
    if args.setup_only:
        return 0
    (home / "demo" / "hello.eml").write_bytes(
        sample_message("alice@example.org", PARTNER, "Hello from the demo", "Hello Carol, this is sealed.\n"))
    (home / "demo" / "outside.eml").write_bytes(
        sample_message("alice@example.org", OUTSIDER, "Your contract", "Hello Dave, this one you read in the "
                       "portal.\n"))
    return asyncio.run(_serve(home, ports, args.self_test, password))


def main(argv: list[str] | None = None) -> int:
    """`make run`: errors are one line ``mailseal: error[CODE]: sentence`` as in the CLI, never a traceback
    (unless --debug)."""
    args = _arguments(argv)
    try:
        return run(args)
    except KeyboardInterrupt:  # Ctrl-C: the way to stop the demo
        return 0
    except MailsealError as exc:
        if args.debug:
            traceback.print_exc()
        fail(str(exc.code), exc.message, EXIT_NOT_VALID if exc.code in NOT_VALID_CODES else EXIT_USAGE)
    except OSError as exc:
        if args.debug:
            traceback.print_exc()
        where = f" {exc.filename}" if exc.filename else ""
        fail(str(ErrorCode.IO), f"cannot access{where}: {exc.strerror or exc}", EXIT_USAGE)
    except Exception as exc:  # A bug: still one line, the traceback with --debug.
        if args.debug:
            traceback.print_exc()
        fail("internal", f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)", EXIT_USAGE)
    raise AssertionError("unreachable")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
