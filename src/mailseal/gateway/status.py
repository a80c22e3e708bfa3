"""Every SMTP reply the gateway writes, in one place (as aiosmtpd keeps its own): the code, the enhanced status
code (RFC 3463) and the text. Replies that carry a reason take it through ``one_line`` (printable ASCII, bounded)."""

from __future__ import annotations


def one_line(text: str, limit: int = 300) -> str:
    """Safe inside an SMTP reply or a log line: printable ASCII on one line, at most ``limit`` characters."""
    return "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text)[:limit]


# -- commands -------------------------------------------------------------------------------------------------
OK = "250 2.0.0 OK"
SENDER_OK = "250 2.1.0 OK"
RECIPIENT_OK = "250 2.1.5 OK"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, try again later"
SENDER_NOT_OURS = "553 5.7.1 Sender address refused: not an address of the authenticated user"
SENDER_SOURCE_ROUTE = "553 5.1.7 Sender address refused: source routes are not accepted"
RECIPIENT_SOURCE_ROUTE = "553 5.1.3 Recipient address refused: source routes are not accepted"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
RELAY_DENIED = "554 5.7.1 Relay access denied"
# Standalone delivery: one recipient domain per transaction, so that one domain's failure never bounces or delays
# the others'; the client sends the rest in a later transaction (RFC 5321 §3.3).
ONE_DOMAIN_PER_TRANSACTION = "452 4.5.3 One recipient domain per message here: send to this one in another"
TLS_ACTIVE = "503 5.5.1 TLS is already active"
XFORWARD_REFUSED = "550 5.7.0 XFORWARD not permitted"
XFORWARD_SYNTAX = "501 5.5.4 Syntax: XFORWARD attribute=value ..."
XFORWARD_BAD_ATTRIBUTE = "501 5.5.4 Bad XFORWARD attribute"
NEED_RCPT = "503 5.5.1 Error: need RCPT command"
DATA_SYNTAX = "501 5.5.4 Syntax: DATA"


def sender_refused(problem: str) -> str:
    return f"553 5.1.7 Sender address refused: {problem}"


def recipient_refused(problem: str) -> str:
    return f"553 5.1.3 Recipient address refused: {problem}"


# -- abuse: connections, commands, authentication ----------------------------------------------------------
TOO_MANY_CONNECTIONS = "421 4.3.2 Too many connections, try again later"
TOO_MANY_FROM_CLIENT = "421 4.7.0 Too many connections from your address, try again later"
NO_PROGRESS = "421 4.7.0 Too many commands without progress, closing connection"
AUTH_THROTTLED = "454 4.7.0 Too many failed authentications from your address, try again later"
AUTH_CLOSING = "421 4.7.0 Too many failed authentications, closing"
ENCRYPTED_BURST = "451 4.7.0 Too many encrypted messages from this sender or address, try again later"

# -- the data: refused as it arrives ----------------------------------------------------------------------
REFUSE_BARE = "550 5.5.2 Message refused: bare CR or LF in the data (only CRLF line ends are accepted)"
REFUSE_NUL = "554 5.6.0 Message refused: NUL byte in the data (not allowed in SMTP, RFC 6152 section 3)"
REFUSE_8BIT = ("554 5.6.1 Message refused: 8-bit data without BODY=8BITMIME (RFC 6152); send it declared "
               "or 7-bit encoded")
REFUSE_LONG = "500 5.5.6 Line too long (RFC 5321 section 4.5.3.1.6)"
REFUSE_BIG = "552 5.3.4 Message too big for this system"

# -- the message: after the policy and the relay ----------------------------------------------------------
NEXT_HOP_DOWN = "451 4.4.1 Next hop not available, try again later"
PROCESSING_FAILED = "451 4.3.0 Temporary failure processing the message, try again later"


def delivered(copies: int, held: int) -> str:
    return "250 2.0.0 OK: " + one_line(f"{copies} copies delivered, {held} held")


def refused_by_policy(reason: str) -> str:
    return "550 5.7.1 " + one_line(reason)


def over_limit(reason: str) -> str:
    """A message past one of the resource limits (docs/limits.md): refused for good, it would exceed it again."""
    return "554 5.3.4 Message too complex to process: " + one_line(reason)


def over_time(reason: str) -> str:
    """Past ``limits.message_seconds``: deferred, since a busy machine is as likely a cause as the message."""
    return "451 4.3.0 Message took too long to process, try again later: " + one_line(reason)


def refused_by_next_hop(reason: str) -> str:
    return "554 5.0.0 The next hop refused the message: " + one_line(reason)


def null_mx(reason: str) -> str:
    """The recipient domain publishes a null MX (RFC 7505 §4.2)."""
    return "556 5.1.10 " + one_line(reason)


def no_such_domain(reason: str) -> str:
    return "550 5.1.2 " + one_line(reason)


def routing_loop(reason: str) -> str:
    """The recipient domain's best MX is this gateway itself (RFC 5321 §5.1): a configuration error, not a retry."""
    return "554 5.4.6 Routing loop detected: " + one_line(reason)


def dns_failed(reason: str) -> str:
    """An MX or address lookup failed (a bogus DNSSEC answer included): deferred."""
    return "451 4.4.3 DNS lookup failed, try again later: " + one_line(reason)


def secure_tls_failed(reason: str) -> str:
    """No MX host gave the STARTTLS its DANE TLSA records or MTA-STS policy require: deferred (RFC 7672 §2.2)."""
    return "451 4.7.5 No MX host could be reached securely, try again later: " + one_line(reason)


def mx_unavailable(reason: str) -> str:
    return "451 4.4.1 No MX host available, try again later: " + one_line(reason)


def stored_as(name: str) -> str:
    """The test sink's acceptance."""
    return "250 2.0.0 OK: stored as " + name


__all__ = [name for name in dir() if name.isupper() or name in (
    "delivered", "dns_failed", "mx_unavailable", "no_such_domain", "null_mx", "one_line", "routing_loop", "secure_tls_failed", "over_limit", "recipient_refused", "refused_by_next_hop", "refused_by_policy", "sender_refused",
    "stored_as")]
