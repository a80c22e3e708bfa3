"""``limits.message_seconds`` inside long steps (issue 17 point 3): a ``Deadline`` (mailseal/limits.py) travels in
the ``Limits`` a parser is given (``Limits.started()``), and the loops one message can make long check it at
each turn: the multipart walk (each candidate delimiter, each part of a nested walk), each signer (its digest and
signature, then its path validation), each recipient info and each candidate key, each layer. Past it the work
stops with ``TimeLimitExceededError`` (code limit-exceeded): ``error[limit-exceeded]`` in the CLI, 451 4.3.0 at
the gateway (tests/gateway/test_limits_gateway.py).

A deadline already past makes these tests deterministic: each shows that the check sits inside the loop (the
call raises instead of returning what it returns without a deadline), never how fast anything is.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

import mailseal
from mailseal.cms.decryption import SpoolStaging, decrypt_to
from mailseal.cms.verification import check_signed_data
from mailseal.errors import ErrorCode, TimeLimitExceededError
from mailseal.limits import Deadline, Limits
from mailseal.mime.multipart import split_multipart
from mailseal.streamio import Region
from tests.support.messages import MESSAGE, ident
from tests.support.testpki import TestPKI

PARTS = 2000


def past() -> Limits:
    """Generous limits whose deadline passed a second ago (max_parts raised for the many-parts message)."""
    return replace(Limits(max_parts=PARTS * 2), deadline=Deadline(time.monotonic() - 1.0, 0.5))


def many_parts(count: int = PARTS) -> bytes:
    """A message of ``count`` text parts with a signature part among them (a signed part below the root makes the
    opener walk every part)."""
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count))
    return (b"From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            + parts + b"--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nx\r\n--b--\r\n")


def _raises_in_time(call: Callable[[], object]) -> TimeLimitExceededError:
    with pytest.raises(TimeLimitExceededError) as caught:
        call()
    assert caught.value.code is ErrorCode.LIMIT_EXCEEDED
    assert "limits.message_seconds" in caught.value.message
    return caught.value


def test_deadline_is_not_a_setting() -> None:
    """``deadline`` is set per message by ``started()``; the ``[limits]`` table cannot name it."""
    assert Limits().deadline is None and Limits().started().deadline is not None
    assert Limits().started() == Limits()  # the limits compare equal: a deadline is not part of the setting
    with pytest.raises(mailseal.errors.ConfigurationError, match="unknown keys: deadline"):
        Limits.from_settings({"limits": {"deadline": 3}})


def test_a_deadline_in_the_future_lets_the_work_finish() -> None:
    report = mailseal.verify(many_parts(), limits=Limits(max_parts=PARTS * 2).started(600))
    assert report.status == "not-signed" and report.nested_parts


def test_the_multipart_split_checks_at_each_delimiter() -> None:
    body = Region.of_bytes(many_parts().partition(b"\r\n\r\n")[2])
    assert len(split_multipart(body, "b", PARTS * 2)) == PARTS + 1
    _raises_in_time(lambda: split_multipart(body, "b", PARTS * 2, past().deadline))


def test_the_nested_walk_of_many_parts_stops() -> None:
    """Without a check inside, verify would walk all 2000 parts and answer not-signed."""
    _raises_in_time(lambda: mailseal.verify(many_parts(), limits=past()))


def _many_signers(pki: TestPKI, count: int) -> bytes:
    """An opaque SignedData whose SignerInfo is repeated ``count`` times (as DER, for check_signed_data)."""
    signed = mailseal.sign(MESSAGE, ident(pki.user("alice")), opaque=True)


    info = cms.ContentInfo.load(base64.b64decode(signed.partition(b"\r\n\r\n")[2]))
    signer_infos = info["content"]["signer_infos"]
    for _ in range(count - 1):
        signer_infos.append(cms.SignerInfo.load(signer_infos[0].dump()))
    return info.dump(force=True)


def test_each_signer_is_a_turn(pki: TestPKI) -> None:
    der = _many_signers(pki, 12)
    assert len(check_signed_data(der, limits=Limits()).signers) == 12
    _raises_in_time(lambda: check_signed_data(der, limits=past()))


def test_each_recipient_info_is_a_turn(pki: TestPKI) -> None:
    bob = pki.user("bob")
    sealed = mailseal.encrypt(MESSAGE, [pki.user("carol").cert, bob.cert])
    der = base64.b64decode(sealed.partition(b"\r\n\r\n")[2])
    staging = SpoolStaging()
    decrypt_to(lambda: io.BytesIO(der), bob.key, bob.cert, staging, Limits())  # type: ignore[arg-type]
    _raises_in_time(lambda: decrypt_to(lambda: io.BytesIO(der), bob.key, bob.cert,  # type: ignore[arg-type]
                                       SpoolStaging(), past()))


def test_open_stops_at_the_first_layer(pki: TestPKI) -> None:
    signed = mailseal.sign(MESSAGE, ident(pki.user("alice")))
    assert mailseal.open(signed, limits=Limits()).report.signed
    _raises_in_time(lambda: mailseal.open(signed, limits=past()))


def test_cli_prints_limit_exceeded_past_message_seconds(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    """The CLI starts the deadline of its one message from the settings' message_seconds."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "mailseal.toml").write_text(f"[limits]\nmessage_seconds = 1e-9\nmax_parts = {PARTS * 2}\n")
    path = tmp_path / "message.eml"
    path.write_bytes(many_parts())
    result = run_cli("--home", str(home), "verify", "-i", str(path))
    assert result.returncode != 0
    assert b"error[limit-exceeded]" in result.stderr and b"limits.message_seconds" in result.stderr, result.stderr
