"""The server side of STARTTLS: the context offered to SMTP clients."""

from __future__ import annotations

import ssl

from ..errors import ConfigurationError
from .settings import TlsSettings


def server_tls_context(tls: TlsSettings) -> ssl.SSLContext | None:
    """The STARTTLS context for clients, or None when no certificate is configured; a certificate or key that
    cannot be loaded is a ``ConfigurationError`` naming the files."""
    if tls.certificate is None or tls.key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(tls.certificate), str(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"gateway.tls: cannot load the certificate {tls.certificate} with the key "
                                 f"{tls.key}: {getattr(exc, 'strerror', None) or exc}") from None
    return ctx


__all__ = ["server_tls_context"]
