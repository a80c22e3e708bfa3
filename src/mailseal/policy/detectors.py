"""Built-in content detectors for policy rules: payment card numbers (ISO/IEC 7812 with the Luhn check) and IBANs
(ISO 13616 with the ISO 7064 mod-97-10 check). Pure functions over text; each counts what it finds and never
returns the text itself."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

# A run of digits, optionally grouped by single spaces or hyphens, not glued to letters: the card numbers in it
# are looked for group by group (a number followed by its expiry or security code is still found; a number inside
# one longer unbroken run of digits, an order id or a tracking number, is not).
_DIGIT_RUN = re.compile(r"(?<![A-Za-z0-9_])\d+(?:[ -]\d+)*(?![A-Za-z0-9_])", re.ASCII)
_GROUP_SPLIT = re.compile(r"[ -]")
# Where an IBAN may start: a country code and two check digits, not glued to letters or digits before it. The
# rest (the country's length, in groups of four separated by single spaces or unbroken) is read by _iban_at.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}", re.ASCII)

#: IBAN length by country (the SWIFT IBAN registry, release 98): a candidate of another length is not an IBAN.
IBAN_LENGTHS: Mapping[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of ISO/IEC 7812-1 Annex B over a string of digits."""
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _issuer_known(digits: str) -> bool:
    """Whether the number starts with a prefix and has a length some card network issues (ISO/IEC 7812 IINs of
    Visa, Mastercard, American Express, Discover, JCB, Diners Club, UnionPay and Maestro): with the Luhn check this
    keeps one random 16-digit string in a hundred or so, not one in ten."""
    n = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 222100 <= six <= 272099:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # American Express
    if four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925:
        return 16 <= n <= 19  # Discover
    if 3528 <= four <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= int(digits[:3]) <= 305 or two in (36, 38, 39) or four == 3095:
        return 14 <= n <= 19  # Diners Club
    if two == 62 or two == 81:
        return 16 <= n <= 19  # UnionPay
    if two in (50, 56, 57, 58, 63, 67) or two == 60 or two == 69:
        return 12 <= n <= 19  # Maestro and others of the 5x/6x ranges
    return False


def is_card_number(candidate: str) -> bool:
    """A payment card number as people write it (digits, optionally grouped by spaces or hyphens): 13 to 19
    digits, a known issuer prefix for that length, and a valid Luhn check digit."""
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.isdigit() and _issuer_known(digits) and luhn_valid(digits)


def iban_valid(candidate: str) -> bool:
    """An IBAN (spaces allowed, letters in any case): the country's registered length and the ISO 7064 mod-97-10
    check of ISO 13616-1 §7 (the country code and check digits moved to the end, letters as 10..35, remainder 1)."""
    iban = candidate.replace(" ", "").upper()
    if not iban.isascii() or not iban.isalnum() or len(iban) < 5 or not iban[2:4].isdigit():
        return False
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def count_card_numbers(text: str) -> int:
    """How many card numbers the text holds (each occurrence counts)."""
    found = 0
    for run in _DIGIT_RUN.finditer(text):
        groups = _GROUP_SPLIT.split(run.group(0))
        i = 0
        while i < len(groups):
            digits = ""
            for j in range(i, len(groups)):
                digits += groups[j]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and is_card_number(digits):
                    found += 1
                    i = j
                    break
            i += 1
    return found


def _iban_at(text: str, start: int) -> str | None:
    """The IBAN candidate at ``start``: the country's registered number of letters and digits, unbroken or with
    single spaces, and no letter or digit right after it."""
    length = IBAN_LENGTHS.get(text[start:start + 2])
    if length is None:
        return None
    out: list[str] = []
    pos = start
    while len(out) < length and pos < len(text):
        ch = text[pos]
        if ch == " " and out and pos + 1 < len(text) and text[pos + 1].isascii() and text[pos + 1].isalnum():
            pos += 1
            continue
        if not (ch.isascii() and ch.isalnum()):
            return None
        out.append(ch)
        pos += 1
    if len(out) < length or (pos < len(text) and text[pos].isascii() and text[pos].isalnum()):
        return None
    return "".join(out)


def count_ibans(text: str) -> int:
    """How many IBANs with a valid check the text holds (each occurrence counts)."""
    found = 0
    for m in _IBAN_START.finditer(text):
        candidate = _iban_at(text, m.start())
        if candidate is not None and iban_valid(candidate):
            found += 1
    return found


#: The detectors a rule names in ``content_detectors``, each counting its finds in a text.
DETECTORS: Mapping[str, Callable[[str], int]] = {
    "card-number": count_card_numbers,
    "iban": count_ibans,
}

__all__ = ["DETECTORS", "IBAN_LENGTHS", "count_card_numbers", "count_ibans", "iban_valid", "is_card_number",
           "luhn_valid"]
