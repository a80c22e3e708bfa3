"""The SMTP gateway (layer 6): applies the policy to every message, signs, encrypts, decrypts, verifies and
stamps, and relays to the next hop; 250 only once every copy is accepted downstream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

_EXPORTS = {
    "Gateway": ".service",
    "GatewaySettings": ".settings",
    "Pipeline": ".pipeline",
    "build_gateway": ".build",
    "check_settings": ".parts",
    "start_sink": ".sink",
}
__getattr__ = lazy_getattr(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from .build import build_gateway
    from .parts import check_settings
    from .pipeline import Pipeline
    from .service import Gateway
    from .settings import GatewaySettings
    from .sink import start_sink

__all__ = ["Gateway", "GatewaySettings", "Pipeline", "build_gateway", "check_settings", "start_sink"]
