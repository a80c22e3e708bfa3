"""`make run`: the gateway on its embedded default, with a demo organisation and a local sink.

First run: an internal CA in ``mailseal-data/ca``, users alice@example.org (RSA) and bob@example.org (ECDSA/ECDH
P-256) with keys in the store, an outside partner carol@partner.example whose certificate is in the directory (her
key in ``mailseal-data/demo/carol.p12`` so that you can read what she would receive), the CA in the trust list and
a settings file ``mailseal-data/mailseal.toml``. Then SMTP on 127.0.0.1:2525 relays to a sink on 127.0.0.1:2526
that writes every delivered message into ``mailseal-data/sink/``.

The store passphrase of the demo is a random key file, ``mailseal-data/demo/store.key``: fine for a demonstration,
not for real keys (use ``$MAILSEAL_STORE_PASSPHRASE`` or a key file kept elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import os
import secrets
import smtplib
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from .cms.identity import Identity

SMTP_PORT = 2525
SINK_PORT = 2526
USERS = (("alice@example.org", "rsa2048"), ("bob@example.org", "p256"))
PARTNER = "carol@partner.example"
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
"""


def _key_file(home: Path) -> Path:
    return home / "demo" / "store.key"


def setup(home: Path, port: int = SMTP_PORT, sink_port: int = SINK_PORT, metrics_port: int = 9125) -> bool:
    """Create the demo organisation in ``home`` unless it is there; True when it was created now."""
    settings_file = home / "mailseal.toml"
    key_file = _key_file(home)
    if settings_file.exists() and key_file.exists():
        os.environ.setdefault("MAILSEAL_STORE_KEYFILE", str(key_file))
        return False
    from .pki import trustlist
    from .pki.authority import CertificateAuthority
    from .store.database import Store
    from .store.directory import Directory
    from .store.keystore import KeyStore

    (home / "demo").mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    key_file.write_text(secrets.token_hex(32))
    key_file.chmod(0o600)
    os.environ["MAILSEAL_STORE_KEYFILE"] = str(key_file)
    passphrase = key_file.read_bytes()
    ca = CertificateAuthority.create("mailseal demo CA", passphrase, directory=home / "ca", key_type="p256")
    trustlist.add([ca.certificate], home=home)
    store = Store.open()
    try:
        keys = KeyStore(store, passphrase)
        for address, key_type in USERS:
            issued = ca.issue(address, usage="dual", key_type=key_type)
            keys.add(Identity(issued.key, issued.certificate, (ca.certificate,)), actor="demo")
        carol = ca.issue(PARTNER, usage="dual", key_type="rsa2048")
        Directory(store).add(carol.certificate, "imported", actor="demo")
        (home / "demo" / "carol.p12").write_bytes(pkcs12.serialize_key_and_certificates(
            b"carol", carol.key, carol.certificate, [ca.certificate],
            BestAvailableEncryption(DEMO_PASSWORD)))
    finally:
        store.close()
    settings_file.write_text(SETTINGS.format(port=port, sink_port=sink_port, metrics_port=metrics_port))
    return True


def sample_message(sender: str, recipient: str, subject: str, text: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(text)
    return msg.as_bytes(policy=email.policy.SMTP)


def instructions(home: Path, port: int) -> str:
    hello = home / "demo" / "hello.eml"
    return f"""
mailseal gateway: SMTP on 127.0.0.1:{port}, delivering to {home / 'sink'}/ (one .eml file per delivered copy)
demo organisation: alice@example.org and bob@example.org (keys held), partner carol@partner.example
(certificate in the directory; her key: {home / 'demo' / 'carol.p12'}, password "demo")

send a test message (alice -> carol: signed with alice's key, encrypted for carol):
  curl -s smtp://127.0.0.1:{port} --mail-from alice@example.org --mail-rcpt carol@partner.example \\
       --upload-file {hello}
or from Python:
  python3 -c "import smtplib; smtplib.SMTP('127.0.0.1', {port}).sendmail('alice@example.org', \\
       ['carol@partner.example'], open('{hello}', 'rb').read())"
then look at it, and open it as carol:
  ls {home / 'sink'}/
  .venv/bin/mailseal open --key {home / 'demo' / 'carol.p12'} --pass pass:demo -i {home / 'sink'}/<file>.eml
what the policy decides for a message:
  .venv/bin/mailseal policy explain --from alice@example.org --to carol@partner.example
Ctrl-C stops.
"""


def _self_test(home: Path, port: int) -> int:
    """Send alice -> carol and check the sink got a signed and encrypted copy carol can open."""
    from . import api
    from .cms.identity import Identity as Ident
    from .pki.trustlist import load_trust_list

    before = set((home / "sink").glob("*.eml"))
    data = sample_message("alice@example.org", PARTNER, "demo", "Hello Carol, this is sealed.\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.sendmail("alice@example.org", [PARTNER], data)
    deadline = time.monotonic() + 30
    while not (new := set((home / "sink").glob("*.eml")) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not new:
        print("self-test: nothing arrived in the sink", file=sys.stderr)
        return 1
    key, cert, chain = pkcs12.load_key_and_certificates((home / "demo" / "carol.p12").read_bytes(), DEMO_PASSWORD)
    assert cert is not None and key is not None
    opened = api.open(next(iter(new)).read_bytes(), [Ident(key, cert, tuple(chain))],  # type: ignore[arg-type]
                      trust=load_trust_list(home))
    ok = opened.report.encrypted and opened.report.valid and b"this is sealed" in opened.message
    print(f"self-test: delivered {next(iter(new)).name}: encrypted={opened.report.encrypted} "
          f"signature={opened.report.status} -> {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


async def _serve(home: Path, port: int, sink_port: int, self_test: bool) -> int:
    from .config import load_settings
    from .gateway.build import build_gateway
    from .gateway.sink import start_sink

    sink = await start_sink(home / "sink", port=sink_port)
    gateway = build_gateway(load_settings())
    await gateway.start()
    try:
        if self_test:
            return await asyncio.get_running_loop().run_in_executor(None, _self_test, home, gateway.port)
        print(instructions(home, gateway.port), flush=True)
        await asyncio.Event().wait()  # until Ctrl-C
        return 0
    finally:
        await gateway.stop()
        sink.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mailseal.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=SMTP_PORT)
    parser.add_argument("--sink-port", type=int, default=SINK_PORT)
    parser.add_argument("--metrics-port", type=int, default=9125)
    parser.add_argument("--self-test", action="store_true", help="send one message through, check it, exit")
    parser.add_argument("--setup-only", action="store_true", help="create the demo organisation, do not serve")
    args = parser.parse_args(argv)
    from .config import data_dir

    home = data_dir(create=True).resolve()
    os.environ["MAILSEAL_HOME"] = str(home)
    if setup(home, args.port, args.sink_port, args.metrics_port):
        print(f"created the demo organisation in {home}/")
    if args.setup_only:
        return 0
    (home / "demo" / "hello.eml").write_bytes(
        sample_message("alice@example.org", PARTNER, "Hello from the demo", "Hello Carol, this is sealed.\n"))
    try:
        return asyncio.run(_serve(home, args.port, args.sink_port, args.self_test))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
