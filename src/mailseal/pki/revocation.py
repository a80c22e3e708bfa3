"""Revocation information: CRLs (RFC 5280 §5, §6.3) and OCSP responses (RFC 6960), loaded and cached on disk.

Low level: ``ValidationContext`` and ``validate_path`` use this; callers rarely need it directly.

The disk cache keeps each fetched CRL under its URL and each OCSP response under (URL, CertID) together with its
validity: an entry is served only while the validation time lies before its nextUpdate (RFC 5280 §5.1.2.5,
RFC 6960 §4.2.2.1), so a stale CRL is fetched again. When a newer piece of information arrives, it replaces the
older one (the newest thisUpdate wins); an older CRL never overwrites a newer one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from asn1crypto import core as a_core
from asn1crypto import crl as a_crl
from asn1crypto import ocsp as a_ocsp
from asn1crypto import pem

from ..errors import MalformedInputError

RevocationState = Literal["good", "revoked", "unknown", "not-checked"]
REVOCATION_STATES: tuple[RevocationState, ...] = ("good", "revoked", "unknown", "not-checked")


@dataclass(frozen=True)
class RevocationResult:
    """What is known about the revocation of a path: one state and a sentence saying why."""

    state: RevocationState
    reason: str = ""


def load_crls(data: bytes) -> list[bytes]:
    """The DER CRLs in a file: one DER CRL, or any number of PEM ``X509 CRL`` blocks. Raises on garbage."""
    out: list[bytes] = []
    if pem.detect(data):
        try:
            blocks = list(pem.unarmor(data, multiple=True))
        except ValueError as exc:  # bad base64 (binascii.Error) or armour: found by fuzzing (tests/fuzz)
            raise MalformedInputError(f"the PEM file cannot be read: {exc}") from None
        for kind, _headers, der in blocks:
            if kind != "X509 CRL":
                continue
            out.append(_checked_crl(der))
        if not out:
            raise MalformedInputError("the PEM file holds no X509 CRL block")
        return out
    return [_checked_crl(data)]


def _checked_crl(der: bytes) -> bytes:
    try:
        # Parsed only to refuse garbage early; the received bytes are kept, never a re-encoding (asn1crypto
        # may normalise a BIT STRING once parsed, which would break the CRL's signature).
        # All of it, not only thisUpdate: a malformed nextUpdate or entry failed later, untyped, in validation
        # (found by fuzzing, tests/fuzz).
        parse_crl(der)
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedInputError(f"not a CRL (RFC 5280 §5): {exc}") from None
    return bytes(der)


def parse_crl(der: bytes) -> a_crl.CertificateList:
    """Load a DER CRL and parse all of it now, so garbage fails here (ValueError) and not deep in validation.

    Every part is decoded once to check it, as ``.native`` would, but the decoded values of the leaves are not
    kept: a large CRL stays in memory as its parsed structure, not also as an integer and a datetime per entry.
    The object still dumps the received bytes (nothing is re-encoded), so its signature checks.
    """
    crl = a_crl.CertificateList.load(der)
    try:
        _parse_all(crl)
    except (TypeError, KeyError, AttributeError, IndexError) as exc:
        # AttributeError: a REAL, which asn1crypto cannot decode; IndexError: an empty BIT STRING (tests/fuzz)
        raise ValueError(str(exc) or type(exc).__name__) from exc
    return crl


def _parse_all(item: Any) -> None:
    if isinstance(item, a_core.Sequence):
        # By position, not by field name: elements past the known fields are parsed too, as .native does.
        for index in range(len(item)):
            _parse_all(item[index])
    elif isinstance(item, a_core.SequenceOf):
        for child in item:
            _parse_all(child)
            if isinstance(child, a_core.Sequence | a_core.SequenceOf):
                # Checked: its parts are dropped and parsed again only if asked for (an entry of a large
                # CRL is looked at only when its serial matches).
                child.children = None
    elif isinstance(item, a_core.Choice):
        _parse_all(item.chosen)
    else:
        item.native  # noqa: B018 - decodes the leaf (an extension value: parsed by its specification)
        item._native = None  # the decoded form is not kept (asn1crypto decodes again when asked)


def crl_validity(crl: bytes | a_crl.CertificateList) -> tuple[datetime | None, datetime | None]:
    """(thisUpdate, nextUpdate) of a CRL, given as DER or already loaded."""
    if isinstance(crl, bytes):
        crl = a_crl.CertificateList.load(crl)
    tbs = crl["tbs_cert_list"]
    next_update = tbs["next_update"].native
    return tbs["this_update"].native, next_update


def ocsp_validity(der: bytes) -> tuple[datetime | None, datetime | None]:
    """(earliest thisUpdate, earliest nextUpdate) over the single responses of a DER OCSP response; ValueError
    for one that cannot be read (a response type other than basic raised KeyError: found by fuzzing, tests/fuzz)."""
    try:
        return _ocsp_validity(der)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"not an OCSP response (RFC 6960 §4.2.1): {exc!r}") from None


def _ocsp_validity(der: bytes) -> tuple[datetime | None, datetime | None]:
    response = a_ocsp.OCSPResponse.load(der)
    basic = response.basic_ocsp_response
    if basic is None:
        return None, None
    singles = basic["tbs_response_data"]["responses"]
    this_updates = [s["this_update"].native for s in singles]
    next_updates = [s["next_update"].native for s in singles]
    if not singles:
        return None, None
    this = min(this_updates)
    nxt = None if any(n is None for n in next_updates) else min(next_updates)
    return this, nxt


class RevocationCache:
    """Fetched CRLs and OCSP responses on disk, served while the moment lies inside their validity."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, kind: str, *parts: bytes) -> Path:
        digest = hashlib.sha256(b"\x00".join(parts)).hexdigest()
        return self.directory / f"{digest}.{kind}"

    @staticmethod
    def _fresh(validity: tuple[datetime | None, datetime | None], moment: datetime) -> bool:
        this_update, next_update = validity
        # Without a nextUpdate the issuer promises nothing about freshness: never serve it from the cache.
        if this_update is None or next_update is None:
            return False
        return this_update <= moment < next_update

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _write(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _cached_crl(self, url: str, moment: datetime) -> tuple[bytes, a_crl.CertificateList] | None:
        data = self._read(self._path("crl", url.encode()))
        if data is None:
            return None
        try:
            crl = a_crl.CertificateList.load(data)
            return (data, crl) if self._fresh(crl_validity(crl), moment) else None
        except (ValueError, TypeError, KeyError):
            return None

    def get_crl(self, url: str, moment: datetime) -> bytes | None:
        """The cached CRL for url when it is fresh at moment; None when absent, stale or unreadable."""
        cached = self._cached_crl(url, moment)
        return cached[0] if cached is not None else None

    def load_crl(self, url: str, moment: datetime) -> a_crl.CertificateList | None:
        """``get_crl``, loaded: the object its freshness was read from (it was fully parsed when fetched)."""
        cached = self._cached_crl(url, moment)
        return cached[1] if cached is not None else None

    def put_crl(self, url: str, der: bytes, parsed: a_crl.CertificateList | None = None) -> None:
        """Keep der for url unless the cache already holds a newer CRL (the newest thisUpdate wins).

        ``parsed`` is der already loaded, so it is not parsed again.
        """
        path = self._path("crl", url.encode())
        old = self._read(path)
        try:
            new_this = crl_validity(parsed if parsed is not None else der)[0]
            if old is not None and (crl_validity(old)[0] or datetime.min) > (new_this or datetime.min):
                return
        except (ValueError, TypeError, KeyError):
            pass
        self._write(path, der)

    def get_ocsp(self, url: str, cert_id: bytes, moment: datetime) -> bytes | None:
        data = self._read(self._path("ocsp", url.encode(), cert_id))
        if data is None:
            return None
        try:
            return data if self._fresh(ocsp_validity(data), moment) else None
        except (ValueError, TypeError):
            return None

    def put_ocsp(self, url: str, cert_id: bytes, der: bytes) -> None:
        path = self._path("ocsp", url.encode(), cert_id)
        old = self._read(path)
        try:
            if old is not None and (ocsp_validity(old)[0] or datetime.min) > (ocsp_validity(der)[0] or datetime.min):
                return
        except (ValueError, TypeError):
            pass
        self._write(path, der)


__all__ = [
    "REVOCATION_STATES",
    "RevocationCache",
    "RevocationResult",
    "RevocationState",
    "crl_validity",
    "load_crls",
    "ocsp_validity",
    "parse_crl",
]
