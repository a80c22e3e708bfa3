"""Fixtures of the token tests: one throwaway SoftHSM2 token per session, stores on SQLite and PostgreSQL.

SoftHSM reads ``$SOFTHSM2_CONF`` once, when the module is first loaded in a process: the token directory is made
once per session and the variable stays set for the session (subprocesses of the CLI tests inherit it).
Without softhsm2 or python-pkcs11 the tests skip, or fail under ``MAILSEAL_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mailseal.cms.token import PIN_ENV
from tests.pkcs11.softhsm import HSM, make_hsm
from tests.store.conftest import store_url  # every store test on SQLite and PostgreSQL
from tests.support.postgres import postgres_url
from tests.support.testpki import TestPKI

__all__ = ["postgres_url", "store_url"]


@pytest.fixture(scope="session")
def hsm(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HSM]:
    """The session's SoftHSM2 tokens (``$SOFTHSM2_CONF`` and ``$MAILSEAL_PKCS11_PIN`` set while they live)."""
    saved = {k: os.environ.get(k) for k in ("SOFTHSM2_CONF", PIN_ENV)}
    try:
        yield make_hsm(pki, tmp_path_factory.mktemp("softhsm"))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
