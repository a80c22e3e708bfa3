"""Reading `[policy]`: defaults, and every invalid setting refused with the table and key named."""

from __future__ import annotations

import pytest

from mailseal.errors import ConfigurationError, ErrorCode
from mailseal.policy import EncryptMode, MissingCertificate, Policy, SignMode, SmimeSettings
from mailseal.policy.validation import size

from .support import policy


def test_empty_settings_give_the_defaults() -> None:
    pol = Policy.from_settings({})
    assert pol.accepted_domains == ()
    s = pol.settings
    assert (s.sign, s.encrypt, s.on_missing_certificate) == (SignMode.IF_KEY, EncryptMode.IF_POSSIBLE,
                                                              MissingCertificate.REJECT)
    assert (s.decrypt_inbound, s.verify_inbound, s.strip_signatures) == (True, True, False)
    assert pol.smime == SmimeSettings()
    assert pol.rules == ()


def test_smime_defaults() -> None:
    s = SmimeSettings()
    assert s.clear_signed and s.include_chain and s.include_capabilities and s.fork_bcc
    assert s.copy_recipient_headers and s.encrypt_to_sender
    assert not (s.include_root or s.check_crl_on_send or s.triple_wrap or s.rsa_pss)
    assert (s.signing_algorithm, s.encryption_algorithm, s.encryption_floor) == ("sha256", "aes256-gcm", "aes128-cbc")
    assert s.crl_timeout_seconds == 10 and s.trust_list_sst is None


def test_cipher_order_matches_the_store() -> None:
    from mailseal.policy.smime import CIPHER_PREFERENCE, DEFAULT_FLOOR
    from mailseal.store.capabilities import CIPHER_PREFERENCE as STORE_ORDER
    from mailseal.store.capabilities import DEFAULT_FLOOR as STORE_FLOOR

    assert (CIPHER_PREFERENCE, DEFAULT_FLOOR) == (STORE_ORDER, STORE_FLOOR)


def test_smime_values_are_read() -> None:
    pol = policy("""
[policy.smime]
clear_signed = false
signing_algorithm = "SHA384"
rsa_pss = true
encryption_algorithm = "aes128-gcm"
encryption_floor = "aes256-cbc"
include_root = true
crl_timeout_seconds = 2.5
trust_list_sst = "/etc/mailseal/issuers.sst"
fork_bcc = false
""")
    s = pol.smime
    assert not s.clear_signed and s.signing_algorithm == "sha384" and s.rsa_pss
    assert (s.encryption_algorithm, s.encryption_floor) == ("aes128-gcm", "aes256-cbc")
    assert s.include_root and s.crl_timeout_seconds == 2.5 and s.trust_list_sst == "/etc/mailseal/issuers.sst"
    assert not s.fork_bcc


def test_error_is_a_configuration_error_with_its_code() -> None:
    with pytest.raises(ConfigurationError) as info:
        policy('[policy]\nsign = "sometimes"')
    assert info.value.code is ErrorCode.CONFIGURATION


@pytest.mark.parametrize(("toml", "expected"), [
    ('[policy]\nsigning = "always"', 'policy: unknown key "signing" (did you mean "sign"?)'),
    ('[policy]\nencrpyt = "never"', 'did you mean "encrypt"?'),
    ('[policy]\nbogus = 1', 'policy: unknown key "bogus"'),
    ('[policy.smime]\nfork_bc = true', 'policy.smime: unknown key "fork_bc" (did you mean "fork_bcc"?)'),
    ('[policy.domains."partner.example"]\nencrypt_inbound = true', 'policy.domains."partner.example": unknown key'),
    ('[policy.users."bob@partner.example"]\nfork_bcc = true', 'policy.users."bob@partner.example": unknown key'),
    ('[[policy.rules]]\nname = "r"\nsubjct_contains = "x"', '("r"): unknown key "subjct_contains" (did you mean'),
    ('[[policy.rules]]\nname = "r"\nheader = {name = "X-A", valu = "b"}', 'policy.rules[0] ("r").header: unknown key'),
])
def test_unknown_keys_are_refused(toml: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        policy(toml)
    assert expected in info.value.message


def test_unquoted_domain_table_gets_a_hint() -> None:
    with pytest.raises(ConfigurationError, match="must be quoted"):
        policy('[policy.domains.partner.example]\nencrypt = "require"')


@pytest.mark.parametrize(("toml", "expected"), [
    ('[policy]\nsign = "sometimes"', 'policy.sign: "sometimes" is not one of always, if-key, never'),
    ('[policy]\nencrypt = "required"', 'policy.encrypt: "required" is not one of require, if-possible, never, '
                                       'portal, encrypt-or-portal (did you mean "require"?)'),
    ('[policy]\non_missing_certificate = "bounce"', "policy.on_missing_certificate"),
    ('[policy]\ndecrypt_inbound = "yes"', "policy.decrypt_inbound must be true or false"),
    ('[policy]\nsubject_tag_signed = 3', "policy.subject_tag_signed must be a string"),
    ('[policy.smime]\nsigning_algorithm = "sha1"', 'policy.smime.signing_algorithm: "sha1" is not one of'),
    ('[policy.smime]\nencryption_algorithm = "des"', "policy.smime.encryption_algorithm"),
    ('[policy.smime]\ncrl_timeout_seconds = 0', "policy.smime.crl_timeout_seconds must be a positive number"),
    ('[policy.domains."partner.example"]\nencrypt = "maybe"', 'policy.domains."partner.example".encrypt'),
    ('[[policy.rules]]\nname = "r"\ndirection = "outgoing"', 'policy.rules[0] ("r").direction: "outgoing"'),
    ('[[policy.rules]]\nname = "r"\naction = "drop"', 'policy.rules[0] ("r").action'),
])
def test_bad_enum_values_name_the_key(toml: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        policy(toml)
    assert expected in info.value.message


def test_duplicate_rule_names_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r'policy.rules\[1\]: the rule name "Secure" is already used by '
                                                 r"policy.rules\[0\]"):
        policy('[[policy.rules]]\nname = "secure"\n[[policy.rules]]\nname = "Secure"')


def test_rule_without_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"policy.rules\[0\]: every rule needs a name"):
        policy('[[policy.rules]]\nencrypt = "require"')


def test_rules_must_be_an_array_of_tables() -> None:
    with pytest.raises(ConfigurationError, match=r"\[\[policy.rules\]\]"):
        policy('[policy.rules]\nname = "x"')


@pytest.mark.parametrize("bad", ['"ten megabytes"', '"10X"', "-1", "true", '"1.5M"'])
def test_bad_sizes_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError, match=r'policy.rules\[0\] \("big"\).min_size'):
        policy(f'[[policy.rules]]\nname = "big"\nmin_size = {bad}')


@pytest.mark.parametrize(("text", "expected"), [
    (512, 512), ("512", 512), ("512K", 512 * 1024), ("10M", 10 * 1024**2), ("10mb", 10 * 1024**2),
    ("1G", 1024**3), ("2 KiB", 2048), ("7B", 7),
])
def test_sizes(text: int | str, expected: int) -> None:
    assert size(text, "x") == expected


def test_min_size_above_max_size_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="min_size is larger than max_size"):
        policy('[[policy.rules]]\nname = "r"\nmin_size = "2M"\nmax_size = "1M"')


def test_remove_trigger_needs_a_trigger() -> None:
    with pytest.raises(ConfigurationError, match="remove_trigger needs subject_contains"):
        policy('[[policy.rules]]\nname = "r"\nremove_trigger = true')


def test_reason_needs_reject_or_hold() -> None:
    with pytest.raises(ConfigurationError, match="reason is only used with"):
        policy('[[policy.rules]]\nname = "r"\nreason = "because"')


def test_include_root_needs_include_chain() -> None:
    with pytest.raises(ConfigurationError, match=r"policy\.smime\.include_root = true needs include_chain = true"):
        policy("[policy.smime]\ninclude_chain = false\ninclude_root = true")


def test_encryption_algorithm_below_the_floor_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="weaker than encryption_floor"):
        policy('[policy.smime]\nencryption_algorithm = "aes128-cbc"\nencryption_floor = "aes256-gcm"')


@pytest.mark.parametrize(("toml", "expected"), [
    ('[gateway]\naccepted_domains = "not a domain!"', "gateway.accepted_domains[0]"),
    ('[gateway]\naccepted_domains = [1]', "gateway.accepted_domains[0] must be a string"),
    ('[policy.users."not-an-address"]\nsign = "always"', 'policy.users."not-an-address": "not-an-address" is not'),
    ('[policy.domains."bad domain"]\nsign = "always"', "policy.domains[0]"),
    ('[policy.domains."A.example"]\n[policy.domains."a.example"]', "the same domain is listed twice"),
    ('[[policy.rules]]\nname = "r"\nfrom = ["a@b@c"]', 'policy.rules[0] ("r").from[0]'),
    ('[[policy.rules]]\nname = "r"\nto = []', 'policy.rules[0] ("r").to must be a non-empty list'),
    ('[[policy.rules]]\nname = "r"\nheader = {value = "yes"}', "header needs a name"),
    ("[policy]\nsmime = 3", "policy.smime must be a table"),
])
def test_other_invalid_settings(toml: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        policy(toml, base="")
    assert expected in info.value.message


def test_other_gateway_keys_are_not_policys_business() -> None:
    pol = policy("", base='[gateway]\naccepted_domains = ["example.org"]\nlisten = "0.0.0.0:25"\n')
    assert pol.accepted_domains == ("example.org",)


def test_warnings_for_settings_that_are_probably_wrong() -> None:
    assert "accepted_domains is empty" in Policy.from_settings({}).warnings()[0]
    pol = policy('[[policy.rules]]\nname = "all"\nencrypt = "require"\n[[policy.rules]]\nname = "late"\n'
                 'subject_contains = "x"')
    assert pol.warnings() == ("rule late can never match: rule all before it matches every message",)
    assert policy('[[policy.rules]]\nname = "a"\nsubject_contains = "x"').warnings() == ()
