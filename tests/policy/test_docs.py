"""docs/policy.md and docs/exchange.md say only what the code does: examples parse, named settings exist."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from mailseal.policy import (
    ACTION_KEYS,
    SMIME_KEYS,
    Direction,
    Envelope,
    MessageFacts,
    Policy,
    SmimeSettings,
    StaticFacts,
)
from mailseal.policy.rules import RULE_KEYS

DOCS = Path(__file__).resolve().parents[2] / "docs"
POLICY_MD = (DOCS / "policy.md").read_text()
EXCHANGE_MD = (DOCS / "exchange.md").read_text()

EXCHANGE_PARAMETERS = ["OWAAllowUserChoiceOfSigningCertificate", "OWAAlwaysEncrypt", "OWAAlwaysSign", "OWABCCEncryptedEmailForking", "OWACheckCRLOnSend", "OWAClearSign", "OWACopyRecipientHeaders", "OWACRLConnectionTimeout", "OWACRLRetrievalTimeout", "OWADisableCRLCheck", "OWADLExpansionTimeout", "OWAEncryptionAlgorithms", "OWAEncryptTemporaryBuffers", "OWAForceSMIMEClientUpgrade", "OWAIncludeCertificateChainAndRootCertificate", "OWAIncludeCertificateChainWithoutRootCertificate", "OWAIncludeSMIMECapabilitiesInMessage", "OWAOnlyUseSmartCard", "OWASenderCertificateAttributesToDisplay", "OWASignedEmailCertificateInclusion", "OWASigningAlgorithms", "OWATripleWrapSignedEncryptedMail", "OWAUseKeyIdentifier", "OWAUseSecondaryProxiesWhenFindingCertificates", "SMIMECertificateIssuingCA", "SMIMECertificatesExpiryDate"]


def _toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, re.S)


def _example() -> Policy:
    blocks = _toml_blocks(POLICY_MD)
    assert len(blocks) == 2  # the complete example, then the content rules'
    return Policy.from_settings(tomllib.loads(blocks[0]))


def test_policy_md_content_rules_example_decides_as_described() -> None:
    import dataclasses

    pol = Policy.from_settings(tomllib.loads(_toml_blocks(POLICY_MD)[1]))
    assert pol.content.max_scan_size == 1 << 20 and pol.scans_content
    facts = StaticFacts(signing_keys=["alice@example.org"])
    base = MessageFacts(("alice@example.org",), "Q3", (), 100, False, False)

    def one(text: str) -> object:
        msg = dataclasses.replace(base, text=text)
        return pol.decide(Envelope("alice@example.org", ("bob@partner.example",)), msg, facts).recipients[0]

    cards = one("4111 1111 1111 1111 and 5555-5555-5555-4444")
    assert cards.refuse == "payment card numbers may not be mailed out"  # type: ignore[attr-defined]
    assert cards.notes == ("rule no-cards-out: 2 content matches (threshold 2)",)  # type: ignore[attr-defined]
    assert one("IBAN DE89 3704 0044 0532 0130 00").hold == "held by rule bank-details-review"  # type: ignore
    falcon = one("Confidential: Project Falcon, see FAL-0042")
    assert falcon.refuse == "encryption required but no certificate for bob@partner.example"  # type: ignore
    assert one("nothing to see").action == "deliver"  # type: ignore[attr-defined]


def test_policy_md_example_parses_and_uses_every_setting() -> None:
    pol = _example()
    data = tomllib.loads(_toml_blocks(POLICY_MD)[0])["policy"]
    assert set(data["smime"]) | {"trust_list_sst"} == set(SMIME_KEYS)  # trust_list_sst is shown commented out
    assert set(ACTION_KEYS) <= set(data)
    assert pol.warnings() == ()


def test_policy_md_example_decides_as_described() -> None:
    pol = _example()
    facts = StaticFacts(signing_keys=["alice@example.org"], certificates=["carol@other.example"])
    msg = MessageFacts(from_addresses=("alice@example.org",), subject="[secure] Q3", headers=(), size=100,
                       signed=False, encrypted=False,
                       header_recipients=frozenset({"bob@partner.example", "carol@other.example"}))
    d = pol.decide(Envelope("alice@example.org", ("bob@partner.example", "carol@other.example")), msg, facts)
    bob, carol = d.recipients
    assert bob.direction is Direction.OUTBOUND and bob.hold is not None  # partner.example: hold
    assert carol.rule == "rule secure-subject" and carol.encrypt and carol.sign and carol.subject_rewrite == "Q3"
    ceo = pol.decide(Envelope("ceo@example.org", ("bob@partner.example",)),
                     MessageFacts(("ceo@example.org",), "hi", (), 1, False, False), facts)
    assert ceo.recipients[0].refuse == "signing required but no key for ceo@example.org"


def test_policy_md_names_every_rule_key_and_setting() -> None:
    for key in (*RULE_KEYS, *ACTION_KEYS):
        assert f"`{key}`" in POLICY_MD, key


def test_policy_md_python_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = tmp_path / "mailseal.toml"
    settings.write_text(_toml_blocks(POLICY_MD)[0])
    monkeypatch.setenv("MAILSEAL_CONFIG", str(settings))
    code = re.findall(r"```python\n(.*?)```", POLICY_MD, re.S)
    assert code
    for block in code:
        exec(compile(block, "docs/policy.md", "exec"), {})


def _exchange_rows() -> dict[str, str]:
    rows = {}
    for line in EXCHANGE_MD.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and not cells[0].startswith(("-", "Exchange")):
            rows[cells[0]] = line
    return rows


def test_exchange_md_maps_every_parameter() -> None:
    rows = _exchange_rows()
    missing = [p for p in EXCHANGE_PARAMETERS if p not in rows]
    assert not missing


def test_exchange_md_rows_say_where_or_why_not() -> None:
    for name, line in _exchange_rows().items():
        setting = line.strip().strip("|").split("|")[1].strip()
        notes = line.strip().strip("|").split("|")[2].strip()
        assert setting == "—" or setting.startswith("`policy."), name
        assert setting != "—" or len(notes) > 20, name  # an unmapped parameter says why


def test_exchange_md_settings_exist_and_parse() -> None:
    named = set(re.findall(r"`policy\.(smime\.)?([a-z_]+)`", EXCHANGE_MD))
    assert named
    defaults = SmimeSettings()
    for smime, key in named:
        if smime:
            assert key in {f.name for f in fields(SmimeSettings)}, key
            value = getattr(defaults, key)
            if value is None:
                value = "/etc/mailseal/issuers.sst"
            line = f"{key} = {_toml_value(value)}"
            table = "[policy.smime]"
            if key == "include_root":
                line += "\ninclude_chain = true"
        else:
            assert key in ACTION_KEYS, key
            table, line = "[policy]", f'{key} = {_toml_value(_example_value(key))}'
        Policy.from_settings(tomllib.loads(f"{table}\n{line}\n"))


def _example_value(key: str) -> object:
    from mailseal.policy import DEFAULTS

    return DEFAULTS[key]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
