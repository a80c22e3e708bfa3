"""Addresses and the patterns that match them: accepted domains and rule `from`/`to` lists (case-insensitive)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigurationError

NULL_SENDER = "<>"
_DOMAIN = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$")


def normalize(address: str) -> str:
    """Lower-cased, without surrounding spaces or angle brackets: the form every comparison in policy uses.

    Local parts are case-sensitive in theory (RFC 5321 §2.4) but no mail system relies on it; folding them means
    ``Alice@`` and ``alice@`` get the same treatment, which is what an administrator expects of a rule.
    """
    return address.strip().strip("<>").strip().lower()


def domain_of(address: str) -> str:
    """The domain of an address, lower-cased, IDNA-encoded when possible, without a trailing dot; "" when none."""
    local, at, domain = normalize(address).rpartition("@")
    if not at or not local:
        return ""
    domain = domain.rstrip(".")
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _domain_pattern(pattern: str, where: str) -> str:
    text = normalize(pattern).rstrip(".")
    if text.startswith("@"):
        text = text[1:]
    if not _DOMAIN.match(text):
        raise ConfigurationError(f'{where}: "{pattern}" is not a domain (write "example.org" or "*.example.org")')
    return text


@dataclass(frozen=True)
class DomainSet:
    """Domains such as the gateway's accepted domains: ``example.org`` is that domain only, ``*.example.org`` its
    subdomains at any depth (not example.org itself: list both to mean both)."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, values: tuple[str, ...], where: str) -> DomainSet:
        return cls(tuple(dict.fromkeys(_domain_pattern(p, f"{where}[{i}]") for i, p in enumerate(values))))

    def match(self, domain: str) -> str | None:
        """The pattern that matches ``domain``: an exact entry first, then the longest wildcard."""
        domain = domain.lower().rstrip(".")
        if not domain:
            return None
        if domain in self.patterns:
            return domain
        best: str | None = None
        for pattern in self.patterns:
            if pattern.startswith("*.") and domain.endswith(pattern[1:]) and (best is None or len(pattern) > len(best)):
                best = pattern
        return best

    def __contains__(self, domain: object) -> bool:
        return isinstance(domain, str) and self.match(domain) is not None


@dataclass(frozen=True)
class AddressPattern:
    """One entry of a rule's ``from`` or ``to`` list.

    ``alice@example.org`` one address; ``*@example.org`` or ``example.org`` or ``@example.org`` every address at that
    domain; ``*.example.org`` every address at its subdomains; ``*`` anything; ``<>`` the null sender. ``*`` is a
    wildcard anywhere (``sales-*@example.org``). Matching ignores case.
    """

    text: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, pattern: str, where: str) -> AddressPattern:
        text = normalize(pattern) if pattern.strip() != NULL_SENDER else NULL_SENDER
        if not text:
            raise ConfigurationError(f"{where}: an empty pattern matches nothing; use <> for the null sender")
        if text == NULL_SENDER:
            return cls(text, re.compile(r"\A\Z"))
        if any(ch.isspace() for ch in text):
            raise ConfigurationError(f'{where}: "{pattern}" contains spaces')
        if "@" not in text and text != "*":
            # A bare domain: every address at it (a leading "*." makes it every address at its subdomains).
            _domain_pattern(text, where)
            text = f"*@{text}"
        elif text.startswith("@"):
            text = f"*{text}"
        if text.count("@") > 1:
            raise ConfigurationError(f'{where}: "{pattern}" has more than one @')
        body = ".*".join(re.escape(part) for part in text.split("*"))
        return cls(text, re.compile(rf"\A{body}\Z"))

    def matches(self, address: str) -> bool:
        """Whether ``address`` ("" for the null sender) matches."""
        return bool(self.regex.match(normalize(address)))


__all__ = ["NULL_SENDER", "AddressPattern", "DomainSet", "domain_of", "normalize"]
