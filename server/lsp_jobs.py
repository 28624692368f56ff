"""The server's searches: starting them, reporting their progress, storing what they found.

A mixin of :class:`parevo.server.lsp.ParevoServer`. A search (``evolve``) or
race check (``races``) runs on the :class:`~parevo.server.jobs.JobQueue`'s
worker thread; its callbacks arrive on the event loop, which sends every LSP
message (work-done progress, diagnostics) and writes the result store on the
auxiliary pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from lsprotocol import types
from pygls.uris import to_fs_path

from parevo.evolution.engine import EvolveRequest, evolve
from parevo.evolution.llm import LLMSettings
from parevo.evolution.racecheck import RaceCheckResult, check_races
from parevo.evolution.racefix import fix_race
from parevo.evolution.result import EvolutionResult
from parevo.evolution.search import Budget, ProgressEvent
from parevo.toolchain.models import ParevoError
from parevo.toolchain.serial_meaning import serial_meaning

from . import actions
from .diagnostics import evolution_line
from .jobs import AlreadyRunning, Job, QueueFull
from .lsp_setup import toolchain_for_job
from .store import Anchor, LoopRecord, ResultStore, anchor_of, file_digest, record_key
from .watch import dependencies

log = logging.getLogger("parevo.server")


class JobsMixin:
    """Search jobs of the language server: start, progress, outcome, errors, cancel."""

    def request_for(self, uri: str, line: int, end_line: int | None) -> EvolveRequest:
        """The engine request for the loop at the selection, from the current settings and buffer."""
        s = self.settings
        doc = self.workspace.get_text_document(uri)
        path = os.path.abspath(self.doc_path(uri) or to_fs_path(uri))
        ds = self.discovery_settings()
        llm = None
        if s.llm.model:  # an LLM proposer joins the rules only when a model is named
            llm = LLMSettings(base_url=s.llm.base_url, model=s.llm.model, api_key_env=s.llm.api_key_env)
        return EvolveRequest(path=path, line=line, end_line=end_line, source=doc.source, seed=s.seed,
                             budget=Budget(seconds=s.budget.seconds, evaluations=s.budget.candidates),
                             threads=s.threads, discovery=ds, cache_dir=s.cache_dir, input_spec=s.input_spec,
                             eval=dict(s.eval), llm=llm)

    async def start_job(self, kind: str, uri: str, line: int, end_line: int | None) -> dict:
        """Start a search (``evolve``), race check (``races``) or race fix (``fix``: a search of the loop's
        serial meaning) of the loop at the selection."""
        path = self.doc_path(uri)
        if path is None:
            self.message(f"parevo: {uri} is not a C or C++ file on disk", types.MessageType.Warning)
            return {"started": False, "reason": "not a C/C++ file"}
        try:
            site, facts = self.prepare(uri, line, end_line)
        except ParevoError as e:
            self.message(f"parevo: {e}", types.MessageType.Warning)
            return {"started": False, "reason": str(e)}
        anchor = anchor_of(site)
        if kind == "evolve" and facts.already_parallel:
            races = self.store_for(path).get(record_key(anchor.key, "races"))
            rc = races.race_check if races is not None and races.stale is None else None
            if rc is not None and rc.status == "races":
                # parallelizing a racy parallel loop means fixing it: search its serial meaning
                kind = "fix"
                self.logmsg("parevo: the loop is already parallel and has a data race: searching a fix")
        if kind == "fix":
            try:  # say at once when the loop has no serial meaning to search (no compile needed)
                serial_meaning(site)
            except ParevoError as e:
                self.message(f"parevo: cannot fix this race: {e}", types.MessageType.Warning)
                return {"started": False, "reason": str(e), "key": anchor.key}
        existing = self.queue.find(anchor.key)
        if existing is not None:
            self.message(f"parevo: a search is already {existing.state} for this loop", types.MessageType.Info)
            return {"started": False, "reason": "already running", "key": anchor.key}
        try:
            req = self.request_for(uri, line, end_line)
        except Exception as e:  # noqa: BLE001
            self.message(f"parevo: {e}", types.MessageType.Error)
            return {"started": False, "reason": str(e)}
        tc, problem = await toolchain_for_job(self, kind, req, site, facts)
        if problem:
            self.set_error(anchor, problem)
            self.message(f"parevo: {problem}", types.MessageType.Error)
            return {"started": False, "reason": problem, "key": anchor.key}
        doc = self.workspace.get_text_document(uri)
        fn: Callable = {"evolve": evolve, "races": check_races, "fix": fix_race}[kind]
        title = "parevo: " + {"evolve": actions.TITLE_PARALLELIZE, "races": actions.TITLE_CHECK_RACES,
                              "fix": actions.TITLE_FIX}[kind]
        title += f" ({site.qualified_name}, line {site.loop.start_line + 1})"

        def run(progress, cancel):
            return fn(req, progress, cancel, toolchain=tc)

        job = Job(key=anchor.key, kind=kind, title=title, run=run,
                  context={"uri": uri, "anchor": anchor, "version": doc.version, "includes": list(site.includes),
                           "input_spec": req.input_spec, "path": path})
        if self.supports_progress:
            self._tokens += 1
            token = f"parevo-{os.getpid()}-{self._tokens}"
            try:
                await asyncio.wait_for(self.work_done_progress.create_async(token), timeout=10)
                job.token = token
            except Exception as e:  # noqa: BLE001 - progress is optional
                log.warning("parevo: progress token refused: %s", e)
        try:
            self.queue.submit(job)
        except (AlreadyRunning, QueueFull) as e:
            if job.token:
                self.work_done_progress.begin(job.token, types.WorkDoneProgressBegin(title=title, cancellable=False))
                self.work_done_progress.end(job.token, types.WorkDoneProgressEnd(message=str(e)))
            self.message(f"parevo: {e}", types.MessageType.Warning)
            return {"started": False, "reason": str(e), "key": anchor.key}
        self.errors.pop(anchor.key, None)
        if job.state == "queued" and job.token:
            self.work_done_progress.begin(job.token, types.WorkDoneProgressBegin(
                title=title, cancellable=True, percentage=0,
                message=f"queued ({self.queue.position(job)} ahead of it: "
                        f"{len(self.queue.running)} running)"))
            job.context["begun"] = True
        elif not job.token:
            self.logmsg(f"{title}: {job.state}")
        self.publish(uri)  # the previous result of this loop stays visible; refresh code actions' basis
        return {"started": True, "key": anchor.key, "state": job.state, "kind": kind}

    def _job_started(self, job: Job) -> None:
        if job.token and not job.context.get("begun"):
            self.work_done_progress.begin(job.token, types.WorkDoneProgressBegin(
                title=job.title, cancellable=True, percentage=0, message="starting"))
            job.context["begun"] = True
        elif job.token:
            self.work_done_progress.report(job.token, types.WorkDoneProgressReport(message="starting", percentage=0))

    @staticmethod
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

    def _job_progress(self, job: Job, ev: ProgressEvent) -> None:
        text, pct = self.progress_text(ev)
        if job.token:
            last = job.context.get("pct") or 0
            pct = max(last, pct) if pct is not None else None
            job.context["pct"] = pct
            self.work_done_progress.report(job.token, types.WorkDoneProgressReport(message=text, percentage=pct))
        elif ev.stage in ("prepare", "done"):
            self.logmsg(f"{job.title}: {text}")

    def _job_done(self, job: Job) -> None:
        self.spawn(self._finish(job))

    async def _finish(self, job: Job) -> None:
        ctx = job.context
        message = "ended"
        try:
            message = await self._record_outcome(job)
        except Exception as e:  # noqa: BLE001 - the progress must end and the server stay up
            log.exception("parevo: recording the outcome of %s failed", job.title)
            message = f"internal error: {e}"
        finally:
            try:
                if job.token:
                    if not ctx.get("begun"):
                        self.work_done_progress.begin(job.token, types.WorkDoneProgressBegin(title=job.title))
                    self.work_done_progress.end(job.token, types.WorkDoneProgressEnd(message=message[:500]))
                else:
                    self.logmsg(f"{job.title}: {message}")
                self.publish_path(ctx["path"])
            except Exception:  # noqa: BLE001 - e.g. the client is gone
                log.exception("parevo: reporting the end of %s failed", job.title)

    async def _record_outcome(self, job: Job) -> str:
        """Store (or show) what a finished job found; returns the progress end message."""
        ctx = job.context
        anchor = ctx["anchor"]
        result = job.result
        if job.error is not None:
            e = job.error
            if job.cancelled:
                return "cancelled"
            if isinstance(e, ParevoError):
                message = str(e)
            else:
                log.error("parevo: the search crashed", exc_info=e)
                message = f"internal error: {type(e).__name__}: {e}"
            self.set_error(anchor, message, publish=False)
            self.message(f"parevo: {message}", types.MessageType.Warning)
            return message
        if result is None or job.cancelled or getattr(result, "status", None) == "cancelled":
            return "cancelled"
        record = LoopRecord(kind="evolve" if isinstance(result, EvolutionResult) else "races", anchor=anchor,
                            evolution=result if isinstance(result, EvolutionResult) else None,
                            race_check=result if isinstance(result, RaceCheckResult) else None,
                            race_fix=job.kind == "fix")
        message = (evolution_line(result, record.race_fix) if isinstance(result, EvolutionResult)
                   else result.message)
        store = self.store_for(ctx["path"])
        try:
            await asyncio.get_running_loop().run_in_executor(self.aux, self._save, store, record, ctx)
            self.checked_deps.add(record.key)
        except Exception as e:  # noqa: BLE001 - a read-only disk must not lose the result
            log.warning("parevo: could not store the result: %s", e)
            store.load()[record.key] = record
        self.errors.pop(anchor.key, None)
        self.update_watch()
        return message

    def _save(self, store: ResultStore, record: LoopRecord, ctx: dict) -> None:
        """Worker thread: fingerprint the result's dependencies and write it."""
        deps = dependencies(ctx["path"], ctx.get("includes") or [], self.workspace_root(ctx["path"]),
                            ctx.get("input_spec"))
        record.deps = {p: file_digest(p) for p in deps}
        store.put(record)

    def set_error(self, anchor: Anchor, message: str, *, publish: bool = True) -> None:
        """Show ``message`` on the loop as a session-only error diagnostic."""
        self.errors[anchor.key] = LoopRecord(kind="error", anchor=anchor, error=message)
        self.invalidate(anchor.path)
        if publish:
            self.publish_path(anchor.path)

    def cancel_key(self, key: str) -> bool:
        """Cancel the search of loop ``key``; True when there was one."""
        job = self.queue.find(key)
        if job is None:
            return False
        self.queue.cancel(job)
        return True
