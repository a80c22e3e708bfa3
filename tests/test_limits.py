"""Resource limits (mailseal/limits.py, docs/limits.md): the ``[limits]`` table is read strictly, and each limit,
hit by a message made for it, ends in ``LimitExceededError`` (code limit-exceeded) in bounded time and memory; the
CLI prints ``error[limit-exceeded]``. The bounds asserted are generous (a runaway parse would blow through them),
never a speed."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path

import pytest

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


def test_defaults_and_every_limit_described() -> None:
    limits = Limits()
    assert set(DESCRIPTIONS) == set(limits.__dataclass_fields__)
    assert Limits.from_settings({}) == limits


@pytest.mark.parametrize("table", [
    {"max_layers": 0}, {"max_signers": -1}, {"max_parts": 1.5}, {"max_parts": True}, {"max_header_size": "1M"},
    {"message_seconds": float("nan")}, {"no_such_limit": 3},
])
def test_limits_table_is_parsed_strictly(table: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="limits"):
        Limits.from_settings({"limits": table})


def test_limits_table_sets_values() -> None:
    limits = Limits.from_settings({"limits": {"max_signers": 2, "message_seconds": 5, "max_expansion": 0.5}})
    assert (limits.max_signers, limits.message_seconds, limits.max_expansion) == (2, 5.0, 0.5)


@pytest.fixture(scope="module")
def people(pki: TestPKI) -> tuple[mailseal.Identity, mailseal.Identity]:
    return ident(pki.user("alice")), ident(pki.user("bob"))


def test_layers(people: tuple[mailseal.Identity, mailseal.Identity]) -> None:
    alice, _ = people
    message = MESSAGE
    for _ in range(3):
        message = mailseal.sign(message, alice)
    error = _bounded(lambda: mailseal.verify(message, limits=Limits(max_layers=2)))
    assert "max_layers" in str(error)
    assert len(mailseal.verify(message, limits=Limits(max_layers=3)).layers) == 3


def test_signers_certificates_and_attributes(people: tuple[mailseal.Identity, mailseal.Identity]) -> None:
    alice, _ = people
    signed = mailseal.sign(MESSAGE, alice)  # one signer, three certificates, several signed attributes
    assert "max_signers" in str(_bounded(lambda: mailseal.verify(signed, limits=Limits(max_signers=0.5))))  # type: ignore[arg-type]
    assert "max_certificates" in str(_bounded(lambda: mailseal.verify(signed, limits=Limits(max_certificates=2))))
    assert "max_attributes" in str(_bounded(lambda: mailseal.verify(signed, limits=Limits(max_attributes=2))))


def test_recipient_infos(people: tuple[mailseal.Identity, mailseal.Identity], pki: TestPKI) -> None:
    alice, bob = people
    encrypted = mailseal.encrypt(MESSAGE, [bob.certificate, alice.certificate, pki.user("carol").cert])
    error = _bounded(lambda: mailseal.decrypt(encrypted, bob, limits=Limits(max_recipient_infos=2)))
    assert "max_recipient_infos" in str(error)
    assert b"this is a test" in mailseal.decrypt(encrypted, bob, limits=Limits(max_recipient_infos=3))


def test_header_size_fields_and_line() -> None:
    many = b"".join(b"X-Field-%d: v\r\n" % i for i in range(50)) + MESSAGE
    long_line = b"X-Long: " + b"a" * 5000 + b"\r\n" + MESSAGE
    assert "max_header_fields" in str(_bounded(lambda: mailseal.verify(many, limits=Limits(max_header_fields=40))))
    assert "max_header_line" in str(_bounded(lambda: mailseal.verify(long_line, limits=Limits(max_header_line=4096))))
    no_end = b"X-A: b\r\n" * 400
    assert "max_header_size" in str(_bounded(lambda: mailseal.verify(no_end, limits=Limits(max_header_size=1024))))


def test_parts_and_nesting(people: tuple[mailseal.Identity, mailseal.Identity]) -> None:
    alice, _ = people
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(30))
    inner = (b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts
             + b"--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nx\r\n--b--\r\n")
    assert "max_parts" in str(_bounded(lambda: mailseal.verify(inner, limits=Limits(max_parts=10))))
    signed = mailseal.sign(inner, alice)
    assert "max_parts" in str(_bounded(lambda: mailseal.verify(signed, limits=Limits(max_parts=1))))
    nested = b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=n0\r\n\r\n"
    for depth in range(1, 12):
        nested += b"--n%d\r\nContent-Type: multipart/mixed; boundary=n%d\r\n\r\n" % (depth - 1, depth)
    nested += b"--n11\r\nContent-Type: application/pkcs7-mime\r\n\r\nx\r\n"
    for depth in range(11, -1, -1):
        nested += b"--n%d--\r\n" % depth
    assert "max_nesting" in str(_bounded(lambda: mailseal.verify(nested, limits=Limits(max_nesting=5))))
    assert mailseal.verify(nested).status == "not-signed"


def test_expansion(people: tuple[mailseal.Identity, mailseal.Identity]) -> None:
    alice, _ = people
    opaque = mailseal.sign(MESSAGE + b"x" * (200 << 10), alice, opaque=True)
    assert "max_expansion" in str(_bounded(lambda: mailseal.verify(opaque, limits=Limits(max_expansion=0.25))))


def test_cli_prints_limit_exceeded(run_cli: Callable[..., object], tmp_path: Path,
                                   people: tuple[mailseal.Identity, mailseal.Identity]) -> None:
    alice, _ = people
    home = tmp_path / "home"
    home.mkdir()
    (home / "mailseal.toml").write_text("[limits]\nmax_certificates = 1\n")
    message = tmp_path / "signed.eml"
    message.write_bytes(mailseal.sign(MESSAGE, alice))
    result = run_cli("--home", str(home), "verify", "-i", str(message))
    assert result.returncode != 0  # type: ignore[attr-defined]
    assert b"error[limit-exceeded]" in result.stderr  # type: ignore[attr-defined]
    assert b"max_certificates" in result.stderr  # type: ignore[attr-defined]


def _deep(levels: int, eight_bit: bool = False) -> bytes:
    m = b"From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=n0\r\n\r\n"
    for d in range(1, levels):
        m += b"--n%d\r\nContent-Type: multipart/mixed; boundary=n%d\r\n\r\n" % (d - 1, d)
    m += b"--n%d\r\nContent-Type: text/plain\r\n\r\n%s\r\n" % (levels - 1, "caf\u00e9".encode() if eight_bit else b"x")
    for d in range(levels - 1, -1, -1):
        m += b"--n%d--\r\n" % d
    return m


def test_deep_multipart_is_a_limit_not_a_recursion_error(people: tuple[mailseal.Identity, mailseal.Identity]) -> None:
    """Found while writing the nesting limit: the email package's parser recursed out of the stack (RecursionError)
    on a few hundred nested multiparts, when opening (a signed part inside) and when signing an 8-bit message."""
    alice, _ = people
    deep = _deep(900).replace(b"Content-Type: text/plain", b"Content-Type: application/pkcs7-mime")
    assert "max_nesting" in str(_bounded(lambda: mailseal.verify(deep)))
    assert "max_nesting" in str(_bounded(lambda: mailseal.sign(_deep(900, eight_bit=True), alice)))
