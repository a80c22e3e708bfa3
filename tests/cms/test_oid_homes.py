"""Each content-cipher OID and each CMS content-type OID is written in one module of src/: cms/algorithms.py.

The source is searched as text for every way an OID can be spelled: dotted, as DER in hex, as DER in a bytes
literal (``\\x06\\x09\\x2a...`` or Python's own repr), with or without the tag and length octets.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailseal.cms import der
from mailseal.cms.algorithms import CONTENT_CIPHERS, ContentKind
from mailseal.cms.parsing import content_type_of
from mailseal.errors import MalformedCMSError

SRC = Path(__file__).resolve().parents[2] / "src" / "mailseal"
HOME = "cms/algorithms.py"

CIPHER_OIDS = {
    "aes256-gcm": "2.16.840.1.101.3.4.1.46",
    "aes128-gcm": "2.16.840.1.101.3.4.1.6",
    "chacha20-poly1305": "1.2.840.113549.1.9.16.3.18",
    "aes256-cbc": "2.16.840.1.101.3.4.1.42",
    "aes128-cbc": "2.16.840.1.101.3.4.1.2",
}
CONTENT_TYPE_OIDS = {
    "data": "1.2.840.113549.1.7.1",
    "signedData": "1.2.840.113549.1.7.2",
    "envelopedData": "1.2.840.113549.1.7.3",
    "authEnvelopedData": "1.2.840.113549.1.9.16.1.23",
}
ALL = {**CIPHER_OIDS, **CONTENT_TYPE_OIDS}


def _sources() -> dict[str, str]:
    return {str(p.relative_to(SRC)): p.read_text(encoding="utf-8") for p in sorted(SRC.rglob("*.py"))}


def _byte_spellings(encoded: bytes) -> list[str]:
    r"""Hex (plain or spaced or 0x-comma lists) and bytes-literal escapes (``\x2a`` and repr's ``*``)."""
    plain = encoded.hex()
    return [
        plain,
        " ".join(f"{b:02x}" for b in encoded),
        ", ".join(f"0x{b:02x}" for b in encoded),
        "".join(f"\\x{b:02x}" for b in encoded),
        repr(encoded)[2:-1],
    ]


def _patterns(dotted: str) -> list[re.Pattern[str]]:
    """The dotted form as a whole OID (not a prefix of a longer one), and every spelling of its DER."""
    element = der.oid(dotted)
    body = element[2:]  # the content octets: every OID here is short enough for a one-octet length
    assert element[1] == len(body)
    pats = [re.compile(r"(?<![\d.])" + re.escape(dotted) + r"(?!\.?\d)")]
    for encoded in (element, body):
        pats += [re.compile(re.escape(s), re.IGNORECASE) for s in _byte_spellings(encoded)]
    return pats


def _homes(dotted: str, sources: dict[str, str]) -> set[str]:
    pats = _patterns(dotted)
    return {path for path, text in sources.items() if any(p.search(text) for p in pats)}


@pytest.mark.parametrize("name", sorted(ALL))
def test_oid_is_written_in_one_module(name: str) -> None:
    assert _homes(ALL[name], _sources()) == {HOME}


def _cms_oids() -> set[str]:
    """Every dotted OID written as a string literal in src/mailseal/cms."""
    dotted = re.compile(r"[\"'](\d(?:\.\d+){3,})[\"']")
    return {m.group(1) for p in (SRC / "cms").glob("*.py") for m in dotted.finditer(p.read_text(encoding="utf-8"))}


def test_every_oid_the_cms_layer_writes_has_one_home() -> None:
    """Not only the ciphers and content types: signed attributes, digests and signatures too (cms/algorithms.py),
    and the registrations asn1crypto lacks (cms/asn1.py)."""
    sources = _sources()
    oids = _cms_oids()
    assert set(ALL) <= {name for name, dotted in ALL.items() if dotted in oids}
    assert "1.2.840.113549.1.9.3" in oids  # the contentType attribute: once spelt in signing and verification
    spread = {dotted: sorted(homes) for dotted in sorted(oids) if len(homes := _homes(dotted, sources)) != 1}
    assert spread == {}


def test_search_finds_every_spelling() -> None:
    """The search is not blind: each spelling of signedData, planted in a module, is found there."""
    element = der.oid(CONTENT_TYPE_OIDS["signedData"])
    spellings = [
        'OID = "1.2.840.113549.1.7.2"',
        'OID = bytes.fromhex("06092a864886f70d010702")',
        'OID = bytes.fromhex("2A864886F70D010702")',
        'OID = b"\\x06\\x09\\x2a\\x86\\x48\\x86\\xf7\\x0d\\x01\\x07\\x02"',
        f"OID = {element!r}",
        "OID = bytes([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02])",
    ]
    for text in spellings:
        assert _homes(CONTENT_TYPE_OIDS["signedData"], {"planted.py": text}) == {"planted.py"}, text
    # A longer OID that merely starts with the same digits is not a spelling of it.
    assert _homes(CIPHER_OIDS["aes128-cbc"], {"planted.py": '"2.16.840.1.101.3.4.1.22"'}) == set()


def test_table_holds_the_oids_the_rfcs_assign() -> None:
    assert {c.name: c.oid for c in CONTENT_CIPHERS.values()} == CIPHER_OIDS
    assert [k.oid for k in ContentKind] == list(CONTENT_TYPE_OIDS.values())


@pytest.mark.parametrize("kind", list(ContentKind), ids=lambda k: k.name)
def test_content_type_of_names_each_kind(kind: ContentKind) -> None:
    info = der.seq(kind.der, der.tlv(0xA0, der.seq()))
    assert content_type_of(info) is kind
    assert ContentKind.from_der(kind.der) is kind


def test_content_type_of_unknown_type_is_none() -> None:
    digested = der.oid("1.2.840.113549.1.7.5")  # RFC 5652 §7 DigestedData: a ContentInfo mailseal does not open
    assert content_type_of(der.seq(digested, der.tlv(0xA0, der.seq()))) is None


@pytest.mark.parametrize("data", [b"", b"hello", der.seq(der.integer(1), der.integer(2)), b"\x30\x80\x06"])
def test_content_type_of_refuses_what_is_not_a_content_info(data: bytes) -> None:
    with pytest.raises(MalformedCMSError):
        content_type_of(data)
