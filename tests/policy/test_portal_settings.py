"""``[portal]`` and its brands are parsed strictly (docs/portal.md)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mailseal.errors import ConfigurationError
from mailseal.policy.portal_settings import Brand, parse_portal


def _parse(text: str) -> object:
    return parse_portal(tomllib.loads(text))


def test_defaults_without_a_table() -> None:
    s = parse_portal({})
    assert (s.host, s.port, s.expiry_days, s.base_url) == ("127.0.0.1", 8444, 14, "http://127.0.0.1:8444/")
    assert s.brand_for("alice@example.com") == Brand() and s.sender_for("alice@example.com") == "portal@example.com"


def test_brands_by_sender_domain_and_parent(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    s = parse_portal(tomllib.loads(f'''
[portal]
base_url = "https://portal.example.com"
expiry_days = 30
[portal.brands."Example.com"]
logo = "{logo}"
background_colour = "#003366"
read_button_text = "Open"
subject = "neutral"
expiry_days = 7
read_receipt = true
[portal.brands."other.example"]
introduction_text = "Other Corp sent you mail"
'''))
    brand = s.brand_for("alice@sales.example.com")
    assert brand.domain == "example.com" and brand.logo == logo and brand.logo_type == "image/png"
    assert brand.subject == "neutral" and brand.read_receipt and s.expiry_for(brand) == 7
    assert s.expiry_for(s.brand_for("x@other.example")) == 30 and s.brand_for("x@nowhere.test").domain == ""
    assert s.link("TOKEN") == "https://portal.example.com/m/TOKEN"


@pytest.mark.parametrize(("text", "message"), [
    ('[portal]\nlisten = "0.0.0.0:8444"', "not a loopback address"),
    ('[portal]\nexpiry_days = 731', "from 0 to 730"),
    ('[portal]\nexpiry_day = 3', 'unknown key "expiry_day" (did you mean "expiry_days"?)'),
    ('[portal]\nbase_url = "ftp://x"', "http:// or https:// URL"),
    ('[portal.brands."a.example"]\nlogo = "/nonexistent/logo.png"', "does not exist"),
    ('[portal.brands."a.example"]\nbackground_colour = "red"', '"#rrggbb"'),
    ('[portal.brands."a.example"]\nsubject = "secret"', "not one of real, neutral"),
    ('[portal.brands."a.example"]\nproof = "sms"', "not one of passcode, password, account"),
    ('[portal.brands."a.example"]\npasscode = false', "needs another proof"),
    ('[portal.brands."a.example"]\nlogo_url = "https://x"', 'unknown key "logo_url"'),
    ('[portal]\nsender = "portal"', "e-mail address"),
])
def test_bad_settings_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=None) as info:
        _parse(text)
    assert message in info.value.message


def test_a_logo_must_be_an_image_file(tmp_path: Path) -> None:
    svg = tmp_path / "logo.svg"
    svg.write_text("<svg/>")
    with pytest.raises(ConfigurationError, match="PNG, JPEG or GIF"):
        _parse(f'[portal.brands."a.example"]\nlogo = "{svg}"')
