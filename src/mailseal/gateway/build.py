"""Assemble a gateway from the settings file: settings, policy, store, keys, trust and lookup."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, MailsealError
from ..policy import Policy
from .resources import Resources, trust_context
from .service import Gateway
from .settings import GatewaySettings


def check_settings(settings: Mapping[str, Any]) -> tuple[GatewaySettings, Policy]:
    """Parse and cross-check the settings without opening anything: ``mailseal serve --check-config``."""
    gateway = GatewaySettings.from_settings(settings)
    policy = Policy.from_settings(settings)
    if not gateway.accepted_domains and not policy.accepted_domains:
        raise ConfigurationError("gateway.accepted_domains is empty: which domains are the organisation's?")
    if gateway.max_message_size > 2 << 30:
        raise ConfigurationError("gateway.max_message_size above 2G is not supported")
    return gateway, policy


def build_resources(settings: Mapping[str, Any]) -> tuple[GatewaySettings, Policy, Resources]:
    """Settings, policy and the store's keys, certificates and trust, opened (the gateway and each of its worker
    processes build their own)."""
    from ..store.database import open_service_store
    from ..store.directory import Directory
    from ..store.keystore import KeyStore, resolve_passphrase
    from ..store.lookup_settings import lookup_from_settings

    gateway, policy = check_settings(settings)
    store = open_service_store(settings)  # an older schema is refused unless [store] auto_migrate (serve --migrate)
    from ..cms.token import TokenSettings

    # keys on a PKCS#11 token sign and decrypt there; the [pkcs11] table names the module, the PIN is in the env
    keystore = KeyStore(store, lambda: resolve_passphrase(None), pkcs11=TokenSettings.from_mapping(settings.get("pkcs11")))
    # OWA's SMIMECertificateIssuingCA: the issuing CAs as an SST file, trusted beside the trust list
    sst = policy.smime.trust_list_sst
    context = trust_context((*gateway.trust_files, *((Path(sst),) if sst else ())), store)
    lookup = lookup_from_settings(Directory(store), settings, context) if "lookup" in settings else None
    try:
        keystore.unlock()  # now: a wrong passphrase is a start-up error, not a 4xx on every message
    except MailsealError as exc:
        if keystore.list():
            raise ConfigurationError(f"the key store cannot be unlocked: {exc.message}") from None
    return gateway, policy, Resources(store, keystore, context, lookup)


def build_gateway(settings: Mapping[str, Any]) -> Gateway:
    """A ready-to-start gateway; the key store passphrase comes from the environment (never a prompt)."""
    gateway, policy, resources = build_resources(settings)
    return Gateway(gateway, policy, resources, raw_settings=settings)


__all__ = ["build_gateway", "build_resources", "check_settings"]
