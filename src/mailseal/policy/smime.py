"""The server-side S/MIME knobs of `[policy.smime]`, modelled on Exchange Online's Set-SmimeConfig (docs/exchange.md).

Policy only reads and checks them; the gateway applies them when it builds messages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..cms.algorithms import CONTENT_CIPHERS, DEFAULT_CIPHER, SIGNING_DIGESTS
from ..errors import ConfigurationError
from . import validation as v

#: RFC 8551 §2.1: SHA-256 is the MUST; SHA-1 and MD5 are refused for new signatures.
SIGNING_ALGORITHMS: tuple[str, ...] = tuple(SIGNING_DIGESTS)
#: Strongest first: the order of mailseal.store.capabilities.CIPHER_PREFERENCE (a test keeps them equal). Read from
#: the cms layer so that parsing settings does not import the store and its database drivers.
CIPHER_PREFERENCE: tuple[str, ...] = tuple(CONTENT_CIPHERS)
DEFAULT_FLOOR = "aes128-cbc"
#: Which certificates a recipient with both a classical and an ML-KEM certificate is encrypted to (docs/pq.md):
#: hybrid: both (every client can open it, and a quantum computer cannot); prefer_pq: only the ML-KEM one when there
#: is one; require_pq: only ML-KEM, and a recipient without an ML-KEM certificate counts as having no certificate.
POST_QUANTUM_MODES: tuple[str, ...] = ("hybrid", "prefer_pq", "require_pq")


@dataclass(frozen=True)
class SmimeSettings:
    """How the gateway signs and encrypts; one global table (no per-domain or per-user values)."""

    #: multipart/signed (RFC 8551 §3.5.3) when true; opaque application/pkcs7-mime signed-data when false.
    clear_signed: bool = True
    #: The message digest of signatures.
    signing_algorithm: str = "sha256"
    #: RSASSA-PSS (RFC 4056) instead of PKCS#1 v1.5 for RSA signing keys.
    rsa_pss: bool = False
    #: The content cipher when the recipients' SMIMECapabilities do not narrow the choice (RFC 8551 §2.7).
    encryption_algorithm: str = DEFAULT_CIPHER
    #: The weakest content cipher a recipient's advertisement may push the gateway down to.
    encryption_floor: str = DEFAULT_FLOOR
    #: Put the signer's intermediate certificates into signatures.
    include_chain: bool = True
    #: Also put the root certificate in (needs include_chain).
    include_root: bool = False
    #: Sign the SMIMECapabilities attribute (RFC 8551 §2.5.2) so correspondents learn what the gateway can decrypt.
    include_capabilities: bool = True
    #: Check the sender's and recipients' certificates against CRLs before sending; refuse when revoked.
    check_crl_on_send: bool = False
    #: How long one CRL retrieval may take when checking on send.
    crl_timeout_seconds: float = 10.0
    #: Sign, encrypt, then sign again (RFC 2634 §1.1 triple wrapping) when both sign and encrypt apply.
    triple_wrap: bool = False
    #: One encrypted message per Bcc recipient, so RecipientInfos never reveal Bcc recipients.
    fork_bcc: bool = True
    #: Copy From/To/Cc/Subject/Date into the protected inner part (RFC 8551 §3.1 header protection).
    copy_recipient_headers: bool = True
    #: A Microsoft serialized store (.sst) of the CAs whose certificates are trusted for S/MIME; unset: the trust list.
    trust_list_sst: str | None = None
    #: Also encrypt to the sender's own certificate, so the sender can read the message from a sent folder.
    encrypt_to_sender: bool = True
    #: Hide the Subject of encrypted mail (RFC 9788 hcp_baseline): it travels inside, the outer one reads "[...]".
    #: Off by default: clients without header protection (Outlook) show "[...]" as the subject.
    obscure_subject: bool = False
    #: hybrid, prefer_pq or require_pq: see POST_QUANTUM_MODES.
    post_quantum: str = "hybrid"

    @classmethod
    def parse(cls, value: Any, where: str = "policy.smime") -> SmimeSettings:
        tbl = v.table(value, where)
        names = [f.name for f in fields(cls)]
        v.check_keys(tbl, names, where)
        kwargs: dict[str, Any] = {}
        for key, raw in tbl.items():
            at = f"{where}.{key}"
            if key == "signing_algorithm":
                kwargs[key] = _one_of(raw, SIGNING_ALGORITHMS, at)
            elif key == "post_quantum":
                kwargs[key] = _one_of(raw, POST_QUANTUM_MODES, at)
            elif key in ("encryption_algorithm", "encryption_floor"):
                kwargs[key] = _one_of(raw, CIPHER_PREFERENCE, at)
            elif key == "crl_timeout_seconds":
                kwargs[key] = v.positive_number(raw, at)
            elif key == "trust_list_sst":
                kwargs[key] = v.string(raw, at)
            else:
                kwargs[key] = v.boolean(raw, at)
        settings = cls(**kwargs)
        settings._check(where)
        return settings

    def _check(self, where: str) -> None:
        # Contradictory options are refused rather than one silently winning (CONVENTIONS: check eagerly).
        if self.include_root and not self.include_chain:
            raise ConfigurationError(f"{where}.include_root = true needs include_chain = true")
        if CIPHER_PREFERENCE.index(self.encryption_algorithm) > CIPHER_PREFERENCE.index(self.encryption_floor):
            raise ConfigurationError(
                f"{where}.encryption_algorithm: {self.encryption_algorithm} is weaker than encryption_floor "
                f"{self.encryption_floor}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _one_of(value: Any, names: tuple[str, ...], where: str) -> str:
    text = v.string(value, where).strip().lower()
    if text not in names:
        raise ConfigurationError(f'{where}: "{value}" is not one of {", ".join(names)}{v.did_you_mean(text, names)}')
    return text


SMIME_KEYS: tuple[str, ...] = tuple(f.name for f in fields(SmimeSettings))

__all__ = ["CIPHER_PREFERENCE", "DEFAULT_FLOOR", "POST_QUANTUM_MODES", "SIGNING_ALGORITHMS", "SMIME_KEYS", "SmimeSettings"]
