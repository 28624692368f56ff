"""``parevo serve``: the pygls language server for C and C++ files.

A thin LSP layer over pure adapters (:mod:`.actions`, :mod:`.diagnostics`,
:mod:`.hover`, :mod:`.store`, :mod:`.convert`) and the engine
(:func:`parevo.evolution.engine.evolve`, :func:`parevo.evolution.racecheck.check_races`).

Rules this module keeps:

* Listing code actions only reads the loop (tree-sitter): no compile.
* A search runs on a worker thread (:class:`.jobs.JobQueue`); compiles and
  runs are subprocesses of the engine. The event loop never waits on them;
  progress is marshalled back with ``call_soon_threadsafe`` and every LSP
  message is sent from the loop.
* Results are stored per loop content hash (:mod:`.store`); a result applies
  only while the loop's function text is unchanged, and is never applied stale.
* Errors never kill the server: each handler catches and reports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from parevo.toolchain.discovery import Toolchain, default_cache_dir
from parevo.toolchain.facts import analyze
from parevo.toolchain.models import LoopFacts, LoopSite, NoLoopFound, NotInFunction, ParevoError, ParseFailure
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.refusal import refusal_for

from . import actions
from .convert import line_range
from .diagnostics import diagnostics_for, evolution_line
from .hover import hover_for
from .jobs import JobQueue
from .lsp_jobs import JobsMixin
from .lsp_staleness import StalenessMixin
from .lsp_toolchain import ToolchainMixin
from .settings import Settings, parse_settings
from .store import Located, LoopRecord, ResultStore, anchor_of, locate, record_key
from .watch import Watcher

log = logging.getLogger("parevo.server")

VERSION = "0.1.0"
CPP_SUFFIXES = {".c", ".cc", ".cpp", ".cxx", ".c++", ".h", ".hh", ".hpp", ".hxx", ".h++", ".ipp", ".inl", ".cu"}
CPP_LANGUAGES = {"c", "cpp", "cuda-cpp", "objective-c", "objective-cpp"}


class ParevoServer(ToolchainMixin, JobsMixin, StalenessMixin, LanguageServer):
    """The parevo language server: state shared by the feature handlers.

    Settings and toolchain discovery live in :mod:`.lsp_toolchain`, searches in
    :mod:`.lsp_jobs`, stale results in :mod:`.lsp_staleness`; this class keeps
    documents, result stores, publishing and loop reading.
    """

    def __init__(self) -> None:
        super().__init__("parevo", VERSION, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.init_options: Any = None
        self.config_layer: Any = None
        self.settings = Settings()
        self.toolchain: Toolchain | None = None
        self.toolchain_problem: str | None = None
        self._toolchain_task: asyncio.Task | None = None
        self._toolchain_key: tuple | None = None
        self.parlay_setup: asyncio.Task | None = None  # ParlayLib's first-use install (lsp_setup)
        self.aux = ThreadPoolExecutor(max_workers=2, thread_name_prefix="parevo-aux")
        self.queue = JobQueue(max_running=1, max_queued=self.settings.max_queued, on_start=self._job_started,
                              on_progress=self._job_progress, on_done=self._job_done)
        self.stores: dict[str, ResultStore] = {}
        self.errors: dict[str, LoopRecord] = {}  # session-only error records, by key
        self.checked_deps: set[str] = set()
        self.watcher: Watcher | None = None
        self._prepared: OrderedDict[tuple, tuple[LoopSite, LoopFacts] | Exception] = OrderedDict()
        self._located: dict[str, tuple[int | None, list[tuple[LoopRecord, Located]]]] = {}
        self._tokens = 0
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._init_problems: list[str] = []

    # ------------------------------------------------------------------ basics
    def spawn(self, coro) -> asyncio.Task:
        """Run ``coro`` as a background task whose failure is logged, never raised."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("parevo task failed", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    @property
    def encoding(self) -> str:
        """The negotiated position encoding (UTF-16 unless the client chose another)."""
        try:
            return self.workspace.position_encoding or types.PositionEncodingKind.Utf16
        except RuntimeError:
            return types.PositionEncodingKind.Utf16

    def message(self, text: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """Show ``text`` to the user (``window/showMessage``) and log it."""
        log.info("%s", text)
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=text))
        except Exception:  # noqa: BLE001 - the client may be gone
            pass

    def logmsg(self, text: str) -> None:
        """Log ``text`` to the client's output (``window/logMessage``)."""
        try:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=text))
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------------ capabilities
    def _caps(self) -> types.ClientCapabilities:
        return self.client_capabilities or types.ClientCapabilities()

    @property
    def supports_progress(self) -> bool:
        """The client shows server-initiated work-done progress."""
        w = self._caps().window
        return bool(w and w.work_done_progress)

    @property
    def supports_configuration(self) -> bool:
        """The client answers ``workspace/configuration``."""
        w = self._caps().workspace
        return bool(w and w.configuration)

    @property
    def resolve_edit(self) -> bool:
        """The client can resolve a code action's ``edit`` lazily."""
        td = self._caps().text_document
        ca = td.code_action if td else None
        rs = ca.resolve_support if ca else None
        return bool(rs and "edit" in (rs.properties or []))

    @property
    def disabled_support(self) -> bool:
        """The client displays ``CodeAction.disabled``."""
        td = self._caps().text_document
        ca = td.code_action if td else None
        return bool(ca and ca.disabled_support)

    # ------------------------------------------------------------------ documents and paths
    def doc_path(self, uri: str) -> str | None:
        """The file system path of a ``file:`` document that looks like C or C++; else ``None``."""
        if not uri.startswith("file:"):
            return None
        path = to_fs_path(uri)
        if not path:
            return None
        try:
            doc = self.workspace.get_text_document(uri)
            lang = doc.language_id
        except Exception:  # noqa: BLE001
            lang = None
        if lang in CPP_LANGUAGES or Path(path).suffix.lower() in CPP_SUFFIXES:
            return path
        return None

    def workspace_root(self, path: str | None = None) -> str | None:
        """The workspace folder holding ``path`` (longest match), the root path, or ``path``'s folder."""
        folders: list[str] = []
        try:
            ws = self.workspace
            for f in (ws.folders or {}).values():
                p = to_fs_path(f.uri)
                if p:
                    folders.append(os.path.abspath(p))
            if ws.root_path:
                folders.append(os.path.abspath(ws.root_path))
        except RuntimeError:
            pass
        if path:
            ap = os.path.abspath(path)
            inside = [f for f in folders if ap == f or ap.startswith(f.rstrip(os.sep) + os.sep)]
            if inside:
                return max(inside, key=len)
            return os.path.dirname(ap)
        return folders[0] if folders else None

    def store_for(self, path: str) -> ResultStore:
        """The result store configured for ``path`` (workspace ``.parevo``, user cache, or a directory)."""
        where = self.settings.result_store
        if where == "workspace":
            directory = os.path.join(self.workspace_root(path) or os.path.dirname(path), ".parevo", "results")
        elif where == "user":
            directory = os.path.join(self.settings.cache_dir or str(default_cache_dir()), "results")
        else:
            directory = where
        directory = os.path.abspath(directory)
        store = self.stores.get(directory)
        if store is None:
            store = self.stores[directory] = ResultStore(directory)
        return store

    def records_for(self, uri: str) -> list[tuple[LoopRecord, Located]]:
        """Records whose loop is present in the document's current text, with where it is now."""
        path = self.doc_path(uri)
        if path is None:
            return []
        try:
            doc = self.workspace.get_text_document(uri)
        except Exception:  # noqa: BLE001
            return []
        cached = self._located.get(uri)
        if cached is not None and cached[0] == doc.version and doc.version is not None:
            return cached[1]
        source = doc.source
        found: list[tuple[LoopRecord, Located]] = []
        store = self.store_for(path)
        records = {r.key: r for r in store.for_path(path)}
        for key, err in self.errors.items():
            if os.path.normpath(err.path) == os.path.normpath(path):
                records[key] = err  # a newer error hides an older stored result of the same loop
        for rec in records.values():
            loc = locate(rec.anchor, source)
            if loc is not None:
                found.append((rec, loc))
        self._located[uri] = (doc.version, found)
        return found

    def invalidate(self, path: str | None = None) -> None:
        """Forget located-record caches (of documents of ``path``, or all)."""
        if path is None:
            self._located.clear()
            return
        norm = os.path.normpath(path)
        for uri in list(self._located):
            p = to_fs_path(uri)
            if p and os.path.normpath(p) == norm:
                self._located.pop(uri, None)

    def publish(self, uri: str) -> None:
        """Push the diagnostics of document ``uri`` (its current version)."""
        path = self.doc_path(uri)
        if path is None:
            return
        try:
            doc = self.workspace.get_text_document(uri)
        except Exception:  # noqa: BLE001
            return
        diags: list[types.Diagnostic] = []
        root = self.workspace_root(path)
        for rec, loc in self.records_for(uri):
            try:
                diags += diagnostics_for(rec, loc, uri, path, doc.source, self.encoding, root)
            except Exception:  # noqa: BLE001
                log.exception("parevo: diagnostics of %s failed", rec.key)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diags, version=doc.version))

    def publish_path(self, path: str) -> None:
        """Re-publish every open document of file ``path``."""
        self.invalidate(path)
        norm = os.path.normpath(path)
        for uri in list(self.workspace.text_documents):
            p = to_fs_path(uri)
            if p and os.path.normpath(p) == norm:
                self.publish(uri)

    def publish_all(self) -> None:
        """Re-publish every open document."""
        self.invalidate()
        for uri in list(self.workspace.text_documents):
            self.publish(uri)

    # ------------------------------------------------------------------ loop reading (fast)
    def prepare(self, uri: str, line: int, end_line: int | None) -> tuple[LoopSite, LoopFacts]:
        """Find and analyze the loop at the selection in the document's current text (no compile).

        Raises:
            ParseFailure, NoLoopFound, NotInFunction: as ``find_loop``.
        """
        doc = self.workspace.get_text_document(uri)
        key = (uri, doc.version, line, end_line, hash(doc.source))
        hit = self._prepared.get(key)
        if hit is None:
            path = self.doc_path(uri) or to_fs_path(uri) or uri
            try:
                site = find_loop(doc.source, os.path.abspath(path), line, end_line)
                hit = (site, analyze(site))
            except ParevoError as e:
                hit = e
            self._prepared[key] = hit
            while len(self._prepared) > 64:
                self._prepared.popitem(last=False)
        else:
            self._prepared.move_to_end(key)
        if isinstance(hit, Exception):
            raise hit
        return hit

    # ------------------------------------------------------------------ shutdown
    def close_jobs(self) -> None:
        """Cancel every search (their subprocesses are killed) and stop watching."""
        if self._closed:
            return
        self._closed = True
        self.queue.close()
        if self.watcher is not None:
            try:
                self.watcher.stop()
            except Exception:  # noqa: BLE001
                pass
        self.aux.shutdown(wait=False, cancel_futures=True)

    def shutdown(self):
        """Server teardown (also on a client that disconnects): cancel searches first."""
        self.queue.cancel_all()
        self.close_jobs()
        return super().shutdown()


server = ParevoServer()


# ====================================================================== lifecycle
@server.feature(types.INITIALIZE)
def initialize(ls: ParevoServer, params: types.InitializeParams) -> None:
    """Keep ``initializationOptions`` (the first settings layer)."""
    ls.init_options = params.initialization_options
    settings, problems = parse_settings(ls.init_options)
    ls.settings = settings
    ls.queue.max_queued = settings.max_queued
    ls._init_problems = problems


@server.feature(types.INITIALIZED)
async def initialized(ls: ParevoServer, params: types.InitializedParams) -> None:
    """Read the client's configuration, discover the toolchain, start the watcher."""
    ls.watcher = Watcher(ls.on_files_changed)
    if ls.supports_configuration:
        await ls.load_settings()
    else:
        problems = ls._init_problems
        if problems:
            ls.message("parevo: " + "; ".join(problems), types.MessageType.Warning)
        ls.start_discovery()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: ParevoServer, params: types.DidChangeConfigurationParams) -> None:
    """Re-read the settings (from the notification when it carries them, else by asking)."""
    s = params.settings
    if isinstance(s, dict) and isinstance(s.get("parevo"), dict):
        await ls.load_settings(s["parevo"])
    else:
        await ls.load_settings(pull=True)


@server.feature(types.SHUTDOWN)
def on_shutdown(ls: ParevoServer, *args) -> None:
    """Cancel every search so their subprocesses are killed before the client exits."""
    ls.queue.cancel_all()


@server.feature(types.EXIT)
def on_exit(ls: ParevoServer, *args) -> None:
    """Cancel every search (again: a client may send ``exit`` without ``shutdown``)."""
    ls.close_jobs()


# ====================================================================== documents
@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: ParevoServer, params: types.DidOpenTextDocumentParams) -> None:
    """Show stored results of this file's loops (checking their dependencies first)."""
    path = ls.doc_path(params.text_document.uri)
    if path is None:
        return
    try:
        await ls.check_stored(path)
    except Exception:  # noqa: BLE001
        log.exception("parevo: loading stored results failed")
        ls.publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ParevoServer, params: types.DidChangeTextDocumentParams) -> None:
    """Re-publish: results whose loop or function changed disappear, the others move along."""
    ls._located.pop(params.text_document.uri, None)
    try:
        ls.publish(params.text_document.uri)
    except Exception:  # noqa: BLE001
        log.exception("parevo: publishing diagnostics failed")


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ParevoServer, params: types.DidCloseTextDocumentParams) -> None:
    """Clear the closed document's diagnostics."""
    uri = params.text_document.uri
    ls._located.pop(uri, None)
    if ls.doc_path(uri) is not None:
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


# ====================================================================== features
def _selection(rng: types.Range) -> tuple[int, int | None]:
    start, end = rng.start.line, rng.end.line
    if end > start and rng.end.character == 0:
        end -= 1  # a whole-line selection ends at column 0 of the next line
    return start, (end if end > start else None)


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=actions.KINDS, resolve_provider=True))
def code_action(ls: ParevoServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    """The loop's actions: Apply (verified result), Parallelize / Check for data races, or Cancel."""
    uri = params.text_document.uri
    path = ls.doc_path(uri)
    if path is None:
        return None
    only = params.context.only if params.context else None
    if only and not any(actions.wanted(k, only) for k in actions.KINDS):
        return None
    line, end_line = _selection(params.range)
    try:
        doc = ls.workspace.get_text_document(uri)
        try:
            site, facts = ls.prepare(uri, line, end_line)
        except ParseFailure as e:
            return actions.parse_failure_action(str(e), ls.disabled_support) or None
        except (NoLoopFound, NotInFunction):
            return None
        anchor = anchor_of(site)
        store = ls.store_for(path)
        record = store.get(anchor.key)
        races = store.get(record_key(anchor.key, "races")) if facts.already_parallel else None
        race_diags = None
        if races is not None:
            loc = locate(races.anchor, doc.source)
            race_diags = diagnostics_for(races, loc, uri, path, doc.source, ls.encoding,
                                         ls.workspace_root(path)) if loc is not None else None
        job = ls.queue.find(anchor.key)
        offer = actions.Offer(uri=uri, version=doc.version, line=line, end_line=end_line, site=site, facts=facts,
                              record=record, job_running=job.state if job else None,
                              disabled_reason=ls.toolchain_reason() or refusal_for(site), races=races,
                              race_diagnostics=race_diags)
        return actions.build_actions(offer, only=only, resolve_edit=ls.resolve_edit,
                                     disabled_support=ls.disabled_support, path=path, source=doc.source,
                                     encoding=ls.encoding) or None
    except Exception:  # noqa: BLE001 - never fail the request over a bad file
        log.exception("parevo: code actions failed")
        return None


@server.feature(types.CODE_ACTION_RESOLVE)
def code_action_resolve(ls: ParevoServer, action: types.CodeAction) -> types.CodeAction:
    """Compute the rewrite's edit against the document's current version (after checking the content hash)."""
    data = action.data
    if not isinstance(data, dict) or data.get("kind") != "apply":
        return action  # Neovim 0.7 resolves every chosen action, command-only ones too
    uri, key = data.get("uri"), data.get("key")
    path = ls.doc_path(uri) if isinstance(uri, str) else None
    if path is None:
        return action
    doc = ls.workspace.get_text_document(uri)
    record = ls.store_for(path).get(key)
    if record is None:
        raise actions.StaleResult("this parevo result is gone; run the search again")
    action.edit = actions.rewrite_edit(record, uri, path, doc.source, doc.version, ls.encoding)
    return action


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: ParevoServer, params: types.HoverParams) -> types.Hover | None:
    """On a loop with a result: the evidence (speedup, n, runs, spread, compiler, candidates, rewrite)."""
    uri = params.text_document.uri
    try:
        line = params.position.line
        hits = [(rec, loc) for rec, loc in ls.records_for(uri) if loc.contains_line(line)]
        if not hits:
            return None
        rec, loc = max(hits, key=lambda h: h[1].start_line)  # innermost
        same = [r for r, lc in hits if (lc.start, lc.end) == (loc.start, loc.end)]  # its race check and search
        doc = ls.workspace.get_text_document(uri)
        rng = types.Range(start=line_range(doc.source, loc.start_line, ls.encoding).start,
                          end=line_range(doc.source, loc.end_line, ls.encoding).end)
        h = hover_for(same, rng, ls.workspace_root(ls.doc_path(uri)))
        job = ls.queue.find(rec.anchor.key)
        if job is not None:
            note = f"*A new parevo search of this loop is {job.state}"
            if job.last_event is not None:
                note += f": {ls.progress_text(job.last_event)[0]}"
            h.contents.value = note + "*\n\n" + h.contents.value  # type: ignore[union-attr]
        return h
    except Exception:  # noqa: BLE001
        log.exception("parevo: hover failed")
        return None


@server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
def progress_cancel(ls: ParevoServer, params: types.WorkDoneProgressCancelParams) -> None:
    """The user pressed cancel on a progress notification."""
    job = ls.queue.by_token(params.token)
    if job is not None:
        ls.queue.cancel(job)


# ====================================================================== commands
def _args(args: tuple) -> tuple[str, int, int | None]:
    if len(args) == 1 and isinstance(args[0], (list, dict)):
        args = tuple(args[0]) if isinstance(args[0], list) else (args[0].get("uri"), args[0].get("line"),
                                                                  args[0].get("endLine"))
    if not args or not isinstance(args[0], str):
        raise ValueError("expected arguments: uri, line[, end_line]")
    uri = args[0]
    line = int(args[1]) if len(args) > 1 and args[1] is not None else 0
    end = int(args[2]) if len(args) > 2 and args[2] is not None else None
    return uri, line, end


async def _start_command(ls: ParevoServer, kind: str, name: str, args: tuple) -> dict:
    """Start a ``kind`` job (``evolve``, ``races`` or ``fix``) from command ``args``; errors become a message."""
    try:
        uri, line, end = _args(args)
        return await ls.start_job(kind, uri, line, end)
    except Exception as e:  # noqa: BLE001 - a bad command must not take the server down
        log.exception("%s failed", name)
        ls.message(f"parevo: {e}", types.MessageType.Error)
        return {"started": False, "reason": str(e)}


@server.command(actions.CMD_PARALLELIZE)
async def cmd_parallelize(ls: ParevoServer, *args) -> dict:
    """``parevo.parallelize(uri, line, end_line?, version?)``: start a search of the loop; returns at once."""
    return await _start_command(ls, "evolve", actions.CMD_PARALLELIZE, args)


@server.command(actions.CMD_CHECK_RACES)
async def cmd_check_races(ls: ParevoServer, *args) -> dict:
    """``parevo.checkRaces(uri, line, end_line?, version?)``: run the loop's function under ThreadSanitizer."""
    return await _start_command(ls, "races", actions.CMD_CHECK_RACES, args)


@server.command(actions.CMD_FIX)
async def cmd_fix_race(ls: ParevoServer, *args) -> dict:
    """``parevo.fixRace(uri, line, end_line?, version?)``: search a verified rewrite of the racy loop's serial
    meaning (the same body run as a serial loop); returns at once."""
    return await _start_command(ls, "fix", actions.CMD_FIX, args)


@server.command(actions.CMD_CANCEL)
async def cmd_cancel(ls: ParevoServer, *args) -> dict:
    """``parevo.cancel()`` cancels every search; ``parevo.cancel(uri, line[, end_line])`` the one of that loop."""
    try:
        if not args:
            n = len(ls.queue.jobs())
            ls.queue.cancel_all()
            return {"cancelled": n}
        uri, line, end = _args(args)
        site, _ = ls.prepare(uri, line, end)
        return {"cancelled": int(ls.cancel_key(anchor_of(site).key))}
    except Exception as e:  # noqa: BLE001
        ls.message(f"parevo: cannot cancel: {e}", types.MessageType.Warning)
        return {"cancelled": 0}


@server.command("parevo.loopStatus")
def cmd_loop_status(ls: ParevoServer, *args) -> dict:
    """``parevo.loopStatus(uri, line, end_line?)``: what parevo has for the loop at the selection, so a client
    can say "never run" apart from "nothing verified": ``{"state", "message"}`` with ``state`` one of
    ``no-loop``, ``never-run``, ``queued``, ``running``, ``verified``, ``none-verified``,
    ``not-parallelizable``, ``races``, ``race-free``, ``stale``, ``error``."""
    try:
        uri, line, end = _args(args)
        site, _facts = ls.prepare(uri, line, end)
    except Exception as e:  # noqa: BLE001 - a status question never fails
        return {"state": "no-loop", "message": str(e)}
    anchor = anchor_of(site)
    job = ls.queue.find(anchor.key)
    if job is not None:
        return {"state": job.state, "message": f"a parevo search of this loop is {job.state}"}
    path = ls.doc_path(uri) or ""
    store = ls.store_for(path) if path else None
    rec = ls.errors.get(anchor.key) or (store.get(anchor.key) if store else None)
    races = store.get(record_key(anchor.key, "races")) if store else None
    for r in (rec, races):
        if r is not None and r.stale:
            return {"state": "stale", "message": f"the result of this loop is stale ({r.stale})"}
    if races is not None and races.race_check is not None and races.race_check.status == "races" and (
            rec is None or not rec.applicable):
        return {"state": "races", "message": races.race_check.message}
    if rec is None:
        if races is not None and races.race_check is not None:
            return {"state": "race-free" if races.race_check.status == "clean" else "error",
                    "message": races.race_check.message}
        return {"state": "never-run", "message": "parevo has not searched this loop yet"}
    if rec.kind == "error":
        return {"state": "error", "message": rec.error or "parevo could not run"}
    res = rec.evolution
    status = res.status if res is not None else "error"
    return {"state": {"verified": "verified", "none-verified": "none-verified",
                      "not-parallelizable": "not-parallelizable"}.get(status, "error"),
            "message": evolution_line(res, rec.race_fix) if res is not None else ""}


@server.command("parevo.status")
def cmd_status(ls: ParevoServer, *args) -> dict:
    """``parevo.status()``: settings, toolchain and searches (for clients and tests)."""
    return {
        "settings": ls.settings.model_dump(mode="json"),
        "toolchain": ls.toolchain.model_dump(mode="json") if ls.toolchain else None,
        "toolchainProblem": ls.toolchain_problem,
        "toolchainReady": ls._toolchain_task is not None and ls._toolchain_task.done(),
        "jobs": [{"key": j.key, "kind": j.kind, "state": j.state, "token": j.token} for j in ls.queue.jobs()],
    }


# ====================================================================== entry point
def main(argv: list[str] | None = None) -> int:
    """Run the server on stdio (``--stdio`` accepted and ignored; ``--tcp``/``--ws`` for debugging)."""
    import argparse

    p = argparse.ArgumentParser(prog="parevo serve", description="parevo language server")
    p.add_argument("--stdio", action="store_true", help="use stdio (the default)")
    p.add_argument("--tcp", action="store_true", help="listen on TCP instead (debugging)")
    p.add_argument("--ws", action="store_true", help="listen on a WebSocket instead (debugging)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2087)
    p.add_argument("--log-file", default=os.environ.get("PAREVO_LOG_FILE"),
                   help="write the server log here (default: $PAREVO_LOG_FILE, else stderr)")
    p.add_argument("--log-level", default=os.environ.get("PAREVO_LOG_LEVEL", "WARNING"),
                   help="log level (default: $PAREVO_LOG_LEVEL, else WARNING)")
    args = p.parse_args(list(argv) if argv is not None else sys.argv[1:])
    handler = logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler(sys.stderr)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO), handlers=[handler],
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.tcp:
        server.start_tcp(args.host, args.port)
    elif args.ws:
        server.start_ws(args.host, args.port)
    else:
        server.start_io()
    server.close_jobs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
