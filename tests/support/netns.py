"""Separate hosts on one machine for tests: Linux network namespaces joined by a bridge.

Each :class:`Host` is a network namespace (``ip netns add``) with its own loopback and one interface, ``eth0``, the
far end of a veth pair whose near end is a port of a bridge in the root namespace. The bridge has the first
address of the subnet, so the test process itself (in the root namespace) is one more host on the LAN: it reaches
every host by address, as an administrator's machine would. A process runs on a host with ``ip netns exec`` (it
sees only that host's interfaces; its loopback is its own), e.g. ``host.popen([...])``.

``ip netns exec`` also bind-mounts the files of ``/etc/netns/NAME/`` over ``/etc/`` for what it runs: a host gets
its own ``/etc/hosts`` with ``host.hosts_file({...})``.

``host.cut()`` drops every packet to and from the host except on its loopback (nftables inside the namespace: the
cable pulled, not a refused connection), ``host.mend()`` removes the rule.

Names are short (interface names have at most 15 characters) and carry the process ID, so that several test runs
on one machine do not collide; the subnet 10.(200+pid%50).(pid%250).0/24 likewise. Needs root, ``ip``
(iproute2) and, for ``cut``, ``nft`` (Debian package nftables); skips otherwise, fails under
``MAILSEAL_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Host", "Network", "require_netns"]

NETNS_ETC = Path("/etc/netns")
_COUNTER = itertools.count()
_OPEN: dict[int, Network] = {}


@atexit.register
def _close_leftovers() -> None:
    for network in list(_OPEN.values()):
        with contextlib.suppress(Exception):
            network.close()


def require_netns() -> None:
    """Skip (fail under MAILSEAL_REQUIRE_PEERS=1) unless network namespaces can be made here."""
    reason = None
    if os.geteuid() != 0:
        reason = "network namespaces need root"
    elif shutil.which("ip") is None:
        reason = "the ip command is missing (Debian package iproute2)"
    elif shutil.which("nft") is None:
        reason = "the nft command is missing (Debian package nftables)"
    if reason is None:
        return
    if os.environ.get("MAILSEAL_REQUIRE_PEERS") == "1":
        pytest.fail(f"{reason}, and MAILSEAL_REQUIRE_PEERS=1")
    pytest.skip(reason)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


class Host:
    """One namespace on the network: ``name`` (short, e.g. ``pg``), ``netns`` (the namespace's name) and
    ``address`` (its IPv4 address on the LAN)."""

    def __init__(self, network: Network, name: str, netns: str, address: str) -> None:
        self.network = network
        self.name = name
        self.netns = netns
        self.address = address
        self.is_cut = False

    def argv(self, command: Sequence[str | os.PathLike[str]]) -> list[str]:
        """``command`` as run on this host."""
        return ["ip", "netns", "exec", self.netns, *(str(part) for part in command)]

    def run(self, command: Sequence[str | os.PathLike[str]], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("check", False)
        return subprocess.run(self.argv(command), **kwargs)

    def popen(self, command: Sequence[str | os.PathLike[str]], **kwargs: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.argv(command), **kwargs)

    def hosts_file(self, entries: Mapping[str, Sequence[str]]) -> Path:
        """Write this host's own /etc/hosts: each name with its addresses (one line per address, in order)."""
        folder = NETNS_ETC / self.netns
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost"]
        lines += [f"{address} {name}" for name, addresses in entries.items() for address in addresses]
        path = folder / "hosts"
        path.write_text("\n".join(lines) + "\n")
        return path

    def cut(self) -> None:
        """Drop every packet in and out of the host, loopback excepted (nftables in the host's namespace)."""
        ruleset = (
            "table inet cut {\n"
            "  chain input { type filter hook input priority 0; policy drop; iif lo accept; }\n"
            "  chain output { type filter hook output priority 0; policy drop; oif lo accept; }\n"
            "}\n"
        )
        done = self.run(["nft", "-f", "-"], input=ruleset, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nft failed on {self.name}: {done.stderr.strip()}")
        self.is_cut = True

    def mend(self) -> None:
        """Undo ``cut``."""
        if self.is_cut:
            self.run(["nft", "delete", "table", "inet", "cut"], capture_output=True)
            self.is_cut = False

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.address})"


class Network:
    """A bridge in the root namespace and the hosts on it; ``close()`` removes every namespace and link."""

    def __init__(self) -> None:
        pid = os.getpid()
        serial = next(_COUNTER)
        self.tag = f"ms{pid % 100000}{serial}"[:10]
        self.subnet = ipaddress.ip_network(f"10.{200 + (pid + serial) % 50}.{pid % 250}.0/24")
        self._addresses = self.subnet.hosts()
        self.gateway_address = str(next(self._addresses))  # the bridge: the test process's own address
        self.bridge = f"{self.tag}br"
        self.hosts: dict[str, Host] = {}
        _OPEN[id(self)] = self
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway_address}/{self.subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def host(self, name: str) -> Host:
        """A new host ``name`` (unique on this network) with the next free address."""
        assert name not in self.hosts and len(name) <= 4
        netns = f"{self.tag}-{name}"
        address = str(next(self._addresses))
        near = f"{self.tag}{name}"[:15]
        _ip("netns", "add", netns)
        self.hosts[name] = host = Host(self, name, netns, address)
        _ip("link", "add", near, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("link", "set", near, "master", self.bridge, "up")
        _ip("-n", netns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        return host

    def close(self) -> None:
        _OPEN.pop(id(self), None)
        for host in self.hosts.values():
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", host.netns)  # the veth pair goes with it
            shutil.rmtree(NETNS_ETC / host.netns, ignore_errors=True)
        self.hosts = {}
        with contextlib.suppress(RuntimeError):
            _ip("link", "del", self.bridge)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
