"""The console's policy page and /api/v1/policy: the policy in effect (the store's, else the settings file's) with
where each value comes from, the "what would happen" tester (the code path of `mailseal policy explain`), and
saving a changed policy into the store (checked first, audited, one version at a time)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import load_settings
from ..errors import ConfigurationError, UsageError
from ..policy import ACTION_KEYS, Policy, Resolved
from ..policy.explain import Example, Explanation, explain
from ..policy.toml_text import dumps_rules
from ..store import stored_policy
from ..store.database import Store
from ..store.policy_facts import StoreFacts

#: What the console says after a save: the gateway reads the policy when it starts, when it reloads, and when its
#: poll of the store sees another version (cli/serve.py).
RELOAD_NOTE = ("each running gateway applies it within gateway.policy_poll_seconds (30 s unless set), or at once "
               "on systemctl reload mailseal (SIGHUP); the console and `mailseal policy explain` use it at once")


def file_settings() -> dict[str, Any]:
    """The settings file the gateway on this host reads (`$MAILSEAL_CONFIG` or mailseal.toml in the data
    directory); ``[gateway].accepted_domains`` decides which addresses are internal."""
    try:
        return load_settings()
    except ConfigurationError:
        raise
    except UsageError as exc:
        raise ConfigurationError(exc.message) from None


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


@dataclass(frozen=True)
class PolicyView:
    """The policy in effect, ready to show: each entry's settings after inheritance, with their sources."""

    source: str
    version: int | None
    table: dict[str, Any]  # the [policy] table in effect, as written (what PUT /api/v1/policy replaces)
    accepted_domains: list[str]
    globals: dict[str, Setting]
    domains: dict[str, dict[str, Setting]]
    users: dict[str, dict[str, Setting]]
    rules: list[dict[str, Any]]
    rules_toml: str
    smime: dict[str, Any]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        def block(values: Mapping[str, Setting]) -> dict[str, Any]:
            return {k: s.to_dict() for k, s in values.items()}

        return {"source": self.source, "version": self.version, "accepted_domains": self.accepted_domains,
                "global": block(self.globals), "domains": {n: block(v) for n, v in self.domains.items()},
                "users": {n: block(v) for n, v in self.users.items()}, "rules": self.rules, "smime": self.smime,
                "warnings": self.warnings, "policy": self.table}


def _settings(policy: Policy, entry: str | None) -> dict[str, Setting]:
    resolved = policy.inherited(entry) if entry is not None else Resolved.layered([("global", policy.defaults, None)])
    plain = resolved.plain()
    return {k: Setting(plain[k], resolved.sources[k]) for k in ACTION_KEYS}


def in_effect(store: Store, settings: Mapping[str, Any] | None = None
              ) -> tuple[dict[str, Any], stored_policy.StoredPolicy | None, Policy]:
    """The settings with the stored policy in place, the stored policy (or None) and the parsed policy."""
    stored = stored_policy.load(store)
    effective = stored_policy.effective_settings(file_settings() if settings is None else settings, stored)
    return effective, stored, Policy.from_settings(effective)


def view(store: Store) -> PolicyView:
    from_file = file_settings()
    settings, stored, policy = in_effect(store, from_file)
    table = settings.get("policy", {})
    table = dict(table) if isinstance(table, Mapping) else {}
    summary = policy.to_dict()
    warnings = list(policy.warnings())
    if stored is not None and from_file.get("policy"):
        warnings.append(f"the settings file's [policy] is not used: the store holds version {stored.version}")
    raw_rules = table.get("rules", [])
    return PolicyView(
        source=stored_policy.source_of(stored), version=stored.version if stored else None, table=table,
        accepted_domains=summary["accepted_domains"], globals=_settings(policy, None),
        domains={name: _settings(policy, name) for name in policy.domains},
        users={name: _settings(policy, name) for name in policy.users},
        rules=summary["rules"], rules_toml=dumps_rules(raw_rules) if isinstance(raw_rules, list) else "",
        smime=summary["smime"], warnings=warnings)


def test(store: Store, example: Example) -> Explanation:
    """What the policy in effect decides for ``example``, with the store's keys and certificates: exactly what
    `mailseal policy explain --json` answers for the same message on this store."""
    _, _, policy = in_effect(store)
    return explain(policy, example, StoreFacts(store))


def save(store: Store, table: Mapping[str, Any], actor: str, expected_version: int | None
         ) -> stored_policy.StoredPolicy:
    """Store ``table`` as the policy of every node; refused (nothing written) when ``Policy.from_settings`` refuses
    it, or when another change was saved since ``expected_version``."""
    settings = file_settings()
    fallback = settings.get("policy")
    return stored_policy.save(store, table, actor=actor, expected_version=expected_version,
                              check=lambda t: _check(settings, t),
                              file_table=fallback if isinstance(fallback, Mapping) else None)


def _check(settings: Mapping[str, Any], table: dict[str, Any]) -> None:
    Policy.from_settings({**settings, "policy": table})


# The form's edits, each a new table from the one in effect (the store's, else the file's).

def _clean(values: Mapping[str, str | None]) -> dict[str, Any]:
    """A form's action settings: "" means "not set here, inherit"; "true"/"false" are booleans."""
    out: dict[str, Any] = {}
    for key in ACTION_KEYS:
        value = values.get(key)
        if value is None or value == "":
            continue
        out[key] = {"true": True, "false": False}.get(value, value)
    return out


def with_globals(table: Mapping[str, Any], values: Mapping[str, str | None]) -> dict[str, Any]:
    out = {k: v for k, v in table.items() if k not in ACTION_KEYS}
    return {**_clean(values), **out}


def with_entry(table: Mapping[str, Any], kind: str, name: str, values: Mapping[str, str | None]) -> dict[str, Any]:
    """Add or change one `[policy.domains]` / `[policy.users]` entry (``kind`` "domain" or "user")."""
    key = _kind(kind)
    name = name.strip()
    if not name:
        raise ConfigurationError(f"policy.{key}: give the {kind} the entry is for")
    entries = dict(table.get(key) or {})
    existing = next((k for k in entries if k.lower() == name.lower()), name)
    entries[existing] = _clean(values)
    return {**table, key: entries}


def without_entry(table: Mapping[str, Any], kind: str, name: str) -> dict[str, Any]:
    key = _kind(kind)
    entries = {k: v for k, v in dict(table.get(key) or {}).items() if k.lower() != name.strip().lower()}
    if len(entries) == len(dict(table.get(key) or {})):
        raise UsageError(f"no {kind} entry {name!r} in the policy")
    out = {**table, key: entries}
    if not entries:
        out.pop(key)
    return out


def with_rules(table: Mapping[str, Any], text: str) -> dict[str, Any]:
    """The rules from the text area (``[[rules]]`` entries, as `mailseal policy export` writes them)."""
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"the rules are not valid TOML: {exc}") from None
    unknown = [k for k in parsed if k != "rules"]
    if unknown:
        raise ConfigurationError(f"the rules text holds {', '.join(unknown)}: write only [[rules]] entries")
    out = {k: v for k, v in table.items() if k != "rules"}
    if parsed.get("rules"):
        out["rules"] = parsed["rules"]
    return out


def _kind(kind: str) -> str:
    if kind not in ("domain", "user"):
        raise UsageError(f"an entry is for a domain or a user, not {kind!r}")
    return f"{kind}s"


__all__ = ["RELOAD_NOTE", "PolicyView", "Setting", "file_settings", "in_effect", "save", "test", "view",
           "with_entry", "with_globals", "with_rules", "without_entry"]
