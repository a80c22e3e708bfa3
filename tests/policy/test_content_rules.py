"""Rules with content conditions (DLP-lite): keywords, RE2 patterns and detectors with a threshold; the actions
(reject, hold, encrypt, portal); what decisions say (the rule and a count, never the text); the text of a real
MIME message read part by part; `policy explain --text`."""

from __future__ import annotations

import base64
import dataclasses
import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailseal.errors import ConfigurationError
from mailseal.mime.entity import Entity
from mailseal.mime.text import extract_text, html_text
from mailseal.policy import Action, EncryptMode
from mailseal.policy.content import ContentSettings, message_text
from mailseal.policy.explain import Example, explain

from .support import decide, everything, message, policy

ALICE = "alice@example.org"
BOB = "bob@partner.example"
CARD = "4111 1111 1111 1111"
CARD2 = "5555555555554444"
IBAN = "DE89 3704 0044 0532 0130 00"
CARD3 = "6011111111111117"

RULES = """
[[policy.rules]]
name = "cards out"
direction = "outbound"
content_detectors = ["card-number"]
content_threshold = 2
action = "reject"
reason = "card numbers may not leave"

[[policy.rules]]
name = "bank details"
content_detectors = ["iban"]
action = "hold"

[[policy.rules]]
name = "falcon"
content_keywords = ["Project Falcon", "secret"]
content_patterns = ['\\bFAL-[0-9]{4}\\b']
content_threshold = 3
action = "encrypt"
"""


def _decide(text: str | None, toml: str = RULES, rcpt: str = BOB, certs: tuple[str, ...] = ()) -> object:
    pol = policy(toml)
    msg = dataclasses.replace(message(sender=ALICE, to=[rcpt]), text=text)
    return decide(pol, ALICE, rcpt, msg=msg, facts=everything(ALICE, *certs))[rcpt]


def test_a_detector_rule_matches_only_at_its_threshold() -> None:
    one = _decide(f"my card {CARD}")
    assert one.action is Action.DELIVER and one.rule != "rule cards out"  # type: ignore[attr-defined]
    two = _decide(f"cards {CARD} and {CARD2}")
    assert two.action is Action.REJECT and two.rule == "rule cards out"  # type: ignore[attr-defined]
    assert two.refuse == "card numbers may not leave"  # type: ignore[attr-defined]


def test_the_decision_names_the_rule_and_a_count_never_the_text() -> None:
    d = _decide(f"cards {CARD} and {CARD2} and {IBAN}")
    assert d.notes == ("rule cards out: 2 content matches (threshold 2)",)  # type: ignore[attr-defined]
    dumped = json.dumps(d.to_dict())  # type: ignore[attr-defined]
    for secret in (CARD, CARD.replace(" ", ""), CARD2, "4111", "5555"):
        assert secret not in dumped


def test_direction_and_other_conditions_still_apply_to_content_rules() -> None:
    # inbound: "cards out" is outbound only, so the IBAN rule (any direction) is the first to match
    pol = policy(RULES)
    msg = dataclasses.replace(message(sender=BOB, to=[ALICE]), text=f"{CARD} {CARD2} {IBAN}")
    d = decide(pol, BOB, ALICE, msg=msg)[ALICE]
    assert d.action is Action.HOLD and d.rule == "rule bank details" and d.hold == "held by rule bank details"


def test_keywords_are_whole_words_any_case_and_patterns_count_with_them() -> None:
    assert _decide("the SECRET of project falcon, ref FAL-1234").settings["encrypt"] == "require"  # type: ignore
    # "secretary" is not "secret", FAL-12345 is not the pattern: two matches, under the threshold of three
    below = _decide("the secretary of Project Falcon, FAL-12345, secret")
    assert below.settings["encrypt"] == "if-possible"  # type: ignore[attr-defined]


def test_action_encrypt_demands_encryption_and_refuses_without_a_certificate() -> None:
    text = "secret secret secret"
    with_cert = _decide(text, certs=(BOB,))
    assert with_cert.encrypt and with_cert.rule == "rule falcon"  # type: ignore[attr-defined]
    without = _decide(text)
    assert without.action is Action.REJECT and "no certificate" in without.refuse  # type: ignore[attr-defined]


def test_action_portal_sets_encrypt_portal_when_the_portal_exists() -> None:
    toml = """
[[policy.rules]]
name = "to the portal"
content_detectors = ["iban"]
action = "portal"
"""
    if "portal" in {m.value for m in EncryptMode}:
        assert policy(toml).rules[0].settings.encrypt == "portal"
    else:  # this build has no portal: the setting is refused by name, not silently ignored
        with pytest.raises(ConfigurationError, match='encrypt = "portal"'):
            policy(toml)
    with pytest.raises(ConfigurationError, match='means encrypt = "require"'):
        policy('[[policy.rules]]\nname = "x"\ncontent_keywords = ["a"]\naction = "encrypt"\nencrypt = "never"\n')


def test_no_text_no_content_match_and_the_decision_says_so() -> None:
    pol = policy(RULES)
    d = decide(pol, ALICE, BOB, facts=everything(ALICE))
    assert d[BOB].action is Action.DELIVER
    assert "content rules not evaluated: the message text was not read" in d.notes


@pytest.mark.parametrize(("toml", "match"), [
    ('content_patterns = ["(a)\\\\1"]', "RE2 syntax"),
    ('content_patterns = ["x*"]', "matches the empty text"),
    ('content_detectors = ["ssn"]', '"ssn" is not one of card-number, iban'),
    ('content_threshold = 2', "needs something to count"),
    ('content_keywords = ["a"]\ncontent_threshold = 0', "from 1 to 10000"),
    ('content_keywords = [" "]', "must not be empty"),
])
def test_bad_content_conditions_are_refused_with_the_place(toml: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        policy(f'[[policy.rules]]\nname = "bad"\n{toml}\naction = "reject"\n')
    assert 'policy.rules[0] ("bad")' in info.value.message


def test_a_catastrophic_pattern_is_matched_by_re2() -> None:
    # (a+)+$ backtracks exponentially in Python's re (this test would never end there); RE2 answers at once
    pol = policy('[[policy.rules]]\nname = "redos"\ncontent_patterns = ["(a+)+$"]\naction = "reject"\n')
    msg = dataclasses.replace(message(sender=ALICE, to=[BOB]), text="a" * 200_000 + "!")
    assert decide(pol, ALICE, BOB, msg=msg)[BOB].action is Action.DELIVER
    ends = dataclasses.replace(msg, text="a" * 200_000)
    assert decide(pol, ALICE, BOB, msg=ends)[BOB].action is Action.REJECT


def test_html_text_skips_scripts_styles_and_comments_and_survives_hostile_markup() -> None:
    markup = ('<p>Card <b>4111</b>&#32;1111</p><SCRIPT type="x">var n = "6011";</script ><style>p {}</style>'
              '<!-- 5555 -->after <scripts>shown</scripts>')
    assert " ".join(html_text(markup).split()) == "Card 4111 1111 after shown"
    # unclosed constructs end the visible text instead of being searched again from every "<"
    assert html_text("ok <script" * 100_000) == "ok  "
    assert html_text("ok <!--" * 100_000) == "ok  "
    assert html_text("<b>x</b>" * 100_000).count("x") == 100_000


def test_the_scan_limit_cuts_the_text_and_says_so() -> None:
    pol = policy('[policy.content]\nmax_scan_size = "1K"\n' + RULES)
    late = "x" * 2000 + f" {CARD} {CARD2}"
    explained = explain(pol, Example(ALICE, to=(BOB,), text=late, assume_keys=(ALICE,)), None)
    assert explained.decision[BOB].action is Action.DELIVER
    assert any("first 1024 characters only" in n for n in explained.decision.notes)
    early = explain(pol, Example(ALICE, to=(BOB,), text=f"{CARD} {CARD2}"), None)
    assert early.decision[BOB].action is Action.REJECT
    with pytest.raises(ConfigurationError, match="from 1K to 64M"):
        policy('[policy.content]\nmax_scan_size = "100"\n')


def _mime_message() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ALICE, BOB, "statement"
    msg.set_content("Hello,\nthe figures are attached.\n")
    msg.add_alternative(f"<p>Card <b>4111</b>&#32;1111 1111 1111</p><script>var n = '{CARD3}';</script>", subtype="html")
    msg.add_attachment(f"name;iban\nacme;{IBAN}\n".encode(), maintype="text", subtype="csv", filename="pay.csv")
    msg.add_attachment(f"{CARD2}\n".encode(), maintype="application", subtype="octet-stream", filename="cards.txt")
    msg.add_attachment(f"{CARD}".encode(), maintype="application", subtype="pdf", filename="scan.pdf")
    inner = EmailMessage()
    inner["Subject"] = "forwarded"
    inner.set_content("quoted text: secret")
    msg.add_attachment(inner)
    return msg.as_bytes()


def test_text_parts_and_text_attachments_are_read_decoded_and_others_are_not() -> None:
    raw = _mime_message()
    assert CARD2.encode() not in raw  # base64: only a decoder finds it
    found = extract_text(Entity.parse(raw), 1 << 20)
    assert found.text.startswith("statement")
    assert "the figures are attached" in found.text and "quoted text: secret" in found.text
    assert "Card 4111 1111 1111 1111" in " ".join(found.text.split())  # HTML tags and entities removed
    assert IBAN in found.text and CARD2 in found.text  # the CSV and the .txt attachment
    assert CARD3 not in found.text  # the <script> is not text a reader sees
    assert not found.truncated and found.skipped == []
    text, notes = message_text(Entity.parse(raw), ContentSettings(1024))
    assert notes == () and len(text) <= 1024


def test_encrypted_parts_are_listed_as_not_scanned() -> None:
    raw = (b"From: a@example.org\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n")
    text, notes = message_text(Entity.parse(raw), ContentSettings())
    assert text == "" and notes == ("content not scanned: an S/MIME encrypted or opaque-signed part (1)",)


def test_a_broken_encoding_does_not_hide_the_text() -> None:
    raw = (b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n"
           b"\r\n" + base64.b64encode(CARD.encode()) + b"!!! not base64 " + CARD2.encode() + b"\r\n")
    found = extract_text(Entity.parse(raw), 1 << 20)
    assert CARD2 in found.text


def _run(*args: str) -> str:
    from click.testing import CliRunner

    from mailseal.cli.main import cli

    result = CliRunner().invoke(cli, ["policy", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_explain_cli_reads_text_and_message_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSEAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAILSEAL_CONFIG", raising=False)
    monkeypatch.delenv("MAILSEAL_DB_URL", raising=False)
    settings = tmp_path / "mailseal.toml"
    settings.write_text('[gateway]\naccepted_domains = ["example.org"]\n' + RULES)
    sample = tmp_path / "message.eml"
    sample.write_bytes(_mime_message())
    out = _run("explain", "--config", str(settings), "--no-store", "--from", ALICE, "--to", BOB,
                     "--text-file", str(sample), "--json")
    [rcpt] = json.loads(out)["recipients"]
    assert rcpt["action"] == "hold" and rcpt["rule"] == "rule bank details"
    assert "3704" not in out  # the IBAN is not echoed back
    plain = _run("explain", "--config", str(settings), "--no-store", "--from", ALICE, "--to", BOB,
                       "--text", f"{CARD} {CARD2}")
    assert "rule cards out" in plain and "4111" not in plain
