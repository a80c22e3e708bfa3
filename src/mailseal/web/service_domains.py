"""The console's Domains page and GET /api/v1/domains: each accepted domain (``[gateway].accepted_domains`` in the
settings file, read-only here: the file is their source of truth) with its policy entry in effect (read through
service_policy: the store's policy, else the file's; edited on the Policy page), how many submission accounts,
identities and directory certificates it has (``store.domain_counts``) and what `mailseal certs publish` publishes
there (``store.publishing.select_certificates``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..policy import ACTION_KEYS, DomainSet, domain_of
from ..store import publishing, stored_policy
from ..store.database import Store
from ..store.domain_counts import DomainCounts, counts_by_domain
from . import service_policy

#: What the page and the API say about changing the list.
HOW_TO_CHANGE = ("the accepted domains are read from the settings file ([gateway] accepted_domains in "
                 "mailseal.toml, or the file $MAILSEAL_CONFIG names): edit it there and reload each gateway node "
                 "(systemctl reload mailseal); the console does not change them")


@dataclass(frozen=True)
class DomainView:
    name: str  # the pattern as configured: example.org, or *.example.org for its subdomains
    entry: str | None  # the [policy.domains] entry that applies, None: the global settings only
    settings: dict[str, Any]
    sources: dict[str, str]
    counts: DomainCounts
    published: int
    not_published: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "policy_entry": self.entry, "settings": self.settings, "sources": self.sources,
                **self.counts.to_dict(), "published_certificates": self.published,
                "unpublished_certificates": self.not_published}


@dataclass(frozen=True)
class DomainsView:
    domains: list[DomainView]
    policy_source: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"items": [d.to_dict() for d in self.domains], "policy_source": self.policy_source,
                "how_to_change": HOW_TO_CHANGE, "at": self.at.isoformat().replace("+00:00", "Z")}


def domains(store: Store, at: datetime, *, ca_directory: Path | None = None) -> DomainsView:
    _, stored, policy = service_policy.in_effect(store)
    accepted = DomainSet(policy.accepted_domains)

    def bucket(address: str) -> str | None:
        return accepted.match(domain_of(address))

    counts = counts_by_domain(store, bucket)
    published: dict[str, int] = {}
    skipped: dict[str, int] = {}
    if policy.accepted_domains:
        selection = publishing.select_certificates(store, is_ours=policy.is_internal, at=at, ca_directory=ca_directory)
        for cert in selection.certificates:
            name = bucket(cert.address)
            if name is not None:
                published[name] = published.get(name, 0) + 1
        for left in selection.skipped:
            name = bucket(left.address)
            if name is not None:
                skipped[name] = skipped.get(name, 0) + 1
    entries = DomainSet(tuple(policy.domains))
    listed = []
    for name in policy.accepted_domains:
        resolved = policy.inherited(name)
        plain = resolved.plain()
        # the entry Policy.inherited layers over the global settings (the same lookup)
        entry = name if name in policy.domains else entries.match(name.removeprefix("*."))
        listed.append(DomainView(name, entry, {k: plain[k] for k in ACTION_KEYS},
                                 {k: resolved.sources[k] for k in ACTION_KEYS}, counts.get(name, DomainCounts()),
                                 published.get(name, 0), skipped.get(name, 0)))
    return DomainsView(listed, stored_policy.source_of(stored), at)


__all__ = ["HOW_TO_CHANGE", "DomainView", "DomainsView", "domains"]
