"""A software WebAuthn authenticator for tests (W3C WebAuthn §6): an ES256 (P-256) key made with `cryptography`,
authenticatorData (§6.1), attestation format 'none' (§8.7), clientDataJSON (§5.8.1), and the credential as the
JSON a browser's ``PublicKeyCredential.toJSON()`` gives (base64url fields)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40  # user present, user verified, attested credential data (§6.1 flags)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    """One credential on a pretend security key. ``sign_count`` goes up by one per assertion (set it to test a
    cloned key); ``user_verified`` sets the UV flag."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0
    user_verified: bool = True
    aaguid: bytes = bytes(16)

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        # COSE_Key (RFC 9052 §7, RFC 9053 §7.1.1): kty EC2, alg ES256, crv P-256, x, y.
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, attested: bool) -> bytes:
        flags = UP | (UV if self.user_verified else 0) | (AT if attested else 0)
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", self.sign_count)
        if attested:
            data += self.aaguid + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        return data

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(self, options: str | dict[str, Any], origin: str, rp_id: str | None = None) -> dict[str, Any]:
        """The answer to ``navigator.credentials.create(options)`` made at ``origin``."""
        opts = json.loads(options) if isinstance(options, str) else options
        client_data = self._client_data("webauthn.create", opts["challenge"], origin)
        auth_data = self._auth_data(rp_id or opts["rp"]["id"], attested=True)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "authenticatorAttachment": "cross-platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                             "transports": ["usb", "nfc"]}}

    def get(self, options: str | dict[str, Any], origin: str, rp_id: str | None = None) -> dict[str, Any]:
        """The answer to ``navigator.credentials.get(options)`` made at ``origin`` (the counter goes up first)."""
        opts = json.loads(options) if isinstance(options, str) else options
        self.sign_count += 1
        client_data = self._client_data("webauthn.get", opts["challenge"], origin)
        auth_data = self._auth_data(rp_id or opts["rpId"], attested=False)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "authenticatorAttachment": "cross-platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature)}}
