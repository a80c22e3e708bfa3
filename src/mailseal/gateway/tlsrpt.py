"""SMTP TLS reporting (RFC 8460) for standalone delivery: each TLS session with a recipient domain's MX hosts
counted per day, per policy (``tlsa``, ``sts``, ``no-policy-found``) and per failure type, and a daily report
(the RFC's JSON, gzip) mailed to the ``mailto:`` addresses of the domain's ``_smtp._tls`` TXT record.

The counts live in the spool, ``spool_dir/tlsrpt/YYYY-MM-DD/DOMAIN.json`` (one small file per recipient domain
and day, read and rewritten under an exclusive ``flock``), so that a ``mailseal tlsrpt`` command in another
process sees what the gateway counted. Only ``mailto:`` report addresses are served; ``https:`` ones (RFC 8460
§3) are not built and are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

import dns.rdatatype

from .addresses import address_problem
from .mxlookup import DnsFailure, SecureLookup
from .relay import Copy, DeliveryError, Relay
from .settings import GatewaySettings

log = logging.getLogger("mailseal.gateway")

POLICY_TYPES = ("tlsa", "sts", "no-policy-found")
#: RFC 8460 §4.3: negotiation failures, then DANE and MTA-STS policy failures.
RESULT_TYPES = ("starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
                "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid", "dane-required",
                "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid")
_DOMAIN = re.compile(r"^[a-z0-9._-]{1,253}$")


@dataclass(frozen=True)
class TlsPolicy:
    """The policy a session was held to (RFC 8460 §4.4 "policy"): its type, its text (TLSA records, or the
    MTA-STS policy's lines), the recipient domain and, for MTA-STS, the policy's mx patterns."""

    type: str
    domain: str
    strings: tuple[str, ...] = ()
    mx_hosts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy-type": self.type, "policy-domain": self.domain}
        if self.strings:
            out["policy-string"] = list(self.strings)
        if self.mx_hosts:
            out["mx-host"] = list(self.mx_hosts)
        return out


@dataclass(frozen=True)
class TlsFailure:
    """One failed session (RFC 8460 §4.4 "failure-details"): what failed, with which MX host and address."""

    result_type: str
    receiving_mx_hostname: str
    receiving_ip: str | None = None
    additional_information: str | None = None

    def key(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result-type": self.result_type, "receiving-mx-hostname": self.receiving_mx_hostname}
        if self.receiving_ip:
            out["receiving-ip"] = self.receiving_ip
        if self.additional_information:
            out["additional-information"] = self.additional_information[:200]
        return out


class TlsReportBook:
    """The day's counts per recipient domain, in ``directory`` (``spool_dir/tlsrpt``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, domain: str, day: date) -> Path:
        domain = domain.lower().rstrip(".")
        if not _DOMAIN.match(domain) or domain.startswith("."):
            raise ValueError(f"not a domain name: {domain!r}")
        return self.directory / day.isoformat() / f"{domain}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def record(self, policy: TlsPolicy, failure: TlsFailure | None = None, when: datetime | None = None) -> None:
        """Count one session held to policy: a success, or a failure and why. Blocking (a thread from the loop)."""
        if policy.type not in POLICY_TYPES:
            raise ValueError(f"unknown TLSRPT policy type {policy.type!r}")
        if failure is not None and failure.result_type not in RESULT_TYPES:
            raise ValueError(f"unknown TLSRPT result type {failure.result_type!r}")
        day = (when or datetime.now(UTC)).astimezone(UTC).date()
        path = self._file(policy.domain, day)
        with self._locked():
            data = json.loads(path.read_text()) if path.exists() else {"policies": []}
            wanted = policy.to_json()
            entry = next((p for p in data["policies"] if p["policy"] == wanted), None)
            if entry is None:
                entry = {"policy": wanted, "success": 0, "failure": 0, "details": []}
                data["policies"].append(entry)
            if failure is None:
                entry["success"] += 1
            else:
                entry["failure"] += 1
                key = failure.key()
                detail = next((d for d in entry["details"] if d["detail"] == key), None)
                if detail is None:
                    entry["details"].append({"detail": key, "count": 1})
                else:
                    detail["count"] += 1
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data, sort_keys=True))
            os.replace(temporary, path)

    def domains(self, day: date) -> list[str]:
        """The recipient domains with sessions counted on day, sorted."""
        folder = self.directory / day.isoformat()
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def counts(self, domain: str, day: date) -> list[dict[str, Any]]:
        path = self._file(domain, day)
        with self._locked():
            return list(json.loads(path.read_text())["policies"]) if path.exists() else []

    def sent(self, domain: str, day: date) -> bool:
        return self._file(domain, day).with_suffix(".sent").exists()

    def mark_sent(self, domain: str, day: date) -> None:
        self._file(domain, day).with_suffix(".sent").touch()

    def prune(self, before: date) -> int:
        """Forget the days before ``before``; how many."""
        gone = 0
        if not self.directory.is_dir():
            return 0
        for folder in self.directory.iterdir():
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue
            if folder.is_dir() and day < before:
                for file in folder.iterdir():
                    file.unlink()
                folder.rmdir()
                gone += 1
        return gone


def report(domain: str, day: date, counts: Sequence[dict[str, Any]], organization: str, contact: str,
           report_id: str) -> dict[str, Any]:
    """The RFC 8460 §4.4 JSON report of one recipient domain's day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    policies = []
    for entry in counts:
        item: dict[str, Any] = {
            "policy": entry["policy"],
            "summary": {"total-successful-session-count": entry["success"],
                        "total-failure-session-count": entry["failure"]}}
        if entry["details"]:
            item["failure-details"] = [{**d["detail"], "failed-session-count": d["count"]} for d in entry["details"]]
        policies.append(item)
    return {"organization-name": organization,
            "date-range": {"start-datetime": _stamp(start), "end-datetime": _stamp(start + timedelta(days=1, seconds=-1))},
            "contact-info": contact, "report-id": report_id, "policies": policies}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def report_id(submitter: str, domain: str, day: date) -> str:
    """Stable per submitter, domain and day: a report sent again (a retry) carries the same id (RFC 8460 §4.4)."""
    return f"{day.isoformat()}.{hashlib.sha256(f'{submitter}|{domain}|{day}'.encode()).hexdigest()[:24]}@{submitter}"


def report_message(body: dict[str, Any], submitter: str, sender: str, rua: str) -> bytes:
    """The report as mail (RFC 8460 §5.3): multipart/report; report-type="tlsrpt", a human part and the gzip'd
    JSON as application/tlsrpt+gzip, named ``submitter!domain!begin!end!id.json.gz``."""
    domain = body["policies"][0]["policy"]["policy-domain"] if body["policies"] else ""
    begin = int(datetime.strptime(body["date-range"]["start-datetime"], "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=UTC).timestamp())
    end = begin + 86400
    outer = MIMEMultipart("report", report_type="tlsrpt")
    outer["From"] = sender
    outer["To"] = rua
    outer["Date"] = format_datetime(datetime.now(UTC))
    outer["Message-ID"] = make_msgid(domain=submitter)
    outer["Subject"] = f"Report Domain: {domain} Submitter: {submitter} Report-ID: <{body['report-id']}>"
    outer["TLS-Report-Domain"] = domain
    outer["TLS-Report-Submitter"] = submitter
    outer.attach(MIMEText(f"This is an aggregate TLS report from {submitter} for {domain} (RFC 8460).\n"))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed:
        packed.write(json.dumps(body, indent=1).encode())
    attachment = MIMEApplication(buffer.getvalue(), "tlsrpt+gzip")
    name = f"{submitter}!{domain}!{begin}!{end}!{uuid.uuid5(uuid.NAMESPACE_URL, body['report-id']).hex}.json.gz"
    attachment.add_header("Content-Disposition", "attachment", filename=name)
    outer.attach(attachment)
    return outer.as_bytes(policy=EmailMessage().policy.clone(linesep="\r\n"))


def parse_record(texts: Sequence[str]) -> list[str]:
    """The report URIs of a domain's ``_smtp._tls`` TXT records (RFC 8460 §3): exactly one record starting with
    ``v=TLSRPTv1``, ``rua`` a comma-separated list; none when there is not exactly one."""
    records = [t for t in texts if t.replace(" ", "").startswith("v=TLSRPTv1")]
    if len(records) != 1:
        return []
    fields = {}
    for part in records[0].split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            fields[name.strip()] = value.strip()
    return [uri.strip() for uri in fields.get("rua", "").split(",") if uri.strip()]


def mailto_address(uri: str) -> str | None:
    """The address of a ``mailto:`` URI without query, or None: another scheme, or not one plain mailbox (the
    gateway's own rule for envelope addresses, addresses.py: a published record must not make it relay oddly)."""
    if not uri.lower().startswith("mailto:"):
        return None
    address = unquote(uri[len("mailto:"):].split("?", 1)[0])
    return address if address_problem(address) is None else None


@dataclass(frozen=True)
class Sent:
    """What became of one domain's report: sent to the address, or why not."""

    domain: str
    rua: str | None
    outcome: str


def rua_of(lookup: SecureLookup, domain: str) -> list[str]:
    """The report URIs published at ``_smtp._tls.DOMAIN`` (blocking). Raises DnsFailure."""
    answer = lookup.query(f"_smtp._tls.{domain}", dns.rdatatype.TXT)
    texts = [b"".join(r.strings).decode("utf-8", "replace") for r in answer.records]  # type: ignore[attr-defined]
    return parse_record(texts)


async def send_day(book: TlsReportBook, day: date, relay: Relay, lookup: SecureLookup, submitter: str,
                   domains: Sequence[str] | None = None) -> list[Sent]:
    """Mail each recipient domain's report of day to the ``mailto:`` addresses its ``_smtp._tls`` record names,
    through relay (the gateway's own, to the rua domain's MX); a domain whose report went is marked and not sent
    again. ``https:`` addresses are not built: logged and skipped."""

    sender = f"tlsrpt-noreply@{submitter}"
    results: list[Sent] = []
    for domain in domains if domains is not None else book.domains(day):
        if book.sent(domain, day):
            results.append(Sent(domain, None, "already sent"))
            continue
        try:
            uris = await asyncio.to_thread(rua_of, lookup, domain)
        except DnsFailure as exc:
            results.append(Sent(domain, None, f"no report address: {exc}"))
            continue
        if not uris:
            results.append(Sent(domain, None, "no TLSRPT record (_smtp._tls TXT): nothing to send"))
            book.mark_sent(domain, day)
            continue
        body = report(domain, day, book.counts(domain, day), submitter, f"postmaster@{submitter}",
                      report_id(submitter, domain, day))
        delivered = False
        for uri in uris:
            address = mailto_address(uri)
            if address is None:
                log.warning("tlsrpt %s: report address %s not served (only mailto: is built)", domain, uri[:100])
                results.append(Sent(domain, uri, "not sent: only mailto: report addresses are built"))
                continue
            data = report_message(body, submitter, sender, address)
            key = hashlib.sha256(f"tlsrpt|{body['report-id']}|{address}".encode()).hexdigest()
            try:
                with io.BytesIO(data) as file:
                    await relay.deliver(sender, [Copy([address], file, key)])
            except DeliveryError as exc:
                log.warning("tlsrpt %s: report to %s not delivered (%s)", domain, address, exc.message)
                results.append(Sent(domain, address, f"not delivered: {exc.message}"))
                continue
            log.info("tlsrpt %s: report %s sent to %s", domain, body["report-id"], address)
            results.append(Sent(domain, address, "sent"))
            delivered = True
        if delivered:
            book.mark_sent(domain, day)
    return results


#: How many finished days back unsent reports are still sent (a gateway that was down over midnight catches up).
CATCH_UP_DAYS = 7
#: Days of counts kept in the spool.
KEEP_DAYS = 31


async def send_due(book: TlsReportBook, relay: Relay, lookup: SecureLookup, submitter: str,
                   today: date | None = None) -> list[Sent]:
    """Send the reports of every finished day (up to CATCH_UP_DAYS back) not sent yet; forget days older than
    KEEP_DAYS."""
    today = today or datetime.now(UTC).date()
    results: list[Sent] = []
    for back in range(CATCH_UP_DAYS, 0, -1):
        day = today - timedelta(days=back)
        if any(not book.sent(d, day) for d in book.domains(day)):
            results += await send_day(book, day, relay, lookup, submitter)
    await asyncio.to_thread(book.prune, today - timedelta(days=KEEP_DAYS))
    return results


class Serving(Protocol):
    """What the reporting task needs of the gateway (service.Gateway), read at each round: a reload applies."""

    @property
    def settings(self) -> GatewaySettings: ...

    @property
    def relay(self) -> Relay: ...


async def run(gateway: Serving, every: float = 3600.0) -> None:
    """The serving process's task: hourly, in standalone delivery, send the finished days' reports."""
    while True:
        settings = gateway.settings
        if settings.standalone:
            try:
                await send_due(TlsReportBook(settings.spool_dir / "tlsrpt"), gateway.relay,
                               SecureLookup(settings.dns), settings.hostname)
            except Exception as exc:  # a report is never worth stopping the gateway for; the next hour retries
                log.warning("tlsrpt: reports not sent (%s)", exc)
        await asyncio.sleep(every)


__all__ = ["CATCH_UP_DAYS", "KEEP_DAYS", "POLICY_TYPES", "RESULT_TYPES", "Sent", "Serving", "TlsFailure", "TlsPolicy", "TlsReportBook", "mailto_address",
           "parse_record", "report", "report_id", "report_message", "rua_of", "run", "send_day", "send_due"]
