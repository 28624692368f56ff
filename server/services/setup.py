"""ParlayLib's first-use install in the language server.

A job that needs ParlayLib (a search, or the race check of a file that
includes it) and finds none asks the user with ``window/showMessageRequest``:
**Install ParlayLib** downloads the pinned release as ``parevo setup`` does
(:func:`parevo.toolchain.parlay_setup.install`, on the I/O pool),
rediscovers the toolchain and lets the job start; **Show how** answers with the
manual ways (the README's). With the setting ``parevo.autoSetup`` it installs
without asking. What needs no ParlayLib never asks: a loop the engine answers
from its facts alone (not parallelizable, already parallel) needs no toolchain
at all, and the race check of an OpenMP file needs no ParlayLib.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from concurrent.futures import Executor

from lsprotocol import types

from parevo.evolution.engine import EvolveRequest, needs_search
from parevo.evolution.racecheck import uses_parlay
from parevo.toolchain.discovery import INSTALL_PARLAY, Toolchain
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.parlay_release import MANUAL_WAYS, PINNED, setup_prefix
from parevo.toolchain.parlay_setup import NetworkUnavailable, SetupFailed, describe_source, install

from .client import Client
from .config import Configuration
from .toolchain import ToolchainService

log = logging.getLogger("parevo.server")

INSTALL = "Install ParlayLib"
SHOW_HOW = "Show how"


class ParlaySetup:
    """Offers (once, however many jobs wait) and runs ParlayLib's install; ``task`` is the offer in flight."""

    def __init__(self, config: Configuration, client: Client, toolchain: ToolchainService, io: Executor) -> None:
        self.config = config
        self.client = client
        self.toolchain = toolchain
        self.io = io
        self.task: asyncio.Future[tuple[Toolchain | None, str | None]] | None = None

    async def toolchain_for_job(self, kind: str, req: EvolveRequest, site: ParsedSite,
                                facts: LoopFacts) -> tuple[Toolchain | None, str | None]:
        """The toolchain a job of ``kind`` (``evolve``/``races``/``fix``) runs with, and why it cannot start
        (None: it can). Offers ParlayLib's install when the job needs it and it is missing."""
        tc, problem = await self.toolchain.wait()
        if kind == "evolve" and not needs_search(req, site, facts):
            return tc, None  # answered from the loop facts: no compiler, no ParlayLib needed
        if problem or tc is None:
            return tc, problem or "no C++ toolchain was found"
        if tc.parlay_include is None and (kind == "evolve" or uses_parlay(site)):
            return await self.ensure_parlay()
        return tc, None

    async def ensure_parlay(self) -> tuple[Toolchain | None, str | None]:
        """Ask (once, however many jobs wait) and install ParlayLib; returns the new toolchain or why not."""
        task = self.task
        if task is None or task.done():
            task = self.task = asyncio.ensure_future(self._offer())
        return await asyncio.shield(task)

    async def _offer(self) -> tuple[Toolchain | None, str | None]:
        source = describe_source(None)
        host = urllib.parse.urlsplit(source).hostname or source
        offer = (f"ParlayLib {PINNED.version} from {host} (SHA-256 pinned) into "
                 f"{setup_prefix() / 'include' / 'parlay'}")
        if self.config.settings.auto_setup:
            self.client.message(f"parevo: ParlayLib not found; installing {offer} (parevo.autoSetup)")
        else:
            try:
                choice = await self.client.lsp.window_show_message_request_async(types.ShowMessageRequestParams(
                    type=types.MessageType.Warning, message=f"parevo: ParlayLib not found. Install {offer}?",
                    actions=[types.MessageActionItem(title=INSTALL), types.MessageActionItem(title=SHOW_HOW)]))
            except Exception as e:  # noqa: BLE001 - a client that cannot ask: treat as dismissed
                log.warning("parevo: window/showMessageRequest failed: %s", e)
                choice = None
            if choice is None:
                return None, f"ParlayLib headers not found. To fix: {INSTALL_PARLAY}."
            if choice.title != INSTALL:
                return None, f"ParlayLib headers not found. {MANUAL_WAYS}"
        loop = asyncio.get_running_loop()

        def say(line: str) -> None:  # from the worker thread: LSP messages leave from the event loop only
            loop.call_soon_threadsafe(self.client.logmsg, f"parevo setup: {line}")

        try:
            done = await loop.run_in_executor(self.io, lambda: install(log=say))
        except NetworkUnavailable as e:
            return None, f"cannot download ParlayLib: {e} (no network access?). {MANUAL_WAYS}"
        except SetupFailed as e:
            return None, f"ParlayLib was not installed: {e}"
        self.client.message(f"parevo: installed ParlayLib {done.record.version} in {done.include_dir / 'parlay'}")
        self.toolchain.start(force=True)
        tc, problem = await self.toolchain.wait()
        if problem or tc is None or tc.parlay_include is None:
            return tc, problem or f"ParlayLib was installed in {done.include_dir / 'parlay'} but is not found there"
        return tc, None
