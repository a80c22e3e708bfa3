"""Every code block in docs/ that a reader is told to run is run here, as written, and must do what it says.

A fenced block tagged ``console``, ``sh``, ``shell``, ``bash`` or ``python`` is run. In a ``console`` block each
``$ `` line is a command (a trailing backslash continues it; ``# exits N`` in its comment is the exit code the
text promises, else 0); the other lines are what it prints, and a shown ``error[...]`` line must be printed. In a
shell block every line that is not a comment is a command. Python blocks run as a script. All blocks of one
document run in order in one shell, in a fresh folder, so that a later block sees the files and the ``export``
lines of an earlier one.

An HTML comment on the line above a block steers it:

- ``<!-- not run: REASON -->`` -- the block is not run here, for that reason (the system Postfix, Windows, a
  directory server of the reader's); the reasons are listed by ``test_blocks_not_run_say_why``.
- ``<!-- docs-run: files NAME ... -->`` -- files the text takes as the reader's own (``alice.p12`` with password
  ``secret``, ``bob.pem``, ``ca.pem``, ``message.eml``, ...; see ``FIXTURES``) are put in the folder first.
- ``<!-- docs-run: corpus NAME -->`` -- the entries of ``../shared/corpus/NAME`` are linked into the folder.
- ``<!-- docs-run: save FILE -->`` (above any block, a ``toml`` one say) -- the block is written to FILE.
- ``<!-- docs-run: background -->`` -- a python block that serves: it must still be running after 3 seconds.

System paths the text uses (``/etc/mailseal``, ``/srv/mailseal``, ``/var/lib/mailseal``, ...) are moved below
the folder. A server command (``mailseal serve`` without ``--check-config``, ``mailseal ca ocsp``, or any line
ending in ``&``) runs in the background until the line shown under it appears; it is stopped at the end.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, pkcs7, pkcs12

from tests.conftest import CORPUS_DIR, cli_env
from tests.support.testpki import TestPKI

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md"))
RUN_LANGS = {"console", "sh", "shell", "bash", "python"}
BLOCK = re.compile(r"^(?:<!--\s*(?P<marker>.*?)\s*-->\n)?```(?P<lang>[\w-]*)\n(?P<body>.*?)^```", re.S | re.M)
SYSTEM_PATHS = ("/etc/mailseal", "/srv/mailseal", "/var/lib/mailseal", "/var/log/mailseal", "/opt/mailseal",
                "/run/mailseal")
SERVER = re.compile(r"^mailseal (?:--home \S+ )?(?:serve\b(?!.*--check-config)|ca ocsp\b|web\b)")
COMMAND_LIKE = re.compile(r"^\$ |^(?:mailseal|make|python3?|openssl|\.venv/bin/\S+) ")
STEP_TIMEOUT = 120


@dataclass
class Step:
    """One thing to run: a shell command or a python script, with what the text promises of it."""

    doc: str
    line: int
    command: str
    exit_code: int = 0
    shown: list[str] = field(default_factory=list)
    python: bool = False
    background: bool = False


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    saves: dict[str, str] = field(default_factory=dict)
    corpus: list[str] = field(default_factory=list)
    not_run: list[tuple[int, str]] = field(default_factory=list)


def _commands(doc: str, line: int, lang: str, body: str) -> list[Step]:
    steps: list[Step] = []
    pending = ""
    prompt = lang == "console" and any(x.startswith("$ ") for x in body.splitlines())
    for i, raw in enumerate(body.splitlines()):
        if pending:
            text, pending = pending + "\n" + raw, ""
        elif prompt and raw.startswith("$ "):
            text = raw[2:]
        elif prompt or not raw.strip() or raw.lstrip().startswith("#"):
            if steps and raw.strip():
                steps[-1].shown.append(raw)
            continue
        else:
            text = raw
        if text.endswith("\\"):
            pending = text
            continue
        m = re.search(r"\s#.*\bexits (\d+)", text)
        steps.append(Step(doc, line + i + 1, text, int(m.group(1)) if m else 0))
    return steps


def plan(doc: Path) -> Plan:
    out = Plan()
    text = doc.read_text(encoding="utf-8")
    for m in BLOCK.finditer(text):
        marker, lang, body = m.group("marker") or "", m.group("lang"), m.group("body")
        line = text.count("\n", 0, m.start("body"))
        directive = marker.removeprefix("docs-run:").strip() if marker.startswith("docs-run:") else ""
        words = directive.split()
        if words[:1] == ["save"]:
            out.saves[words[1]] = body
            continue
        if lang not in RUN_LANGS:
            continue
        if marker.startswith("not run:"):
            out.not_run.append((line, marker.removeprefix("not run:").strip()))
            continue
        if words[:1] == ["files"]:
            out.files.update(words[1:])
        elif words[:1] == ["corpus"]:
            out.corpus.extend(words[1:])
        if lang == "python":
            out.steps.append(Step(doc.name, line, body, python=True, background=words[:1] == ["background"]))
        else:
            out.steps.extend(_commands(doc.name, line, lang, body))
    return out


def _localise(text: str, folder: Path) -> str:
    for path in SYSTEM_PATHS:
        text = text.replace(path, str(folder) + path)
    return text


def _fixtures(pki: TestPKI) -> dict[str, bytes]:
    """The reader's own files a document may take for granted (PKCS#12 files have the password ``secret``)."""
    alice, bob = pki.user("alice", "rsa2048"), pki.user("bob", "ec-p256")
    root = Path(pki.root_path).read_bytes()
    p12 = {u.name: pkcs12.serialize_key_and_certificates(
        u.name.encode(), u.key, u.cert, u.chain, BestAvailableEncryption(b"secret"))  # type: ignore[arg-type]
        for u in (alice, bob)}
    from mailseal.pki.sst import write_sst

    issuers = list(alice.chain)
    return {
        "alice.p12": p12["alice"], "bob.p12": p12["bob"],
        "alice.pem": alice.cert.public_bytes(Encoding.PEM), "bob.pem": bob.cert.public_bytes(Encoding.PEM),
        "ca.pem": root, "roots.pem": root,
        "chain.p7b": pkcs7.serialize_certificates(issuers, Encoding.DER),
        "issuers.sst": write_sst(issuers),
        "message.eml": b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Hello\r\n"
                       b"Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n\r\nHello Bob!\r\n",
        "alice-password.txt": b"correct horse battery staple\n",
    }


def _script(steps: list[Step], folder: Path) -> str:
    lines = ["cd " + shlex.quote(str(folder))]
    for n, step in enumerate(steps):
        out, rc = f".docs-run/{n}.out", f".docs-run/{n}.rc"
        if step.python:
            (folder / ".docs-run" / f"{n}.py").write_text(_localise(step.command, folder))
            command = f"python .docs-run/{n}.py"
        else:
            command = _localise(step.command, folder)
        background = step.background or command.rstrip().endswith("&") or bool(SERVER.match(command))
        if not background:
            lines.append(f"{{ {command}\n}} >{out} 2>&1 </dev/null; echo $? >{rc}")
            continue
        command = command.rstrip().removesuffix("&")
        lines.append(f"{{ {command} & }} >{out} 2>&1 </dev/null")
        # A server is up when the line the text shows under it appears (or, showing none, when it is still
        # running after a moment); the exit code is that of a server that stopped on its own.
        shown = shlex.quote(_localise(step.shown[0].strip(), folder)) if step.shown else "''"
        lines.append(
            f"pid=$!; rc=0; for i in $(seq 100); do "
            f"if ! kill -0 $pid 2>/dev/null; then wait $pid; rc=$?; [ $rc = 0 ] && rc=99; break; fi; "
            f"if [ -n {shown} ] && grep -qF -- {shown} {out}; then break; fi; "
            f"if [ -z {shown} ] && [ $i -ge 30 ]; then break; fi; sleep 0.1; done; echo $rc >{rc}"
        )
    # Servers the text started, and a resident agent it may have started (docs/cli.md), stop with the text.
    lines.append("kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; MAILSEAL_AGENT= mailseal agent stop >/dev/null 2>&1"
                 "; exit 0")
    return "\n".join(lines) + "\n"


def run_plan(doc_plan: Plan, folder: Path, pki: TestPKI) -> list[tuple[Step, int | None, str]]:
    (folder / ".docs-run").mkdir(parents=True)
    available = _fixtures(pki)
    if "signed.eml" in doc_plan.files:  # made below by signing message.eml with alice.p12
        doc_plan.files |= {"alice.p12", "message.eml"}
    for name in sorted(doc_plan.files):
        assert name in available or name == "signed.eml", f"no fixture for {name}: add it to _fixtures"
        if name in available:
            (folder / name).write_bytes(available[name])
    for name, body in doc_plan.saves.items():
        target = Path(_localise("/" + name.lstrip("/"), folder)) if name.startswith("/") else folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_localise(body, folder))
    for name in doc_plan.corpus:
        if not (CORPUS_DIR / name).is_dir():
            pytest.skip(f"interop corpus not found at {CORPUS_DIR / name}")
        for entry in (CORPUS_DIR / name).iterdir():
            (folder / entry.name).symlink_to(entry)
    (folder / "run").mkdir(mode=0o700)
    env = cli_env({"HOME": str(folder), "XDG_DATA_HOME": str(folder / ".local" / "share"),
                   "XDG_RUNTIME_DIR": str(folder / "run"),
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    env.pop("MAILSEAL_HOME", None)
    if "signed.eml" in doc_plan.files:
        subprocess.run([sys.executable, "-m", "mailseal.cli.main", "sign", "--key", "alice.p12", "--pass",
                        "pass:secret", "-i", "message.eml", "-o", "signed.eml"], cwd=folder, env=env, check=True,
                       capture_output=True, timeout=STEP_TIMEOUT)
    script = _script(doc_plan.steps, folder)
    subprocess.run(["bash", "-c", script], cwd=folder, env=env, check=False, capture_output=True,
                   timeout=STEP_TIMEOUT * max(1, len(doc_plan.steps)))
    results = []
    for n, step in enumerate(doc_plan.steps):
        rc_file, out_file = folder / ".docs-run" / f"{n}.rc", folder / ".docs-run" / f"{n}.out"
        rc = int(rc_file.read_text()) if rc_file.exists() else None
        results.append((step, rc, out_file.read_text(errors="replace") if out_file.exists() else ""))
    return results


PLANS = {doc.name: plan(doc) for doc in DOCS}


@pytest.mark.parametrize("name", [n for n, p in PLANS.items() if p.steps])
def test_document_blocks_run_as_written(name: str, pki: TestPKI, tmp_path: Path) -> None:
    failures = []
    for step, rc, output in run_plan(PLANS[name], tmp_path, pki):
        where = f"{step.doc}:{step.line}: {step.command.splitlines()[0][:100]}"
        if rc != step.exit_code:
            failures.append(f"{where}\n  exit {rc}, the text says {step.exit_code}\n{output[-2000:]}")
        elif "Traceback (most recent call last)" in output and not step.python:
            failures.append(f"{where}\n  printed a traceback\n{output[-2000:]}")
        for shown in step.shown:
            if "error[" in shown and _localise(shown.strip(), tmp_path) not in output:
                failures.append(f"{where}\n  does not print the line shown: {shown.strip()}\n{output[-2000:]}")
    assert not failures, "\n\n".join(failures)


def test_every_document_with_commands_runs_some() -> None:
    """A document that shows commands runs at least one block: the markers cannot silence a whole page."""
    for name, doc_plan in PLANS.items():
        if doc_plan.not_run and not doc_plan.steps:
            text = (REPO / "docs" / name).read_text(encoding="utf-8")
            assert text.count("```console") + text.count("```sh") <= len(doc_plan.not_run), name


def test_blocks_not_run_say_why() -> None:
    for name, doc_plan in PLANS.items():
        for line, reason in doc_plan.not_run:
            assert len(reason.split()) >= 4, f"docs/{name}:{line}: 'not run' needs a reason a reader understands"


def test_untagged_blocks_are_not_commands() -> None:
    """A block of commands must say its language, or it would escape this test."""
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            if m.group("lang"):
                continue
            first = next((x for x in m.group("body").splitlines() if x.strip()), "")
            line = text.count("\n", 0, m.start("body"))
            assert not COMMAND_LIKE.match(first), f"docs/{doc.name}:{line}: tag the block (console, sh, python)"


def test_the_parser_reads_prompts_continuations_and_exit_codes() -> None:
    body = "$ mailseal a \\\n    --b   # 4.8: exits 1\n$ mailseal c\nmailseal: error[usage]: x\n"
    steps = _commands("x.md", 0, "console", body)
    assert [(s.command, s.exit_code, s.shown) for s in steps] == [
        ("mailseal a \\\n    --b   # 4.8: exits 1", 1, []), ("mailseal c", 0, ["mailseal: error[usage]: x"])]
    assert [s.command for s in _commands("x.md", 0, "sh", "# note\na --x   # c\n\nb \\\n  c\n")] == [
        "a --x   # c", "b \\\n  c"]
