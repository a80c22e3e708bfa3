"""Shared CLI plumbing: input/output, --pass specs, loading keys and trust, and error reporting."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
from cryptography.exceptions import UnsupportedAlgorithm

from ..cms.identity import Identity
from ..config import data_dir
from ..errors import (
    ErrorCode,
    MailsealError,
    PasswordNeededError,
    UnsupportedAlgorithmError,
    UsageError,
    WrongPasswordError,
)

if TYPE_CHECKING:  # imported where used, so that commands that need no trust decisions start fast
    from ..limits import Limits
    from ..pki.validation import ValidationContext

P = ParamSpec("P")
R = TypeVar("R")

# Exit codes (docs/cli.md): 0 success or valid, 1 not valid or cannot decrypt, 2 usage error or malformed input.
EXIT_NOT_VALID = 1
EXIT_USAGE = 2
NOT_VALID_CODES = {
    ErrorCode.DECRYPTION_FAILED,
    ErrorCode.NO_MATCHING_RECIPIENT,
    ErrorCode.VERIFICATION_FAILED,
    ErrorCode.NOT_SIGNED,
}


def fail(code: str, message: str, exit_code: int) -> None:
    # One line, always: messages that quote a library's multi-line text keep only its first line.
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    click.echo(f"mailseal: error[{code}]: {lines[0] if lines else 'failed'}", err=True)
    sys.exit(exit_code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn every failure into one line with a code; a traceback only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        debug = bool(click.get_current_context().find_root().params.get("debug"))
        try:
            return func(*args, **kwargs)
        except MailsealError as exc:
            if debug:
                traceback.print_exc()
            fail(str(exc.code), exc.message, EXIT_NOT_VALID if exc.code in NOT_VALID_CODES else EXIT_USAGE)
        except OSError as exc:
            if debug:
                traceback.print_exc()
            where = f" {exc.filename}" if exc.filename else ""
            fail(str(ErrorCode.IO), f"cannot access{where}: {exc.strerror or exc}", EXIT_USAGE)
        except UnsupportedAlgorithm as exc:
            # pyca's own refusal of a key it does not offer (ML-KEM-512, SLH-DSA: docs/pq.md), wherever it surfaces.
            if debug:
                traceback.print_exc()
            fail(str(ErrorCode.UNSUPPORTED_ALGORITHM), f"the algorithm is not supported: {exc}", EXIT_USAGE)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # A bug: still one line, never a traceback unless asked.
            if debug:
                traceback.print_exc()
            fail("internal", f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)", EXIT_USAGE)
        raise AssertionError("unreachable")

    return wrapper


def read_in(path: str | None, what: str = "the message") -> bytes:
    if path is None or path == "-":
        from .streams import stdin

        return stdin(what).read()
    return Path(path).read_bytes()


def write_out(path: str | None, data: bytes, *, private: bool = False) -> None:
    """``data`` to stdout or to a file (atomically); ``private`` (key material) makes the file 0600."""
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from .streams import output_stream  # atomic for files, in place for devices and pipes

    with output_stream(path, private=private) as sink:
        sink.write(data)


def password(spec: str | None) -> bytes | None:
    """OpenSSL-style pass phrase arguments: pass:TEXT, env:VAR, file:PATH (first line); None without --pass."""
    if spec is None:
        return None
    kind, sep, value = spec.partition(":")
    if not sep:
        raise UsageError("--pass must be pass:TEXT, env:VAR or file:PATH")
    if kind == "pass":
        return value.encode()
    if kind == "env":
        if value not in os.environ:
            raise UsageError(f"--pass env:{value}: the environment variable is not set")
        return os.environ[value].encode()
    if kind == "file":
        lines = Path(value).read_bytes().splitlines()
        return lines[0] if lines else b""
    raise UsageError(f"--pass: unknown kind {kind!r} (use pass:, env: or file:)")


PASSWORD_TRIES = 3


def with_password(load: Callable[[bytes | None], R], name: str, pass_spec: str | None) -> R:
    """``load(password)`` for the file ``name`` with the password of ``--pass``; without ``--pass``, as OpenSSL
    does: first without one, then, if the file is protected, asked for on the terminal without echo
    ("Enter pass phrase for NAME:", three tries); with no terminal, ``password-needed`` naming ``--pass``, which
    is another fact than a wrong password."""
    if pass_spec is not None:
        return load(password(pass_spec))
    try:
        return load(None)
    except PasswordNeededError:
        pass
    from .terminal import read_secret, say

    for attempt in range(1, PASSWORD_TRIES + 1):
        secret = read_secret(f"Enter pass phrase for {name}:")
        if secret is None:
            raise PasswordNeededError(f"{name} needs a password (--pass)")
        try:
            return load(secret)
        except WrongPasswordError as exc:
            if attempt == PASSWORD_TRIES:
                raise
            say(f"mailseal: {exc.message}; try again")
    raise AssertionError("unreachable")


def load_identity(key: str, cert: str | None, chain: str | None, pass_spec: str | None) -> Identity:
    return with_password(lambda secret: Identity.load(key, cert, chain, secret), key, pass_spec)


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at {value!r} is not an ISO-8601 date/time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


REVOCATION_CHOICES = {"off": "off", "soft": "soft-fail", "hard": "hard-fail"}


def validation_context(
    trust: Sequence[str],
    system_trust: bool,
    at: str | None,
    *,
    revocation: str = "soft",
    crls: Sequence[str] = (),
    intermediates: Sequence[str] = (),
    policies: Sequence[str] = (),
    explicit_policy: bool = False,
    inhibit_policy_mapping: bool = False,
    inhibit_any_policy: bool = False,
    no_address_check: bool = False,
    allow_fetch: bool = False,
    allow_private_fetch: bool = False,
    allow_legacy: str | None = None,
) -> ValidationContext:
    """The ValidationContext the verify/open options describe (RFC 5280 §6.1.1 inputs, revocation, fetching)."""
    from ..pki.fetching import FetchPolicy
    from ..pki.revocation import load_crls
    from ..pki.truststore import TrustStore, read_certificate_file
    from ..pki.validation import ValidationContext

    if trust:
        store = TrustStore.from_files(trust)
    else:
        # The trust list the administrator keeps (`mailseal trust add`): the store database's when a store exists,
        # else $MAILSEAL_HOME/trust; the same list the gateway reads (docs/trust.md). Imported here: with --trust
        # a verify needs no database code at all.
        from ..store.trust import effective_trust_store

        store = effective_trust_store()
    if system_trust:
        store = store.merged(TrustStore.system())
    if revocation not in REVOCATION_CHOICES:
        raise UsageError(f"--revocation must be one of {', '.join(REVOCATION_CHOICES)}")
    if allow_private_fetch and not allow_fetch:
        raise UsageError("--allow-private-fetch needs --allow-fetch")
    crl_ders: list[bytes] = []
    for path in crls:
        crl_ders.extend(load_crls(Path(path).read_bytes()))
    try:
        return ValidationContext(
            trust=store,
            moment=parse_time(at),
            revocation_mode=REVOCATION_CHOICES[revocation],  # type: ignore[arg-type]
            crls=tuple(crl_ders),
            intermediates=tuple(c for p in intermediates for c in read_certificate_file(p)) if intermediates else (),
            allow_fetching=allow_fetch,
            fetch_policy=FetchPolicy(allow_private=allow_private_fetch),
            cache_dir=data_dir() / "cache" / "revocation" if allow_fetch else None,
            policies=tuple(policies) or ("anyPolicy",),
            explicit_policy=explicit_policy,
            inhibit_policy_mapping=inhibit_policy_mapping,
            inhibit_any_policy=inhibit_any_policy,
            check_address=not no_address_check,
            allow_legacy=legacy_choice(allow_legacy),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def settings_limits() -> Limits:
    """The ``[limits]`` table of the settings file (docs/limits.md), or the defaults when it has none, with the
    deadline of the command's one message (``message_seconds`` from now: ``error[limit-exceeded]`` past it)."""
    from ..config import load_settings
    from ..limits import Limits

    return Limits.from_settings(load_settings()).started()


def legacy_choice(value: str | None) -> frozenset[str]:
    """``--allow-legacy dsa,sha1,...``; without it, the ``[verification] allow_legacy`` setting (docs/cli.md)."""
    from ..cms.algorithms import legacy_algorithms
    from ..config import load_settings

    try:
        if value is not None:
            return legacy_algorithms(value)
        table = load_settings().get("verification", {})
        configured = table.get("allow_legacy", []) if isinstance(table, dict) else []
        if not isinstance(configured, list | str):
            raise UsageError("verification.allow_legacy must be a list of names, e.g. [\"dsa\", \"sha1\"]")
        return legacy_algorithms(configured)
    except UnsupportedAlgorithmError as exc:
        raise UsageError(exc.message) from None


def extra_certs(paths: Sequence[str]) -> list[Any]:
    from ..pki.truststore import read_certificate_file

    return [c for p in paths for c in read_certificate_file(p)]


def print_json(data: dict[str, Any], *, err: bool = False) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False), err=err)


trust_options = [
    click.option("--trust", "trust", multiple=True, type=click.Path(dir_okay=False),
                 help="Trusted roots: PEM bundle, DER, PKCS#7 certs-only, PKCS#12 or Microsoft SST (repeatable)."),
    click.option("--system-trust", is_flag=True, help="Also trust the operating system's root certificates."),
    click.option("--at", "at", metavar="ISO-8601", help="Validate certificates at this time instead of now."),
    click.option("--certs", "certs", multiple=True, type=click.Path(dir_okay=False),
                 help="Extra certificates, e.g. signer certificates not carried in the message (repeatable)."),
    click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON."),
]


validation_options = [
    click.option("--revocation", type=click.Choice(list(REVOCATION_CHOICES)), default="soft", show_default=True,
                 help="off: no check; soft: revoked fails, unknown is reported; hard: unknown fails too."),
    click.option("--crl", "crls", multiple=True, type=click.Path(dir_okay=False),
                 help="A CRL to check certificates against: DER or PEM (repeatable)."),
    click.option("--intermediate", "intermediates", multiple=True, type=click.Path(dir_okay=False),
                 help="Intermediate CA certificates that help build the chain, not trusted (repeatable)."),
    click.option("--policy", "policies", multiple=True, metavar="OID",
                 help="Acceptable certificate policy (RFC 5280 user-initial-policy-set; default anyPolicy)."),
    click.option("--explicit-policy", is_flag=True, help="Require a valid policy for the whole path."),
    click.option("--inhibit-policy-mapping", is_flag=True, help="Forbid policy mapping along the path."),
    click.option("--inhibit-any-policy", is_flag=True, help="Do not let anyPolicy in a certificate match."),
    click.option("--no-address-check", is_flag=True,
                 help="Do not compare From with the signer's certificate (path and signature only)."),
    click.option("--allow-fetch", is_flag=True,
                 help="Fetch CRLs, OCSP answers and missing intermediates named in certificates."),
    click.option("--allow-private-fetch", is_flag=True,
                 help="With --allow-fetch: also fetch from loopback and private addresses."),
    click.option("--allow-legacy", "allow_legacy", metavar="NAMES",
                 help="Accept legacy algorithms, for archives: a comma-separated list of dsa, sha1, rsa1024, 3des, "
                      "rc2 (default: none, or [verification] allow_legacy)."),
]


def validation_from_options(trust: Sequence[str], system_trust: bool, at: str | None,
                            options: dict[str, Any]) -> ValidationContext:
    """validation_context() from the keyword arguments click passes for validation_options."""
    return validation_context(trust, system_trust, at, **options)


def apply(options: list[Callable[[Any], Any]]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorator


io_options = [
    click.option("-i", "--in", "infile", metavar="FILE", help="Read the message from FILE (default: stdin)."),
    click.option("-o", "--out", "outfile", metavar="FILE", help="Write the result to FILE (default: stdout)."),
]

