"""Envelope addresses as the gateway accepts them: plain ``local@domain`` only, nothing a next hop could re-route."""

from __future__ import annotations

import re

# A dot-atom local part and a host name. Quoted local parts, source routes (@a,@b:x@c), the %-hack and
# UUCP bang paths are refused outright: each is a way to make some MTA behind us relay elsewhere.
_LOCAL = r"[A-Za-z0-9!#$&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"({_LOCAL})@({_DOMAIN})")
MAX_ADDRESS = 254


def address_problem(address: str) -> str | None:
    """Why an envelope address is refused, or None when it is a plain mailbox."""
    if len(address) > MAX_ADDRESS:
        return "address too long"
    if address.startswith("@") or ":" in address:
        return "source routes are not accepted"
    if '"' in address or "\\" in address:
        return "quoted local parts are not accepted"
    local, _, _ = address.rpartition("@")
    if "%" in local or "!" in local:
        return "the %-hack and bang paths are not accepted"
    if address.count("@") != 1 or not _ADDRESS.fullmatch(address):
        return "not a plain local@domain address"
    return None


__all__ = ["address_problem"]
