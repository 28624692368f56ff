"""The compiler and ParlayLib the server's searches use: discovered in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from lsprotocol import types

from parevo.toolchain.discovery import DiscoverySettings, ParlayLibMissing, Toolchain, discover, require
from parevo.toolchain.isolation import SandboxMode, configure, current_mode
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
    stale). ``start_sandbox`` is the isolation mode the server started with
    (``parevo serve --sandbox``, else ``PAREVO_SANDBOX``, else ``auto``); the
    ``sandbox`` setting can make it ``strict``, never weaker. ``sandbox_said`` is
    the sandbox line last shown to the user.
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
        self.start_sandbox: SandboxMode = current_mode()
        self.sandbox_said: str | None = None

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
        """A settings reload: apply the sandbox setting, discover again when where to look changed."""
        self.apply_sandbox()
        self.start()

    def apply_sandbox(self) -> None:
        """Apply the ``sandbox`` setting over :attr:`start_sandbox`, and say which sandbox runs
        candidates: at start, and again when it changes (a fallback as a warning, a refusal as an
        error; namespaces in the log)."""
        iso = configure("strict" if self.config.settings.sandbox == "strict" else self.start_sandbox)
        line = iso.status_line()
        if line == self.sandbox_said:
            return
        self.sandbox_said = line
        if iso.strong:
            log.info("parevo: %s", line)
            self.client.logmsg(f"parevo: {line}")
        else:
            log.warning("parevo: %s", line)
            kind = types.MessageType.Error if iso.refused else types.MessageType.Warning
            self.client.message(f"parevo: {line}", kind)

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
