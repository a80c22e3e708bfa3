"""Benchmark mailseal against ``openssl cms``: sign, verify, encrypt and decrypt the same generated messages."""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cryptography
from cryptography import x509
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import mailseal

HERE = Path(__file__).resolve().parent
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
DEFAULT_SIZES, BIG_SIZES = ["1K", "1M", "100M"], ["1G"]
OPS = ("sign", "verify", "encrypt", "decrypt")
TIME = Path("/usr/bin/time")  # GNU time: a ~1 MiB parent, so the child's ru_maxrss is the command's own
RSS_VIA_TIME = TIME.exists() and subprocess.run([TIME, "-f", "%M", "true"], capture_output=True).returncode == 0
RSS_METHOD = (
    "peak RSS = `/usr/bin/time -f %M` around each command (ru_maxrss of that one process)" if RSS_VIA_TIME else
    "peak RSS = ru_maxrss from os.wait4() on each child; without GNU time it includes this script's RSS at fork"
)
Key = rsa.RSAPrivateKey


def issue(key: Key, ca_key: Key, issuer: x509.Name | None, cn: str, email: str | None) -> x509.Certificate:
    now, pub = datetime.now(UTC), key.public_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(pub)
    b = b.serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
    b = b.not_valid_after(now + timedelta(days=2)).add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), False)
    if email is None:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        b = b.add_extension(x509.KeyUsage(True, True, True, False, False, False, False, False, False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    return b.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    ca: x509.Certificate
    alice: mailseal.Identity
    bob: mailseal.Identity


def make_pki(d: Path) -> Pki:
    """A CA, alice (signer) and bob (recipient), all RSA-2048, written as PEM files for both tools."""
    ca_key = rsa.generate_private_key(65537, 2048)
    ca = issue(ca_key, ca_key, None, "bench CA", None)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    ids = []
    for who in ("alice", "bob"):
        key = rsa.generate_private_key(65537, 2048)
        cert = issue(key, ca_key, ca.subject, who, f"{who}@bench.example")
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        (d / f"{who}.key").write_bytes(pem)
        (d / f"{who}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / f"{who}.pem").write_bytes(pem + cert.public_bytes(serialization.Encoding.PEM))
        ids.append(mailseal.Identity(key, cert, (ca,)))
    return Pki(ca, ids[0], ids[1])


def parse_size(label: str) -> int:
    return int(label[:-1]) * UNITS[label[-1].upper()] if label[-1].upper() in UNITS else int(label)


def write_message(path: Path, size: int) -> int:
    """A CRLF message from alice to bob: a short text part and a base64 attachment filling it to about ``size``."""
    head = (
        b"From: Alice <alice@bench.example>\r\nTo: Bob <bob@bench.example>\r\nSubject: bench\r\n"
        b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n'
        b"The figures are attached.\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    )
    tail = b"--b1--\r\n"
    lines = max(1, (size - len(head) - len(tail)) // 78)  # 76 base64 characters + CRLF per line
    with path.open("wb") as fh:
        fh.write(head)
        while lines:
            n = min(lines, 16384)
            fh.write(base64.encodebytes(os.urandom(57 * n)).replace(b"\n", b"\r\n"))
            lines -= n
        fh.write(tail)
    return path.stat().st_size


def body_digest(path: Path) -> str:
    """SHA-256 of everything after the first blank line, line ends ignored (each tool rewrites the top header)."""
    h, started = hashlib.sha256(), False
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            chunk = chunk.replace(b"\r", b"")
            if not started:
                chunk, started = chunk[chunk.index(b"\n\n") + 2 :], True
            h.update(chunk)
    return h.hexdigest()


def mailseal_command() -> list[str]:
    """The ``mailseal`` executable of this environment (its entry point, the launcher), as a user runs it."""
    script = Path(sys.executable).parent / "mailseal"
    if script.is_file() and "mailseal.cli.launcher" in script.read_text(errors="replace"):
        return [str(script)]
    return [sys.executable, "-m", "mailseal.cli.launcher"]


def agent_env(d: Path) -> dict[str, str]:
    """The environment in which ``mailseal`` hands its commands to the resident agent (docs/cli.md)."""
    (d / "run").mkdir(mode=0o700, exist_ok=True)
    return {**os.environ, "MAILSEAL_AGENT": "on", "XDG_RUNTIME_DIR": str(d / "run")}


def commands(tool: str, op: str, d: Path, msg: Path) -> list[str]:
    out = d / f"{tool}.{op}"
    if tool in ("mailseal", "mailseal+agent"):
        base = ([*mailseal_command(), op] if tool == "mailseal+agent" else
                [sys.executable, "-m", "mailseal.cli.main", op])
        src = {"sign": msg, "verify": d / "mailseal.sign", "encrypt": msg, "decrypt": d / "mailseal.encrypt"}[op]
        extra = {"sign": ["--key", d / "alice.pem"], "verify": ["--trust", d / "ca.pem"],
                 "encrypt": ["--to", d / "bob.crt"], "decrypt": ["--key", d / "bob.pem"]}[op]
        return [str(a) for a in [*base, *extra, "-i", src, "-o", out]]
    ssl = {
        "sign": ["-sign", "-stream", "-md", "sha256", "-in", msg, "-signer", d / "alice.crt", "-inkey", d / "alice.key"],
        "verify": ["-verify", "-in", d / "openssl.sign", "-CAfile", d / "ca.pem", "-purpose", "smimesign"],
        "encrypt": ["-encrypt", "-stream", "-aes-256-gcm", "-in", msg, "-recip", d / "bob.crt"],
        "decrypt": ["-decrypt", "-in", d / "openssl.encrypt", "-recip", d / "bob.crt", "-inkey", d / "bob.key"],
    }[op]
    return [str(a) for a in ["openssl", "cms", *ssl, "-out", out]]


@dataclass
class Run:
    seconds: float = float("inf")
    rss_kib: int = 0
    error: str = ""


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int, bytes]:
    """Wall time, peak RSS (KiB) of this child alone, exit code and stdout+stderr."""
    # A child forked straight from this process would report this process's RSS at fork as its ru_maxrss.
    with tempfile.TemporaryFile() as log, tempfile.NamedTemporaryFile() as rss:
        wrapper = [str(TIME), "-f", "%M", "-o", rss.name] if RSS_VIA_TIME else []
        # Dirty pages left by the previous command (a 1 GiB output) would otherwise be written back during this
        # one and slow whichever tool comes next.
        os.sync()
        start = time.perf_counter()
        proc = subprocess.Popen([*wrapper, *cmd], stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        peak = int(Path(rss.name).read_text().split()[-1]) if RSS_VIA_TIME else usage.ru_maxrss
        return elapsed, peak, proc.returncode, log.read()


def measure(tool: str, op: str, d: Path, msg: Path, reps: int, env: dict[str, str] | None = None) -> Run:
    result = Run()
    for _ in range(reps):
        seconds, rss, code, output = run_once(commands(tool, op, d, msg), env)
        if code != 0:
            last = output.decode(errors="replace").strip().splitlines() or [""]
            return Run(error=f"exit {code}: {last[-1]}")
        result.seconds, result.rss_kib = min(result.seconds, seconds), max(result.rss_kib, rss)
    out = d / f"{tool}.{op}"
    if op == "verify" and tool.startswith("mailseal"):
        assert b"status: valid" in output, output
    if op in ("verify", "decrypt"):
        assert body_digest(out) == body_digest(msg), f"{tool} {op}: output differs from the message"
    return result


def store_env(home: Path) -> dict[str, str]:
    """The environment of the store-backed commands: a SQLite store in ``home``, the passphrase given, and no
    other MAILSEAL_* setting of the caller's (a PostgreSQL URL, a settings file) leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSEAL_")}
    env.update(MAILSEAL_HOME=str(home), MAILSEAL_STORE_PASSPHRASE="bench passphrase")
    return env


def store_pairs(d: Path, msg: Path, agent: bool = False) -> list[tuple[str, list[str], str, list[str], list[str]]]:
    """(store command label, its argv, file command label, its argv, argv to run after each store command) for
    each row of the store table. The file-based command gets the same answer from the file the store was filled
    from: the certificate for ``keys list`` and ``certs find``, the key file for ``sign``, the certificate file
    for ``encrypt``."""
    out = d / "store.out"
    base = mailseal_command() if agent else [sys.executable, "-m", "mailseal.cli.main"]

    def cli(*args: object) -> list[str]:
        return [*base, *(str(a) for a in args)]

    return [
        ("keys list", cli("keys", "list"), "certs inspect FILE", cli("certs", "inspect", d / "alice.crt"), []),
        ("certs find ADDR", cli("certs", "find", "bob@bench.example"), "certs inspect FILE",
         cli("certs", "inspect", d / "bob.crt"), []),
        # Each import is undone (untimed) so that the next repetition imports again.
        ("keys import FILE", cli("keys", "import", d / "alice.pem"), "certs inspect FILE",
         cli("certs", "inspect", d / "alice.pem"), cli("keys", "remove", "alice@bench.example")),
        ("sign --from ADDR", cli("sign", "--from", "alice@bench.example", "-i", msg, "-o", out), "sign --key FILE",
         cli("sign", "--key", d / "alice.pem", "-i", msg, "-o", out), []),
        ("encrypt --to ADDR", cli("encrypt", "--to", "bob@bench.example", "-i", msg, "-o", out),
         "encrypt --to FILE", cli("encrypt", "--to", d / "bob.crt", "-i", msg, "-o", out), []),
    ]


def best_of_pair(cmd: list[str], file_cmd: list[str], env: dict[str, str], reps: int,
                 after: list[str] | None = None) -> tuple[Run, Run]:
    """The best time of each of two commands, run in turn (store, file, store, ...) so that both meet the same
    load on a shared machine."""
    results = [Run(), Run()]
    for _ in range(reps):
        for i, argv in enumerate((cmd, file_cmd)):
            if results[i].error:
                continue
            seconds, rss, code, output = run_once(argv, env)
            if code != 0:
                last = output.decode(errors="replace").strip().splitlines() or [""]
                results[i] = Run(error=f"exit {code}: {last[-1]}")
                continue
            results[i].seconds, results[i].rss_kib = min(results[i].seconds, seconds), max(results[i].rss_kib, rss)
            if i == 0 and after:
                subprocess.run(after, env=env, check=True, capture_output=True)
    return results[0], results[1]


def store_rows(d: Path, reps: int, agent: bool = False) -> list[list[str]]:
    """Store-backed commands next to the same commands on files (1 KiB message; SQLite store, default scrypt);
    with `agent`, both through the resident agent (which keeps the store's unlocked key)."""
    home, msg = d / ("home-agent" if agent else "home"), d / "store.eml"
    write_message(msg, 1 << 10)
    env = {**store_env(home), **({k: v for k, v in agent_env(d).items() if k.startswith(("MAILSEAL_AGENT",
                                                                                         "XDG_RUNTIME"))}
                                 if agent else {})}
    # Set up untimed: the schema created, the key store's passphrase set (by bob's identity), a recipient filed,
    # alice's identity filed for `sign --from` once its import has been timed.
    for setup in (["keys", "import", d / "bob.pem"], ["certs", "import", d / "bob.crt"]):
        subprocess.run([sys.executable, "-m", "mailseal.cli.main", *map(str, setup)], env=env, check=True,
                       capture_output=True)
    rows = []
    for label, cmd, file_label, file_cmd, after in store_pairs(d, msg, agent):
        if agent:
            label, file_label = f"{label} (agent)", f"{file_label} (agent)"
        stored, filed = best_of_pair(cmd, file_cmd, env, reps, after)
        if label.startswith("keys import"):
            subprocess.run(cmd, env=env, check=True, capture_output=True)
        ratio = "" if stored.error or filed.error else f"{stored.seconds / filed.seconds:.2f}"
        rows.append([label, stored.error or f"{stored.seconds:.3f}", file_label, filed.error or f"{filed.seconds:.3f}",
                     ratio])
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    return rows


def net_columns(size: int, ms: Run, ossl: Run, op: str, startup: dict[tuple[str, str], float]) -> list[str]:
    """Seconds and MB/s of each tool with its own 1 KiB time taken off, and their ratio."""
    ms_net = max(ms.seconds - startup[("mailseal", op)], 1e-6)
    ossl_net = max(ossl.seconds - startup[("openssl", op)], 1e-6)
    return [f"{ms_net:.3f}", f"{size / ms_net / 1e6:.3g}", f"{ossl_net:.3f}", f"{size / ossl_net / 1e6:.3g}",
            f"{ossl_net / ms_net:.2f}"]


def fmt_run(r: Run, size: int) -> list[str]:
    if r.error:
        return [f"failed ({r.error})", "", ""]
    return [f"{r.seconds:.3f}", f"{size / r.seconds / 1e6:.3g}", f"{r.rss_kib / 1024:.0f}"]


def rates(lib: Callable[[], object], prim: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Calls per second of ``lib`` and ``prim``, measured in alternating short rounds over about ``seconds``, best
    round of each (like timeit's minimum): on a shared machine a slow spell then hits both sides alike instead of
    whichever happened to be running, and the best round is the one least disturbed."""
    lib()
    prim()
    best = [0.0, 0.0]
    rounds = max(5, int(seconds / 0.1))
    for _ in range(rounds):
        for side, fn in enumerate((lib, prim)):
            n, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds / rounds / 2 or n < 3:
                fn()
                n += 1
            best[side] = max(best[side], n / elapsed)
    return best[0], best[1]


def small_rates(pki: Pki, msg: bytes, seconds: float) -> dict[str, tuple[float, float]]:
    """Messages/s in-process with the library API next to the raw primitives each operation needs at least."""
    trust = mailseal.TrustStore((pki.ca,))
    signed, sealed = mailseal.sign(msg, pki.alice), mailseal.encrypt(msg, [pki.bob.certificate])
    assert mailseal.verify(signed, trust=trust).status == "valid"
    assert body_digest_bytes(mailseal.decrypt(sealed, pki.bob)) == body_digest_bytes(msg)
    a_key, b_key = pki.alice.private_key, pki.bob.private_key
    assert isinstance(a_key, rsa.RSAPrivateKey) and isinstance(b_key, rsa.RSAPrivateKey)
    pad, cert, ca_pub = padding.PKCS1v15(), pki.alice.certificate, pki.ca.public_key()
    assert isinstance(ca_pub, rsa.RSAPublicKey)
    sig, cek, nonce = a_key.sign(msg, pad, hashes.SHA256()), os.urandom(32), os.urandom(12)
    wrapped, ct = b_key.public_key().encrypt(cek, pad), AESGCM(cek).encrypt(nonce, msg, None)

    def p_verify() -> None:  # the signature and the one certificate in the chain
        a_key.public_key().verify(sig, msg, pad, hashes.SHA256())
        ca_pub.verify(cert.signature, cert.tbs_certificate_bytes, pad, hashes.SHA256())

    def p_encrypt() -> None:
        b_key.public_key().encrypt(cek, pad)
        AESGCM(cek).encrypt(nonce, msg, None)

    def p_decrypt() -> None:
        AESGCM(b_key.decrypt(wrapped, pad)).decrypt(nonce, ct, None)

    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "sign": (lambda: mailseal.sign(msg, pki.alice), lambda: a_key.sign(msg, pad, hashes.SHA256())),
        "verify": (lambda: mailseal.verify(signed, trust=trust), p_verify),
        "encrypt": (lambda: mailseal.encrypt(msg, [pki.bob.certificate]), p_encrypt),
        "decrypt": (lambda: mailseal.decrypt(sealed, pki.bob), p_decrypt),
    }
    return {op: rates(lib, prim, seconds) for op, (lib, prim) in pairs.items()}


def body_digest_bytes(data: bytes) -> str:
    data = data.replace(b"\r", b"")
    return hashlib.sha256(data[data.index(b"\n\n") + 2 :]).hexdigest()


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), 0)
    ssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return "\n".join([
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; memory {mem / 1024 / 1024:.1f} GiB; {platform.platform()}",
        f"- Python {platform.python_version()}; cryptography {cryptography.__version__} "
        f"({backend.openssl_version_text()}); openssl CLI: {ssl}",
    ])


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", help="comma-separated sizes, e.g. 1K,1M,16M (default 1K,1M,100M)")
    parser.add_argument("--big", action="store_true", help="also 1G (one run)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1K and 1M, one repetition, short loops")
    parser.add_argument("--results", type=Path, default=HERE / "results.md", help="where to write the Markdown")
    args = parser.parse_args(argv)
    labels = args.sizes.split(",") if args.sizes else ["1K", "1M"] if args.quick else DEFAULT_SIZES
    labels += BIG_SIZES if args.big else []
    rows: list[list[str]] = []
    net_rows: list[list[str]] = []
    per_msg: dict[str, tuple[float, float]] = {}
    agent_rate: dict[str, float] = {}  # 1 KiB messages/s through the resident agent
    startup: dict[tuple[str, str], float] = {}  # (tool, op) -> seconds for the 1 KiB message: start-up and set-up
    with tempfile.TemporaryDirectory(prefix="mailseal-bench-") as tmp:
        d = Path(tmp)
        pki = make_pki(d)
        for label in labels:
            size = parse_size(label)
            msg = d / "message.eml"
            actual = write_message(msg, size)
            reps = 1 if args.quick or size >= 100 << 20 else 3
            for op in OPS:
                ms, ossl = (measure(tool, op, d, msg, reps) for tool in ("mailseal", "openssl"))
                ratio = "" if ms.error or ossl.error else f"{ossl.seconds / ms.seconds:.2f}"
                rows.append([op, label, *fmt_run(ms, actual), *fmt_run(ossl, actual), ratio])
                print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
                if size == 1 << 10 and not (ms.error or ossl.error):
                    subprocess.run([*mailseal_command(), "agent", "start"], env=agent_env(d), check=True,
                                   capture_output=True)
                    via_agent = measure("mailseal+agent", op, d, msg, reps, agent_env(d))
                    agent_rate[op] = 0.0 if via_agent.error else 1 / via_agent.seconds
                    per_msg[op] = (1 / ms.seconds, 1 / ossl.seconds)
                    startup[("mailseal", op)], startup[("openssl", op)] = ms.seconds, ossl.seconds
                elif size >= 16 << 20 and ("mailseal", op) in startup and not (ms.error or ossl.error):
                    # Below ~16 MiB the difference is within the noise of the start-up itself.
                    net_rows.append([op, label, *net_columns(actual, ms, ossl, op, startup)])
            for p in d.glob("*.eml"):
                p.unlink()
            for p in [*d.glob("mailseal.*"), *d.glob("openssl.*")]:
                p.unlink()
        small_msg = d / "small.eml"
        write_message(small_msg, 1 << 10)
        per_op = small_rates(pki, small_msg.read_bytes(), 0.3 if args.quick else 3.0)
        # Through the agent a command takes ~0.05 s, within the noise of a shared machine: more runs there.
        store = store_rows(d, 1 if args.quick else 3) + store_rows(d, 1 if args.quick else 9, agent=True)
        subprocess.run([*mailseal_command(), "agent", "stop"], env=agent_env(d), check=False, capture_output=True)
    big = table(["operation", "size", "mailseal s", "mailseal MB/s", "mailseal peak RSS MiB", "openssl s",
                 "openssl MB/s", "openssl peak RSS MiB", "ratio (mailseal/openssl throughput)"], rows)
    small_rows = [[op, f"{lib:.0f}", f"{prim:.0f}", f"{lib / prim:.2f}",
                   *((f"{per_msg[op][0]:.1f}", f"{per_msg[op][1]:.1f}", f"{per_msg[op][0] / per_msg[op][1]:.3f}",
                      f"{agent_rate[op]:.1f}", f"{agent_rate[op] / per_msg[op][1]:.3f}")
                     if op in per_msg else ("n/a (no 1K run)",) * 5)]
                  for op, (lib, prim) in per_op.items()]
    net = table(["operation", "size", "mailseal s - 1K s", "mailseal MB/s", "openssl s - 1K s", "openssl MB/s",
                 "ratio (mailseal/openssl, start-up subtracted)"], net_rows)
    small = table(["operation (1 KiB)", "mailseal in-process msg/s", "primitive ops/s", "mailseal/primitive",
                   "mailseal CLI msg/s", "openssl CLI msg/s", "CLI ratio (mailseal/openssl msg/s)",
                   "mailseal CLI msg/s with the agent", "agent ratio (mailseal/openssl msg/s)"], small_rows)
    stored = table(["store-backed command", "store s", "file-based command", "file s",
                    "ratio (store s / file s)"], store)
    notes = (
        f"Times are wall clock (time.perf_counter) of one subprocess per command, best of {1 if args.quick else 3} "
        "(one run at >= 100 MiB); both tools start a process, so start-up is included. MB = 10^6 bytes of input "
        f"message. {RSS_METHOD}. All keys RSA-2048; openssl uses `cms -sign -stream -md sha256` (canonical text, no "
        "-binary), `-verify -CAfile -purpose smimesign`, `-encrypt -stream -aes-256-gcm`, `-decrypt`. Primitive = "
        "pyca in this process: sign = RSA PKCS#1 v1.5 sign; verify = 2 RSA verifies (signature + certificate); "
        "encrypt = RSA encrypt + AES-256-GCM of 1 KiB; decrypt = RSA decrypt + AES-256-GCM open. CLI msg/s = "
        "1 / best subprocess time for the 1 KiB message. Before each command the page cache's dirty data is "
        "written out (sync), so that no command pays for the previous one's output."
    )
    notes += (
        " The second table (messages of 16 MiB and more) subtracts each tool's own time for the 1 KiB message of the same operation (process "
        "start-up, imports, key and certificate loading) from its time for the large one: the rate at which each "
        "streams once running. The first table's ratio, start-up included, is the one the targets are judged on."
    )
    notes += (
        " The store table times each store-backed command (a SQLite store in a temporary MAILSEAL_HOME, the "
        "default scrypt cost, N=2^17, r=8) and the file-based command that gets the same answer from the file the "
        "store was filled from, each the best of 3 runs (9 through the agent), the two commands run in turn so "
        "that both meet the same load; a `keys import` is removed again, untimed, "
        "between runs. `keys import` and `sign --from` unseal or seal a private key, so they include one scrypt "
        "derivation of the key store's key; the other store commands derive none. Rows marked (agent) run both "
        "commands through the resident agent ($MAILSEAL_AGENT=on, the `mailseal` executable), which keeps the "
        "store's unlocked key and an engine for the store prepared after the first command on it (docs/cli.md, "
        "\"The resident agent\"); so does the agent column of the 1 KiB table, "
        "the agent started before the first timed run."
    )
    report = f"{big}\n\n{net}\n\n{small}\n\n{stored}\n\n{notes}\n"
    print(report)
    args.results.write_text(f"# mailseal vs openssl cms\n\n{machine()}\n\n{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
