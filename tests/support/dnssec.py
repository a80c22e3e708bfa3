"""DNSSEC for tests: a small authoritative DNS server (dnspython) on 127.0.0.1 serving zones signed with
``dns.dnssec.sign_zone`` (NSEC denial of existence, RRSIGs when the query sets DO), and dnsmasq in front of it
as the validating resolver with the test zone's trust anchor.

Zones: a signed parent (``dane.test``), an insecure delegation below it (``plain.dane.test``: NS and no DS,
proven by the parent's signed NSEC) served unsigned, and any RRset whose signature a test breaks on purpose
(``bogus``: dnsmasq then answers SERVFAIL). CNAMEs are followed across the zones held (secure and insecure
chains for RFC 7672 §2.2.2). dnsmasq forwards every query under the parent to this server and
never anything else (``--no-resolv --no-hosts``). A missing dnsmasq skips, or fails under MAILSEAL_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.dnsserver import require_dnsmasq
from tests.support.processes import terminate

START_TIMEOUT = 10.0
ALGORITHM = dns.dnssec.Algorithm.ECDSAP256SHA256


def free_port_udp_tcp(host: str = "127.0.0.1") -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
            u.bind((host, 0))
            port = int(u.getsockname()[1])
            try:
                t.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class Zone:
    """One zone from master-file text, signed or not; ``break_signature`` spoils one RRset's RRSIG."""

    def __init__(self, origin: str, text: str, signed: bool) -> None:
        self.origin = dns.name.from_text(origin)
        self.zone = dns.zone.from_text(text, origin=self.origin, relativize=False)
        self.signed = signed
        self.ds: dns.rdata.Rdata | None = None
        if signed:
            key = ec.generate_private_key(ec.SECP256R1())
            dnskey = dns.dnssec.make_dnskey(key.public_key(), ALGORITHM, flags=257)
            now = int(time.time())
            dns.dnssec.sign_zone(self.zone, keys=[(key, dnskey)], inception=now - 3600, expiration=now + 7 * 86400)
            self.ds = dns.dnssec.make_ds(self.origin, dnskey, "SHA256")
            self.key_tag = dns.dnssec.key_id(dnskey)

    def trust_anchor(self) -> str:
        """dnsmasq's ``--trust-anchor`` value for this zone's key (RFC 4034 §5 DS fields)."""
        assert self.ds is not None
        ds = self.ds
        return f"{self.origin.to_text(omit_final_dot=True) or '.'},{ds.key_tag},{ds.algorithm},{ds.digest_type}," \
            f"{ds.digest.hex()}"  # type: ignore[attr-defined]

    def break_signature(self, name: str, rdtype: str) -> None:
        node = self.zone.find_node(dns.name.from_text(name, self.origin))
        covered = dns.rdatatype.from_text(rdtype)
        sigs = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, covered)
        spoiled = [s.replace(signature=bytes([s.signature[0] ^ 0xFF]) + s.signature[1:]) for s in sigs]
        sigs.clear()
        for s in spoiled:
            sigs.add(s)


class Authority:
    """Answers from the zones it holds (the most specific one; a DS query at a zone cut from the parent)."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.zones = sorted(zones, key=lambda z: len(z.origin), reverse=True)

    def _zone_for(self, qname: dns.name.Name, rdtype: int) -> Zone | None:
        for zone in self.zones:
            if qname.is_subdomain(zone.origin):
                if rdtype == dns.rdatatype.DS and qname == zone.origin:
                    continue  # DS lives in the parent
                return zone
        return None

    @staticmethod
    def _sigs(zone: Zone, name: dns.name.Name, covered: int) -> dns.rrset.RRset | None:
        rds = zone.zone.get_rdataset(name, dns.rdatatype.RRSIG, covered)
        return dns.rrset.from_rdata_list(name, rds.ttl, list(rds)) if rds else None

    def _add(self, section: list[dns.rrset.RRset], zone: Zone, name: dns.name.Name, rdtype: int, dnssec: bool) -> None:
        rds = zone.zone.get_rdataset(name, rdtype)
        if rds is None:
            return
        section.append(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)))
        if dnssec and zone.signed:
            sigs = self._sigs(zone, name, rdtype)
            if sigs is not None:
                section.append(sigs)

    def _nsec_owner(self, zone: Zone, name: dns.name.Name) -> dns.name.Name | None:
        """The owner of the NSEC whose span covers name (owner < name < next, with wrap-around)."""
        for owner, node in zone.zone.nodes.items():
            nsec = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC)
            if nsec is None:
                continue
            nxt = nsec[0].next  # type: ignore[attr-defined]
            if (owner < name < nxt) or (nxt == zone.origin and owner < name):
                return owner
        return None

    def _exists(self, zone: Zone, name: dns.name.Name) -> bool:
        return any(n == name or n.is_subdomain(name) for n in zone.zone.nodes)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        qname, rdtype = question.name, question.rdtype
        dnssec = bool(query.ednsflags & dns.flags.DO)
        zone = self._zone_for(qname, rdtype)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        # A CNAME is followed through the zones held, as a recursive server upstream of dnsmasq would: the chain
        # and the target's answer (or its denial) in one response, each RRset with its own zone's signatures.
        for _ in range(8):
            if rdtype == dns.rdatatype.CNAME or zone.zone.get_rdataset(qname, dns.rdatatype.CNAME) is None:
                break
            self._add(response.answer, zone, qname, dns.rdatatype.CNAME, dnssec)
            qname = zone.zone.get_rdataset(qname, dns.rdatatype.CNAME)[0].target  # type: ignore[index,attr-defined]
            target_zone = self._zone_for(qname, rdtype)
            if target_zone is None:
                return response  # outside what this server holds: the resolver asks elsewhere
            zone = target_zone
        if zone.zone.get_rdataset(qname, rdtype) is not None:
            self._add(response.answer, zone, qname, rdtype, dnssec)
            return response
        self._add(response.authority, zone, zone.origin, dns.rdatatype.SOA, dnssec)
        if not self._exists(zone, qname):
            response.set_rcode(dns.rcode.NXDOMAIN)
        if not (dnssec and zone.signed):
            return response
        owners: list[dns.name.Name] = []
        if qname in zone.zone.nodes:
            owners.append(qname)  # NODATA: the name's own NSEC shows the type is absent
        else:
            covering = self._nsec_owner(zone, qname)
            if covering is not None:
                owners.append(covering)
            if response.rcode() == dns.rcode.NXDOMAIN:
                encloser = qname.parent()
                while not self._exists(zone, encloser) and encloser != zone.origin:
                    encloser = encloser.parent()
                wildcard = self._nsec_owner(zone, dns.name.Name((b"*", *encloser.labels)))
                if wildcard is not None and wildcard not in owners:
                    owners.append(wildcard)
        for owner in owners:
            self._add(response.authority, zone, owner, dns.rdatatype.NSEC, dnssec)
        return response


class _Udp(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        with contextlib.suppress(Exception):
            response = self.server.authority.answer(dns.message.from_wire(data))
            sock.sendto(response.to_wire(max_size=65535), self.client_address)


class _Tcp(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                head = self.request.recv(2)
                if len(head) < 2:
                    return
                size = int.from_bytes(head, "big")
                data = b""
                while len(data) < size:
                    chunk = self.request.recv(size - len(data))
                    if not chunk:
                        return
                    data += chunk
                wire = self.server.authority.answer(dns.message.from_wire(data)).to_wire()
                self.request.sendall(len(wire).to_bytes(2, "big") + wire)


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    authority: Authority


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    authority: Authority


class DnsAuthority:
    """The authoritative server for ``zones`` on 127.0.0.1 (UDP and TCP, one free port)."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.authority = Authority(zones)
        self.port = free_port_udp_tcp()
        self.udp = _UdpServer(("127.0.0.1", self.port), _Udp)
        self.tcp = _TcpServer(("127.0.0.1", self.port), _Tcp)
        for server in (self.udp, self.tcp):
            server.authority = self.authority
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()


class ValidatingDnsmasq:
    """dnsmasq on 127.0.0.1 validating DNSSEC with ``anchors`` and forwarding ``domains`` to the authority;
    ``validate=False`` makes a plain forwarder of it (a resolver that does not validate, so never sets AD)."""

    def __init__(self, authority_port: int, domains: Iterable[str], anchors: Iterable[str],
                 validate: bool = True) -> None:
        self.binary = require_dnsmasq()
        self.root = Path(tempfile.mkdtemp(prefix="mailseal-dnssec-"))
        self.port = free_port_udp_tcp()
        self.log = self.root / "dnsmasq.log"
        self.cmd = [self.binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                    "--no-poll", "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
                    "--log-queries", "--log-facility=-", f"--pid-file={self.root / 'dnsmasq.pid'}", "--log-debug"]
        if validate:
            self.cmd += ["--dnssec", "--dnssec-check-unsigned"]
        if os.geteuid() == 0:
            self.cmd.append("--user=root")
        self.cmd += [f"--trust-anchor={a}" for a in anchors] if validate else []
        self.cmd += [f"--server=/{d}/127.0.0.1#{authority_port}" if d else f"--server=127.0.0.1#{authority_port}"
                     for d in domains]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ValidatingDnsmasq:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited ({self.proc.returncode}): "
                                   f"{self.log.read_text(errors='replace')[-800:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dnsmasq did not start listening in time")

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)
