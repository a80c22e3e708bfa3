"""The trust list in the store database (StoredTrust), its CLI (`mailseal trust ... --store`), the take-over of a file
list when a store exists, and the gateway merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailseal import api
from mailseal.cms.identity import Identity
from mailseal.errors import UsageError
from mailseal.gateway.resources import trust_context
from mailseal.pki import trustlist
from mailseal.pki.trustlist import AddResult, ExportFormat, fingerprint
from mailseal.pki.validation import ValidationContext
from mailseal.store import Store, events
from mailseal.store.trust import StoredTrust, migrate_file_list
from tests.conftest import RunCli
from tests.support.smtp_sink import free_port
from tests.support.testpki import TestPKI


def changed(result: AddResult) -> list[str]:
    """The fingerprints an add changed (added, or moved to the other kind)."""
    return [e.fingerprint for e in (*result.added, *result.moved)]


def test_add_list_remove(store: Store, pki: TestPKI) -> None:
    trust = StoredTrust(store)
    assert trust.entries() == []
    root_fp, inter_fp = fingerprint(pki.root_cert), fingerprint(pki.intermediate_cert)
    assert changed(trust.add([pki.root_cert], actor="test")) == [root_fp]
    assert changed(trust.add([pki.intermediate_cert], intermediate=True, actor="test")) == [inter_fp]
    assert [(e.fingerprint, e.kind) for e in trust.entries()] == [(root_fp, "anchor"), (inter_fp, "intermediate")]
    ts = trust.trust_store()
    assert ts.anchors == (pki.root_cert,) and ts.intermediates == (pki.intermediate_cert,)
    removed = trust.remove(inter_fp[:12], actor="test")
    assert [e.fingerprint for e in removed] == [inter_fp]
    assert [e.fingerprint for e in trust.entries()] == [root_fp]
    subject_part = pki.root_cert.subject.rfc4514_string().split(",")[0].split("=")[1]
    assert [e.fingerprint for e in trust.remove(subject_part)] == [root_fp]
    assert trust.entries() == []
    with pytest.raises(UsageError):
        trust.remove(root_fp)


def test_add_is_idempotent_and_moves_kind(store: Store, pki: TestPKI) -> None:
    trust = StoredTrust(store)
    fp = fingerprint(pki.root_cert)
    assert changed(trust.add([pki.root_cert, pki.root_cert])) == [fp]
    assert changed(trust.add([pki.root_cert])) == []
    assert len(trust.entries()) == 1
    assert changed(trust.add([pki.root_cert], intermediate=True)) == [fp]
    assert [e.kind for e in trust.entries()] == ["intermediate"]


def test_leaf_refused(store: Store, pki: TestPKI) -> None:
    trust = StoredTrust(store)
    with pytest.raises(UsageError, match="not a CA certificate"):
        trust.add([pki.root_cert, pki.user("alice").cert])
    assert trust.entries() == []  # all or nothing
    with pytest.raises(UsageError):
        trust.add([])


def test_audit_events(store: Store, pki: TestPKI) -> None:
    trust = StoredTrust(store)
    fp = fingerprint(pki.root_cert)
    trust.add([pki.root_cert], actor="admin@node1")
    trust.add([pki.root_cert], actor="admin@node1")  # unchanged: no event
    trust.remove(fp, actor="admin@node2")
    added = events(store, action="trust.add")
    removed = events(store, action="trust.remove")
    assert [(e.subject, e.actor, e.detail["kind"]) for e in added] == [(fp, "admin@node1", "anchor")]
    assert [(e.subject, e.actor) for e in removed] == [(fp, "admin@node2")]


def test_signature_valid_only_with_stored_anchor(store: Store, pki: TestPKI) -> None:
    alice = pki.user("alice")
    message = (f"From: {alice.email}\r\nTo: bob@example.org\r\nSubject: hi\r\n"
               "Content-Type: text/plain\r\n\r\nHello.\r\n").encode()
    signed = api.sign(message, Identity(alice.key, alice.cert, tuple(alice.chain)))
    trust = StoredTrust(store)
    assert api.verify(signed, ValidationContext(trust=trust.trust_store())).status == "untrusted"
    trust.add([pki.root_cert])
    assert api.verify(signed, ValidationContext(trust=trust.trust_store())).status == "valid"
    # the gateway merges the stored list into its context when given the store
    assert api.verify(signed, trust_context((), store)).status == "valid"


def test_cli_store_flag(store: Store, store_url: str, pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    env = {"MAILSEAL_HOME": str(tmp_path / "clihome"), "MAILSEAL_DB_URL": store_url}
    root_fp = fingerprint(pki.root_cert)
    res = run_cli("trust", "add", "--store", pki.root_path, env=env)
    assert res.returncode == 0, res.stderr
    assert b"1 added" in res.stdout
    res = run_cli("trust", "add", "--store", "--intermediate", pki.intermediate_path, env=env)
    assert res.returncode == 0, res.stderr
    res = run_cli("trust", "add", "--store", pki.user("alice").cert_path, env=env)
    assert res.returncode != 0 and b"not a CA certificate" in res.stderr
    listed = json.loads(run_cli("trust", "list", "--store", "--json", env=env).stdout)["certificates"]
    assert [(c["fingerprint_sha256"], c["kind"]) for c in listed] == [
        (root_fp, "anchor"), (fingerprint(pki.intermediate_cert), "intermediate")]
    assert [e.kind for e in StoredTrust(store).entries()] == ["anchor", "intermediate"]
    # a store exists, so without --store the commands use the same list; the file list stays unwritten
    assert json.loads(run_cli("trust", "list", "--json", env=env).stdout)["certificates"] == listed
    assert not (tmp_path / "clihome" / "trust" / "anchors.pem").exists()
    res = run_cli("trust", "remove", "--store", root_fp[:16], env=env)
    assert res.returncode == 0, res.stderr
    assert b"removed anchor" in res.stdout
    assert [e.kind for e in StoredTrust(store).entries()] == ["intermediate"]
    res = run_cli("trust", "remove", "--store", root_fp[:16], env=env)
    assert res.returncode != 0


def test_file_list_taken_over_once(store: Store, pki: TestPKI, tmp_path: Path) -> None:
    home = tmp_path / "files"
    trustlist.add([pki.root_cert], home=home)
    trustlist.add([pki.intermediate_cert], intermediate=True, home=home)
    root_fp, inter_fp = fingerprint(pki.root_cert), fingerprint(pki.intermediate_cert)
    taken = migrate_file_list(store, home, actor="test")
    assert [(e.fingerprint, e.kind) for e in taken] == [(root_fp, "anchor"), (inter_fp, "intermediate")]
    assert [(e.fingerprint, e.kind) for e in StoredTrust(store).entries()] == [
        (root_fp, "anchor"), (inter_fp, "intermediate")]
    # the files are renamed, not deleted: the list now lives in the database
    assert trustlist.entries(home) == []
    assert sorted(p.name for p in (home / "trust").iterdir()) == ["anchors.pem.migrated", "intermediates.pem.migrated"]
    added = events(store, action="trust.add")
    assert [(e.subject, e.detail["kind"], e.detail["migrated_from"]) for e in added] == [
        (root_fp, "anchor", str(home / "trust")), (inter_fp, "intermediate", str(home / "trust"))]
    # a second use finds nothing to take over: no duplicate rows, no new events
    assert migrate_file_list(store, home) == []
    assert len(StoredTrust(store).entries()) == 2 and len(events(store, action="trust.add")) == 2


def test_take_over_keeps_what_the_database_holds(store: Store, pki: TestPKI, tmp_path: Path) -> None:
    home = tmp_path / "files"
    trustlist.add([pki.intermediate_cert], home=home)  # an anchor in the files...
    StoredTrust(store).add([pki.intermediate_cert], intermediate=True)  # ...an intermediate in the database
    assert migrate_file_list(store, home) == []
    assert [e.kind for e in StoredTrust(store).entries()] == ["intermediate"]
    assert trustlist.entries(home) == []


def test_cli_takes_the_file_list_over_when_a_store_appears(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    """The rule without $MAILSEAL_DB_URL: the database once mailseal.db is in the data directory, else the files;
    looking never creates a store."""
    home = tmp_path / "home"
    env = {"MAILSEAL_HOME": str(home)}
    alice = pki.user("alice")
    message = (f"From: {alice.email}\r\nTo: bob@example.org\r\nSubject: hi\r\n"
               "Content-Type: text/plain\r\n\r\nHello.\r\n").encode()
    signed = tmp_path / "signed.eml"
    signed.write_bytes(api.sign(message, Identity(alice.key, alice.cert, tuple(alice.chain))))
    assert run_cli("trust", "add", pki.root_path, env=env).returncode == 0
    assert (home / "trust" / "anchors.pem").is_file()
    res = run_cli("verify", "-i", str(signed), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (home / "mailseal.db").exists()  # no store was created to check for one
    Store.open(f"sqlite:///{home / 'mailseal.db'}").close()  # a store appears (e.g. `mailseal keys import`)
    res = run_cli("verify", "-i", str(signed), env=env)  # first use: the file list moves into the database
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (home / "trust" / "anchors.pem").exists() and (home / "trust" / "anchors.pem.migrated").is_file()
    listed = json.loads(run_cli("trust", "list", "--json", env=env).stdout)["certificates"]
    assert [c["fingerprint_sha256"] for c in listed] == [fingerprint(pki.root_cert)]
    store = Store.open(f"sqlite:///{home / 'mailseal.db'}")
    try:
        assert [e.subject for e in events(store, action="trust.add")] == [fingerprint(pki.root_cert)]
        # removing it from the database is not undone by a second take-over
        assert run_cli("trust", "remove", fingerprint(pki.root_cert)[:16], env=env).returncode == 0
        assert StoredTrust(store).entries() == []
        assert run_cli("verify", "-i", str(signed), env=env).returncode != 0
        assert StoredTrust(store).entries() == []
    finally:
        store.close()


def test_both_lists_export_alike(store: Store, pki: TestPKI, tmp_path: Path) -> None:
    files = trustlist.FileTrustList(tmp_path / "files")
    stored = StoredTrust(store)
    for trust in (files, stored):  # the TrustList interface, whichever the implementation
        trust.add([pki.intermediate_cert], intermediate=True)
        trust.add([pki.root_cert])
    formats: tuple[ExportFormat, ...] = ("pem", "sst")
    for fmt in formats:
        assert stored.export(fmt) == files.export(fmt)
    assert stored.export("pem", anchors_only=True) == files.export("pem", anchors_only=True)
    assert b"BEGIN CERTIFICATE" in stored.export("pem", anchors_only=True)
    assert stored.trust_store() == files.trust_store()


def _signed_by_alice(pki: TestPKI, path: Path) -> Path:
    alice = pki.user("alice")
    message = (f"From: {alice.email}\r\nTo: bob@example.org\r\nSubject: hi\r\n"
               "Content-Type: text/plain\r\n\r\nHello.\r\n").encode()
    path.write_bytes(api.sign(message, Identity(alice.key, alice.cert, tuple(alice.chain))))
    return path


def test_cli_export_reads_the_store_without_flag(store: Store, store_url: str, pki: TestPKI, run_cli: RunCli,
                                                 tmp_path: Path) -> None:
    env = {"MAILSEAL_HOME": str(tmp_path / "clihome"), "MAILSEAL_DB_URL": store_url}
    StoredTrust(store).add([pki.root_cert])
    res = run_cli("trust", "export", "-o", str(tmp_path / "out.pem"), env=env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out.pem").read_bytes() == StoredTrust(store).export("pem")
    signed = _signed_by_alice(pki, tmp_path / "signed.eml")
    res = run_cli("verify", "-i", str(signed), env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_unreachable_store_is_an_error_not_a_fallback(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    trustlist.add([pki.root_cert], home=home)  # a file list that would make the signature valid
    env = {"MAILSEAL_HOME": str(home), "MAILSEAL_DB_URL": f"postgresql+psycopg://u:pw@127.0.0.1:{free_port()}/x"}
    signed = _signed_by_alice(pki, tmp_path / "signed.eml")
    res = run_cli("verify", "-i", str(signed), env=env)
    assert res.returncode == 2
    assert b"error[configuration]" in res.stderr and b"--trust FILE" in res.stderr and b"u:pw@" not in res.stderr
    assert (home / "trust" / "anchors.pem").is_file()  # nothing was taken over
    # --trust is the explicit override: the store is not needed
    res = run_cli("verify", "--trust", pki.root_path, "-i", str(signed), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
