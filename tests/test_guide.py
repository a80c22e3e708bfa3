"""The README's user guide runs as written: every `$ mailseal ...` line, its exit code and the output shown."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, pkcs12

from tests.support.testpki import TestPKI

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```(console|python)\n(.*?)```", re.S)


def _examples() -> list[tuple[str, str]]:
    return [(kind, body) for kind, body in BLOCK.findall(README.read_text())]


@pytest.fixture(scope="module")
def guide_dir(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("guide")
    for name in ("alice", "bob"):
        user = pki.user(name, "rsa2048" if name == "alice" else "ec-p256")
        blob = pkcs12.serialize_key_and_certificates(
            name.encode(), user.key, user.cert, user.chain, BestAvailableEncryption(b"secret")  # type: ignore[arg-type]
        )
        (d / f"{name}.p12").write_bytes(blob)
        if name == "bob":
            (d / "bob.pem").write_bytes(user.cert.public_bytes(Encoding.PEM))
    (d / "ca.pem").write_bytes(Path(pki.root_path).read_bytes())
    (d / "message.eml").write_bytes(
        b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Hello\r\n\r\nHello Bob!\r\n"
    )
    return d


def _commands(body: str) -> list[tuple[str, int, list[str]]]:
    out: list[tuple[str, int, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            command, _, comment = line[2:].partition("#")
            m = re.search(r"exits (\d)", comment)
            out.append((command.strip(), int(m.group(1)) if m else 0, []))
        elif line.strip() and out:
            out[-1][2].append(line)
    return out


def test_readme_has_examples() -> None:
    kinds = [k for k, _ in _examples()]
    assert kinds.count("console") >= 5 and "python" in kinds


def test_guide_commands_run_as_written(guide_dir: Path) -> None:
    ran = 0
    for kind, body in _examples():
        if kind != "console":
            continue
        for command, expected_exit, expected_lines in _commands(body):
            argv = shlex.split(command)
            assert argv[0] == "mailseal", command
            proc = subprocess.run(
                [sys.executable, "-m", "mailseal.cli.main", *argv[1:]],
                cwd=guide_dir, capture_output=True, timeout=120, check=False,
                env={**os.environ, "MAILSEAL_HOME": str(guide_dir / "home")},
            )
            output = proc.stdout.decode() + proc.stderr.decode()
            assert proc.returncode == expected_exit, f"{command}: exit {proc.returncode}\n{output}"
            assert "Traceback" not in output
            for expected in expected_lines:
                assert expected.strip() in output, f"{command}: missing {expected!r} in\n{output}"
            ran += 1
    assert ran >= 12


def test_guide_python_example_runs(guide_dir: Path) -> None:
    code = next(body for kind, body in _examples() if kind == "python")
    cwd = os.getcwd()
    os.chdir(guide_dir)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
