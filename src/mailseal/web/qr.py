"""The QR code an authenticator app scans to enrol a TOTP second factor (RFC 6238), drawn as inline SVG so that the
page loads nothing (the console's and the portal's CSPs allow no image from elsewhere, and none is needed)."""

from __future__ import annotations

from markupsafe import Markup


def qr_svg(uri: str) -> Markup:
    """``uri`` (an ``otpauth://`` URI) as an inline SVG QR code (error correction M)."""
    import segno

    return Markup(segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff", title="TOTP QR code"))


__all__ = ["qr_svg"]
