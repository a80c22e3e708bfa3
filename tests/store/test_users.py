"""SMTP submission accounts: scrypt hashes, authentication without a user-name oracle, audit, and `mailseal users`."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import inspect, text

import mailseal.store.users as users_module
from mailseal.cli import users as users_cli
from mailseal.cli.users import users_group
from mailseal.errors import UsageError
from mailseal.store import Store, events
from mailseal.store.users import UserRecord, Users, hash_password, verify_password
from tests.store.conftest import FAST_SCRYPT

PASSWORD = b"a long enough secret 42"
OTHER = b"another long secret 99"


@pytest.fixture
def accounts(store: Store) -> Users:
    return Users(store, scrypt=FAST_SCRYPT)


def _hash_in_db(store: Store, username: str) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(text("SELECT password_hash FROM submission_users WHERE username = :u"),
                                {"u": username}).scalar_one())


def test_migration_creates_the_table(store: Store) -> None:
    columns = {c["name"] for c in inspect(store.engine).get_columns("submission_users")}
    assert columns == {"id", "username", "password_hash", "addresses", "disabled", "created", "last_login"}


def test_migration_0003_downgrades_and_upgrades(store: Store) -> None:
    from alembic import command
    from alembic.config import Config

    from mailseal.store.database import MIGRATIONS, migrate

    Users(store, scrypt=FAST_SCRYPT).add("alice", PASSWORD, ["alice@example.org"])
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert "submission_users" not in inspect(store.engine).get_table_names()
    migrate(store.engine)
    assert Users(store).list() == []


def test_add_get_list(accounts: Users) -> None:
    added = accounts.add("alice", PASSWORD, ["alice@example.org", "sales@example.org"], actor="test")
    assert added.username == "alice"
    assert added.addresses == ("alice@example.org", "sales@example.org")
    assert not added.disabled and added.last_login is None
    accounts.add("bob", PASSWORD, ["bob@example.org"])
    assert accounts.get("alice") == added
    assert accounts.get("nobody") is None
    assert [r.username for r in accounts.list()] == ["alice", "bob"]


def test_records_hold_no_hash(accounts: Users) -> None:
    record = accounts.add("alice", PASSWORD, ["alice@example.org"])
    assert "hash" not in json.dumps(record.to_dict())
    assert not any("hash" in name for name in UserRecord.__dataclass_fields__)


def test_duplicate_user_name_is_refused(accounts: Users) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    with pytest.raises(UsageError, match="already exists"):
        accounts.add("alice", OTHER, ["other@example.org"])
    assert accounts.get("alice") is not None and len(accounts.list()) == 1


def test_user_names_are_case_sensitive(accounts: Users) -> None:
    accounts.add("Alice", PASSWORD, ["alice@example.org"])
    accounts.add("alice", OTHER, ["alice@example.org"])
    assert accounts.get("ALICE") is None
    assert accounts.authenticate("alice", PASSWORD) is None
    assert accounts.authenticate("Alice", PASSWORD) is not None


@pytest.mark.parametrize(("password", "message"), [(b"", "empty"), (b"elevenbytes", "too short")])
def test_weak_password_is_refused(accounts: Users, password: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        accounts.add("alice", password, ["alice@example.org"])
    assert accounts.list() == []


def test_twelve_byte_password_is_enough(accounts: Users) -> None:
    accounts.add("alice", b"twelve bytes", ["alice@example.org"])
    assert accounts.authenticate("alice", b"twelve bytes") is not None


def test_password_must_be_bytes(accounts: Users) -> None:
    with pytest.raises(TypeError):
        accounts.add("alice", "a long enough secret", ["alice@example.org"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        accounts.authenticate("alice", "a long enough secret")  # type: ignore[arg-type]


@pytest.mark.parametrize("addresses", [[], ["not-an-address"], ["@example.org"], ["alice@"]])
def test_account_needs_real_addresses(accounts: Users, addresses: list[str]) -> None:
    with pytest.raises(UsageError):
        accounts.add("alice", PASSWORD, addresses)


@pytest.mark.parametrize("username", ["", "al ice", "al\x00ice", "a" * 256])
def test_bad_user_name_is_refused(accounts: Users, username: str) -> None:
    with pytest.raises(UsageError):
        accounts.add(username, PASSWORD, ["alice@example.org"])


def test_authenticate_right_password_sets_last_login(accounts: Users) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    record = accounts.authenticate("alice", PASSWORD)
    assert record is not None and record.username == "alice"
    assert record.last_login is not None
    stored = accounts.get("alice")
    assert stored is not None and stored.last_login == record.last_login


def test_authenticate_wrong_password(accounts: Users) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    assert accounts.authenticate("alice", OTHER) is None
    assert accounts.authenticate("alice", PASSWORD[:-1]) is None
    assert accounts.authenticate("alice", b"") is None
    stored = accounts.get("alice")
    assert stored is not None and stored.last_login is None


def test_authenticate_unknown_user(accounts: Users) -> None:
    assert accounts.authenticate("nobody", PASSWORD) is None


def test_disabled_account_cannot_authenticate(accounts: Users) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    assert accounts.disable("alice").disabled
    assert accounts.authenticate("alice", PASSWORD) is None
    assert not accounts.disable("alice", disabled=False).disabled
    assert accounts.authenticate("alice", PASSWORD) is not None


def test_every_authentication_runs_scrypt_once(accounts: Users, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    accounts.add("bob", PASSWORD, ["bob@example.org"])
    accounts.disable("bob")
    calls: list[tuple[int, int, int]] = []
    real = users_module._derive

    def counting(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
        calls.append((n, r, p))
        return real(password, salt, n, r, p)

    monkeypatch.setattr(users_module, "_derive", counting)
    for username, password in [("alice", PASSWORD), ("alice", OTHER), ("nobody", PASSWORD), ("bob", PASSWORD)]:
        calls.clear()
        accounts.authenticate(username, password)
        # The same work at the same cost, whether the account exists, is disabled, or the password is wrong.
        assert calls == [(FAST_SCRYPT["n"], FAST_SCRYPT["r"], FAST_SCRYPT["p"])], username


def test_hash_keeps_its_parameters(store: Store) -> None:
    Users(store, scrypt=FAST_SCRYPT).add("alice", PASSWORD, ["alice@example.org"])
    # A store whose cost has since changed still checks the old hash with the old parameters.
    assert Users(store, scrypt={"n": 2**13, "r": 8, "p": 1}).authenticate("alice", PASSWORD) is not None


def test_hash_is_not_the_password(accounts: Users, store: Store) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    stored = _hash_in_db(store, "alice")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(FAST_SCRYPT["n"]), "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert PASSWORD.decode() not in stored and base64.b64encode(PASSWORD).decode() not in stored
    assert verify_password(PASSWORD, stored) and not verify_password(OTHER, stored)


def test_same_password_hashes_differently() -> None:
    assert hash_password(PASSWORD, FAST_SCRYPT) != hash_password(PASSWORD, FAST_SCRYPT)


@pytest.mark.parametrize("damaged", ["", "scrypt$x$8$1$AA==$AA==", "bcrypt$1$2$3$AA==$AA==", "scrypt$3$8$1$AA==$AA=="])
def test_damaged_hash_never_matches(damaged: str) -> None:
    assert not verify_password(PASSWORD, damaged)


def test_database_file_does_not_hold_the_password(tmp_path: Path) -> None:
    """SQLite only: its database is a file to grep (PostgreSQL rows are checked by the tests above)."""
    store_url = f"sqlite:///{tmp_path / 'mailseal.db'}"
    store = Store.open(store_url)
    accounts = Users(store, scrypt=FAST_SCRYPT)
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    accounts.set_password("alice", OTHER)
    assert accounts.authenticate("alice", OTHER) is not None
    db = Path(store_url.split("///", 1)[1])
    files = list(db.parent.glob(db.name + "*"))  # the database, its WAL and shared-memory files
    assert db in files
    for path in files:
        blob = path.read_bytes()
        for secret in (PASSWORD, OTHER, base64.b64encode(PASSWORD), base64.b64encode(OTHER)):
            assert secret not in blob, f"a password found in {path.name}"
    store.close()


def test_audit_events_without_password(accounts: Users, store: Store) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"], actor="admin")
    accounts.set_password("alice", OTHER, actor="admin")
    accounts.set_addresses("alice", ["alice@example.org", "info@example.org"], actor="admin")
    accounts.disable("alice", actor="admin")
    accounts.authenticate("alice", OTHER)
    accounts.remove("alice", actor="admin")
    log = events(store)
    assert [e.action for e in log] == ["users.add", "users.password", "users.addresses", "users.disable",
                                       "users.remove"]
    assert {e.subject for e in log} == {"alice"} and {e.actor for e in log} == {"admin"}
    assert log[2].detail["addresses"] == ["alice@example.org", "info@example.org"]
    dumped = json.dumps([e.to_dict() for e in log])
    for secret in (PASSWORD, OTHER):
        assert secret.decode() not in dumped and base64.b64encode(secret).decode() not in dumped
    assert "scrypt$" not in dumped


def test_may_use_normalises_the_domain_only(accounts: Users) -> None:
    record = accounts.add("alice", PASSWORD, ["Alice@EXAMPLE.Org", "alice@example.org", "Alice@example.org"])
    assert record.addresses == ("Alice@example.org", "alice@example.org")
    assert record.may_use("Alice@example.ORG")
    assert record.may_use(" alice@Example.org ")
    assert not record.may_use("ALICE@example.org")
    assert not record.may_use("bob@example.org")


def test_set_addresses_replaces(accounts: Users) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    record = accounts.set_addresses("alice", ["sales@Example.org"])
    assert record.addresses == ("sales@example.org",)
    authed = accounts.authenticate("alice", PASSWORD)
    assert authed is not None and authed.may_use("sales@example.org") and not authed.may_use("alice@example.org")
    with pytest.raises(UsageError):
        accounts.set_addresses("alice", [])


def test_set_password_replaces_the_old_one(accounts: Users) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    accounts.set_password("alice", OTHER)
    assert accounts.authenticate("alice", PASSWORD) is None
    assert accounts.authenticate("alice", OTHER) is not None
    with pytest.raises(UsageError, match="too short"):
        accounts.set_password("alice", b"short")


def test_remove(accounts: Users) -> None:
    accounts.add("alice", PASSWORD, ["alice@example.org"])
    accounts.remove("alice")
    assert accounts.get("alice") is None
    assert accounts.authenticate("alice", PASSWORD) is None
    accounts.add("alice", OTHER, ["alice@example.org"])  # the name is free again


@pytest.mark.parametrize("operation", ["set_password", "set_addresses", "disable", "remove"])
def test_unknown_account_is_a_usage_error(accounts: Users, operation: str) -> None:
    args: dict[str, tuple[Any, ...]] = {"set_password": (PASSWORD,), "set_addresses": (["a@example.org"],)}
    with pytest.raises(UsageError, match="no submission account"):
        getattr(accounts, operation)("nobody", *args.get(operation, ()))


# The command line, through click's CliRunner on the group itself (main.py registers it as `mailseal users`).


@pytest.fixture
def cli(store_url: str, store: Store, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # `store` has migrated the database already; the commands open it again through $MAILSEAL_DB_URL.
    monkeypatch.setenv("MAILSEAL_DB_URL", store_url)
    monkeypatch.setenv("MAILSEAL_ACTOR", "cli-test")
    monkeypatch.setenv("NEW_PW", PASSWORD.decode())
    return CliRunner()


def invoke(runner: CliRunner, *args: str, input: str | None = None) -> Result:
    return runner.invoke(users_group, list(args), input=input, catch_exceptions=False)


def test_cli_add_and_list_json(cli: CliRunner, store: Store) -> None:
    res = invoke(cli, "add", "alice", "--address", "alice@Example.org", "--address", "sales@example.org",
                 "--password-env", "NEW_PW")
    assert res.exit_code == 0, res.output
    assert "added alice: alice@example.org, sales@example.org" in res.stdout
    listed = json.loads(invoke(cli, "list", "--json").stdout)["users"]
    assert [(u["username"], u["addresses"], u["disabled"], u["last_login"]) for u in listed] == [
        ("alice", ["alice@example.org", "sales@example.org"], False, None)]
    assert "hash" not in json.dumps(listed)
    assert Users(store).authenticate("alice", PASSWORD) is not None
    assert [(e.action, e.actor) for e in events(store)] == [("users.add", "cli-test")]


def test_cli_passwd_from_file(cli: CliRunner, store: Store, tmp_path: Path) -> None:
    assert invoke(cli, "add", "alice", "--address", "alice@example.org", "--password-env", "NEW_PW").exit_code == 0
    secret = tmp_path / "pw"
    secret.write_bytes(OTHER + b"\nsecond line ignored\n")
    res = invoke(cli, "passwd", "alice", "--password-file", str(secret))
    assert res.exit_code == 0, res.output
    accounts = Users(store)
    assert accounts.authenticate("alice", PASSWORD) is None
    assert accounts.authenticate("alice", OTHER) is not None


def test_cli_prompts_twice_on_a_terminal(cli: CliRunner, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users_cli, "_on_terminal", lambda: True)
    res = invoke(cli, "add", "alice", "--address", "alice@example.org", input=f"{OTHER.decode()}\n{OTHER.decode()}\n")
    assert res.exit_code == 0, res.output
    assert OTHER.decode() not in res.output  # hidden input is not echoed
    assert Users(store).authenticate("alice", OTHER) is not None


def test_cli_disable_enable_remove(cli: CliRunner, store: Store) -> None:
    assert invoke(cli, "add", "alice", "--address", "alice@example.org", "--password-env", "NEW_PW").exit_code == 0
    assert invoke(cli, "disable", "alice").exit_code == 0
    assert "alice\tdisabled\talice@example.org\tnever" in invoke(cli, "list").stdout
    assert Users(store).authenticate("alice", PASSWORD) is None
    assert invoke(cli, "enable", "alice").exit_code == 0
    assert Users(store).authenticate("alice", PASSWORD) is not None
    res = invoke(cli, "addresses", "alice", "--address", "info@example.org")
    assert res.exit_code == 0 and "alice: info@example.org" in res.stdout
    assert invoke(cli, "remove", "alice").exit_code == 0
    assert json.loads(invoke(cli, "list", "--json").stdout) == {"users": []}


def test_cli_without_a_password_source_is_a_usage_error(cli: CliRunner, store: Store) -> None:
    res = invoke(cli, "add", "alice", "--address", "alice@example.org")  # CliRunner's stdin is no terminal
    assert res.exit_code == 2
    assert res.stderr.startswith("mailseal: error[usage]: no password")
    assert Users(store).list() == []


@pytest.mark.parametrize(("args", "message"), [
    (("add", "alice", "--address", "alice@example.org", "--password-env", "UNSET_PW_VAR"), "not set"),
    (("add", "alice", "--address", "alice@example.org", "--password-env", "SHORT_PW"), "too short"),
    (("passwd", "nobody", "--password-env", "NEW_PW"), "no submission account"),
    (("remove", "nobody"), "no submission account"),
])
def test_cli_usage_errors(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...],
                          message: str) -> None:
    monkeypatch.delenv("UNSET_PW_VAR", raising=False)
    monkeypatch.setenv("SHORT_PW", "short")
    res = invoke(cli, *args)
    assert res.exit_code == 2
    assert res.stderr.startswith("mailseal: error[usage]:") and message in res.stderr
    assert "Traceback" not in res.output


def test_cli_duplicate_add(cli: CliRunner) -> None:
    assert invoke(cli, "add", "alice", "--address", "alice@example.org", "--password-env", "NEW_PW").exit_code == 0
    res = invoke(cli, "add", "alice", "--address", "alice@example.org", "--password-env", "NEW_PW")
    assert res.exit_code == 2 and "error[usage]: the submission account 'alice' already exists" in res.stderr
