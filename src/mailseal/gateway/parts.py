"""The parts of a gateway, from the settings file: settings and policy checked, then the store, keys, trust and
lookup opened (the gateway, each of its worker processes and a reload build their own)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, MailsealError, TemporaryError
from ..policy import Policy
from .resources import Resources, trust_context
from .settings import GatewaySettings, LogSettings
from .tls import server_tls_context

if TYPE_CHECKING:
    from ..store.database import Store
    from ..store.keystore import KeyStore


def check_settings(settings: Mapping[str, Any]) -> tuple[GatewaySettings, Policy]:
    """Parse and cross-check the settings without opening anything: ``mailseal serve --check-config``."""
    from ..cms.token import TokenSettings
    from ..policy.portal_settings import parse_portal
    from ..store.lookup_settings import lookup_sources

    gateway = GatewaySettings.from_settings(settings)
    policy = Policy.from_settings(settings)
    LogSettings.from_settings(settings)
    parse_portal(settings)
    TokenSettings.from_mapping(settings.get("pkcs11"))
    if "lookup" in settings:
        lookup_sources(settings)
    if not gateway.accepted_domains and not policy.accepted_domains:
        raise ConfigurationError("gateway.accepted_domains is empty: which domains are the organisation's?")
    if gateway.max_message_size > 2 << 30:
        raise ConfigurationError("gateway.max_message_size above 2G is not supported")
    return gateway, policy


def _unlock(keystore: KeyStore) -> int:
    """Unlock the key store when it holds sealed keys (a wrong or missing passphrase is a start-up error, not a 4xx
    on every message); the number of sealed keys. Only the key-encryption key is derived and checked against the
    store's verifier: no private key is decrypted."""
    from ..store.passphrase import passphrase_source

    sealed = sum(1 for record in keystore.list() if record.key_location == "store")
    try:
        keystore.unlock()
    except TemporaryError:  # the store did not answer: not a configuration error (no exit 78: systemd retries)
        raise
    except MailsealError as exc:
        if sealed:
            source = passphrase_source()
            where = f" (passphrase from {source})" if source else ""
            raise ConfigurationError(f"the key store holds {sealed} sealed keys but cannot be unlocked{where}: "
                                     f"{exc.message}") from None
    return sealed


def build_resources(settings: Mapping[str, Any], store: Store | None = None
                    ) -> tuple[GatewaySettings, Policy, Resources]:
    """Settings, policy and the store's keys, certificates and trust, opened (the gateway and each of its worker
    processes build their own; a reload builds new ones on the gateway's ``store``)."""
    from ..cms.token import TokenSettings
    from ..store.database import open_service_store
    from ..store.directory import Directory
    from ..store.keystore import KeyStore, resolve_passphrase
    from ..store.lookup_settings import lookup_from_settings

    gateway, policy = check_settings(settings)
    # an older schema is refused unless [store] auto_migrate (serve --migrate)
    store = store or open_service_store(settings)
    policy = _stored_policy(settings, store) or policy
    # keys on a PKCS#11 token sign and decrypt there; the [pkcs11] table names the module, the PIN is in the env
    keystore = KeyStore(store, lambda: resolve_passphrase(None), pkcs11=TokenSettings.from_mapping(settings.get("pkcs11")))
    # OWA's SMIMECertificateIssuingCA: the issuing CAs as an SST file, trusted beside the trust list
    sst = policy.smime.trust_list_sst
    context = trust_context((*gateway.trust_files, *((Path(sst),) if sst else ())), store)
    lookup = lookup_from_settings(Directory(store), settings, context) if "lookup" in settings else None
    _unlock(keystore)
    from ..policy.portal_settings import parse_portal

    resources = Resources(store, keystore, context, lookup, portal=parse_portal(settings))
    if resources.portal_settings.configured or policy.uses_portal:
        resources.portal()  # an unreadable portal key is a start-up error (exit 78), not a 4xx on every message
    return gateway, policy, resources


def _stored_policy(settings: Mapping[str, Any], store: Store) -> Policy | None:
    """The policy kept in the store, which replaces the file's `[policy]` (docs/policy.md); None when none is."""
    from ..store.stored_policy import effective_settings, load

    stored = load(store)
    return None if stored is None else Policy.from_settings(effective_settings(settings, stored))


def check_store(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``--check-config`` beyond the settings: the store opens, its sealed keys can be unlocked with the
    passphrase given (systemd credential, environment or key file), the TLS certificate loads. What was found."""
    from ..cms.token import TokenSettings
    from ..store.database import database_url, not_created_yet, open_service_store
    from ..store.keystore import KeyStore, resolve_passphrase

    gateway = GatewaySettings.from_settings(settings)
    server_tls_context(gateway.tls)
    if not_created_yet(database_url()):
        # Not created here: run as root, the check would leave a database the service account cannot write.
        return {"sealed_keys": 0, "key_store": "not created yet"}
    store = open_service_store(settings)  # the schema as the gateway would find it (older: refused)
    try:
        keystore = KeyStore(store, lambda: resolve_passphrase(None),
                            pkcs11=TokenSettings.from_mapping(settings.get("pkcs11")))
        sealed = _unlock(keystore)
        _stored_policy(settings, store)  # checked as the gateway would read it
    finally:
        store.close()
    return {"sealed_keys": sealed, "key_store": "unlocked" if sealed else "no sealed keys"}


__all__ = ["build_resources", "check_settings", "check_store"]
