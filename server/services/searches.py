"""Searches, race checks and race fixes: starting them, reporting their progress, storing what they found.

A search (``evolve``) or race check (``races``) runs on the
:class:`~parevo.server.jobs.JobQueue`'s worker thread; its callbacks arrive on
the event loop, which sends every LSP message (work-done progress,
diagnostics) and writes the result store on the I/O pool. Each job carries a
:class:`JobContext`: the loop as ``prepare`` read it, and the progress state.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal

from lsprotocol import types

from parevo.evolution.engine import EvolveRequest, evolve
from parevo.evolution.llm import LLMSettings
from parevo.evolution.racecheck import RaceCheckResult, check_races
from parevo.evolution.racefix import fix_race
from parevo.evolution.result import EvolutionResult
from parevo.evolution.search import Budget, ProgressEvent
from parevo.toolchain.discovery import default_cache_dir
from parevo.toolchain.models import ParevoError
from parevo.toolchain.serial_meaning import serial_meaning

from .. import actions, faults
from ..diagnostics import evolution_line
from ..errors import UserError
from ..jobs import AlreadyRunning, Job, JobQueue, QueueFull, lane_of
from ..settings import Settings
from ..store import Anchor, LoopRecord, ResultStore, file_digest, record_key
from ..watch import dependencies
from .client import Client
from .config import Configuration
from .documents import Documents, Prepared, Selection
from .publisher import Publisher
from .setup import ParlaySetup
from .staleness import Staleness
from .stores import Stores
from .toolchain import ToolchainService

log = logging.getLogger("parevo.server")

JobKind = Literal["evolve", "races", "fix"]


@dataclass
class JobContext:
    """What the server keeps with one job.

    ``prepared`` is the loop as the code action read it (document version,
    site, facts); ``anchor`` is where its result is stored; ``input_spec`` the
    spec the search used (a dependency of the result). ``begun`` says whether
    the work-done progress ``begin`` was sent; ``percentage`` is the last one
    reported (it never goes down).
    """

    uri: str
    path: str
    prepared: Prepared
    anchor: Anchor
    input_spec: str | None
    begun: bool = False
    percentage: int | None = None
    includes: list[str] = field(default_factory=list)

    @property
    def version(self) -> int | None:
        """The document version the search started from."""
        return self.prepared.version


SearchJob = Job[JobContext]


def progress_text(ev: ProgressEvent) -> tuple[str, int | None]:
    """The progress message and percentage of an engine event."""
    parts = []
    generation = getattr(ev, "generation", None)
    if generation is not None:
        parts.append(f"generation {generation}")
    if ev.total:
        parts.append(f"{ev.tried}/{ev.total} candidates")
    parts.append(f"{ev.stage}: {ev.message}")
    if ev.best_speedup:
        parts.append(f"best {ev.best_speedup:.2f}x")
    pct = min(99, int(100 * ev.tried / ev.total)) if ev.total else None
    return " · ".join(parts)[:300], pct


class Searches:
    """Search jobs of the language server: start, progress, outcome, errors, cancel."""

    def __init__(self, client: Client, config: Configuration, documents: Documents, stores: Stores,
                 publisher: Publisher, toolchain: ToolchainService, setup: ParlaySetup, staleness: Staleness,
                 io: Executor) -> None:
        self.client = client
        self.setup = setup
        self.config = config
        self.documents = documents
        self.stores = stores
        self.publisher = publisher
        self.toolchain = toolchain
        self.staleness = staleness
        self.io = io
        self.queue: JobQueue = JobQueue(max_running=1, max_queued=config.settings.max_queued,
                                        on_start=self._started, on_progress=self._progress, on_done=self._done)
        self.tokens = 0

    # ------------------------------------------------------------------ queries
    def find(self, key: str) -> SearchJob | None:
        """The queued or running job of loop ``key``."""
        return self.queue.find(key)

    def settings_changed(self, old: Settings, new: Settings) -> None:
        """A settings reload: the queue's bound follows ``maxQueued``."""
        self.queue.max_queued = new.max_queued

    # ------------------------------------------------------------------ start
    def request_for(self) -> EvolveRequest:
        """The engine request (how hard to try) from the current settings; the loop is the prepared site,
        which travels with the job beside it."""
        s = self.config.settings
        llm = None
        if s.llm.model:  # an LLM proposer joins the rules only when a model is named
            llm = LLMSettings(base_url=s.llm.base_url, model=s.llm.model, api_key_env=s.llm.api_key_env)
        return EvolveRequest(seed=s.seed, budget=Budget(seconds=s.budget.seconds, evaluations=s.budget.candidates),
                             threads=s.threads, discovery=self.toolchain.settings(), cache_dir=s.cache_dir,
                             input_spec=s.input_spec, eval=dict(s.eval), llm=llm, quiet_wait_s=s.quiet_wait)

    async def start(self, kind: JobKind, uri: str, selection: Selection) -> dict[str, Any]:
        """Start a search (``evolve``), race check (``races``) or race fix (``fix``: a search of the loop's
        serial meaning) of the loop at ``selection``.

        Returns the command's answer (``started``, ``key``, ``state`` or ``reason``).
        Raises:
            UserError: ``uri`` is not a C or C++ file on disk.
            ParseFailure, NoLoopFound, NotInFunction: no usable loop there.
        """
        path = self.documents.path_of(uri)
        if path is None:
            raise UserError(f"{uri} is not a C or C++ file on disk")
        prepared = await self.documents.prepare(uri, selection)
        anchor = prepared.anchor
        site = await self.documents.site(prepared)  # the tree, for the job (parsed again off the event loop)
        if kind == "evolve" and prepared.facts.already_parallel:
            races = self.stores.store_for(path).get(record_key(anchor.key, "races"))
            rc = races.race_check if races is not None and races.stale is None else None
            if rc is not None and rc.status == "races":
                # parallelizing a racy parallel loop means fixing it: search its serial meaning
                kind = "fix"
                self.client.logmsg("parevo: the loop is already parallel and has a data race: searching a fix")
        if kind == "fix":
            try:  # say at once when the loop has no serial meaning to search (no compile needed)
                serial_meaning(site)
            except ParevoError as e:
                self.client.message(f"parevo: cannot fix this race: {e}", types.MessageType.Warning)
                return {"started": False, "reason": str(e), "key": anchor.key}
        existing = self.queue.find(anchor.key)
        if existing is not None:
            self.client.message(f"parevo: a search is already {existing.state} for this loop")
            return {"started": False, "reason": "already running", "key": anchor.key}
        req = self.request_for()
        tc, problem = await self.setup.toolchain_for_job(kind, req, site, prepared.facts)
        if not problem and tc is not None:
            problem = await asyncio.get_running_loop().run_in_executor(self.io, self.cache_problem)
        if problem:
            self.stores.set_error(anchor, problem)
            self.publisher.publish_path(anchor.path)
            self.client.message_once(f"parevo: {problem}", types.MessageType.Error)
            return {"started": False, "reason": problem, "key": anchor.key}
        title = "parevo: " + {"evolve": actions.TITLE_PARALLELIZE, "races": actions.TITLE_CHECK_RACES,
                              "fix": actions.TITLE_FIX}[kind]
        title += f" ({site.qualified_name}, line {site.loop.start_line + 1})"

        facts = prepared.facts

        def run(progress, cancel):  # the prepared site travels with the job: the loop is not read again
            if kind == "evolve":  # a wait for a quiet machine gives way to any search queued behind it
                return evolve(site, facts, req, progress, cancel, toolchain=tc, yield_to=self._searches_waiting)
            if kind == "fix":
                return fix_race(site, req, progress, cancel, toolchain=tc)
            return check_races(site, req, progress, cancel, toolchain=tc)

        ctx = JobContext(uri=uri, path=path, prepared=prepared, anchor=anchor, input_spec=req.input_spec,
                         includes=list(site.includes))
        job: SearchJob = Job(key=anchor.key, kind=kind, title=title, run=run, context=ctx)
        if self.client.supports_progress:
            self.tokens += 1
            token = f"parevo-{os.getpid()}-{self.tokens}"
            try:
                await asyncio.wait_for(self.client.lsp.work_done_progress.create_async(token), timeout=10)
                job.token = token
            except Exception as e:  # noqa: BLE001 - progress is optional: the search runs without it
                log.warning("parevo: progress token refused: %s", e)
        progress = self.client.lsp.work_done_progress
        try:
            self.queue.submit(job)
        except (AlreadyRunning, QueueFull) as e:
            if job.token:
                progress.begin(job.token, types.WorkDoneProgressBegin(title=title, cancellable=False))
                progress.end(job.token, types.WorkDoneProgressEnd(message=str(e)))
            self.client.message(f"parevo: {e}", types.MessageType.Warning)
            return {"started": False, "reason": str(e), "key": anchor.key}
        self.stores.clear_error(anchor.key)
        if job.state == "queued" and job.token:
            progress.begin(job.token, types.WorkDoneProgressBegin(
                title=title, cancellable=True, percentage=0,
                message=f"queued ({self.queue.position(job)} ahead of it: "
                        f"{len(self.queue.running)} running)"))
            ctx.begun = True
        elif not job.token:
            self.client.logmsg(f"{title}: {job.state}")
        self.publisher.publish(uri)  # the previous result of this loop stays visible; refresh code actions' basis
        return {"started": True, "key": anchor.key, "state": job.state, "kind": kind}

    def _searches_waiting(self) -> bool:
        """Worker thread: True when a search is queued (a running search's wait for a quiet machine
        then ends: the queued search needs the machine more than a re-timing)."""
        return any(lane_of(j.kind) == "searches" for j in list(self.queue.queued))

    # ------------------------------------------------------------------ queue callbacks (event loop)
    def _started(self, job: SearchJob) -> None:
        progress = self.client.lsp.work_done_progress
        if job.token and not job.context.begun:
            progress.begin(job.token, types.WorkDoneProgressBegin(
                title=job.title, cancellable=True, percentage=0, message="starting"))
            job.context.begun = True
        elif job.token:
            progress.report(job.token, types.WorkDoneProgressReport(message="starting", percentage=0))

    def _progress(self, job: SearchJob, ev: ProgressEvent) -> None:
        if ev.stage == "verified" and getattr(ev, "result", None) is not None:
            self._publish_early(job, ev.result)
        text, pct = progress_text(ev)
        if job.token:
            last = job.context.percentage or 0
            pct = max(last, pct) if pct is not None else None
            job.context.percentage = pct
            self.client.lsp.work_done_progress.report(job.token, types.WorkDoneProgressReport(
                message=text, percentage=pct))
        elif ev.stage in ("prepare", "done"):
            self.client.logmsg(f"{job.title}: {text}")

    def _publish_early(self, job: SearchJob, result: EvolutionResult) -> None:
        """A rewrite verified while the search goes on: show it at once (diagnostic, hover, Apply marked
        "search continuing") for this session; the search's final result replaces it."""
        anchor = job.context.anchor
        self.stores.set_early(anchor, result, race_fix=job.kind == "fix")
        self.publisher.publish_path(anchor.path)

    def _done(self, job: SearchJob) -> None:
        self.client.spawn(self._finish(job))

    async def _finish(self, job: SearchJob) -> None:
        ctx = job.context
        message = "ended"
        try:
            message = await self._record_outcome(job)
        except Exception as e:  # noqa: BLE001 - the progress must end and the server stay up
            log.exception("parevo: recording the outcome of %s failed", job.title)
            message = f"internal error: {e}"
        finally:
            try:  # the diagnostics first: a client that sees the progress end sees the outcome
                self.publisher.publish_path(ctx.path)
                progress = self.client.lsp.work_done_progress
                if job.token:
                    if not ctx.begun:
                        progress.begin(job.token, types.WorkDoneProgressBegin(title=job.title))
                    progress.end(job.token, types.WorkDoneProgressEnd(message=message[:500]))
                else:
                    self.client.logmsg(f"{job.title}: {message}")
            except Exception:  # noqa: BLE001 - e.g. the client is gone
                log.exception("parevo: reporting the end of %s failed", job.title)

    async def _record_outcome(self, job: SearchJob) -> str:
        """Store (or show) what a finished job found; returns the progress end message."""
        ctx = job.context
        result = job.result
        if job.error is not None:
            e = job.error
            if job.cancelled:
                self._drop_early(ctx)
                return "cancelled"
            if isinstance(e, ParevoError):
                message = str(e)
            elif isinstance(e, OSError):
                message = self.fault(e)
            else:
                log.error("parevo: the search crashed", exc_info=e)
                message = f"internal error: {type(e).__name__}: {e}"
            self.stores.set_error(ctx.anchor, message)
            self.client.message_once(f"parevo: {message}", types.MessageType.Warning)
            return message
        kept = isinstance(result, EvolutionResult) and result.best is not None
        if result is None or getattr(result, "status", None) == "cancelled" or (job.cancelled and not kept):
            self._drop_early(ctx)  # a rewrite published early goes with its search
            return "cancelled"
        record = LoopRecord(kind="evolve" if isinstance(result, EvolutionResult) else "races", anchor=ctx.anchor,
                            evolution=result if isinstance(result, EvolutionResult) else None,
                            race_check=result if isinstance(result, RaceCheckResult) else None,
                            race_fix=job.kind == "fix")
        message = (evolution_line(result, record.race_fix) if isinstance(result, EvolutionResult)
                   else result.message)
        if job.cancelled:
            message = f"cancelled; the best verified rewrite is kept: {message}"
        store = self.stores.store_for(ctx.path)
        try:
            await asyncio.get_running_loop().run_in_executor(self.io, self._save, store, record, ctx)
            self.staleness.checked.add(record.key)
        except OSError as e:  # a read-only disk must not lose the result: it is kept for this session
            log.warning("parevo: could not store the result: %s", e)
            store.load()[record.key] = record
            self.client.message_once(
                "parevo: " + faults.sentence(e, "the result store", faults.STORE_FIX, store.directory)
                + "; results are kept until the editor closes", types.MessageType.Warning)
        self.stores.clear_error(ctx.anchor.key)
        self.staleness.update_watch()
        return message

    def _drop_early(self, ctx: JobContext) -> None:
        """Forget the rewrite published while the search ran (the search ended with nothing to keep)."""
        early = self.stores.errors.get(ctx.anchor.key)
        if early is not None and early.kind == "evolve":
            self.stores.clear_error(ctx.anchor.key)
            self.stores.invalidate(ctx.anchor.path)

    def cache_dir(self) -> str:
        """The compile cache searches use (the setting, else the default)."""
        return self.config.settings.cache_dir or str(default_cache_dir())

    def cache_problem(self) -> str | None:
        """I/O pool: why the compile cache cannot be written (a sentence), or None."""
        e = faults.writable(self.cache_dir())
        return None if e is None else faults.sentence(e, "the compile cache", faults.CACHE_FIX_SERVER)

    def fault(self, e: OSError) -> str:
        """One sentence for an ``OSError`` that ended a search (the cache, else the file it names)."""
        if faults.inside(e.filename, self.cache_dir()):
            return faults.sentence(e, "the compile cache", faults.CACHE_FIX_SERVER)
        return faults.sentence(e, "the file", "check the path and its permissions")

    def _save(self, store: ResultStore, record: LoopRecord, ctx: JobContext) -> None:
        """I/O pool: fingerprint the result's dependencies and write it."""
        deps = dependencies(ctx.path, ctx.includes, self.documents.workspace_root(ctx.path), ctx.input_spec)
        record.deps = {p: file_digest(p) for p in deps}
        store.put(record)

    # ------------------------------------------------------------------ cancel / close
    def cancel_key(self, key: str) -> bool:
        """Cancel the search of loop ``key``; True when there was one."""
        job = self.queue.find(key)
        if job is None:
            return False
        self.queue.cancel(job)
        return True

    def cancel_token(self, token: Any) -> None:
        """The user pressed cancel on the progress of ``token``."""
        job = self.queue.by_token(token)
        if job is not None:
            self.queue.cancel(job)

    def cancel_all(self) -> int:
        """Cancel every search; returns how many there were."""
        n = len(self.queue.jobs())
        self.queue.cancel_all()
        return n

    async def stopped(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no job runs; True when none does."""
        end = asyncio.get_running_loop().time() + timeout
        while self.queue.running and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.02)
        return not self.queue.running

    def close(self) -> None:
        """Cancel every search (their subprocesses are killed) and refuse new ones."""
        self.queue.close()
