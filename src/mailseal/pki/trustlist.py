"""The persistent trust list: anchors and intermediates kept in the data directory ($MAILSEAL_HOME/trust/).

Two PEM files, ``anchors.pem`` and ``intermediates.pem``, each rewritten atomically (temporary file, fsync,
rename) so a crash never leaves half a list. Certificates are identified by their SHA-256 fingerprint; adding one
twice changes nothing, adding an anchor as an intermediate (or the reverse) moves it. Anchors must be CA
certificates (basicConstraints cA, or a version 1 self-issued root, RFC 5280 §6.1.1 (d)) unless the caller
allows leaves, e.g. to pin one partner's certificate.

`TrustList` is the one interface every reader and writer of a trust list uses (the CLI's validation context,
`mailseal trust`, the gateway): `FileTrustList` here keeps the list in those files; the store layer's
``StoredTrust`` keeps it in the store database, and ``mailseal.store.trust.open_trust_list`` picks which one is
in effect (docs/trust.md, "Where the trust list lives"). The module functions (`entries`, `add`, `remove`,
`export`, `load_trust_list`) are the file list's, kept for library callers.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..cms.identity import Password, fingerprint, load_certificates
from ..cms.names import name_text, serial_text
from ..config import data_dir
from ..errors import CertificateError, UsageError
from .sst import write_sst
from .truststore import TrustStore, read_certificate_file

Kind = Literal["anchor", "intermediate"]
ExportFormat = Literal["pem", "sst"]

TRUST_DIR = "trust"
FILES: dict[Kind, str] = {"anchor": "anchors.pem", "intermediate": "intermediates.pem"}
_HEADERS: dict[Kind, str] = {
    "anchor": "# mailseal trust anchors: certificates trusted as roots. Managed by `mailseal trust`.\n",
    "intermediate": "# mailseal intermediates: help build paths, trusted only through an anchor. "
    "Managed by `mailseal trust`.\n",
}
_HEX = re.compile(r"[0-9a-f]{4,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_ca(cert: x509.Certificate) -> bool:
    """A CA certificate: basicConstraints cA=TRUE, or a version 1 certificate that issued itself (old roots)."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1 and cert.subject == cert.issuer
    except ValueError:  # an extension cryptography cannot parse: not something to trust as a CA
        return False


def check_addable(certificates: Sequence[x509.Certificate], allow_leaf: bool) -> None:
    """Refuse (``UsageError``) an empty list, or end-entity certificates unless ``allow_leaf``: nothing is added."""
    if not certificates:
        raise UsageError("no certificates to add")
    leaves = [] if allow_leaf else [c for c in certificates if not is_ca(c)]
    if leaves:
        raise UsageError(
            f"{name_text(leaves[0].subject)} is not a CA certificate"
            f"{f' (and {len(leaves) - 1} more)' if len(leaves) > 1 else ''}; nothing was added"
            " (use --allow-leaf to trust an end-entity certificate directly)"
        )


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class TrustEntry:
    """One certificate in the trust list and whether it is an anchor or an intermediate."""

    certificate: x509.Certificate
    kind: Kind

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def subject(self) -> str:
        return name_text(self.certificate.subject)

    def to_dict(self) -> dict[str, Any]:
        """Stable field names (docs/trust.md): new fields may be added, none renamed."""
        cert = self.certificate
        return {
            "subject": self.subject,
            "issuer": name_text(cert.issuer),
            "serial": serial_text(cert.serial_number),
            "fingerprint_sha256": self.fingerprint,
            "not_before": _iso(cert.not_valid_before_utc),
            "not_after": _iso(cert.not_valid_after_utc),
            "is_ca": is_ca(cert),
            "kind": self.kind,
        }


@dataclass(frozen=True)
class AddResult:
    """What `add` did with each certificate given."""

    added: tuple[TrustEntry, ...] = ()
    moved: tuple[TrustEntry, ...] = ()  # were in the list as the other kind
    unchanged: tuple[TrustEntry, ...] = ()  # were already there as this kind


def trust_dir(home: Path | None = None) -> Path:
    """The folder holding the trust list: ``<data directory>/trust``."""
    return (home if home is not None else data_dir()) / TRUST_DIR


def _read(path: Path) -> list[x509.Certificate]:
    if not path.is_file():
        return []
    data = path.read_bytes()
    if b"-----BEGIN" not in data:  # an emptied list keeps only its header comment
        return []
    try:
        return load_certificates(data)
    except CertificateError as exc:
        raise CertificateError(f"the trust list file {path} is damaged: {exc.message}") from None


def _load(home: Path | None) -> dict[Kind, list[x509.Certificate]]:
    folder = trust_dir(home)
    return {kind: _read(folder / name) for kind, name in FILES.items()}


def _one_line(text: str) -> str:
    return _CONTROL.sub("?", text)


def _pem(kind: Kind, certs: Sequence[x509.Certificate]) -> bytes:
    parts = [_HEADERS[kind].encode()]
    for cert in certs:
        parts.append(f"\n# subject: {_one_line(name_text(cert.subject))}\n".encode())
        parts.append(f"# sha256:  {fingerprint(cert)}\n".encode())
        parts.append(cert.public_bytes(serialization.Encoding.PEM))
    return b"".join(parts)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save(lists: dict[Kind, list[x509.Certificate]], kinds: Sequence[Kind], home: Path | None) -> None:
    if home is None:
        data_dir(create=True)
    folder = trust_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        _write_atomic(folder / FILES[kind], _pem(kind, lists[kind]))


def entries(home: Path | None = None) -> list[TrustEntry]:
    """Every certificate in the trust list: anchors first, then intermediates, each in the order added."""
    lists = _load(home)
    return [TrustEntry(cert, kind) for kind in FILES for cert in lists[kind]]


def load_trust_list(home: Path | None = None) -> TrustStore:
    """The trust list as a TrustStore (empty when nothing was ever added)."""
    lists = _load(home)
    return TrustStore(tuple(lists["anchor"]), tuple(lists["intermediate"]))


def add(
    certificates: Sequence[x509.Certificate],
    *,
    intermediate: bool = False,
    allow_leaf: bool = False,
    home: Path | None = None,
) -> AddResult:
    """Add certificates as anchors (or intermediates); all or nothing.

    Refuses certificates that are not CA certificates unless `allow_leaf`. A certificate already present as
    the same kind is left alone; one present as the other kind is moved.
    """
    check_addable(certificates, allow_leaf)
    kind: Kind = "intermediate" if intermediate else "anchor"
    other: Kind = "anchor" if intermediate else "intermediate"
    lists = _load(home)
    present = {fingerprint(c): k for k in FILES for c in lists[k]}
    added: list[TrustEntry] = []
    moved: list[TrustEntry] = []
    unchanged: list[TrustEntry] = []
    seen: set[str] = set()
    for cert in certificates:
        fp = fingerprint(cert)
        if fp in seen:
            continue
        seen.add(fp)
        entry = TrustEntry(cert, kind)
        if present.get(fp) == kind:
            unchanged.append(entry)
            continue
        if present.get(fp) == other:
            lists[other] = [c for c in lists[other] if fingerprint(c) != fp]
            moved.append(entry)
        else:
            added.append(entry)
        lists[kind].append(cert)
    if added or moved:
        # The target list first: a crash between the two writes leaves a moved certificate in both lists,
        # which is harmless, never in neither.
        _save(lists, [kind, other] if moved else [kind], home)
    return AddResult(tuple(added), tuple(moved), tuple(unchanged))


def add_files(
    paths: Sequence[str | Path],
    *,
    intermediate: bool = False,
    allow_leaf: bool = False,
    password: Password | None = None,
    home: Path | None = None,
) -> AddResult:
    """`add` for the certificates of files in any format `read_certificates` knows (SST, PEM, PKCS#7, ...)."""
    certs: list[x509.Certificate] = []
    for path in paths:
        certs.extend(read_certificate_file(path, password=password))
    return add(certs, intermediate=intermediate, allow_leaf=allow_leaf, home=home)


def select_entries(current: Sequence[TrustEntry], selector: str) -> list[TrustEntry]:
    """The entries a selector names: a certificate file (its certificates), a fingerprint prefix (hex, colons
    allowed, at least 4 digits) or else a case-insensitive substring of the subject."""
    path = Path(selector)
    if path.is_file():
        wanted = {fingerprint(c) for c in read_certificate_file(path)}
        return [e for e in current if e.fingerprint in wanted]
    hex_form = selector.replace(":", "").strip().lower()
    if _HEX.fullmatch(hex_form):
        by_fp = [e for e in current if e.fingerprint.startswith(hex_form)]
        if by_fp:
            return by_fp
    needle = selector.casefold()
    return [e for e in current if needle in e.subject.casefold()]


def check_removable(current: Sequence[TrustEntry], selector: str, all_matches: bool, where: str) -> list[TrustEntry]:
    """What `selector` removes from `current` (see `select_entries`); ``UsageError`` when it names nothing, or
    several by prefix or subject text without `all_matches` (a file removes every certificate it holds)."""
    if not selector.strip():
        raise UsageError("give a fingerprint prefix, part of a subject, or a certificate file")
    matched = select_entries(current, selector)
    if not matched:
        raise UsageError(f"no certificate in {where} matches {selector!r}")
    if len(matched) > 1 and not all_matches and not Path(selector).is_file():
        raise UsageError(
            f"{len(matched)} certificates match {selector!r}; give a longer fingerprint prefix, or --all to remove"
            " them all"
        )
    return matched


def export_entries(current: Sequence[TrustEntry], fmt: ExportFormat = "pem", *, anchors_only: bool = False) -> bytes:
    """Entries as one PEM bundle or one serialized certificate store: anchors, then intermediates."""
    chosen = [e.certificate for kind in FILES for e in current
              if e.kind == kind and (kind == "anchor" or not anchors_only)]
    if fmt == "sst":
        return write_sst(chosen, friendly_names=True)
    if fmt == "pem":
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chosen)
    raise ValueError(f"unknown export format {fmt!r}")


def select(selector: str, home: Path | None = None) -> list[TrustEntry]:
    """The entries of the file list a selector names (see `select_entries`)."""
    return select_entries(entries(home), selector)


def remove(selector: str, *, all_matches: bool = False, home: Path | None = None) -> list[TrustEntry]:
    """Remove what `selector` names from the file list (see `check_removable`) and return it."""
    matched = check_removable(entries(home), selector, all_matches, "the trust list")
    gone = {e.fingerprint for e in matched}
    lists = _load(home)
    touched: list[Kind] = [k for k in FILES if any(fingerprint(c) in gone for c in lists[k])]
    for kind in touched:
        lists[kind] = [c for c in lists[kind] if fingerprint(c) not in gone]
    _save(lists, touched, home)
    return matched


def export(fmt: ExportFormat = "pem", *, anchors_only: bool = False, home: Path | None = None) -> bytes:
    """The file list as one PEM bundle or one serialized certificate store: anchors, then intermediates."""
    return export_entries(entries(home), fmt, anchors_only=anchors_only)


MIGRATED_SUFFIX = ".migrated"


class TrustList(Protocol):
    """A trust list: anchors and intermediates identified by SHA-256 fingerprint, in one place (files or the
    store database). Adding is all or nothing and refuses leaves unless allowed (`check_addable`); `actor`
    names who made a change, for an audit trail where the list keeps one."""

    @property
    def where(self) -> str:
        """The list as messages name it, e.g. ``the trust list in /home/u/.local/share/mailseal/trust``."""
        ...

    def entries(self) -> list[TrustEntry]:
        """Anchors first, then intermediates, each in the order added."""
        ...

    def trust_store(self) -> TrustStore:
        """The list as the TrustStore a ValidationContext takes."""
        ...

    def add(self, certs: Sequence[x509.Certificate], *, intermediate: bool = False, allow_leaf: bool = False,
            actor: str | None = None) -> AddResult:
        """Add as anchors (or intermediates); one already present as the other kind is moved."""
        ...

    def remove(self, selector: str, *, all_matches: bool = False, actor: str | None = None) -> list[TrustEntry]:
        """Remove what `selector` names (`check_removable`) and return it."""
        ...

    def export(self, fmt: ExportFormat = "pem", *, anchors_only: bool = False) -> bytes:
        """A PEM bundle or an SST file: anchors, then intermediates."""
        ...


class FileTrustList:
    """The trust list kept in ``<data directory>/trust`` (`home`, default the data directory). It keeps no
    audit trail: `actor` is accepted and ignored."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home

    @property
    def folder(self) -> Path:
        return trust_dir(self.home)

    @property
    def where(self) -> str:
        return f"the trust list in {self.folder}"

    def entries(self) -> list[TrustEntry]:
        return entries(self.home)

    def trust_store(self) -> TrustStore:
        return load_trust_list(self.home)

    def add(self, certs: Sequence[x509.Certificate], *, intermediate: bool = False, allow_leaf: bool = False,
            actor: str | None = None) -> AddResult:
        return add(certs, intermediate=intermediate, allow_leaf=allow_leaf, home=self.home)

    def remove(self, selector: str, *, all_matches: bool = False, actor: str | None = None) -> list[TrustEntry]:
        return remove(selector, all_matches=all_matches, home=self.home)

    def export(self, fmt: ExportFormat = "pem", *, anchors_only: bool = False) -> bytes:
        return export(fmt, anchors_only=anchors_only, home=self.home)

    def retire(self) -> list[Path]:
        """Rename the list's files to ``*.pem.migrated`` (after the store database took them over): the list is
        then empty, and its certificates are never taken over twice. The files renamed."""
        renamed: list[Path] = []
        for name in FILES.values():
            path = self.folder / name
            try:
                path.replace(path.with_name(name + MIGRATED_SUFFIX))
            except FileNotFoundError:  # never written, or another process retired it first
                continue
            renamed.append(path)
        return renamed


__all__ = [
    "FILES",
    "MIGRATED_SUFFIX",
    "TRUST_DIR",
    "AddResult",
    "ExportFormat",
    "FileTrustList",
    "Kind",
    "TrustEntry",
    "TrustList",
    "add",
    "add_files",
    "check_addable",
    "check_removable",
    "entries",
    "export",
    "export_entries",
    "fingerprint",
    "is_ca",
    "load_trust_list",
    "remove",
    "select",
    "select_entries",
    "trust_dir",
]
