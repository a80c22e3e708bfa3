"""The console's Users page and /api/v1/users: the SMTP submission accounts (``store.users.Users``: scrypt hashes,
the addresses each may send as), listed a page at a time and changed by an admin. The store audits each change
(users.add, users.password, users.addresses, users.disable, users.remove) with the console's actor; the hash never
leaves the store, and a generated password is returned once, to be shown once."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..store.admins import generate_password
from ..store.database import Store
from ..store.users import UserRecord, Users

_SPLIT = re.compile(r"[\s,;]+")


def accounts(store: Store) -> Users:
    return Users(store)


def split_addresses(text: str) -> list[str]:
    """The addresses of a form's text field: separated by commas, semicolons, spaces or new lines."""
    return [a for a in _SPLIT.split(text) if a]


@dataclass(frozen=True)
class UserPage:
    items: list[UserRecord]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {"items": [u.to_dict() for u in self.items], "total": self.total, "limit": self.limit,
                "offset": self.offset, "next_offset": self.next_offset}


def page(store: Store, *, limit: int = 50, offset: int = 0) -> UserPage:
    """The accounts by user name, ``limit`` from ``offset`` (submission accounts are few: the store lists them)."""
    listed = accounts(store).list()
    return UserPage(listed[offset:offset + limit], len(listed), limit, offset)


def get(store: Store, username: str) -> UserRecord:
    found = accounts(store).get(username)
    if found is None:
        raise UsageError(f"no submission account {username!r}")
    return found


@dataclass(frozen=True)
class Created:
    record: UserRecord
    password: str | None  # the generated one, shown once; None when the admin typed it

    def to_dict(self) -> dict[str, Any]:
        return {**self.record.to_dict(), "password": self.password}


def add(store: Store, username: str, addresses: Iterable[str], password: str | None, actor: str) -> Created:
    """Create an account; without a password one is generated and returned (once)."""
    chosen = password or generate_password()
    record = accounts(store).add(username, chosen.encode(), list(addresses), actor=actor)
    return Created(record, None if password else chosen)


def reset_password(store: Store, username: str, actor: str, password: str | None = None) -> Created:
    """A new password (generated unless given), returned once when generated."""
    chosen = password or generate_password()
    users = accounts(store)
    get(store, username)  # a missing account is an error before any hashing
    users.set_password(username, chosen.encode(), actor=actor)
    return Created(get(store, username), None if password else chosen)


def set_addresses(store: Store, username: str, addresses: Iterable[str], actor: str) -> UserRecord:
    return accounts(store).set_addresses(username, list(addresses), actor=actor)


def set_disabled(store: Store, username: str, disabled: bool, actor: str) -> UserRecord:
    return accounts(store).disable(username, disabled=disabled, actor=actor)


def remove(store: Store, username: str, actor: str) -> None:
    accounts(store).remove(username, actor=actor)


__all__ = ["Created", "UserPage", "accounts", "add", "get", "page", "remove", "reset_password", "set_addresses",
           "set_disabled", "split_addresses"]
