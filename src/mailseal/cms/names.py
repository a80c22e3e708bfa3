"""How certificate names and serial numbers are written for people: one form in every output.

Names are RFC 4514 strings with short attribute names (``E=alice@example.org,CN=Alice,O=Example``), the
emailAddress attribute as ``E`` (as Windows and gpgsm's ``EMail`` abbreviate it; RFC 4514 names no short form
for it, and without one cryptography writes the bare OID ``1.2.840.113549.1.9.1``). Serial numbers are
hexadecimal in whole bytes, so a serial keeps its leading zero (``0a1b``, not ``a1b``), as ``openssl x509
-serial`` prints it.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

#: Short names beyond those RFC 4514 §3 lists (CN, L, ST, O, OU, C, STREET, DC, UID), for the attributes
#: S/MIME certificates carry (S/MIME BR §7.1.4.2); OpenSSL's short names where it has one.
SHORT_NAMES: dict[x509.ObjectIdentifier, str] = {
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.TITLE: "title",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.INITIALS: "initials",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.POSTAL_CODE: "postalCode",
}


def name_text(name: x509.Name) -> str:
    """The RFC 4514 string of ``name`` with short attribute names (``E=``, ``CN=``, ...)."""
    return name.rfc4514_string(SHORT_NAMES)


def asn1_name_text(name: Any) -> str:
    """``name_text`` for an asn1crypto ``Name`` (as parsed inside CMS structures)."""
    try:
        rdns = []
        for rdn in name.chosen:
            attributes = []
            for atv in rdn:
                value = atv["value"].native
                attributes.append(x509.NameAttribute(
                    x509.ObjectIdentifier(atv["type"].dotted), value if isinstance(value, str) else str(value),
                    _validate=False))
            rdns.append(x509.RelativeDistinguishedName(attributes))
        return name_text(x509.Name(rdns))
    except (ValueError, TypeError, KeyError, AttributeError):  # an odd name is still shown, in asn1crypto's words
        return str(name.human_friendly)


def serial_text(serial: int) -> str:
    """A serial number in hexadecimal, two digits per byte (leading zeros kept), lower case."""
    if serial < 0:  # not allowed by RFC 5280 §4.1.2.2, but some old certificates have one
        return "-" + serial_text(-serial)
    digits = format(serial, "x")
    return digits.zfill(len(digits) + len(digits) % 2)


__all__ = ["SHORT_NAMES", "asn1_name_text", "name_text", "serial_text"]
