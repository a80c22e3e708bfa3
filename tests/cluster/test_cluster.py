"""Two gateway nodes on separate hosts sharing one PostgreSQL store behind Postfix (docs/cluster.md): mail is shared
between them and delivered once, what one node writes to the store the other reads, the internal CA numbers
serials and CRLs consistently from both, and both nodes' audit records are in one table."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import pytest
from cryptography import x509

from mailseal import api
from mailseal.pki.truststore import TrustStore
from mailseal.store import audit, stored_policy
from mailseal.store.directory import Directory
from tests.support.cluster import Cluster, message_id, outbound, send, via_node, wait_for_ids

pytestmark = pytest.mark.cluster


def test_mail_through_postfix_is_shared_by_both_nodes_delivered_once_and_audited_in_one_table(
        cluster: Cluster) -> None:
    messages = outbound(20, "spread")
    assert all(code == 250 for code, _ in send(cluster.postfix.public_address, messages))
    got = wait_for_ids(cluster, {f"<spread.{n}@cluster.test>" for n in range(20)})
    assert len(got) == 20  # each exactly once
    by_node = Counter(via_node(m) for m in got)
    assert set(by_node) == {"a", "b"}, by_node  # Postfix shares the load (random order of the two addresses)
    trust = TrustStore(anchors=(cluster.org.ca_certificate,))
    for received in got[:4]:
        opened = api.open(received.data, [cluster.org.carol], trust=trust)
        assert opened.report.encrypted and opened.report.status == "valid"
        assert opened.report.signers[0].certificate == cluster.org.alice.certificate

    store = cluster.store()
    try:
        deadline = time.monotonic() + 30
        while True:  # the audit writer writes in batches, in the background
            records = {e.subject: e for e in audit.events(store, action="gateway.message")
                       if e.subject.startswith("<spread.")}
            if len(records) == 20 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        store.close()
    assert len(records) == 20
    # one table, both writers: each record names the node that handled the message, as Postfix saw it
    assert {message_id(m): via_node(m) for m in got} == {k: e.detail["node"] for k, e in records.items()}


def test_what_one_node_writes_to_the_store_the_other_reads(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    org = cluster.org
    trust = TrustStore(anchors=(org.ca_certificate,))

    # 1. A certificate harvested by node a: dave signs to alice through a, which files his certificate; node b
    #    then encrypts alice's reply to dave with it (dave's certificate was nowhere before).
    [plain] = outbound(1, "from-dave", to="alice@example.org", sender="dave@partner.example")
    signed = api.sign(plain, org.dave)
    assert send(a.smtp_address, [signed], sender="dave@partner.example", rcpt="alice@example.org") == [(250, b"")]
    wait_for_ids(cluster, {"<from-dave.0@cluster.test>"})
    store = cluster.store()
    try:
        [record] = Directory(store).find("dave@partner.example")
        assert record.source == "harvested"
    finally:
        store.close()
    [reply] = outbound(1, "to-dave", to="dave@partner.example")
    assert send(b.smtp_address, [reply], rcpt="dave@partner.example") == [(250, b"")]
    [got] = wait_for_ids(cluster, {"<to-dave.0@cluster.test>"})
    assert via_node(got) == "b"
    opened = api.open(got.data, [org.dave], trust=trust)
    assert opened.report.encrypted and opened.report.status == "valid"

    # 2. A certificate revoked on node a (the CA's register is the store's): node b's CRL lists it.
    revoked = a.cli("ca", "revoke", "--email", "dave@partner.example", "--reason", "keyCompromise")
    assert revoked.returncode == 0, revoked.stderr
    crl_run = b.cli("ca", "crl", "--format", "der", "-o", str(b.home / "ca.crl"))
    assert crl_run.returncode == 0, crl_run.stderr
    crl = x509.load_der_x509_crl((b.home / "ca.crl").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(org.dave.certificate.serial_number) is not None
    listed = json.loads(b.cli("ca", "list", "--json").stdout)["certificates"]
    [dave] = [c for c in listed if c["email"] == "dave@partner.example"]
    assert dave["status"] == "revoked"

    # 3. A policy saved in the store (from the administrator's machine): node b applies it once it reloads.
    [blocked] = outbound(1, "blocked", to="someone@blocked.example")
    store = cluster.store()
    try:
        stored_policy.save(store, {"sign": "if-key", "encrypt": "if-possible", "rules": [
            {"name": "cluster-block", "to": ["blocked.example"], "action": "reject",
             "reason": "blocked by the cluster test"}]}, actor="cluster-test")
        b.reload()
        code, text = send(b.smtp_address, [blocked], rcpt="someone@blocked.example")[0]
        assert code == 550 and b"blocked by the cluster test" in text
    finally:
        stored_policy.clear(store, actor="cluster-test")
        store.close()
        b.reload()


_ISSUE = """
import os, sys, time
from pathlib import Path
from cryptography import x509
from mailseal.store.ca_register import open_authority
name, count, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
with open_authority(Path(sys.argv[4]), os.environ["MAILSEAL_CA_PASSPHRASE"].encode()) as ca:
    time.sleep(max(0.0, start - time.time()))  # both nodes begin together
    for n in range(count):
        issued = ca.issue(f"{name}{n}@example.org", usage="sign", key_type="p256")
        print("serial", format(issued.certificate.serial_number, "x"), flush=True)
        number = ca.crl().extensions.get_extension_for_class(x509.CRLNumber).value
        print("crl", number.crl_number, flush=True)
"""


def test_ca_serials_and_crl_numbers_stay_unique_when_both_nodes_issue_at_once(cluster: Cluster) -> None:
    count = 6
    start = time.time() + 4  # after both interpreters have started and opened the CA
    procs = [node.host.popen([sys.executable, "-c", _ISSUE, f"issue-{node.name}-", str(count), str(start),
                              str(node.home / "ca")], env=node.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for node in cluster.nodes.values()]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    lines = [line.split() for out, _ in outputs for line in out.splitlines()]
    serials = [int(value, 16) for kind, value in lines if kind == "serial"]
    numbers = sorted(int(value) for kind, value in lines if kind == "crl")
    assert len(serials) == len(set(serials)) == 2 * count
    # Each CRL took its own number from the store: no two alike, none skipped (RFC 5280 §5.2.3: it only grows).
    assert numbers == list(range(numbers[0], numbers[0] + 2 * count))
    listed = json.loads(cluster.nodes["a"].cli("ca", "list", "--json").stdout)["certificates"]
    in_register = {int(c["serial"].replace(":", ""), 16) for c in listed if c["email"].startswith("issue-")}
    assert in_register == set(serials)
