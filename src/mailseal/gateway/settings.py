"""The gateway's settings: the ``[gateway]`` and ``[log]`` tables of the settings file, checked and with defaults."""

from __future__ import annotations

import difflib
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import data_dir
from ..config import parse_hostport as _hostport
from ..errors import ConfigurationError
from ..limits import DEFAULT_LIMITS, Limits

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_LISTEN = "127.0.0.1:2525"
OUTBOUND_TLS_MODES = ("none", "opportunistic", "required")
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(value: Any, where: str) -> int:
    """Bytes from an integer or a string such as ``"50M"``, ``"512K"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        text = value.strip().upper().removesuffix("B").removesuffix("I")
        number, unit = text.rstrip("KMG"), text[len(text.rstrip("KMG")):]
        if number.isdigit() and unit in _SIZE_UNITS and int(number) > 0:
            return int(number) * _SIZE_UNITS[unit]
    raise ConfigurationError(f"{where} must be a positive size such as 52428800 or \"50M\", not {value!r}")


def parse_hostport(value: Any, where: str) -> tuple[str, int]:
    """``host:port`` (config.parse_hostport); port 0 allowed: the gateway may listen on any free port."""
    return _hostport(value, where, allow_zero=True)


def _networks(value: Any, where: str) -> tuple[Network, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{where} must be a list of networks such as [\"127.0.0.0/8\", \"::1/128\"]")
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in value)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{where} must be a list of strings")
    return tuple(v.lower() for v in value)


def _check_keys(table: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigurationError(f"unknown setting {where}.{key}{hint}")


@dataclass(frozen=True)
class TlsSettings:
    certificate: Path | None = None
    key: Path | None = None
    require_starttls: bool = False


@dataclass(frozen=True)
class MtaStsSettings:
    """What gateway/mtasts.py needs, from the ``[gateway.outbound_tls]`` keys ``mta_sts``, ``mta_sts_nameserver``
    (host:port of the resolver asked for the TXT record and the policy host's addresses; without it the system's),
    ``mta_sts_ca_file`` (anchors for the policy server, default the system's), ``mta_sts_allowed_networks``
    (non-public networks a policy host may be in), ``mta_sts_timeout_seconds``; ``mta_sts_policy_port`` exists for
    tests (RFC 8461 says 443)."""

    enabled: bool = False
    nameserver: tuple[str, int] | None = None
    ca_file: Path | None = None
    allowed_networks: tuple[str, ...] = ()
    timeout: float = 10.0
    policy_port: int = 443


@dataclass(frozen=True)
class OutboundTls:
    mode: str = "opportunistic"  # none | opportunistic | required
    required_domains: tuple[str, ...] = ()  # STARTTLS required for these recipient domains, never plaintext
    ca_file: Path | None = None  # anchors for verifying the next hop (default: the system's)
    verify: bool = True
    # MTA-STS (RFC 8461, gateway/mtasts.py): the recipient domains' policies applied to the next hop.
    mta_sts: bool = False
    mta_sts_nameserver: tuple[str, int] | None = None
    mta_sts_ca_file: Path | None = None
    mta_sts_allowed_networks: tuple[str, ...] = ()
    mta_sts_timeout_seconds: float = 10.0
    mta_sts_policy_port: int = 443

    @property
    def sts(self) -> MtaStsSettings:
        return MtaStsSettings(self.mta_sts, self.mta_sts_nameserver, self.mta_sts_ca_file,
                              self.mta_sts_allowed_networks, self.mta_sts_timeout_seconds, self.mta_sts_policy_port)

    def required_for(self, domains: set[str]) -> bool:
        return self.mode == "required" or any(d in self.required_domains for d in domains)


@dataclass(frozen=True)
class DnsSettings:
    """The ``[gateway.dns]`` table, for standalone delivery (``next_hop = "mx"``): the resolver asked for MX, address
    and TLSA records (``host:port``; default the system's first nameserver), whether its AD bit is trusted so that
    DANE applies (``dane``: the resolver must validate DNSSEC and be on loopback, or be declared trusted with
    ``trust_resolver`` when the path to it is protected), the time a lookup may take, and the port MX hosts are
    contacted on (25; another value is for tests)."""

    resolver: tuple[str, int] | None = None
    dane: bool = False
    trust_resolver: bool = False
    timeout_seconds: float = 10.0
    mx_port: int = 25
    # The zone whose DNSKEY RRset the health probes ask for (with DO set; with ``dane``, the answer must carry AD).
    probe_zone: str = "."


@dataclass(frozen=True)
class AuthSettings:
    enabled: bool = False  # SMTP AUTH for the submission accounts in the store (`mailseal users`)
    require_tls: bool = True  # AUTH only after STARTTLS: passwords never cross the network in clear
    max_concurrent: int = 4  # password checks at once (scrypt: ~32 MiB and 0.1 s each)
    # Guessing (throttle.py): failed logins remembered for failure_window_seconds; an address is refused (454)
    # after failures_per_address; an account's attempts wait (doubling, at most max_delay_seconds) after
    # failures_per_account, never refused (no lock-out an attacker could cause).
    failures_per_address: int = 10
    failures_per_account: int = 5
    failure_window_seconds: float = 900.0
    max_delay_seconds: float = 8.0


@dataclass(frozen=True)
class GatewaySettings:
    listen: tuple[str, int] = ("127.0.0.1", 2525)
    next_hop: tuple[str, int] | None = None
    # next_hop = "mx": no next hop; the gateway delivers to each recipient domain's MX itself (mxrelay.py).
    standalone: bool = False
    # In standalone delivery, where mail for the accepted domains goes (their MX is this gateway).
    local_next_hop: tuple[str, int] | None = None
    dns: DnsSettings = DnsSettings()
    hostname: str = "mailseal.localhost"  # EHLO name and the authserv-id of our Authentication-Results
    # Which node of a cluster: in each audit record, and its row of the store's health table (gateway/heartbeat.py).
    node_name: str = field(default_factory=socket.gethostname)
    accepted_domains: tuple[str, ...] = ()
    trusted_networks: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    signing_networks: tuple[Network, ...] | None = None  # origins whose mail may be signed (default: trusted)
    max_message_size: int = 50 << 20
    max_connections: int = 100
    max_connections_per_client: int = 20  # one client address (limits.py); exempt: client_limit_exceptions
    client_limit_exceptions: tuple[Network, ...] | None = None  # default: the trusted networks (the MTA in front)
    max_recipients: int = 1000
    # Encrypted messages accepted per envelope sender, and per client address outside client_limit_exceptions,
    # within encrypted_burst_window_seconds; past it 451 (a decryption oracle needs many queries: RFC 3218 §2.3).
    encrypted_burst_limit: int = 60
    encrypted_burst_window_seconds: float = 60.0
    timeout_seconds: float = 300.0  # idle time allowed inside a transaction (after MAIL, between DATA blocks)
    greeting_timeout_seconds: float = 30.0  # idle time allowed outside a transaction (before MAIL, between messages)
    stress_timeout_seconds: float = 10.0  # any idle time once 80 % of max_connections are taken
    max_no_progress_commands: int = 100  # NOOP, RSET, VRFY, HELP, EHLO... and refused commands, per message
    strict_8bitmime: bool = False  # refuse 8-bit data not declared BODY=8BITMIME (Postfix: strict_8bitmime_body)
    relay_timeout_seconds: float = 60.0
    # How often a running gateway looks whether the store's policy (edited in the console) changed, and reloads
    # when it did (cli/serve.py); 0: only at a reload (SIGHUP).
    policy_poll_seconds: float = 30.0
    # How often this node reports its health to the shared store's table (gateway/heartbeat.py); 0: never.
    health_interval_seconds: float = 30.0
    workers: int = 4
    # Audit records held in memory while the store database does not answer; past it they wait in a journal in the
    # spool (gateway/auditlog.py), replayed when it answers again: memory stays bounded and none is lost.
    audit_queue_limit: int = 100_000
    worker_processes: int = 0  # >0: the pipeline runs in this many processes (every core), not in threads
    # SMTP front-end processes sharing the listening port (SO_REUSEPORT; cli/frontends.py); 1: no extra process.
    processes: int = 1
    spool_dir: Path = field(default_factory=lambda: data_dir() / "spool")
    held_dir: Path = field(default_factory=lambda: data_dir() / "held")
    metrics_listen: tuple[str, int] | None = None
    trust_files: tuple[Path, ...] = ()  # extra trust anchors for verifying inbound signatures (beside the trust list)
    harvest: bool = True
    tls: TlsSettings = TlsSettings()
    auth: AuthSettings = AuthSettings()
    outbound_tls: OutboundTls = OutboundTls()
    limits: Limits = DEFAULT_LIMITS  # the [limits] table (docs/limits.md), not a key of [gateway]

    @property
    def origin_networks_for_signing(self) -> tuple[Network, ...]:
        return self.trusted_networks if self.signing_networks is None else self.signing_networks

    @property
    def per_client_exempt(self) -> tuple[Network, ...]:
        return self.trusted_networks if self.client_limit_exceptions is None else self.client_limit_exceptions

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> GatewaySettings:
        table = settings.get("gateway", {})
        if not isinstance(table, Mapping):
            raise ConfigurationError("[gateway] must be a table")
        known = {"listen", "next_hop", "local_next_hop", "hostname", "node_name", "accepted_domains", "trusted_networks",
                 "signing_networks", "max_message_size", "max_connections", "max_connections_per_client", "client_limit_exceptions",
                 "max_recipients", "timeout_seconds", "greeting_timeout_seconds", "stress_timeout_seconds",
                 "max_no_progress_commands", "strict_8bitmime", "relay_timeout_seconds", "workers",
                 "policy_poll_seconds", "health_interval_seconds", "worker_processes", "processes", "spool_dir",
                 "held_dir", "metrics_listen", "trust_files", "harvest", "tls", "auth", "outbound_tls", "dns",
                 "encrypted_burst_limit", "encrypted_burst_window_seconds", "audit_queue_limit"}
        _check_keys(table, known, "gateway")
        kw: dict[str, Any] = {}
        if "listen" in table:
            kw["listen"] = parse_hostport(table["listen"], "gateway.listen")
        if table.get("next_hop") == "mx":
            kw["standalone"] = True
        elif "next_hop" in table:
            kw["next_hop"] = parse_hostport(table["next_hop"], "gateway.next_hop")
        if "local_next_hop" in table:
            kw["local_next_hop"] = parse_hostport(table["local_next_hop"], "gateway.local_next_hop")
        if "dns" in table:
            kw["dns"] = _dns(table["dns"])
        if "metrics_listen" in table:
            kw["metrics_listen"] = parse_hostport(table["metrics_listen"], "gateway.metrics_listen")
        if "hostname" in table:
            if not isinstance(table["hostname"], str) or not table["hostname"].strip():
                raise ConfigurationError("gateway.hostname must be a host name")
            kw["hostname"] = table["hostname"].strip()
        if "node_name" in table:
            if not isinstance(table["node_name"], str) or not 0 < len(table["node_name"].strip()) <= 64:
                raise ConfigurationError("gateway.node_name must be a name of 1 to 64 characters")
            kw["node_name"] = table["node_name"].strip()
        if "accepted_domains" in table:
            kw["accepted_domains"] = _strings(table["accepted_domains"], "gateway.accepted_domains")
        for name in ("trusted_networks", "signing_networks", "client_limit_exceptions"):
            if name in table:
                kw[name] = _networks(table[name], f"gateway.{name}")
        if "max_message_size" in table:
            kw["max_message_size"] = parse_size(table["max_message_size"], "gateway.max_message_size")
        if "worker_processes" in table:
            value = table["worker_processes"]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 64:
                raise ConfigurationError("gateway.worker_processes must be an integer from 0 (threads) to 64")
            kw["worker_processes"] = value
        if "processes" in table:
            value = table["processes"]
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 64:
                raise ConfigurationError("gateway.processes must be an integer from 1 to 64")
            kw["processes"] = value
        for name in ("max_connections", "max_connections_per_client", "max_recipients", "workers",
                     "max_no_progress_commands", "encrypted_burst_limit", "audit_queue_limit"):
            if name in table:
                value = table[name]
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ConfigurationError(f"gateway.{name} must be a positive integer")
                kw[name] = value
        for name in ("timeout_seconds", "greeting_timeout_seconds", "stress_timeout_seconds",
                     "relay_timeout_seconds", "encrypted_burst_window_seconds"):
            if name in table:
                value = table[name]
                if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                    raise ConfigurationError(f"gateway.{name} must be a positive number of seconds")
                kw[name] = float(value)
        for name in ("policy_poll_seconds", "health_interval_seconds"):
            if name in table:
                value = table[name]
                if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 86400:
                    raise ConfigurationError(f"gateway.{name} must be a number of seconds from 0 (never) to 86400")
                kw[name] = float(value)
        for name in ("spool_dir", "held_dir"):
            if name in table:
                kw[name] = Path(str(table[name]))
        if "trust_files" in table:
            files = table["trust_files"]
            if not isinstance(files, list) or not all(isinstance(p, str) and p for p in files):
                raise ConfigurationError("gateway.trust_files must be a list of file names")
            kw["trust_files"] = tuple(Path(p) for p in files)
        for name in ("harvest", "strict_8bitmime"):
            if name in table:
                if not isinstance(table[name], bool):
                    raise ConfigurationError(f"gateway.{name} must be true or false")
                kw[name] = table[name]
        if "tls" in table:
            kw["tls"] = _tls(table["tls"])
        if "outbound_tls" in table:
            kw["outbound_tls"] = _outbound_tls(table["outbound_tls"])
        if "auth" in table:
            kw["auth"] = _auth(table["auth"])
        kw["limits"] = Limits.from_settings(settings)
        result = cls(**kw)
        if result.auth.enabled and result.auth.require_tls and result.tls.certificate is None:
            raise ConfigurationError("gateway.auth needs STARTTLS: set gateway.tls.certificate and key "
                                     "(or gateway.auth.require_tls = false on a loopback-only listener)")
        if result.local_next_hop is not None and not result.standalone:
            raise ConfigurationError("gateway.local_next_hop applies to standalone delivery (next_hop = \"mx\"); "
                                     "with a next hop every copy goes there")
        if result.dns.dane and not result.standalone:
            raise ConfigurationError("gateway.dns.dane applies to standalone delivery: set gateway.next_hop = \"mx\"")
        if result.next_hop is None and not result.standalone:
            raise ConfigurationError("gateway.next_hop is not set: where should mailseal deliver mail?")
        return result


def _tls(table: Any) -> TlsSettings:
    if not isinstance(table, Mapping):
        raise ConfigurationError("[gateway.tls] must be a table")
    _check_keys(table, {"certificate", "key", "require_starttls"}, "gateway.tls")
    cert = Path(table["certificate"]) if "certificate" in table else None
    key = Path(table["key"]) if "key" in table else None
    require = table.get("require_starttls", False)
    if not isinstance(require, bool):
        raise ConfigurationError("gateway.tls.require_starttls must be true or false")
    if (cert is None) != (key is None):
        raise ConfigurationError("gateway.tls needs both certificate and key")
    if require and cert is None:
        raise ConfigurationError("gateway.tls.require_starttls needs a certificate and key")
    for path in (cert, key):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"gateway.tls: {path} does not exist")
    return TlsSettings(cert, key, require)


def _dns(table: Any) -> DnsSettings:
    where = "gateway.dns"
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"[{where}] must be a table")
    _check_keys(table, {"resolver", "dane", "trust_resolver", "timeout_seconds", "mx_port", "probe_zone"}, where)
    resolver = parse_hostport(table["resolver"], f"{where}.resolver") if "resolver" in table else None
    for name in ("dane", "trust_resolver"):
        if name in table and not isinstance(table[name], bool):
            raise ConfigurationError(f"{where}.{name} must be true or false")
    dane, trusted = bool(table.get("dane", False)), bool(table.get("trust_resolver", False))
    if dane and not trusted:
        # The AD bit is only as good as the path from the validator: RFC 6698 §4.1 / RFC 4035 §4.9.3.
        host = resolver[0] if resolver else ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigurationError(f"{where}.dane trusts the resolver's AD bit: set {where}.resolver to a validating "
                                     f"resolver on loopback (such as \"127.0.0.1:53\"), or set {where}.trust_resolver "
                                     f"= true when the path to it is protected")
    timeout = table.get("timeout_seconds", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigurationError(f"{where}.timeout_seconds must be a positive number")
    port = table.get("mx_port", 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"{where}.mx_port must be a port number")
    zone = table.get("probe_zone", ".")
    if not isinstance(zone, str) or not zone or len(zone) > 253 or \
            not all(c.isalnum() or c in "-._" for c in zone) or ".." in zone:
        raise ConfigurationError(f"{where}.probe_zone must be a DNS zone name such as \".\" or \"example.org\"")
    return DnsSettings(resolver, dane, trusted, float(timeout), port, zone)


def _auth(table: Any) -> AuthSettings:
    if not isinstance(table, Mapping):
        raise ConfigurationError("[gateway.auth] must be a table")
    counts = ("max_concurrent", "failures_per_address", "failures_per_account")
    seconds = ("failure_window_seconds", "max_delay_seconds")
    _check_keys(table, {"enabled", "require_tls", *counts, *seconds}, "gateway.auth")
    for name in ("enabled", "require_tls"):
        if name in table and not isinstance(table[name], bool):
            raise ConfigurationError(f"gateway.auth.{name} must be true or false")
    kw: dict[str, Any] = {name: table[name] for name in ("enabled", "require_tls") if name in table}
    for name in counts:
        if name in table:
            value = table[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"gateway.auth.{name} must be a positive integer")
            kw[name] = value
    for name in seconds:
        if name in table:
            value = table[name]
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigurationError(f"gateway.auth.{name} must be a number of seconds")
            kw[name] = float(value)
    return AuthSettings(**kw)


def _outbound_tls(table: Any) -> OutboundTls:
    if not isinstance(table, Mapping):
        raise ConfigurationError("[gateway.outbound_tls] must be a table")
    _check_keys(table, {"mode", "required_domains", "ca_file", "verify", *_MTA_STS_KEYS}, "gateway.outbound_tls")
    mode = table.get("mode", "opportunistic")
    if mode not in OUTBOUND_TLS_MODES:
        raise ConfigurationError(f"gateway.outbound_tls.mode must be one of {', '.join(OUTBOUND_TLS_MODES)}")
    domains = _strings(table.get("required_domains", []), "gateway.outbound_tls.required_domains")
    ca = Path(table["ca_file"]) if "ca_file" in table else None
    verify = table.get("verify", True)
    if not isinstance(verify, bool):
        raise ConfigurationError("gateway.outbound_tls.verify must be true or false")
    sts = _mta_sts(table)
    return OutboundTls(mode, domains, ca, verify, sts.enabled, sts.nameserver, sts.ca_file, sts.allowed_networks,
                       sts.timeout, sts.policy_port)


_MTA_STS_KEYS = ("mta_sts", "mta_sts_nameserver", "mta_sts_ca_file", "mta_sts_allowed_networks",
                 "mta_sts_timeout_seconds", "mta_sts_policy_port")


def _mta_sts(table: Mapping[str, Any]) -> MtaStsSettings:
    where = "gateway.outbound_tls"
    enabled = table.get("mta_sts", False)
    if not isinstance(enabled, bool):
        raise ConfigurationError(f"{where}.mta_sts must be true or false")
    nameserver = (parse_hostport(table["mta_sts_nameserver"], f"{where}.mta_sts_nameserver")
                  if "mta_sts_nameserver" in table else None)
    ca_value = table.get("mta_sts_ca_file")
    if ca_value is not None and (not isinstance(ca_value, str) or not ca_value):
        raise ConfigurationError(f"{where}.mta_sts_ca_file must be a file name")
    ca = Path(ca_value) if ca_value is not None else None
    networks = _strings(table.get("mta_sts_allowed_networks", []), f"{where}.mta_sts_allowed_networks")
    for net in networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigurationError(f"{where}.mta_sts_allowed_networks: {net!r} is not a network") from None
    timeout = table.get("mta_sts_timeout_seconds", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigurationError(f"{where}.mta_sts_timeout_seconds must be a positive number")
    port = table.get("mta_sts_policy_port", 443)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"{where}.mta_sts_policy_port must be a port number")
    return MtaStsSettings(enabled, nameserver, ca, networks, float(timeout), port)


@dataclass(frozen=True)
class LogSettings:
    """The ``[log]`` table: where `mailseal serve` logs. Without ``file``: standard error (journald under systemd).
    With ``file`` and ``max_bytes``: mailseal rotates the file itself, keeping ``backups`` old files; with ``file``
    alone: logrotate rotates it and mailseal reopens it when it was moved (docs/monitoring.md)."""

    file: Path | None = None
    max_bytes: int = 0
    backups: int = 5

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LogSettings:
        table = settings.get("log", {})
        if not isinstance(table, Mapping):
            raise ConfigurationError("[log] must be a table")
        _check_keys(table, {"file", "max_bytes", "backups"}, "log")
        if "file" not in table:
            if "max_bytes" in table or "backups" in table:
                raise ConfigurationError("log.max_bytes and log.backups need log.file: without it the gateway logs "
                                         "to standard error")
            return cls()
        raw = table["file"]
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigurationError("log.file must be a file name such as \"/var/log/mailseal/gateway.log\"")
        path = Path(raw)
        if not path.is_absolute():
            raise ConfigurationError(f"log.file must be an absolute path, not {raw!r}")
        if not path.parent.is_dir():
            raise ConfigurationError(f"log.file: the folder {path.parent} does not exist")
        if path.is_dir():
            raise ConfigurationError(f"log.file: {path} is a folder")
        max_bytes = parse_size(table["max_bytes"], "log.max_bytes") if "max_bytes" in table else 0
        backups = table.get("backups", 5)
        if isinstance(backups, bool) or not isinstance(backups, int) or not 1 <= backups <= 1000:
            raise ConfigurationError("log.backups must be an integer from 1 to 1000")
        if "backups" in table and not max_bytes:
            raise ConfigurationError("log.backups needs log.max_bytes (without it logrotate rotates the file and "
                                     "keeps the old ones)")
        return cls(path, max_bytes, backups)


__all__ = ["AuthSettings", "DnsSettings", "GatewaySettings", "LogSettings", "OutboundTls", "TlsSettings", "parse_hostport",
           "parse_size"]
