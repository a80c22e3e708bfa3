"""How many submission accounts, identities (key store) and directory certificates each domain has: counted per
address in the database, then gathered into the caller's buckets (the console's Domains page gives the accepted
domain pattern an address falls under)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from .database import Store
from .tables import identities, recipient_certificates, submission_users


@dataclass
class DomainCounts:
    """One bucket's counts: accounts with at least one address there, identity rows, directory certificate rows."""

    users: int = 0
    identities: int = 0
    directory: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"users": self.users, "identities": self.identities, "directory_certificates": self.directory}


def counts_by_domain(store: Store, bucket: Callable[[str], str | None]) -> dict[str, DomainCounts]:
    """The counts per bucket; ``bucket`` maps an address to its bucket (e.g. the accepted domain), None to none."""
    out: dict[str, DomainCounts] = {}

    def at(address: str) -> DomainCounts | None:
        name = bucket(address)
        return None if name is None else out.setdefault(name, DomainCounts())

    with store.reading() as session:
        for address, count in session.execute(select(identities.c.address, func.count())
                                              .group_by(identities.c.address)):
            found = at(address)
            if found is not None:
                found.identities += int(count)
        for address, count in session.execute(select(recipient_certificates.c.address, func.count())
                                              .group_by(recipient_certificates.c.address)):
            found = at(address)
            if found is not None:
                found.directory += int(count)
        for (addresses,) in session.execute(select(submission_users.c.addresses)):
            names = {n for n in (bucket(a) for a in addresses or ()) if n is not None}
            for name in names:
                out.setdefault(name, DomainCounts()).users += 1
    return out


__all__ = ["DomainCounts", "counts_by_domain"]
