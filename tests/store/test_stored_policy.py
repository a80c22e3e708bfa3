"""The policy kept in the store (settings row ``policy``), on SQLite and PostgreSQL: versions, the check before the
write, the audit event with the change, a stale version refused, clearing back to the file's table."""

from __future__ import annotations

import pytest

from mailseal.errors import ConfigurationError, UsageError
from mailseal.policy import Policy
from mailseal.store import Store, events, stored_policy

FILE = {"gateway": {"accepted_domains": ["example.org"]}, "policy": {"encrypt": "never"}}


def _check(table: dict[str, object]) -> None:
    Policy.from_settings({**FILE, "policy": table})


def test_nothing_stored_means_the_file_applies(store: Store) -> None:
    assert stored_policy.load(store) is None
    assert stored_policy.effective_settings(FILE, None) == FILE
    assert stored_policy.source_of(None) == "the settings file"


def test_save_versions_and_replaces_the_files_table(store: Store) -> None:
    first = stored_policy.save(store, {"encrypt": "require"}, actor="test", check=_check)
    second = stored_policy.save(store, {"encrypt": "require", "domains": {"partner.example": {"sign": "always"}}},
                                actor="test", expected_version=1, check=_check)
    assert (first.version, second.version) == (1, 2)
    loaded = stored_policy.load(store)
    assert loaded is not None and loaded.version == 2 and loaded.updated_by == "test"
    settings = stored_policy.effective_settings(FILE, loaded)
    assert settings["policy"]["domains"] == {"partner.example": {"sign": "always"}}
    assert settings["gateway"] == FILE["gateway"]
    assert Policy.from_settings(settings).domains["partner.example"].sign == "always"


def test_each_save_is_audited_with_its_change(store: Store) -> None:
    stored_policy.save(store, {"encrypt": "require"}, actor="web:root (1.2.3.4)", check=_check)
    stored_policy.save(store, {"encrypt": "never", "sign": "always"}, actor="web:root (1.2.3.4)", check=_check)
    saves = [e for e in events(store) if e.action == "policy.save"]
    assert [e.subject for e in saves] == ["version 1", "version 2"]
    assert saves[1].actor == "web:root (1.2.3.4)"
    assert saves[1].detail["changes"] == {"encrypt": {"before": "require", "after": "never"},
                                          "sign": {"before": None, "after": "always"}}


def test_an_invalid_policy_writes_nothing(store: Store) -> None:
    stored_policy.save(store, {"encrypt": "require"}, check=_check)
    with pytest.raises(ConfigurationError, match=r"policy\.encrypt"):
        stored_policy.save(store, {"encrypt": "sometimes"}, check=_check)
    loaded = stored_policy.load(store)
    assert loaded is not None and loaded.version == 1 and loaded.table == {"encrypt": "require"}
    assert [e.subject for e in events(store) if e.action == "policy.save"] == ["version 1"]


def test_a_stale_version_is_refused(store: Store) -> None:
    stored_policy.save(store, {"encrypt": "require"}, expected_version=0)
    with pytest.raises(UsageError, match="changed meanwhile"):
        stored_policy.save(store, {"encrypt": "never"}, expected_version=0)
    loaded = stored_policy.load(store)
    assert loaded is not None and loaded.table == {"encrypt": "require"}


def test_clear_returns_to_the_file(store: Store) -> None:
    assert stored_policy.clear(store) is None
    stored_policy.save(store, {"encrypt": "require"})
    removed = stored_policy.clear(store, actor="test")
    assert removed is not None and removed.version == 1
    assert stored_policy.load(store) is None
    assert [e.action for e in events(store)][-1] == "policy.clear"


def test_a_value_json_cannot_hold_is_refused(store: Store) -> None:
    from datetime import date

    with pytest.raises(UsageError, match="JSON"):
        stored_policy.save(store, {"rules": [{"name": "x", "when": date(2026, 1, 1)}]})
    assert stored_policy.load(store) is None
