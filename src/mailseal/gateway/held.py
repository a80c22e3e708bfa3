"""Messages the policy held for some recipients (``on_missing_certificate = "hold"``): kept in ``held_dir`` for
the administrator, who lists, releases or deletes them (``mailseal held ...``).

Each held message is two files named by the SHA-256 of its data (a retry of the same message is not held twice):
``ID.eml``, the message as received, and ``ID.json``, why and for whom. The directory is 0700, files 0600.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..streamio import Region


@dataclass(frozen=True)
class HeldMessage:
    id: str
    mail_from: str
    recipients: tuple[str, ...]
    reasons: dict[str, str]
    held_at: str
    size: int
    message_id: str
    may_sign: bool
    path: Path  # the .eml file

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "mail_from": self.mail_from, "recipients": list(self.recipients),
                "reasons": self.reasons, "held_at": self.held_at, "size": self.size,
                "message_id": self.message_id}


def _write_private(path: Path, chunks: Iterable[bytes]) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


class HeldMessages:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def hold(self, region: Region, *, digest: str, mail_from: str, reasons: dict[str, str], message_id: str,
             may_sign: bool) -> str:
        """Keep the message; returns its id. The .json is written last: it is what makes the message listed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        name = digest[:32]
        meta_path = self.directory / f"{name}.json"
        if meta_path.exists():
            return name
        _write_private(self.directory / f"{name}.eml", region.chunks())
        meta = {"mail_from": mail_from, "recipients": list(reasons), "reasons": reasons,
                "held_at": datetime.now(UTC).isoformat(timespec="seconds"), "size": region.size,
                "message_id": message_id, "may_sign": may_sign, "digest": digest}
        _write_private(meta_path, [json.dumps(meta, indent=2).encode()])
        return name

    def list(self) -> list[HeldMessage]:
        if not self.directory.is_dir():
            return []
        out = [self._read(p) for p in self.directory.glob("*.json")]
        return sorted(out, key=lambda m: m.held_at)

    def _read(self, meta_path: Path) -> HeldMessage:
        meta = json.loads(meta_path.read_text())
        return HeldMessage(meta_path.stem, meta["mail_from"], tuple(meta["recipients"]), dict(meta["reasons"]),
                           meta["held_at"], int(meta["size"]), meta.get("message_id", ""),
                           bool(meta.get("may_sign", False)), meta_path.with_suffix(".eml"))

    def get(self, held_id: str) -> HeldMessage:
        matches = [p for p in self.directory.glob("*.json") if p.stem.startswith(held_id)] if held_id else []
        if not matches:
            raise UsageError(f"no held message {held_id!r} in {self.directory}")
        if len(matches) > 1:
            raise UsageError(f"{held_id!r} matches {len(matches)} held messages: give more of the id")
        return self._read(matches[0])

    def delete(self, held_id: str) -> HeldMessage:
        message = self.get(held_id)
        (self.directory / f"{message.id}.json").unlink()  # first: it is what lists the message
        message.path.unlink(missing_ok=True)
        return message

    def keep_only(self, message: HeldMessage, recipients: Sequence[str]) -> None:
        """After a partial release: the message stays held for these recipients only."""
        meta_path = self.directory / f"{message.id}.json"
        meta = json.loads(meta_path.read_text())
        meta["recipients"] = list(recipients)
        meta["reasons"] = {r: meta["reasons"].get(r, "") for r in recipients}
        _write_private(meta_path, [json.dumps(meta, indent=2).encode()])

    def digest_of(self, message: HeldMessage) -> str:
        meta = json.loads((self.directory / f"{message.id}.json").read_text())
        return str(meta.get("digest") or message.id)


def recipients_to_release(message: HeldMessage, only: Sequence[str]) -> list[str]:
    if not only:
        return list(message.recipients)
    wanted = [r for r in message.recipients if r.lower() in {o.lower() for o in only}]
    if len(wanted) != len(set(only)):
        raise UsageError(f"held message {message.id} is held for {', '.join(message.recipients)} only")
    return wanted


__all__ = ["HeldMessage", "HeldMessages", "recipients_to_release"]
