"""TLS reporting's parts without the network (gateway/tlsrpt.py): the ``_smtp._tls`` record (RFC 8460 §3), report
addresses, the day's counts in the spool and what is kept of them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from mailseal.gateway.tlsrpt import KEEP_DAYS, TlsFailure, TlsPolicy, TlsReportBook, mailto_address, parse_record


def test_the_record_needs_exactly_one_tlsrptv1() -> None:
    assert parse_record(["v=TLSRPTv1; rua=mailto:a@example.org, https://r.example/x"]) == [
        "mailto:a@example.org", "https://r.example/x"]
    assert parse_record(["v=spf1 -all", "v=TLSRPTv1;rua=mailto:a@example.org"]) == ["mailto:a@example.org"]
    # Two records, or none: no report (RFC 8460 §3).
    assert parse_record(["v=TLSRPTv1; rua=mailto:a@example.org", "v=TLSRPTv1; rua=mailto:b@example.org"]) == []
    assert parse_record(["v=TLSRPTv2; rua=mailto:a@example.org"]) == []


def test_only_plain_mailto_addresses_are_served() -> None:
    assert mailto_address("mailto:tls@example.org") == "tls@example.org"
    assert mailto_address("mailto:tls@example.org?subject=x") == "tls@example.org"
    for uri in ("https://r.example/x", "mailto:no-at-sign", "mailto:a@b@example.org", "mailto:<a@example.org>",
                "mailto:a@exa mple.org", "mailto:a@example.org,b@example.org"):
        assert mailto_address(uri) is None, uri


def test_counts_add_up_per_policy_and_failure(tmp_path: Path) -> None:
    book = TlsReportBook(tmp_path)
    tlsa = TlsPolicy("tlsa", "Example.ORG.", ("3 1 1 00",))
    day = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    for _ in range(3):
        book.record(tlsa, when=day)
    for _ in range(2):
        book.record(tlsa, TlsFailure("validation-failure", "mx.example.org", "192.0.2.1"), when=day)
    book.record(tlsa, TlsFailure("starttls-not-supported", "mx.example.org", "192.0.2.1"), when=day)
    book.record(tlsa, when=day + timedelta(minutes=2))  # the next day, in its own file
    (entry,) = book.counts("example.org", day.date())
    assert (entry["success"], entry["failure"]) == (3, 3)
    assert sorted((d["detail"]["result-type"], d["count"]) for d in entry["details"]) == [
        ("starttls-not-supported", 1), ("validation-failure", 2)]
    assert book.counts("example.org", date(2026, 12, 7))[0]["success"] == 1


def test_unknown_types_and_names_are_refused(tmp_path: Path) -> None:
    book = TlsReportBook(tmp_path)
    with pytest.raises(ValueError, match="policy type"):
        book.record(TlsPolicy("dane", "example.org"))
    with pytest.raises(ValueError, match="result type"):
        book.record(TlsPolicy("tlsa", "example.org"), TlsFailure("broken", "mx.example.org"))
    with pytest.raises(ValueError, match="not a domain"):
        book.record(TlsPolicy("tlsa", "../../etc"))  # a name is a file name: no path in it


def test_old_days_are_forgotten(tmp_path: Path) -> None:
    book = TlsReportBook(tmp_path)
    today = date(2026, 12, 7)
    for back in (1, KEEP_DAYS, KEEP_DAYS + 1):
        when = datetime.combine(today - timedelta(days=back), datetime.min.time(), UTC)
        book.record(TlsPolicy("no-policy-found", "example.org"), when=when)
    book.mark_sent("example.org", today - timedelta(days=KEEP_DAYS + 1))
    assert book.prune(today - timedelta(days=KEEP_DAYS)) == 1
    assert book.domains(today - timedelta(days=KEEP_DAYS + 1)) == []
    assert book.domains(today - timedelta(days=KEEP_DAYS)) == ["example.org"]
