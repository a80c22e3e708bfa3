"""Resource limits (mailseal/limits.py, docs/limits.md): the ``[limits]`` table is read strictly, and each limit,
hit by a message made for it, ends in ``LimitExceededError`` (code limit-exceeded) in bounded time and memory,
from the library and from the CLI (``error[limit-exceeded]``, the settings file's ``[limits]``). The bounds
asserted are generous (a runaway parse would blow through them), never a speed. ``message_seconds`` (a deadline
checked inside the parsers' loops): tests/test_deadline.py and tests/gateway/test_limits_gateway.py."""

from __future__ import annotations

import base64
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

import mailseal
from mailseal.errors import ConfigurationError, ErrorCode, LimitExceededError
from mailseal.limits import DESCRIPTIONS, Limits
from tests.support.messages import MESSAGE, ident
from tests.support.testpki import TestPKI

SECONDS = 30.0  # per call: generous; a limit that works answers in well under a second
GROWTH_KB = 512 << 10  # ru_maxrss may grow by at most 512 MiB during one call


def _bounded(call: Callable[[], object]) -> LimitExceededError:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with pytest.raises(LimitExceededError) as caught:
        call()
    assert time.monotonic() - start < SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < GROWTH_KB
    assert caught.value.code is ErrorCode.LIMIT_EXCEEDED
    return caught.value


# -- the table ------------------------------------------------------------------------------------------------------

def test_defaults_and_every_limit_described() -> None:
    limits = Limits()
    assert set(DESCRIPTIONS) == {f.name for f in Limits.settings()}
    assert set(limits.__dataclass_fields__) - set(DESCRIPTIONS) == {"deadline"}  # per message, not a setting
    assert Limits.from_settings({}) == limits


@pytest.mark.parametrize("table", [
    {"max_layers": 0}, {"max_signers": -1}, {"max_parts": 1.5}, {"max_parts": True}, {"max_header_size": "1M"},
    {"message_seconds": float("nan")}, {"message_seconds": float("inf")}, {"no_such_limit": 3},
])
def test_limits_table_is_parsed_strictly(table: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="limits"):
        Limits.from_settings({"limits": table})


def test_limits_table_must_be_a_table() -> None:
    with pytest.raises(ConfigurationError, match=r"\[limits\]"):
        Limits.from_settings({"limits": 3})


def test_limits_table_sets_values() -> None:
    limits = Limits.from_settings({"limits": {"max_signers": 2, "message_seconds": 5, "max_expansion": 0.5}})
    assert (limits.max_signers, limits.message_seconds, limits.max_expansion) == (2, 5.0, 0.5)
    assert limits.max_layers == Limits().max_layers


# -- one message per limit ------------------------------------------------------------------------------------------

def _deep(levels: int, leaf: bytes = b"Content-Type: text/plain\r\n\r\nx") -> bytes:
    m = b"From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=n0\r\n\r\n"
    for d in range(1, levels):
        m += b"--n%d\r\nContent-Type: multipart/mixed; boundary=n%d\r\n\r\n" % (d - 1, d)
    m += b"--n%d\r\n%s\r\n" % (levels - 1, leaf)
    for d in range(levels - 1, -1, -1):
        m += b"--n%d--\r\n" % d
    return m


def _many_parts(count: int) -> bytes:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count))
    return (b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts
            + b"--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nx\r\n--b--\r\n")


@dataclass(frozen=True)
class Case:
    """A message that exceeds ``limit`` set to ``value`` (and passes with the default), and the verb to run."""

    limit: str
    value: float
    make: Callable[[TestPKI], bytes]
    verb: str = "verify"  # or "decrypt" (with bob's key)


def _signed(pki: TestPKI, **options: Any) -> bytes:
    return mailseal.sign(MESSAGE, ident(pki.user("alice")), **options)


CASES = [
    Case("max_layers", 2, lambda pki: _nested_signed(pki, 3)),
    Case("max_signers", 1, lambda pki: _two_signers(pki)),
    Case("max_certificates", 2, _signed),  # the signer's certificate and its chain: three
    Case("max_attributes", 2, _signed),  # content type, message digest, signing time, capabilities
    Case("max_recipient_infos", 2, lambda pki: mailseal.encrypt(
        MESSAGE, [pki.user("bob").cert, pki.user("alice").cert, pki.user("carol").cert]), "decrypt"),
    Case("max_header_size", 1024, lambda pki: b"X-A: b\r\n" * 400 + MESSAGE),
    Case("max_header_fields", 40, lambda pki: b"".join(b"X-Field-%d: v\r\n" % i for i in range(50)) + MESSAGE),
    Case("max_header_line", 4096, lambda pki: b"X-Long: " + b"a" * 5000 + b"\r\n" + MESSAGE),
    Case("max_parts", 10, lambda pki: _many_parts(30)),
    Case("max_nesting", 5, lambda pki: _deep(12, b"Content-Type: application/pkcs7-mime\r\n\r\nx")),
    Case("max_expansion", 0.25, lambda pki: mailseal.sign(MESSAGE + b"x" * (200 << 10), ident(pki.user("alice")),
                                                         opaque=True)),
]


def _two_signers(pki: TestPKI) -> bytes:
    """An opaque signed message whose SignedData carries its SignerInfo twice (mailseal signs with one key)."""
    head, _, body = _signed(pki, opaque=True).partition(b"\r\n\r\n")
    info = cms.ContentInfo.load(base64.b64decode(body))
    signer_infos = info["content"]["signer_infos"]
    signer_infos.append(cms.SignerInfo.load(signer_infos[0].dump()))
    return head + b"\r\n\r\n" + base64.encodebytes(info.dump(force=True)).replace(b"\n", b"\r\n")


def _nested_signed(pki: TestPKI, layers: int) -> bytes:
    message = MESSAGE
    for _ in range(layers):
        message = mailseal.sign(message, ident(pki.user("alice")))
    return message


def test_every_limit_but_the_gateways_has_a_case() -> None:
    assert {c.limit for c in CASES} == set(DESCRIPTIONS) - {"message_seconds"}


def _run(case: Case, message: bytes, pki: TestPKI, limits: Limits) -> object:
    if case.verb == "decrypt":
        return mailseal.decrypt(message, ident(pki.user("bob")), limits=limits)
    return mailseal.verify(message, limits=limits)


@pytest.mark.parametrize("case", CASES, ids=[c.limit for c in CASES])
def test_library_hits_the_limit(case: Case, pki: TestPKI) -> None:
    message = case.make(pki)
    error = _bounded(lambda: _run(case, message, pki, Limits(**{case.limit: case.value})))
    assert f"limits.{case.limit}" in str(error)
    _run(case, message, pki, Limits())  # within the defaults: no limit refuses it


@pytest.mark.parametrize("case", CASES, ids=[c.limit for c in CASES])
def test_cli_prints_limit_exceeded(case: Case, pki: TestPKI, run_cli: Callable[..., Any], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "mailseal.toml").write_text(f"[limits]\n{case.limit} = {case.value!r}\n")
    path = tmp_path / "message.eml"
    path.write_bytes(case.make(pki))
    if case.verb == "decrypt":
        bob = pki.user("bob")
        args = ["decrypt", "--key", str(bob.key_path), "--cert", str(bob.cert_path), "-i", str(path)]
    else:
        args = ["verify", "-i", str(path)]
    start = time.monotonic()
    result = run_cli("--home", str(home), *args)
    assert time.monotonic() - start < 60
    assert result.returncode != 0
    assert b"error[limit-exceeded]" in result.stderr, result.stderr
    assert f"limits.{case.limit}".encode() in result.stderr


def test_deep_multipart_is_a_limit_not_a_recursion_error(pki: TestPKI) -> None:
    """Found while writing the nesting limit: the email package's parser recursed out of the stack (RecursionError)
    on a few hundred nested multiparts, when opening (a signed part inside) and when signing an 8-bit message."""
    deep = _deep(900, b"Content-Type: application/pkcs7-mime\r\n\r\nx")
    assert "max_nesting" in str(_bounded(lambda: mailseal.verify(deep)))
    eight_bit = _deep(900, "Content-Type: text/plain\r\n\r\ncaf\u00e9".encode())
    assert "max_nesting" in str(_bounded(lambda: mailseal.sign(eight_bit, ident(pki.user("alice")))))
