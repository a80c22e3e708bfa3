"""Every SMTP reply the gateway writes lives in gateway/status.py (issue 14, point 4)."""

from __future__ import annotations

import re
from pathlib import Path

from mailseal.gateway import status

GATEWAY = Path(__file__).resolve().parents[2] / "src" / "mailseal" / "gateway"
REPLY = re.compile(r"""["'][245]\d\d[ -][245]\.\d+\.\d+""")


def test_no_reply_is_written_outside_status() -> None:
    found = [f"{path.name}: {m.group()}" for path in sorted(GATEWAY.glob("*.py")) if path.name != "status.py"
             for m in REPLY.finditer(path.read_text())]
    assert found == []


def test_every_reply_has_a_code_an_enhanced_code_and_text() -> None:
    replies = [value for name, value in vars(status).items() if name.isupper() and isinstance(value, str)]
    assert len(replies) > 20
    for reply in replies:
        assert re.fullmatch(r"[245]\d\d [245]\.\d{1,3}\.\d{1,3} \S.*", reply), reply
        assert reply[0] == reply[4], reply  # the enhanced code's class is the reply's (RFC 3463)


def test_reasons_are_made_one_safe_line() -> None:
    assert status.refused_by_policy("bad\r\nRCPT TO:<x>") == "550 5.7.1 bad  RCPT TO:<x>"
    assert len(status.refused_by_next_hop("x" * 1000)) < 400
