"""A signed, then encrypted, then signed message (RFC 2634's triple wrapping) verified without the recipient's
key: the outer signature is checked and reported, the encrypted layer is named as not opened with whom it is for,
and nothing inside is claimed (``keep_inner_encrypted``); with the key everything opens as before."""

from __future__ import annotations

import pytest

import mailseal
from mailseal.cms.names import serial_text
from mailseal.errors import NoMatchingRecipientError
from mailseal.mime.opening import open_message
from tests.conftest import RunCli
from tests.mime.protection_helpers import MESSAGE
from tests.support.messages import ident
from tests.support.testpki import TestPKI


def _triple(pki: TestPKI) -> bytes:
    alice = ident(pki.user("alice"))
    inner = mailseal.sign(MESSAGE, alice)
    encrypted = mailseal.encrypt(inner, [pki.user("bob").cert])
    return mailseal.sign(encrypted, alice)


def _trust(pki: TestPKI) -> mailseal.TrustStore:
    return mailseal.TrustStore(anchors=(pki.root_cert,))


def test_the_outer_signature_is_reported_and_the_encrypted_layer_left_closed(pki: TestPKI) -> None:
    opened = open_message(_triple(pki), context=mailseal.ValidationContext(trust=_trust(pki)),
                          keep_inner_encrypted=True)
    report = opened.report
    outer, closed = report.layers
    assert outer.kind == "signed" and outer.status == "valid" and outer.covers == "application/pkcs7-mime"
    assert closed.kind in ("enveloped", "auth-enveloped") and not closed.opened
    bob = pki.user("bob").cert
    assert closed.status == "not-decrypted" and closed.recipient_count == 1
    assert closed.recipients[0].startswith(f"serial {serial_text(bob.serial_number)}")
    assert report.valid and report.signature_layer is outer  # the outer signature counts for the message
    data = report.to_dict()
    assert data["layers"][1]["opened"] is False and data["layers"][1]["recipients"]
    assert any("not opened" in w and "not checked" in w for w in data["warnings"])


def test_without_the_option_or_at_an_encrypted_root_it_still_needs_a_key(pki: TestPKI) -> None:
    context = mailseal.ValidationContext(trust=_trust(pki))
    with pytest.raises(NoMatchingRecipientError):
        open_message(_triple(pki), context=context)
    encrypted_root = mailseal.encrypt(MESSAGE, [pki.user("bob").cert])
    with pytest.raises(NoMatchingRecipientError):
        open_message(encrypted_root, context=context, keep_inner_encrypted=True)


def test_with_the_key_every_layer_opens(pki: TestPKI) -> None:
    opened = open_message(_triple(pki), identities=[ident(pki.user("bob"))],
                          context=mailseal.ValidationContext(trust=_trust(pki)), keep_inner_encrypted=True)
    assert [lay.kind for lay in opened.report.layers][::2] == ["signed", "signed"]
    assert all(lay.opened for lay in opened.report.layers) and opened.report.valid


def test_mailseal_verify_shows_the_outer_signature(run_cli: RunCli, pki: TestPKI, tmp_path: object) -> None:
    done = run_cli("verify", "--trust", pki.root_path, input=_triple(pki))
    out = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, out
    assert "layer 1: signed" in out and "valid" in out
    assert "layer 2: encrypted" in out and "not opened: no key here for" in out
