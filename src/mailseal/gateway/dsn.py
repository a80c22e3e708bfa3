"""Delivery status notifications (RFC 3464) for recipients the policy refused while others were delivered.

Only for mail of the organisation's own senders (a trusted origin or an authenticated user): a notice to an
outside sender could go to a forged address (backscatter), so mail from outside with a refused recipient is
refused whole at SMTP instead. The notice carries the original header block (RFC 3462 text/rfc822-headers), never
the body: nothing of the content, decrypted or not, goes back out in it.
"""

from __future__ import annotations

import email.utils
import os
from collections.abc import Sequence
from datetime import UTC, datetime

from .portal import DROPPED_FIELDS
from .stamping import comment, drop_fields


def _ascii(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)


def refusal_notice(*, hostname: str, sender: str, refused: Sequence[tuple[str, str]],
                   header_lines: Sequence[bytes], delivered: int) -> bytes:
    """The DSN for ``refused`` (recipient, reason) pairs, addressed to ``sender``; CRLF line ends, 7-bit."""
    boundary = "mailseal-dsn-" + os.urandom(9).hex()
    now = email.utils.format_datetime(datetime.now(UTC))
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
        f"To: <{sender}>",
        "Subject: Undelivered Mail Returned to Sender (refused by policy)",
        f"Date: {now}",
        f"Message-ID: {email.utils.make_msgid('dsn', domain=hostname)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"The S/MIME gateway {hostname} did not deliver your message to these recipients, by the",
        "policy of your organisation:",
        "",
        *(f"  <{rcpt}>: {_ascii(reason)}" for rcpt, reason in refused),
        "",
        (f"It was delivered to the other {delivered} recipient(s)." if delivered else
         "It was not delivered to anyone else either."),
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {hostname}",
        f"Arrival-Date: {now}",
    ]
    for rcpt, reason in refused:
        lines += ["", f"Final-Recipient: rfc822; {rcpt}", "Action: failed", "Status: 5.7.1",
                  f"Diagnostic-Code: smtp; 550 5.7.1 {comment(reason)}"]
    lines += ["", f"--{boundary}", "Content-Type: text/rfc822-headers", ""]
    head = b"".join(line + b"\r\n" for line in drop_fields(header_lines, DROPPED_FIELDS))
    return ("\r\n".join(lines) + "\r\n").encode("ascii") + head + f"\r\n--{boundary}--\r\n".encode()


__all__ = ["refusal_notice"]
