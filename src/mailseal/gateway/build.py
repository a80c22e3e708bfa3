"""Assemble a gateway from the settings file (its parts: ``gateway.parts``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .parts import build_resources
from .service import Gateway


def build_gateway(settings: Mapping[str, Any]) -> Gateway:
    """A ready-to-start gateway; the key store passphrase comes from the environment (never a prompt)."""
    gateway, policy, resources = build_resources(settings)
    return Gateway(gateway, policy, resources, raw_settings=settings)


__all__ = ["build_gateway"]
