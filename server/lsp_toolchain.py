"""The server's settings and toolchain: reading the client's configuration, discovering the compiler.

A mixin of :class:`parevo.server.lsp.ParevoServer` (it uses the server's
``settings``, ``errors``, ``queue``, ``aux`` and publishing methods).
Discovery runs on the auxiliary thread pool; handlers that need the
toolchain await :meth:`ToolchainMixin.ready_toolchain`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from parevo.toolchain.discovery import DiscoverySettings, ParlayLibMissing, Toolchain, discover, require
from parevo.toolchain.models import ParevoError

from .settings import parse_settings

log = logging.getLogger("parevo.server")


class ToolchainMixin:
    """Settings layers and toolchain discovery of the language server."""

    async def load_settings(self, layer: Any = None, *, pull: bool = True) -> None:
        """Recompute settings from initializationOptions and the client's configuration."""
        if layer is not None:
            self.config_layer = layer
        elif pull and self.supports_configuration:
            try:
                got = await asyncio.wait_for(self.workspace_configuration_async(types.ConfigurationParams(
                    items=[types.ConfigurationItem(section="parevo")])), timeout=5)
                self.config_layer = got[0] if got else None
            except Exception as e:  # noqa: BLE001 - a client that fails here keeps the other layers
                log.warning("parevo: workspace/configuration failed: %s", e)
        settings, problems = parse_settings(self.init_options, self.config_layer)
        if problems:
            self.message("parevo: " + "; ".join(problems), types.MessageType.Warning)
        old = self.settings
        self.settings = settings
        if self.errors and settings != old:  # e.g. a toolchain setting fixed: let the user run again
            self.errors.clear()
            self.publish_all()
        self.queue.max_queued = settings.max_queued
        if old.result_store != settings.result_store or old.cache_dir != settings.cache_dir:
            self.publish_all()
        self.start_discovery()

    def discovery_settings(self) -> DiscoverySettings:
        """Where to look for the compiler and ParlayLib, from the settings."""
        return DiscoverySettings(cxx=self.settings.compiler, parlay_include=self.settings.parlay_include,
                                 workspace=self.workspace_root(), cache_dir=self.settings.cache_dir,
                                 system_parlay=self.settings.system_parlay)

    def start_discovery(self, force: bool = False) -> None:
        """(Re)discover the toolchain in the background when its settings changed (or ``force``:
        something was installed)."""
        ds = self.discovery_settings()
        key = (ds.cxx, ds.parlay_include, ds.workspace, ds.cache_dir, ds.system_parlay)
        if key == self._toolchain_key and self._toolchain_task is not None and not force:
            return
        self._toolchain_key = key
        self._toolchain_task = self.spawn(self._discover(ds))

    async def _discover(self, ds: DiscoverySettings) -> Toolchain | None:
        loop = asyncio.get_running_loop()
        try:
            tc = await loop.run_in_executor(self.aux, lambda: discover(ds))
        except Exception as e:  # noqa: BLE001
            self.toolchain, self.toolchain_problem = None, f"toolchain discovery failed: {e}"
            return None
        try:
            require(tc, parlay=True, tsan=True)
            problem = None
        except ParlayLibMissing as e:
            problem = None  # not a reason to disable actions: the first job that needs it offers the install
            self.logmsg(f"parevo: {e}")
        except ParevoError as e:
            problem = str(e)
        self.toolchain, self.toolchain_problem = tc, problem
        if problem:
            self.logmsg(f"parevo: {problem}")
        await self.mark_toolchain_stale(tc)  # results measured with another compiler or ParlayLib
        return tc

    async def ready_toolchain(self) -> tuple[Toolchain | None, str | None]:
        """The discovered toolchain (waiting for discovery if it is still running) and what is missing."""
        if self._toolchain_task is None:
            self.start_discovery()
        task = self._toolchain_task
        if task is not None and not task.done():
            await asyncio.shield(task)
        return self.toolchain, self.toolchain_problem

    def toolchain_reason(self) -> str | None:
        """Why actions are disabled right now (known only once discovery has finished)."""
        if self._toolchain_task is None or not self._toolchain_task.done():
            return None
        return self.toolchain_problem
