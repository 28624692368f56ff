"""Settings layers: ``initializationOptions``, then the client's ``workspace/configuration``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from ..settings import Settings, parse_settings
from .client import Client

log = logging.getLogger("parevo.server")

#: Called with (old, new) after every reload, in registration order.
SettingsListener = Callable[[Settings, Settings], None]


class Configuration:
    """The current :class:`~parevo.server.settings.Settings` and the layers they come from.

    ``init_options`` is the first layer (``initialize``), ``layer`` the last
    one the client gave (pulled with ``workspace/configuration`` or pushed
    with ``workspace/didChangeConfiguration``). Invalid entries are dropped
    and reported (``window/showMessage``); listeners run after each reload.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.settings = Settings()
        self.init_options: Any = None
        self.layer: Any = None
        self.init_problems: list[str] = []
        self.listeners: list[SettingsListener] = []

    def initialize(self, options: Any) -> None:
        """Keep ``initializationOptions`` (reported later, in :meth:`start`)."""
        self.init_options = options
        self.settings, self.init_problems = parse_settings(options)

    async def start(self) -> None:
        """After ``initialized``: pull the client's configuration when it has one, else report the
        problems of ``initializationOptions``; listeners run either way."""
        if self.client.supports_configuration:
            await self.reload()
            return
        if self.init_problems:
            self.client.message("parevo: " + "; ".join(self.init_problems), types.MessageType.Warning)
        self._notify(self.settings, self.settings)

    async def reload(self, layer: Any = None, *, pull: bool = True) -> Settings:
        """Recompute the settings from ``initializationOptions`` and ``layer`` (or the pulled one)."""
        if layer is not None:
            self.layer = layer
        elif pull and self.client.supports_configuration:
            try:
                got = await asyncio.wait_for(self.client.lsp.workspace_configuration_async(types.ConfigurationParams(
                    items=[types.ConfigurationItem(section="parevo")])), timeout=5)
                self.layer = got[0] if got else None
            except Exception as e:  # noqa: BLE001 - a client that fails here keeps the other layers
                log.warning("parevo: workspace/configuration failed: %s", e)
        settings, problems = parse_settings(self.init_options, self.layer)
        if problems:
            self.client.message("parevo: " + "; ".join(problems), types.MessageType.Warning)
        old, self.settings = self.settings, settings
        self._notify(old, settings)
        return settings

    def _notify(self, old: Settings, new: Settings) -> None:
        for listener in self.listeners:
            listener(old, new)
