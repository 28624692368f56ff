"""The compiler and ParlayLib the server's searches use: discovered in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from parevo.toolchain.discovery import DiscoverySettings, ParlayLibMissing, Toolchain, discover, require
from parevo.toolchain.models import ParevoError

from ..settings import Settings
from .client import Client
from .config import Configuration
from .documents import Documents

log = logging.getLogger("parevo.server")


class ToolchainService:
    """Toolchain discovery from the settings, run on the I/O pool.

    ``current`` is the last discovered toolchain, ``problem`` what it lacks for
    a search (no compiler, no ParlayLib, no ThreadSanitizer); both are ``None``
    until discovery finishes. ``on_discovered(tc)`` runs after each discovery
    (the factory wires it to mark results measured with another toolchain
    stale).
    """

    def __init__(self, config: Configuration, documents: Documents, client: Client, io: Executor,
                 on_discovered: Callable[[Toolchain], Awaitable[None]] | None = None) -> None:
        self.config = config
        self.documents = documents
        self.client = client
        self.io = io
        self.on_discovered = on_discovered
        self.current: Toolchain | None = None
        self.problem: str | None = None
        self.task: asyncio.Task[Toolchain | None] | None = None
        self.key: tuple | None = None

    def settings(self) -> DiscoverySettings:
        """Where to look for the compiler and ParlayLib, from the settings."""
        s = self.config.settings
        return DiscoverySettings(cxx=s.compiler, parlay_include=s.parlay_include,
                                 workspace=self.documents.workspace_root(), cache_dir=s.cache_dir,
                                 system_parlay=s.system_parlay)

    @property
    def ready(self) -> bool:
        """Discovery has run and finished."""
        return self.task is not None and self.task.done()

    def settings_changed(self, old: Settings, new: Settings) -> None:
        """A settings reload: discover again when where to look changed."""
        self.start()

    def start(self, force: bool = False) -> None:
        """(Re)discover the toolchain in the background when its settings changed (or ``force``:
        something was installed)."""
        ds = self.settings()
        key = (ds.cxx, ds.parlay_include, ds.workspace, ds.cache_dir, ds.system_parlay)
        if key == self.key and self.task is not None and not force:
            return
        self.key = key
        self.task = self.client.spawn(self._discover(ds))

    async def _discover(self, ds: DiscoverySettings) -> Toolchain | None:
        loop = asyncio.get_running_loop()
        try:
            tc = await loop.run_in_executor(self.io, lambda: discover(ds))
        except Exception as e:  # noqa: BLE001 - reported as the reason actions are disabled
            log.exception("parevo: toolchain discovery failed")
            self.current, self.problem = None, f"toolchain discovery failed: {e}"
            return None
        try:
            require(tc, parlay=True, tsan=True)
            problem = None
        except ParlayLibMissing as e:
            problem = None  # not a reason to disable actions: the first job that needs it offers the install
            self.client.logmsg(f"parevo: {e}")
        except ParevoError as e:
            problem = str(e)
        self.current, self.problem = tc, problem
        if problem:
            self.client.logmsg(f"parevo: {problem}")
        if self.on_discovered is not None:
            await self.on_discovered(tc)
        return tc

    async def wait(self) -> tuple[Toolchain | None, str | None]:
        """The discovered toolchain (waiting for discovery if it is still running) and what is missing."""
        if self.task is None:
            self.start()
        task = self.task
        if task is not None and not task.done():
            await asyncio.shield(task)
        return self.current, self.problem

    def reason(self) -> str | None:
        """Why actions are disabled right now (known only once discovery has finished)."""
        return self.problem if self.ready else None
