"""`mailseal tlsrpt show|send-now` (docs/cli.md): a day's counts in the spool shown as RFC 8460 reports; send-now
refused outside standalone delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from mailseal.gateway.tlsrpt import TlsFailure, TlsPolicy, TlsReportBook
from tests.conftest import RunCli


def _config(tmp_path: Path, standalone: bool) -> tuple[Path, Path]:
    spool = tmp_path / "spool"
    config = tmp_path / "mailseal.toml"
    hop = '"mx"' if standalone else '"127.0.0.1:2526"'
    config.write_text(f'[gateway]\nnext_hop = {hop}\nhostname = "gw.example.org"\nspool_dir = "{spool}"\n'
                      f'held_dir = "{tmp_path / "held"}"\n')
    return config, spool


def test_show_prints_the_days_reports(run_cli: RunCli, tmp_path: Path) -> None:
    config, spool = _config(tmp_path, standalone=True)
    book = TlsReportBook(spool / "tlsrpt")
    policy = TlsPolicy("sts", "partner.example", ("version: STSv1", "mode: enforce", "mx: mx.partner.example",
                                                  "max_age: 86400"), ("mx.partner.example",))
    book.record(policy)
    book.record(policy, TlsFailure("certificate-expired", "mx.partner.example", "192.0.2.7"))
    book.record(TlsPolicy("no-policy-found", "other.example"))
    env = {"MAILSEAL_HOME": str(tmp_path / "home")}
    result = run_cli("tlsrpt", "show", "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [r["policies"][0]["policy"]["policy-domain"] for r in reports] == ["other.example", "partner.example"]
    (partner,) = reports[1]["policies"]
    assert partner["policy"]["mx-host"] == ["mx.partner.example"]
    assert partner["summary"] == {"total-successful-session-count": 1, "total-failure-session-count": 1}
    assert partner["failure-details"] == [{"result-type": "certificate-expired", "receiving-ip": "192.0.2.7",
                                           "receiving-mx-hostname": "mx.partner.example", "failed-session-count": 1}]
    assert reports[1]["date-range"]["start-datetime"] == f"{datetime.now(UTC).date().isoformat()}T00:00:00Z"
    empty = run_cli("tlsrpt", "show", "--day", "2020-01-01", "--config", str(config), env=env)
    assert json.loads(empty.stdout) == []


def test_send_now_needs_standalone_delivery_and_a_real_day(run_cli: RunCli, tmp_path: Path) -> None:
    config, _ = _config(tmp_path, standalone=False)
    env = {"MAILSEAL_HOME": str(tmp_path / "home")}
    result = run_cli("tlsrpt", "send-now", "--config", str(config), env=env)
    assert result.returncode == 2 and b"standalone delivery only" in result.stderr
    result = run_cli("tlsrpt", "show", "--day", "yesterday", "--config", str(config), env=env)
    assert result.returncode == 2 and b"is not a day" in result.stderr
