"""mailseal: S/MIME 4.0 (RFC 8551) signing, encryption, verification and decryption of e-mail."""

__version__ = "0.1.0"
