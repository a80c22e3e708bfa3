"""Where the key store passphrase comes from: a systemd credential, the environment, a key file, or a prompt.

The one place that knows the sources, their order and how a file's bytes become the passphrase."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError

PASSPHRASE_ENV = "MAILSEAL_STORE_PASSPHRASE"
KEYFILE_ENV = "MAILSEAL_STORE_KEYFILE"
#: systemd's ``LoadCredential=store-passphrase:FILE`` puts the file here (systemd.exec(5), "Credentials").
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
CREDENTIAL_NAME = "store-passphrase"


def credential_path() -> Path | None:
    """``$CREDENTIALS_DIRECTORY/store-passphrase`` when systemd passed that credential, else None."""
    directory = os.environ.get(CREDENTIALS_ENV)
    if not directory:
        return None
    path = Path(directory) / CREDENTIAL_NAME
    return path if path.exists() else None


def passphrase_from_file(path: Path) -> bytes:
    """A passphrase file's bytes without one trailing line end ("\\n" or "\\r\\n"), so that a file written by
    ``echo`` or an editor holds the same passphrase as one written without it. Only one is removed: other
    whitespace is part of the passphrase. An empty passphrase is refused."""
    data = path.read_bytes()
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise UsageError(f"the key store passphrase file {path} is empty")
    return data


def passphrase_source() -> str | None:
    """Where ``resolve_passphrase`` would take the passphrase from, for messages: ``$CREDENTIALS_DIRECTORY/
    store-passphrase``, ``$MAILSEAL_STORE_PASSPHRASE`` or ``$MAILSEAL_STORE_KEYFILE (PATH)``; None when none is
    set."""
    if credential_path() is not None:
        return f"${CREDENTIALS_ENV}/{CREDENTIAL_NAME}"
    if os.environ.get(PASSPHRASE_ENV):
        return f"${PASSPHRASE_ENV}"
    keyfile = os.environ.get(KEYFILE_ENV)
    if keyfile:
        return f"${KEYFILE_ENV} ({keyfile})"
    return None


def resolve_passphrase(prompt: Callable[[], bytes] | None = None) -> bytes:
    """The store passphrase, from the first of: the systemd credential ``$CREDENTIALS_DIRECTORY/store-passphrase``,
    ``$MAILSEAL_STORE_PASSPHRASE``, the key file ``$MAILSEAL_STORE_KEYFILE``, ``prompt()`` (the CLI asks on the
    terminal); with none of them a ``UsageError``. Files lose one trailing line end (``passphrase_from_file``)."""
    credential = credential_path()
    if credential is not None:
        return passphrase_from_file(credential)
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode()
    keyfile = os.environ.get(KEYFILE_ENV)
    if keyfile:
        return passphrase_from_file(Path(keyfile))
    if prompt is not None:
        return prompt()
    raise UsageError(f"no key store passphrase: set {PASSPHRASE_ENV} or {KEYFILE_ENV}, or pass the systemd "
                     f"credential {CREDENTIAL_NAME}")


__all__ = ["CREDENTIALS_ENV", "CREDENTIAL_NAME", "KEYFILE_ENV", "PASSPHRASE_ENV", "credential_path",
           "passphrase_from_file", "passphrase_source", "resolve_passphrase"]
