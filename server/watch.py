"""Files a result depends on, and a watcher that reports when they change.

A result holds only while the files it was computed with are unchanged: the
headers the file includes with quotes (found beside it, in the workspace, or
on the compile database's ``-I`` paths), ``compile_commands.json`` (workspace
and ``build/``), and the input spec (``parevo.inputs.toml`` beside the file,
or the configured one). :class:`Watcher` runs ``watchfiles.awatch`` over
their directories (not recursively) in an asyncio task and calls back with
the changed paths; the server then marks the affected results stale.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable

from watchfiles import awatch

from parevo.toolchain.discovery import compile_commands_includes

log = logging.getLogger(__name__)

INPUT_SPEC_NAME = "parevo.inputs.toml"


def dependencies(path: str, includes: Iterable[str], workspace: str | None,
                 input_spec: str | None = None) -> list[str]:
    """Absolute paths of the files a result for a loop in ``path`` depends on.

    ``includes`` are the file's ``#include`` targets as written (``"util.h"``,
    ``<vector>``); only quoted ones are followed (system headers are the
    toolchain's business). Files that do not exist yet are listed too: creating
    one changes the result (the compile database, an input spec).
    """
    here = os.path.dirname(os.path.abspath(path))
    deps: list[str] = []

    def add(p: str) -> None:
        p = os.path.normpath(os.path.abspath(p))
        if p not in deps and p != os.path.normpath(os.path.abspath(path)):
            deps.append(p)

    search = [here] + ([workspace] if workspace else [])
    if workspace:
        search += compile_commands_includes(workspace)
        add(os.path.join(workspace, "compile_commands.json"))
        add(os.path.join(workspace, "build", "compile_commands.json"))
    for inc in includes:
        inc = inc.strip()
        if not (inc.startswith('"') and inc.endswith('"')):
            continue
        name = inc[1:-1]
        found = next((os.path.join(d, name) for d in search if os.path.isfile(os.path.join(d, name))), None)
        add(found or os.path.join(here, name))
    add(input_spec if input_spec else os.path.join(here, INPUT_SPEC_NAME))
    return deps


class Watcher:
    """Watch a set of files with ``watchfiles.awatch`` (their directories, not recursively).

    ``on_change(paths)`` is called on the event loop with the watched paths
    that were created, modified or deleted. :meth:`set_paths` replaces the set
    (the awatch task restarts only when the directories change).
    """

    def __init__(self, on_change: Callable[[set[str]], None], *, debounce_ms: int = 200, step_ms: int = 50):
        self.on_change = on_change
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.paths: set[str] = set()
        self._dirs: frozenset[str] = frozenset()
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self.ready = asyncio.Event()

    def set_paths(self, paths: Iterable[str]) -> None:
        """Watch exactly ``paths`` from now on."""
        self.paths = {os.path.normpath(os.path.abspath(p)) for p in paths}
        dirs = frozenset(d for d in {os.path.dirname(p) for p in self.paths} if os.path.isdir(d))
        if dirs == self._dirs and (self._task is not None or not dirs):
            return
        self._restart(dirs)

    def _restart(self, dirs: frozenset[str]) -> None:
        self.stop()
        self._dirs = dirs
        if not dirs:
            return
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(dirs, self._stop))

    def _filter(self, change, path: str) -> bool:
        return os.path.normpath(path) in self.paths

    async def _run(self, dirs: frozenset[str], stop: asyncio.Event) -> None:
        try:
            self.ready.set()
            async for changes in awatch(*sorted(dirs), watch_filter=self._filter, debounce=self.debounce_ms,
                                        step=self.step_ms, stop_event=stop, recursive=False,
                                        ignore_permission_denied=True):
                changed = {os.path.normpath(p) for _, p in changes}
                if changed:
                    try:
                        self.on_change(changed)
                    except Exception:  # noqa: BLE001
                        log.exception("parevo: handling file changes failed")
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a watcher failure must not take the server down
            log.exception("parevo: the file watcher stopped")

    def stop(self) -> None:
        """Stop watching."""
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            self._task.cancel()
        self._task = None
        self._stop = None
        self._dirs = frozenset()
