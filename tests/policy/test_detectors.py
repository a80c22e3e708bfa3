"""Built-in content detectors: card numbers (Luhn, issuer prefixes, grouping) and IBANs (registered length,
mod-97), against published test numbers and numbers built here with their check digits computed independently."""

from __future__ import annotations

import random

import pytest

from mailseal.policy.detectors import (
    IBAN_LENGTHS,
    count_card_numbers,
    count_ibans,
    iban_valid,
    is_card_number,
    luhn_valid,
)

# The networks' published test numbers (Stripe, PayPal and the networks' developer pages).
PUBLISHED_CARDS = ["4111111111111111", "4012888888881881", "5555555555554444", "5105105105105100",
                   "378282246310005", "371449635398431", "6011111111111117", "3530111333300000",
                   "30569309025904", "2223003122003222", "6200000000000005"]
# The IBAN registry's examples (SWIFT IBAN Registry) and the ECBS's.
PUBLISHED_IBANS = ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606",
                   "NL91ABNA0417164300", "BE68539007547034", "CH9300762011623852957", "NO9386011117947",
                   "MT84MALT011000012345MTLCAST001S"]


def _luhn_digit(body: str) -> str:
    """The check digit that makes body + digit pass: written from the ISO/IEC 7812 description, not the code."""
    doubled = [int(c) * (2 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body))]
    return str((10 - sum(d // 10 + d % 10 for d in doubled) % 10) % 10)


def _iban(country: str, bban: str) -> str:
    """An IBAN with its check digits computed as ISO 13616 §7 says (98 minus the remainder of BBAN+country+00)."""
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


@pytest.mark.parametrize("number", PUBLISHED_CARDS)
def test_published_test_card_numbers_are_found(number: str) -> None:
    assert luhn_valid(number) and is_card_number(number)


@pytest.mark.parametrize("number", PUBLISHED_CARDS)
def test_one_changed_digit_fails_the_luhn_check(number: str) -> None:
    for pos in range(len(number)):
        wrong = number[:pos] + str((int(number[pos]) + 1) % 10) + number[pos + 1:]
        assert not luhn_valid(wrong), wrong
        assert not is_card_number(wrong), wrong


def test_generated_numbers_with_a_computed_check_digit_pass_and_neighbours_fail() -> None:
    rng = random.Random(7812)
    for prefix, length in (("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("4", 19)):
        for _ in range(50):
            body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
            good = body + _luhn_digit(body)
            assert is_card_number(good), good
            bad = body + str((int(_luhn_digit(body)) + 1) % 10)
            assert not is_card_number(bad), bad


def test_luhn_alone_is_not_enough_an_unknown_issuer_or_length_is_refused() -> None:
    body = "9" + "1234567890" * 2
    assert luhn_valid(body[:15] + _luhn_digit(body[:15]))
    assert not is_card_number(body[:15] + _luhn_digit(body[:15]))  # no network issues 9...
    visa17 = "4" + "1" * 15
    assert not is_card_number(visa17 + _luhn_digit(visa17))  # Visa has no 17-digit numbers


def test_card_numbers_in_text_grouped_or_not_and_not_inside_longer_numbers() -> None:
    text = ("Card 4111 1111 1111 1111 exp 12/29 cvc 123; also 5555-5555-5555-4444, and 378282246310005.\n"
            "Order 94111111111111111 and invoice 4111111111111111234 are not cards; nor is 4111111111111112.")
    assert count_card_numbers(text) == 3
    assert count_card_numbers("4111 1111 1111 1111 123") == 1  # the security code after it does not hide it
    assert count_card_numbers("x4111111111111111") == 0 and count_card_numbers("no digits here") == 0
    assert count_card_numbers("4111111111111111 " * 5) == 5


@pytest.mark.parametrize("iban", PUBLISHED_IBANS)
def test_published_ibans_are_valid_and_a_changed_character_is_not(iban: str) -> None:
    assert iban_valid(iban) and iban_valid(iban.lower())
    grouped = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    assert iban_valid(grouped)
    for pos in range(4, len(iban)):
        c = iban[pos]
        other = str((int(c) + 1) % 10) if c.isdigit() else ("A" if c != "A" else "B")
        assert not iban_valid(iban[:pos] + other + iban[pos + 1:])


def test_generated_ibans_for_every_registered_country() -> None:
    rng = random.Random(13616)
    for country, length in IBAN_LENGTHS.items():
        bban = "".join(rng.choice("0123456789") for _ in range(length - 4))
        iban = _iban(country, bban)
        assert iban_valid(iban), iban
        assert not iban_valid(iban + "0") and not iban_valid(iban[:-1])  # the country's length is checked
        swapped = iban[:4] + iban[5] + iban[4] + iban[6:]
        assert iban[4] == iban[5] or not iban_valid(swapped)  # mod 97 catches transpositions


def test_ibans_in_text() -> None:
    text = ("Pay to DE89 3704 0044 0532 0130 00 before Friday, or GB82WEST12345698765432.\n"
            "Wrong: DE89 3704 0044 0532 0130 01, XX89370400440532013000, DE8937040044053201300099.")
    assert count_ibans(text) == 2
    assert count_ibans("IBAN: NL91ABNA0417164300.") == 1
