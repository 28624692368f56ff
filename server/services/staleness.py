"""Stale results: a stored result whose dependencies (the file, its includes, the input spec)
changed, or that was measured with another compiler or ParlayLib than the one the server now
uses, is marked stale, shown as such, and never applied.

The file watcher (:mod:`parevo.server.watch`) calls :meth:`Staleness.on_files_changed`;
opening a document runs :meth:`Staleness.check_stored` for changes made while the server was
not running; each toolchain discovery runs :meth:`Staleness.mark_toolchain_stale`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from parevo.toolchain.discovery import Toolchain

from ..store import LoopRecord, ResultStore, changed_deps, file_digest
from ..watch import Watcher
from .client import Client
from .publisher import Publisher
from .stores import Stores

log = logging.getLogger("parevo.server")


def basename_list(paths: list[str]) -> str:
    """``a.h, b.h and 2 more``: file names for a message."""
    names = sorted({os.path.basename(p) for p in paths})
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def mark(store: ResultStore, key: str, why: str) -> None:
    """Mark record ``key`` of ``store`` stale; on a disk that refuses the write, in memory only."""
    try:
        store.mark_stale(key, why)
    except OSError as e:
        log.warning("parevo: could not persist that %s is stale (%s): %s", key, why, e)


def toolchain_change(rec: LoopRecord, tc: Toolchain | None) -> str | None:
    """Why ``rec`` no longer holds for toolchain ``tc`` (another compiler version or another
    ParlayLib than the one its figures were measured with), or None.

    Records without toolchain provenance (errors) and an unknown ``tc`` give None.
    """
    result = rec.evolution or rec.race_check
    info = result.toolchain if result is not None else None
    if info is None or tc is None:
        return None
    if tc.cxx_version and info.compiler_version != tc.cxx_version:
        return f"measured with {info.compiler_version}; the compiler is now {tc.cxx_version} ({tc.cxx})"
    if tc.parlay_version and info.parlay_version != tc.parlay_version:
        return (f"measured with ParlayLib {info.parlay_version or 'unknown'}; ParlayLib is now "
                f"{tc.parlay_version} ({tc.parlay_include})")
    return None


class Staleness:
    """Marks stored results stale when what they were measured on changes.

    ``checked`` holds the keys of records whose dependencies were checked on
    open; ``watcher`` (started by :meth:`start`) watches the dependencies of
    every fresh record.
    """

    def __init__(self, stores: Stores, publisher: Publisher, client: Client, io: Executor) -> None:
        self.stores = stores
        self.publisher = publisher
        self.client = client
        self.io = io
        self.checked: set[str] = set()
        self.watcher: Watcher | None = None

    def start(self) -> None:
        """Start the file watcher (on the event loop, after ``initialized``)."""
        if self.watcher is None:
            self.watcher = Watcher(self.on_files_changed)

    def stop(self) -> None:
        """Stop the file watcher."""
        if self.watcher is not None:
            self.watcher.stop()

    def update_watch(self) -> None:
        """Watch the dependencies of every fresh record."""
        if self.watcher is None:
            return
        paths: set[str] = set()
        for _, rec in self.stores.loaded():
            if rec.stale is None:
                paths.update(rec.deps)
        self.watcher.set_paths(paths)

    def on_files_changed(self, changed: set[str]) -> None:
        """Watcher callback: mark the results depending on ``changed`` stale and re-publish."""
        self.client.spawn(self._mark_stale(changed))

    async def _mark_where(self, reason: Callable[[LoopRecord], Awaitable[str | None]]) -> None:
        """Mark stale every fresh loaded record for which ``await reason(rec)`` says why; re-publish."""
        loop = asyncio.get_running_loop()
        touched: set[str] = set()
        for store, rec in self.stores.loaded():
            if rec.stale is not None:
                continue
            why = await reason(rec)
            if why:
                await loop.run_in_executor(self.io, mark, store, rec.key, why)
                touched.add(rec.path)
        for path in touched:
            self.publisher.publish_path(path)
        if touched:
            self.update_watch()

    async def _mark_stale(self, changed: set[str]) -> None:
        loop = asyncio.get_running_loop()

        async def reason(rec: LoopRecord) -> str | None:
            hit = [p for p in rec.deps if os.path.normpath(p) in changed]
            if not hit:
                return None
            # a touch that leaves the content as it was does not make a result stale
            really = await loop.run_in_executor(self.io, lambda: [p for p in hit if file_digest(p) != rec.deps.get(p)])
            return f"{basename_list(really)} changed" if really else None

        await self._mark_where(reason)

    async def mark_toolchain_stale(self, tc: Toolchain) -> None:
        """After (re)discovery: mark every loaded result measured with another toolchain stale."""
        async def reason(rec: LoopRecord) -> str | None:
            return toolchain_change(rec, tc)

        await self._mark_where(reason)

    async def check_stored(self, path: str, tc: Toolchain | None) -> None:
        """On open: load the store, mark results stale whose dependencies changed meanwhile or that
        were measured with another toolchain than ``tc`` (the discovered one, if known), publish."""
        loop = asyncio.get_running_loop()
        store = self.stores.store_for(path)
        await loop.run_in_executor(self.io, store.load)
        todo = [r for r in store.for_path(path) if r.key not in self.checked]
        for rec in todo:
            self.checked.add(rec.key)
            if rec.stale is not None:
                continue
            changed = await loop.run_in_executor(self.io, changed_deps, rec)
            why = f"{basename_list(changed)} changed" if changed else toolchain_change(rec, tc)
            if why:
                await loop.run_in_executor(self.io, mark, store, rec.key, why)
        self.publisher.publish_path(path)
        self.update_watch()
