"""Where the key store passphrase comes from (store/passphrase.py): credential, environment, key file; line ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailseal.errors import UsageError
from mailseal.store.passphrase import (
    CREDENTIALS_ENV,
    KEYFILE_ENV,
    PASSPHRASE_ENV,
    passphrase_source,
    resolve_passphrase,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (CREDENTIALS_ENV, KEYFILE_ENV, PASSPHRASE_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("content", "expected"), [
    (b"s3cret", b"s3cret"),
    (b"s3cret\n", b"s3cret"),          # written by echo: the line end is not part of the passphrase
    (b"s3cret\r\n", b"s3cret"),
    (b"s3cret\n\n", b"s3cret\n"),      # only one line end is removed
    (b" s3cret \n", b" s3cret "),      # other whitespace is part of it
])
def test_one_trailing_line_end_does_not_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes,
                                              expected: bytes) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_bytes(content)
    monkeypatch.setenv(KEYFILE_ENV, str(keyfile))
    assert resolve_passphrase() == expected


def test_an_empty_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_bytes(b"\n")
    monkeypatch.setenv(KEYFILE_ENV, str(keyfile))
    with pytest.raises(UsageError, match="is empty"):
        resolve_passphrase()


def test_the_systemd_credential_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "store-passphrase").write_bytes(b"from-credential\n")
    (tmp_path / "key").write_bytes(b"from-keyfile")
    monkeypatch.setenv(KEYFILE_ENV, str(tmp_path / "key"))
    monkeypatch.setenv(PASSPHRASE_ENV, "from-env")
    monkeypatch.setenv(CREDENTIALS_ENV, str(creds))
    assert resolve_passphrase() == b"from-credential"
    assert passphrase_source() == "$CREDENTIALS_DIRECTORY/store-passphrase"
    # a credentials directory without this credential (another service's) is passed over
    (creds / "store-passphrase").unlink()
    assert resolve_passphrase() == b"from-env"
    monkeypatch.delenv(PASSPHRASE_ENV)
    assert resolve_passphrase() == b"from-keyfile"
    assert passphrase_source() == f"${KEYFILE_ENV} ({tmp_path / 'key'})"


def test_no_source_is_a_usage_error_naming_them() -> None:
    assert passphrase_source() is None
    with pytest.raises(UsageError) as error:
        resolve_passphrase()
    assert KEYFILE_ENV in error.value.message and "store-passphrase" in error.value.message
    assert resolve_passphrase(lambda: b"typed") == b"typed"
