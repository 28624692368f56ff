"""One search of one loop, from the toolchain to the result: :class:`SearchSession`.

The engine (:mod:`parevo.evolution.engine`) reads and analyzes the loop and
hands a session everything it decided (request, site, facts, cascade and
search settings, rule-based seeds, the run mode). The session then, in order:

1. :meth:`SearchSession.open`: finds the toolchain, plans the inputs, builds
   the evaluator and its cache, and opens the run through its
   :class:`~parevo.evolution.runmode.RunMode` (resume, new transcript, replay);
2. :meth:`SearchSession.prepare`: the original's figures (the mode decides
   whether it runs now) and, for a live run, the machine's memory bandwidth
   for the loop's bound (:mod:`parevo.toolchain.bound`);
3. runs the :class:`~parevo.evolution.controller.SearchController` over a
   :class:`~parevo.evolution.search.CascadeRunner`, inside the budget's wall
   (:class:`~parevo.evolution.schedule.Wall`), publishing each new best
   verified rewrite at once (a ``verified`` progress event carrying a result
   marked ``continuing``);
4. times the still-inconclusive candidates once more at the end, when the
   budget allows;
5. :meth:`SearchSession.result` assembles the :class:`EvolutionResult`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter
from importlib import resources
from typing import TYPE_CHECKING

from parevo.toolchain.bound import Bandwidth, LoopBound, loop_bound, measure_bandwidth
from parevo.toolchain.callsizes import call_site_size
from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import Toolchain, default_cache_dir, discover, require
from parevo.toolchain.evaluate import Baseline, Cancelled, EvalConfig, Evaluator
from parevo.toolchain.harness import driver_source
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.probe import reach_note, search_reach
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.splice import labelled_edits, rewritten_source, unified_diff
from parevo.toolchain.style import edits_between, styled_source

from . import checkpoint as ckpt
from .controller import NEAR_BOUND, SearchController, SearchSettings
from .evalcache import EvalCache, context_key
from .llm import LLMSettings
from .prompts import PromptBuilder
from .result import CandidateRecord, EvolutionResult, LLMUsage, SearchInfo, ToolchainInfo
from .runmode import RunMode
from .schedule import Wall
from .search import CascadeRunner, ProgressEvent, ProgressFn
from .transcript import EndRecord, RunRecord

if TYPE_CHECKING:
    from .engine import EvolveRequest


def facts_notes(facts: LoopFacts) -> list[str]:
    """What the report says about how the loop was read: a normalization, an outer loop kept sequential."""
    out = [f"the loop was read as written differently: {facts.normalized}"] if facts.normalized else []
    if facts.sequential_outer:
        lines = ", ".join(str(il.line + 1) for il in facts.inner_parallel)
        out.append(f"the selected loop stays sequential ({facts.sequential_outer}); the rewrites run its inner "
                   f"loop(s) at line(s) {lines} in parallel")
    return out


NO_LLM_NOTE = ("no LLM endpoint configured: the search used rule-based candidates and their parameter mutations "
               "only (set --llm-model / --llm-base-url, or PAREVO_LLM_MODEL / PAREVO_LLM_BASE_URL, to add LLM "
               "mutations)")

def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it, else as given."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def toolchain_info(tc: Toolchain, ev: Evaluator) -> ToolchainInfo:
    """Provenance of every figure: compiler, flags, ParlayLib, profiler."""
    return ToolchainInfo(compiler=tc.cxx, compiler_version=tc.cxx_version, flags=ev.compile_flags,
                         tsan_flags=ev.tsan_compile_flags, parlay_include=tc.parlay_include,
                         parlay_version=tc.parlay_version, profiler=tc.perf or "rusage")


def _harness_identity() -> str:
    """Hash of the driver and runtime header: a change in them invalidates cached verdicts."""
    h = hashlib.sha256(driver_source().encode())
    h.update((resources.files("parevo.toolchain") / "cpp" / "parevo_harness.h").read_bytes())
    return h.hexdigest()[:16]


def loop_context(site: ParsedSite, plan, tc: Toolchain, ev: Evaluator, cfg: EvalConfig) -> str:
    """The evaluation-cache context of this loop (see :func:`context_key`)."""
    return context_key(source=site.source, loop_span=(site.loop.start_byte, site.loop.end_byte),
                       plan_json=plan.describe_json(), toolchain_identity=tc.identity + ":" + _harness_identity(),
                       flags=ev.compile_flags, race_flags=ev.tsan_compile_flags, config_json=cfg.model_dump_json())


class SearchSession:
    """One loop's search (see the module docstring).

    Args:
        req: the request; ``mode``: live run or replay; ``site``, ``facts``: the loop and its analysis;
        cfg, settings: cascade and search knobs; seeds: the rule-based candidates; llm_cfg: the LLM
        (None: none); base: the loop fields every result carries; start: ``time.monotonic()`` of the
        request; progress, cancel: the caller's.
    """

    def __init__(self, req: "EvolveRequest", mode: RunMode, site: ParsedSite, facts: LoopFacts, cfg: EvalConfig,
                 settings: SearchSettings, seeds: list, llm_cfg: LLMSettings | None, base: dict, start: float,
                 progress: ProgressFn | None, cancel: threading.Event | None, spec_path: str | None):
        self.req, self.mode, self.site, self.facts = req, mode, site, facts
        self.cfg, self.settings, self.seeds, self.llm_cfg, self.base = cfg, settings, seeds, llm_cfg, base
        self.start = start
        self.emit = progress or (lambda e: None)
        self.user_cancel = cancel or threading.Event()
        self.wall = Wall(self.user_cancel, start + req.budget.seconds)
        self.spec_path = spec_path
        self.tc: Toolchain | None = None
        self.compiler: Compiler | None = None
        self.ev: Evaluator | None = None
        self.evalcache: EvalCache | None = None
        self.tinfo: ToolchainInfo | None = None
        self.key = ""
        self.baseline: Baseline | None = None
        self.bandwidth: Bandwidth | None = None
        self.bandwidth_note = ""
        self.runner: CascadeRunner | None = None
        self.controller: SearchController | None = None

    # -------------------------------------------------------------- the run
    def run(self, toolchain: Toolchain | None) -> EvolutionResult:
        """Open, prepare, search, re-time, assemble; the wall is closed on the way out."""
        try:
            self.open(toolchain)
            try:
                before_evaluate = self.prepare()
            except Cancelled:
                why = self.wall.reason()
                return EvolutionResult(
                    status="cancelled" if why == "cancelled" else "none-verified",
                    message=("cancelled while preparing" if why == "cancelled" else
                             f"the budget ({self.req.budget.seconds:.0f} s) ended while preparing the original"),
                    run_id=self.mode.run_id, seconds_total=time.monotonic() - self.start, toolchain=self.tinfo,
                    search=SearchInfo(stopped_by=why), **self.base)
            self.runner = CascadeRunner(self.ev, self.req.budget, self.emit, self.user_cancel, start=self.start,
                                        cache=self.evalcache, before_evaluate=before_evaluate, wall=self.wall,
                                        bound=self.bound_of if self.mode.replay_of is None and self.req.stop_at_bound else None,
                                        on_verified=self._publish, cores=None if self.req.build_ahead else 1,
                                        **self.mode.runner_options())
            self.controller = self._controller()
            try:
                stopped = self.controller.run()
            except Cancelled:  # the lazy prepare of a replay
                stopped = "cancelled"
            if stopped == "cancelled" and self.wall.reason() == "time":
                stopped = "time"
            if stopped not in ("cancelled", "time", "bound"):
                self.runner.retime_pending(at_end=True)
                if self.runner.stopped_by == "bound":
                    stopped = "bound"
            result = self.result(stopped)
            self.runner.close()
            best = result.best
            self.mode.finish(EndRecord(status=result.status, stopped_by=stopped,
                                       generations=self.controller.state.generation,
                                       evaluations=len(self.runner.records), best_id=result.best_id,
                                       best_speedup=best.speedup if best else None,
                                       tokens=self.controller.usage.tokens, eval_cache=self.evalcache.stats()))
            self.emit(ProgressEvent(stage="done", message=result.message, tried=len(self.runner.records),
                                    total=self.req.budget.evaluations, best_speedup=best.speedup if best else None,
                                    elapsed=result.seconds_total, generation=self.controller.state.generation))
            return result
        finally:
            if self.runner is not None:
                self.runner.close()
            self.wall.close()

    def open(self, toolchain: Toolchain | None) -> None:
        """Discover the toolchain, plan the inputs, build the evaluator and its cache, and open the run
        (resume a checkpoint of the same search, start a new transcript, or replay one)."""
        req = self.req
        self.tc = toolchain or discover(req.discovery)
        require(self.tc, parlay=True, tsan=True)
        cache_dir = req.cache_dir or default_cache_dir()
        self.compiler = Compiler(self.tc, cache_dir)
        plan, spec_text = self.mode.plan(self.site, self.spec_path)
        if self.cfg.timing_n is None and plan.timing_n is None and self.cfg.call_site_n is None:
            found = call_site_size(self.site.source, self.site.path, self.site.function_name, plan,
                                   req.discovery.workspace)
            if found is not None:  # the program's own size (else the evaluator calibrates)
                self.cfg = self.cfg.model_copy(update={"call_site_n": found.n,
                                                       "call_site_origin": found.describe()})
        self.ev = Evaluator(self.site, self.tc, self.compiler, plan, self.cfg, self.wall.event)
        self.tinfo = toolchain_info(self.tc, self.ev)
        context = loop_context(self.site, plan, self.tc, self.ev, self.cfg)
        self.evalcache = EvalCache(cache_dir, context)
        llm = self.llm_cfg
        proposers = {"rules": req.rules, "llm": {"base_url": llm.base_url, "model": llm.model} if llm else None}
        self.key = ckpt.search_key(context, req.seed, proposers, self.settings.steering())
        head = RunRecord(run_id="", request=req.model_dump(mode="json"), site=self.site.info(),
                         source=self.site.source, input_spec_text=spec_text, settings=self.settings.model_dump(),
                         context=context, search_key=self.key)
        self.mode.open(cache_dir=cache_dir, key=self.key, resume=req.resume, head=head)

    def prepare(self):
        """The original's figures and, for a live run, the machine's bandwidth; returns the hook the
        runner calls before its first real evaluation (a replay's lazy prepare), or None.

        Raises:
            Cancelled: cancelled or out of budget while preparing.
        """
        self.baseline, hook = self.mode.baseline(self.ev, self.evalcache, self.emit,
                                                 total=self.req.budget.evaluations, start=self.start)
        self.ev.deadline = self.wall.deadline
        if self.mode.replay_of is not None:  # a replay measures nothing (and stops where the run stopped)
            return hook
        self.emit(ProgressEvent(stage="prepare", message="memory bandwidth of this machine (measured once, then "
                                                         "cached)", total=self.req.budget.evaluations,
                                elapsed=time.monotonic() - self.start))
        self.bandwidth, self.bandwidth_note = measure_bandwidth(self.compiler, self.req.cache_dir or
                                                                default_cache_dir(), self.cfg.threads,
                                                                machine=self.ev.machine, cancel=self.wall.event)
        if self.wall.event.is_set():
            raise Cancelled("cancelled")
        return hook

    def bound_of(self, rec: CandidateRecord) -> LoopBound | None:
        """The loop's bound for verified record ``rec`` (its original's median and inputs at its n)."""
        t = rec.stage("time")
        if t is None or t.timing is None:
            return None
        tm = t.timing
        return loop_bound(self.cfg.threads, original_seconds=tm.original_median, nbytes=tm.input_bytes, n=tm.n,
                          bandwidth=self.bandwidth, algorithmic=tm.factors.algorithmic if tm.factors else None,
                          note="" if self.bandwidth is not None else self.bandwidth_note)

    def _controller(self) -> SearchController:
        """The search loop over the runner, with the LLM and prompts when one is configured, resumed
        from the run's checkpoint when it has one."""
        cfg, settings, mode, llm_cfg = self.cfg, self.settings, self.mode, self.llm_cfg
        usage = LLMUsage(base_url=llm_cfg.base_url if llm_cfg else None, model=llm_cfg.model if llm_cfg else None,
                         token_budget=settings.token_budget, replayed=mode.replay_of is not None,
                         slow_s=llm_cfg.timeout_s / 2 if llm_cfg else None)
        llm = mode.llm(llm_cfg, usage, self.wall.event) if llm_cfg is not None else None
        prompts = PromptBuilder(self.site, self.facts, compiler=self.tc.cxx or "c++", flags=self.tinfo.flags,
                                threads=cfg.threads, tsan_threads=cfg.tsan_threads,
                                top_k=settings.top_k) if llm is not None else None
        controller = SearchController(self.site, self.facts, self.runner, settings=settings, seed=self.req.seed,
                                      seeds=self.seeds, llm=llm, prompts=prompts, usage=usage,
                                      transcript=mode.transcript, checkpoint=mode.checkpoint_path, key=self.key,
                                      run_id=mode.run_id, cancel=self.wall.event,
                                      model=llm_cfg.model if llm_cfg else "")
        cp = mode.resume_from
        if cp is not None:
            controller.restore(cp)
            self.emit(ProgressEvent(stage="prepare", message=f"resuming run {mode.run_id} after generation "
                                                             f"{cp.state.generation}",
                                    tried=len(self.runner.records), total=self.req.budget.evaluations,
                                    elapsed=time.monotonic() - self.start, generation=cp.state.generation))
        return controller

    def _publish(self, rec: CandidateRecord) -> None:
        """A new best verified rewrite: publish it now (the search goes on)."""
        if self.controller is None:
            return
        partial = self.result(None)
        t = rec.stage("time").timing
        self.emit(ProgressEvent(stage="verified", message=f"verified {rec.candidate.origin}: {t.describe()} "
                                                          "(search continuing)",
                                candidate_id=rec.id, origin=rec.candidate.origin, tried=len(self.runner.records),
                                total=self.req.budget.evaluations, best_speedup=rec.speedup,
                                elapsed=time.monotonic() - self.start, generation=self.runner.generation,
                                result=partial))

    # -------------------------------------------------------------- result
    def _reach_notes(self) -> list[str]:
        """For a search loop nothing was verified for: where the original stopped on the timing inputs, and
        how to describe representative ones when it stopped within the first block (issue 16, item 3).

        One compile and one run of a counting copy of the original (:mod:`parevo.toolchain.probe`), with an
        evaluator bound to the user's cancel only: it explains a search whose time budget has ended. Not for
        a replay (nothing is compiled then)."""
        if self.facts.search is None or self.baseline is None or self.mode.replay_of is not None \
                or self.user_cancel.is_set() or self.ev is None:
            return []
        ev = Evaluator(self.site, self.tc, self.compiler, self.ev.plan, self.cfg, self.user_cancel)
        try:
            reach = search_reach(ev, self.site, self.baseline.n, self.cfg.seed)
        except Cancelled:
            return []
        return [reach_note(reach, self.site.function_name)] if reach is not None else []

    def result(self, stopped: str | None) -> EvolutionResult:
        """The :class:`EvolutionResult` as it stands: final with ``stopped`` (why the search ended),
        or published while the search continues (``stopped`` None)."""
        req, mode, site, runner, controller = self.req, self.mode, self.site, self.runner, self.controller
        best = runner.best()
        stats = self.compiler.stats
        st = controller.state
        usage = controller.usage
        notes = list(st.result_notes)
        if self.llm_cfg is None:
            notes.insert(0, NO_LLM_NOTE)
        notes += facts_notes(self.facts)
        diverged = mode.diverged(controller.llm, runner)
        notes += mode.notes(diverged)
        ids = [r.id for r in runner.records]
        ec = self.evalcache
        bound = runner.bound_reached or (self.bound_of(best) if best is not None and runner.bound else None)
        kinds = Counter(r.rejection for r in runner.records if r.rejected_stage)
        info = SearchInfo(strategy=self.settings.strategy, generations=st.generation, stopped_by=stopped,
                          evaluations=len(runner.records),
                          evaluations_to_best=(ids.index(best.id) + 1) if best else None,
                          eval_cache_lookups=ec.lookups, eval_cache_hits=ec.hits,
                          eval_cache_hit_rate=round(ec.hit_rate, 4), retimed=runner.retimed,
                          resumed_from_generation=controller.resumed_from,
                          replay_of=mode.replay_of, replay_diverged=diverged, bound=bound,
                          inconclusive=kinds.get("timing inconclusive", 0),
                          retimed_inconclusive=runner.retimed_pending)
        if stopped == "bound" and best is not None and bound is not None:
            info.stop_note = f"{best.speedup:.2f}x of a {bound.describe()}: stopped"
        elif stopped == "plateau" and best is not None and bound is not None \
                and (best.speedup or 0) >= (1 - NEAR_BOUND) * bound.bound:
            info.stop_note = (f"{best.speedup:.2f}x of a {bound.describe()}: stopped after "
                              + ("the rule candidates (no LLM in this search: parameter mutations have little "
                                 "left to gain this near the bound)" if st.generation == 0 else
                                 "a generation without a better rewrite"))
        elif stopped == "busy":
            load = next((t.timing.machine for t in (r.stage("time") for r in runner.records)
                         if t is not None and t.timing is not None and t.timing.machine), "")
            best_time = best.stage("time") if best is not None else None
            if best is None:
                verified = ""
            elif best_time is not None and not best_time.timing.busy:  # the re-timing at the end was quiet
                verified = f"; {best.speedup:.2f}x was verified when timed again at the end, on a quieter machine"
            else:
                verified = (f"; {best.speedup:.2f}x was verified faster even so (measured beside that load: a quiet "
                            "machine may measure more)")
            info.stop_note = ("stopped after the rule candidates: the machine was busy during every timing of them"
                              + (f" ({load})" if load else "") + verified + "; parameter mutations could not be "
                              "compared on such a machine either (no LLM in this search); their compile, test and "
                              "ThreadSanitizer verdicts are cached, so a run on a quieter machine only times them")
        elif stopped == "plateau" and best is not None and not st.llm_active:
            info.stop_note = (f"{best.speedup:.2f}x: stopped after a generation of parameter mutations without a "
                              "measurably better rewrite (no LLM in this search)")
        proposer_names = (["rules"] if req.rules else []) + ["param-mutations"] + (
            ["llm"] if self.llm_cfg is not None and (st.llm_active or usage.calls) else [])
        cancelled = stopped == "cancelled"
        result = EvolutionResult(
            status="verified" if best else ("cancelled" if cancelled else "none-verified"),
            toolchain=self.tinfo, baseline=self.baseline, candidates=list(runner.records),
            best_id=best.id if best else None, seconds_total=time.monotonic() - self.start,
            time_to_first_verified=runner.first_verified_at,
            compile_seconds=float(stats.get("compile_seconds", 0.0)), compiles=int(stats.get("compiles", 0)),
            cache_hits=int(stats.get("cache_hits", 0)), proposers=proposer_names, run_id=mode.run_id,
            transcript_path=str(mode.transcript.path) if mode.transcript is not None else None, search=info,
            llm=usage.model_copy() if self.llm_cfg is not None else None, mutations=list(st.mutations),
            notes=notes, continuing=stopped is None, **self.base,
        )
        if best:
            c = best.candidate
            # what the user gets: the verified rewrite spliced in, formatted in their style, as minimal edits
            styled = styled_source(site.source, rewritten_source(site, c.loop_text, c.includes,
                                                                 function_text=c.function_text), site.path)
            result.edits = labelled_edits(site, edits_between(site.source, styled))
            result.diff = unified_diff(site, styled, display_path=display_path(site.path))
            result.message = f"verified ParlayLib rewrite: {best.stage('time').timing.describe()}"
        elif result.status == "cancelled":
            result.message = "search cancelled before a rewrite was verified"
        else:
            if stopped is not None:
                result.notes.extend(self._reach_notes())
            counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(),
                                                                                  key=lambda kv: -kv[1]))
            result.message = ("no rewrite could be verified" + (f" ({self.facts.reason})" if self.facts.reason
                                                                else "")
                              + (f": {len(runner.records)} candidates ({counts})" if runner.records else ""))
        return result
