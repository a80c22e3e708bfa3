"""The console's access to the gateway's held messages (``web/held_port.py``'s ``HeldMail``), provided where the
web and the gateway meet: `mailseal serve` hands the console the running gateway's, `mailseal web` the settings
file's (a release builds a gateway from the settings, as `mailseal held release` does)."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from ..web.held_port import HeldItem, ReleasedItem

if TYPE_CHECKING:
    from ..gateway.held import HeldMessage, HeldMessages
    from ..gateway.service import Gateway
    from ..store.database import Store


def header_of(message: HeldMessage) -> tuple[str, ...]:
    """The message's header lines as received, without their line ends (a folded line keeps its fold)."""
    from ..mime.entity import Entity
    from ..streamio import region_of

    with open(message.path, "rb") as f:
        lines = Entity.from_region(region_of(f)).header_lines
        return tuple(line.decode("utf-8", "replace").rstrip("\r\n").replace("\r\n", "\n") for line in lines)


def item_of(message: HeldMessage, header: tuple[str, ...] = ()) -> HeldItem:
    return HeldItem(message.id, message.held_at, message.size, message.mail_from, message.recipients,
                    dict(message.reasons), message.message_id, header)


class _Held(ABC):
    """What both share: list, show and delete read the held directory; a release goes through a gateway. One
    change at a time: a release clicked twice delivers once (the second finds the message gone)."""

    def __init__(self) -> None:
        self._changing = threading.Lock()

    @abstractmethod
    def messages(self) -> HeldMessages: ...

    @abstractmethod
    def gateway(self) -> AbstractContextManager[Gateway]: ...

    def list(self) -> list[HeldItem]:
        return [item_of(m) for m in self.messages().list()]

    def get(self, held_id: str) -> HeldItem:
        message = self.messages().get(held_id)
        return item_of(message, header_of(message))

    def release(self, held_id: str, *, unencrypted: bool, only: Sequence[str], actor: str) -> ReleasedItem:
        from ..gateway.release import release

        with self._changing, self.gateway() as gw:
            done = release(gw, held_id, unencrypted=unencrypted, only=only, actor=actor)
        return ReleasedItem(done.message.id, done.recipients, done.copies, done.actions, unencrypted)

    def delete(self, held_id: str) -> HeldItem:
        with self._changing:
            return item_of(self.messages().delete(held_id))


class RunningGatewayHeld(_Held):
    """The held messages of the gateway this process runs (`mailseal serve`): a release uses its pipeline, relay
    and journal (``gateway.release``), from the console's worker thread (its own event loop for the relay)."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self._gateway = gateway

    def messages(self) -> HeldMessages:
        return self._gateway.pipeline.held

    @contextmanager
    def gateway(self) -> Iterator[Gateway]:
        # A release is the administrator's answer to a certificate imported just now: the answers about who has
        # one, cached for CACHE_SECONDS, are asked again.
        self._gateway.resources.forget()
        yield self._gateway


class SettingsHeld(_Held):
    """The held messages in the settings file's ``gateway.held_dir`` (`mailseal web`); a release builds a gateway
    from the settings on the console's store (the key store's passphrase from the environment), then stops it."""

    def __init__(self, settings: Mapping[str, Any], store: Store) -> None:
        super().__init__()
        self._settings = settings
        self._store = store

    def messages(self) -> HeldMessages:
        # Read at each request: a [gateway] table the console cannot use is said on the page, not at start.
        from ..gateway.held import HeldMessages as Held
        from ..gateway.settings import GatewaySettings

        return Held(GatewaySettings.from_settings(self._settings).held_dir)

    @contextmanager
    def gateway(self) -> Iterator[Gateway]:
        from ..gateway.parts import build_resources
        from ..gateway.service import Gateway

        gw = Gateway(*build_resources(self._settings, self._store), raw_settings=self._settings)
        try:
            yield gw
        finally:
            asyncio.run(gw.stop())  # never started: this closes its relay, workers and audit writer


__all__ = ["RunningGatewayHeld", "SettingsHeld", "header_of", "item_of"]
