"""The error tree: every error keeps its code and its facts, also through pickle (the gateway's worker processes
hand their errors back to the service that way, and the reply depends on the type and code)."""

from __future__ import annotations

import pickle

import pytest

from mailseal import errors
from mailseal.errors import ErrorCode, FromMismatchError, MailsealError


def _subclasses(cls: type[MailsealError]) -> list[type[MailsealError]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


SIMPLE = sorted({c for c in _subclasses(MailsealError) if c.__module__ == errors.__name__ and c is not FromMismatchError},
                key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", SIMPLE, ids=lambda c: c.__name__)
def test_an_error_survives_pickle_with_its_code(cls: type[MailsealError]) -> None:
    error = cls("a sentence")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cls and back.code == error.code and back.message == "a sentence"


def test_from_mismatch_keeps_its_addresses_through_pickle() -> None:
    error = FromMismatchError("not yours", ("a@example.org",), ("b@example.org",))
    back = pickle.loads(pickle.dumps(error))
    assert back.code == ErrorCode.FROM_MISMATCH
    assert back.from_addresses == ("a@example.org",) and back.certificate_addresses == ("b@example.org",)


def test_a_code_given_to_the_constructor_is_kept_through_pickle() -> None:
    error = MailsealError("x", code=ErrorCode.IO)
    back = pickle.loads(pickle.dumps(error))
    assert error.code == back.code == ErrorCode.IO and str(back) == "x" and back.args == ("x",)
