"""The policy kept in the store: the `[policy]` table's content (JSON) with a version number, in the ``settings``
table under the name ``policy``. When it exists it replaces the settings file's `[policy]` on every node that reads
this store (the gateway, the console, `mailseal policy`); the file's table stays the fallback (docs/policy.md).

The store does not interpret the table: the caller checks it (``Policy.from_settings``) before ``save``, which
writes it and its audit event in one transaction, or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import UsageError
from . import audit
from .database import Store
from .tables import settings, utcnow

#: The ``settings`` row that holds the stored policy.
SETTING = "policy"


@dataclass(frozen=True)
class StoredPolicy:
    """One version of the stored policy: ``table`` is what `[policy]` would hold in the settings file."""

    version: int
    table: dict[str, Any]
    updated: datetime | None
    updated_by: str

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "updated": self.updated.isoformat().replace("+00:00", "Z")
                if self.updated else None, "updated_by": self.updated_by}


def _parse(value: Any) -> StoredPolicy:
    found = dict(value)
    updated = found.get("updated")
    return StoredPolicy(version=int(found["version"]), table=dict(found.get("table") or {}),
                        updated=datetime.fromisoformat(updated) if isinstance(updated, str) else None,
                        updated_by=str(found.get("updated_by", "")))


def load(store: Store) -> StoredPolicy | None:
    """The stored policy, or None when the settings file's `[policy]` applies."""
    with store.lookup() as conn:
        value = conn.execute(select(settings.c.value).where(settings.c.name == SETTING)).scalar()
    return None if value is None else _parse(value)


def effective_settings(file_settings: Mapping[str, Any], stored: StoredPolicy | None) -> dict[str, Any]:
    """The settings with the stored policy in place of the file's `[policy]` (the file's other tables, among them
    ``[gateway].accepted_domains``, stay as they are)."""
    out = dict(file_settings)
    if stored is not None:
        out["policy"] = stored.table
    return out


def source_of(stored: StoredPolicy | None) -> str:
    """Where the policy in effect comes from, in words."""
    return "the settings file" if stored is None else f"the store (version {stored.version})"


def _plain(table: Mapping[str, Any]) -> dict[str, Any]:
    """The table as JSON would give it back (TOML dates and the like refused here, not at the database)."""
    try:
        result: dict[str, Any] = json.loads(json.dumps(table))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the policy holds a value JSON cannot store: {exc}") from None
    return result


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping) and (value or not prefix):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value
    return out


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What changed between two `[policy]` tables, key path by key path (``domains.partner.example.encrypt``):
    ``{"path": {"before": old, "after": new}}``, a missing side as null. Rules compare as one list."""
    old, new = _flatten(dict(before), "", {}), _flatten(dict(after), "", {})
    return {key: {"before": old.get(key), "after": new.get(key)} for key in sorted(old.keys() | new.keys())
            if old.get(key) != new.get(key)}


def save(store: Store, table: Mapping[str, Any], *, actor: str | None = None, expected_version: int | None = None,
         check: Callable[[dict[str, Any]], None] | None = None,
         file_table: Mapping[str, Any] | None = None) -> StoredPolicy:
    """Store ``table`` as the next version; ``check`` (the caller's ``Policy.from_settings``) runs first and may
    raise, and nothing is written then. With ``expected_version`` the save is refused when another change came in
    between (0: none stored yet). The audit event (``policy.save``, with the change from the policy in effect
    before: the stored one, else ``file_table``, the file's) commits with it."""
    plain = _plain(table)
    if check is not None:
        check(plain)
    try:
        with store.session() as session:
            current = session.execute(select(settings.c.value).where(settings.c.name == SETTING)
                                      .with_for_update()).scalar()
            previous = None if current is None else _parse(current)
            version = 0 if previous is None else previous.version
            if expected_version is not None and expected_version != version:
                raise UsageError(f"the policy changed meanwhile (version {version}, not {expected_version}): "
                                 "reload it and make the change again")
            who = actor or audit.default_actor()
            saved = StoredPolicy(version + 1, plain, utcnow(), who)
            value = {"version": saved.version, "table": plain, "updated": saved.to_dict()["updated"],
                     "updated_by": who}
            if previous is None:
                session.execute(insert(settings).values(name=SETTING, value=value))
            else:
                session.execute(update(settings).where(settings.c.name == SETTING).values(value=value))
            changes = diff(previous.table if previous is not None else dict(file_table or {}), plain)
            audit.record(session, "policy.save", f"version {saved.version}",
                         {"version": saved.version, "previous": version, "changes": changes}, who)
    except IntegrityError:
        raise UsageError("the policy changed meanwhile (another node stored one first): reload it and make the "
                         "change again") from None
    return saved


def clear(store: Store, *, actor: str | None = None) -> StoredPolicy | None:
    """Remove the stored policy: the settings file's `[policy]` applies again. What was removed, or None."""
    with store.session() as session:
        current = session.execute(select(settings.c.value).where(settings.c.name == SETTING)
                                  .with_for_update()).scalar()
        if current is None:
            return None
        removed = _parse(current)
        session.execute(delete(settings).where(settings.c.name == SETTING))
        audit.record(session, "policy.clear", f"version {removed.version}",
                     {"version": removed.version, "changes": diff(removed.table, {})}, actor)
    return removed


__all__ = ["SETTING", "StoredPolicy", "clear", "diff", "effective_settings", "load", "save", "source_of"]
