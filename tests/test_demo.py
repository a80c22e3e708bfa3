"""`make run` as a new user meets it: its own data folder named in full, the ports given honoured on every run,
one line (never a traceback) when a port is taken, and every command it prints working from any other folder."""

from __future__ import annotations

import email
import email.policy
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailseal.demo import Ports, sample_message, with_ports
from tests.conftest import REPO_ROOT, cli_env
from tests.support.smtp_sink import free_port

VENV = Path(sys.executable).absolute().parent.parent


def _demo(*args: str | Path, home: Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    env = cli_env()
    for inherited in ("MAILSEAL_CONFIG", "MAILSEAL_STORE_PASSPHRASE", "MAILSEAL_STORE_KEYFILE", "MAILSEAL_DB_URL"):
        env.pop(inherited, None)
    return subprocess.run([sys.executable, "-m", "mailseal.demo", "--home", str(home), *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo organisation for the module (the CA and the keys take a few seconds to make)."""
    folder = tmp_path_factory.mktemp("demo")
    done = _demo("--setup-only", "--port", free_port(), "--sink-port", free_port(), "--metrics-port", free_port(),
                 "--web-port", free_port(), "--portal-port", free_port(), home=folder / "mailseal-data",
                 cwd=folder)
    assert done.returncode == 0, done.stderr.decode()
    assert re.search(r"^web console account admin, password \S{20,} \(shown this once\)$", done.stdout.decode(), re.M)
    return folder / "mailseal-data"


@pytest.fixture
def busy() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_the_sample_message_has_a_date() -> None:
    parsed = email.message_from_bytes(sample_message("a@example.org", "b@example.org", "s", "t\n"),
                                      policy=email.policy.default)
    assert parsed["Date"] is not None and parsed["Date"].datetime is not None


@pytest.mark.parametrize("option", ["--port", "--sink-port", "--metrics-port", "--web-port"])
def test_a_busy_port_is_one_line(home: Path, busy: int, option: str, tmp_path: Path) -> None:
    """Whichever port is taken: one line naming it and how to choose another, exit 2, the same from any folder."""
    others = {"--port", "--sink-port", "--metrics-port", "--web-port", "--portal-port"} - {option}
    args = [option, str(busy), *(a for o in sorted(others) for a in (o, str(free_port())))]
    answers = []
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        done = _demo(*args, home=home, cwd=tmp_path / folder)
        assert done.returncode == 2, done.stderr.decode()
        answers.append(done.stderr.decode())
        assert "Traceback" not in done.stdout.decode() + done.stderr.decode()
    assert answers[0] == answers[1]
    assert answers[0] == (f"mailseal: error[io]: port {busy} is in use; choose another with {option} N "
                          f'(make run DEMO_ARGS="{option} N")\n')


def test_any_other_failure_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("a file where the data directory should be")
    done = _demo("--setup-only", home=tmp_path / "home", cwd=tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("mailseal: error[io]: ")
    wrong = _demo("--port", "99999", home=tmp_path / "elsewhere", cwd=tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.decode().startswith("mailseal: error[usage]: ")
    assert len(wrong.stderr.decode().splitlines()) == 1


@pytest.mark.parametrize("which", ["listen", "metrics"])
def test_serve_with_a_busy_port_is_one_line(home: Path, busy: int, which: str, tmp_path: Path) -> None:
    settings = (home / "mailseal.toml").read_text()
    free = free_port()
    config = tmp_path / "mailseal.toml"
    config.write_text(with_ports(settings, Ports(smtp=busy if which == "listen" else free, sink=free_port(),
                                                 metrics=busy if which == "metrics" else free_port())))
    env = cli_env({"MAILSEAL_STORE_KEYFILE": str(home / "demo" / "store.key"), "MAILSEAL_HOME": str(home)})
    env.pop("MAILSEAL_STORE_PASSPHRASE", None)
    done = subprocess.run([sys.executable, "-m", "mailseal.cli.main", "serve", "--config", str(config)],
                          cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err
    choose = ("--listen 127.0.0.1:N (or gateway.listen in the settings file)" if which == "listen"
              else "gateway.metrics_listen in the settings file")
    assert err.splitlines()[-1] == f"mailseal: error[io]: port {busy} is in use; choose another with {choose}"


def test_ports_given_on_a_later_run_are_honoured(home: Path, tmp_path: Path) -> None:
    """The organisation was made with other ports; a later run with new ones uses all of them (the gateway's
    listener and next hop and the sink alike) and keeps them in the settings file for the runs after."""
    ports = Ports(smtp=free_port(), sink=free_port(), metrics=free_port())
    done = _demo("--self-test", "--port", ports.smtp, "--sink-port", ports.sink, "--metrics-port", ports.metrics,
                 home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"signature=valid -> OK" in done.stdout
    settings = (home / "mailseal.toml").read_text()
    for key, port in (("listen", ports.smtp), ("next_hop", ports.sink), ("metrics_listen", ports.metrics)):
        assert f'\n{key} = "127.0.0.1:{port}"\n' in settings
    assert "# mailseal demo settings" in settings and 'sign = "if-key"' in settings  # the rest is kept


def test_with_ports_keeps_the_users_edits() -> None:
    text = '# mine\n[gateway]\nhostname = "x"  # kept\nlisten = "0.0.0.0:25"\n\n[policy]\nlisten = "untouched"\n'
    out = with_ports(text, Ports(smtp=1, sink=2, metrics=3))
    assert out.startswith('# mine\n[gateway]\nmetrics_listen = "127.0.0.1:3"\nnext_hop = "127.0.0.1:2"\n'
                          'hostname = "x"  # kept\nlisten = "127.0.0.1:1"\n')
    assert out.endswith('[policy]\nlisten = "untouched"\n')


def test_make_run_names_its_own_folder(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "-s", "-C", str(REPO_ROOT), "-o", str(VENV / ".installed"), "run",
                           f"VENV={VENV}"], cwd=tmp_path, capture_output=True, timeout=60, check=False,
                          env={k: v for k, v in os.environ.items() if k not in ("DEMO_HOME", "DEMO_ARGS")})
    assert done.returncode == 0, done.stderr.decode()
    assert f'-m mailseal.demo --home "{REPO_ROOT}/mailseal-data"' in done.stdout.decode()


def _read_until(proc: subprocess.Popen[bytes], marker: str, timeout: float) -> str:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    out = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in out:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"no {marker!r} from make run (exit {proc.poll()}):\n{out.decode()}")
        if selector.select(timeout=1):
            chunk = os.read(proc.stdout.fileno(), 65536)
            out += chunk
    return out.decode()


def _printed_commands(text: str) -> list[str]:
    """The commands of the instructions: the lines indented by two spaces."""
    return [line[2:] for line in text.splitlines() if line.startswith("  ") and not line.startswith("   ")]


def _console_answers(printed: str, port: int) -> None:
    """The console is at the printed URL, and the printed password passes its first step (the second factor
    is enrolled at that first login)."""
    found = re.search(r"^web console: (http://127\.0\.0\.1:(\d+)/) user admin, password (\S+)$", printed, re.M)
    assert found is not None and int(found.group(2)) == port, printed
    # httpx keeps Secure cookies for https only (a browser also for loopback): they are passed by hand
    with httpx.Client(base_url=found.group(1)) as client:
        form = client.get("/login")
        assert form.status_code == 200 and "Sign in" in form.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        answer = client.post("/login", data={"name": "admin", "password": found.group(3),
                                             "csrf_token": token.group(1)},
                             headers={"Cookie": f"__Host-mailseal-login={form.cookies['__Host-mailseal-login']}"})
        assert answer.status_code == 303 and answer.headers["location"] == "/login/totp"
        session = answer.cookies["__Host-mailseal"]
        enrol = client.get("/login/totp", headers={"Cookie": f"__Host-mailseal={session}"})
        assert "Your account has no authenticator yet" in enrol.text
    assert "(shown this once; a new one: " in printed


def test_make_run_and_every_printed_command_work_from_another_folder(tmp_path: Path) -> None:
    """`make run` started from one folder (make -C), each command it prints run as printed from another folder,
    by a shell with nothing of mailseal's in its environment."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    started, elsewhere, data = tmp_path / "started", tmp_path / "elsewhere", tmp_path / "clone-data"
    started.mkdir()
    elsewhere.mkdir()
    user_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "user"), "LANG": "C.UTF-8",
                "XDG_DATA_HOME": str(tmp_path / "user-data")}
    web_port = free_port()
    demo_args = f"--port {free_port()} --sink-port {free_port()} --metrics-port {free_port()} --web-port {web_port} --portal-port {free_port()}"
    proc = subprocess.Popen(["make", "-s", "-C", str(REPO_ROOT), "-o", str(VENV / ".installed"), "run",
                             f"VENV={VENV}", f"DEMO_HOME={data}", f"DEMO_ARGS={demo_args}"],
                            cwd=started, env=user_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        printed = _read_until(proc, "Ctrl-C stops.", timeout=180)
        commands = _printed_commands(printed)
        assert len(commands) == 8, printed
        assert str(data) in printed and not list(started.iterdir())
        results: dict[str, subprocess.CompletedProcess[str]] = {}
        before = len(list((data / "sink").glob("*.eml")))
        for command in commands:
            if command.startswith("curl") and shutil.which("curl") is None:
                continue
            results[command] = done = subprocess.run(["sh", "-c", command], cwd=elsewhere, env=user_env,
                                                     capture_output=True, text=True, timeout=120, check=False)
            assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stdout + done.stderr
        _console_answers(printed, web_port)
        by_verb = {re.sub(r"^.*? --home \S+ (\w+).*$", r"\1", c): r for c, r in results.items()}
        assert "status: valid" in by_verb["open"].stdout and "encrypted: yes" in by_verb["open"].stdout
        assert "carol@partner.example: outbound, deliver" in by_verb["policy"].stdout
        assert f"home: {data} (from --home)" in by_verb["status"].stdout
        assert "keys: 2" in by_verb["status"].stdout
        # the outside recipient without a certificate: deposited in the portal, a notification in the sink
        assert "dave@outside.example" in by_verb["portal"].stdout and "active" in by_verb["portal"].stdout
        # the curl and the Python commands send the same message: delivered each time (not taken for a retry)
        sent = sum(1 for c in results if c.startswith("curl") or "smtplib" in c)
        assert sent >= 1 and len(list((data / "sink").glob("*.eml"))) == before + sent
        assert not list(elsewhere.iterdir()) and not list(started.iterdir())  # nothing written where they ran
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as the instructions say
        _out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err.decode(), err.decode()
