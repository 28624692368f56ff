"""The engine behind ``parevo evolve`` and the language server: one call, one loop.

``evolve(site, facts, request)`` takes the :class:`~parevo.toolchain.site.ParsedSite`
a front door made from the selection (:func:`read_site` for a file and a line)
and its :class:`~parevo.toolchain.models.LoopFacts`, discovers the toolchain,
plans the harness inputs from the site's nodes, prepares the original, runs the
evolutionary search (:mod:`parevo.evolution.controller`: rule-based candidates
first, then generations of parameter mutations and, with an LLM endpoint
configured, LLM mutations) through the evaluation cascade and returns an
:class:`EvolutionResult`. The winner's edits come with it, in byte spans of the
site's text, together with the site's spans and content hash
(``result.site``): a front door applies them to a later version of the document
with :meth:`EvolutionResult.edits_for` (:func:`parevo.toolchain.splice.rebase_edits`),
never computing them again. It is synchronous and blocking (compiles and runs
are subprocesses, LLM calls HTTP requests); front doors run it on a worker
thread, and stop it with ``cancel``.

Every run writes a transcript (:mod:`parevo.evolution.transcript`) under
``<cache_dir>/runs/<run id>/`` and checkpoints each generation
(:mod:`parevo.evolution.checkpoint`): an identical request after a cancel or a
restart resumes the search. ``replay(run)`` re-runs a recorded search offline:
the site found again by its recorded span, LLM replies and timings from the
transcript, verdicts from the evaluation cache (:mod:`parevo.evolution.evalcache`), no network. The two differ only in
their :class:`~parevo.evolution.runmode.RunMode` (``LiveRun`` or
``ReplayRun``), which the engine is given; the search itself is the same code.

One search, in order: ``_search`` takes the site and its facts (or returns
"not parallelizable"), ``_open`` finds the toolchain, plans the inputs and
opens the run, the mode prepares the original, ``_controller`` builds the
search loop (resumed from a checkpoint when there is one), and ``_result``
assembles the :class:`EvolutionResult`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import DiscoverySettings, Toolchain, default_cache_dir, discover, require
from parevo.toolchain.evaluate import Baseline, Cancelled, EvalConfig, Evaluator
from parevo.toolchain.facts import analyze
from parevo.toolchain.harness import driver_source
from parevo.toolchain.models import HarnessError, LoopFacts, ParevoError
from parevo.toolchain.parsing import find_loop, site_at
from parevo.toolchain.refusal import refusal_for
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.splice import labelled_edits, rewritten_source, unified_diff
from parevo.toolchain.style import edits_between, styled_source

from . import checkpoint as ckpt
from . import rules
from .controller import SearchController, SearchSettings
from .evalcache import EvalCache, context_key
from .llm import LLMClient, LLMSettings
from .prompts import PromptBuilder
from .result import EvolutionResult, LLMUsage, SearchInfo, ToolchainInfo
from .runmode import LiveRun, ReplayRun, RunMode
from .search import Budget, CascadeRunner, ProgressEvent, ProgressFn
from .transcript import EndRecord, RunRecord, resolve_run

NO_LLM_NOTE = ("no LLM endpoint configured: the search used rule-based candidates and their parameter mutations "
               "only (set --llm-model / --llm-base-url, or PAREVO_LLM_MODEL / PAREVO_LLM_BASE_URL, to add LLM "
               "mutations)")


class EvolveRequest(BaseModel):
    """How hard to try (where is the :class:`~parevo.toolchain.site.ParsedSite` given beside it).

    ``eval`` overrides cascade knobs (see :class:`EvalConfig`); ``seed`` seeds
    input generation and every proposer; ``input_spec`` is the input spec's path
    (default: ``parevo.inputs.toml`` beside the site's file).

    Search: ``llm`` (None or without a model: no LLM; the search then runs on
    rule-based candidates and their parameter mutations and says so),
    ``generations`` after the rule-based generation 0, ``token_budget`` (LLM
    prompt + completion tokens), ``search`` for the other knobs of
    :class:`SearchSettings` (its ``generations``/``token_budget`` are
    overridden by the two fields), ``rules=False`` to start from the LLM
    alone, ``resume=False`` to ignore a checkpoint of the same search.
    """

    seed: int = 1
    budget: Budget = Field(default_factory=Budget)
    threads: int | None = None
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    cache_dir: str | None = None
    input_spec: str | None = None
    eval: dict = Field(default_factory=dict)
    llm: LLMSettings | None = None
    generations: int = 8
    token_budget: int = 200_000
    search: SearchSettings | None = None
    rules: bool = True
    resume: bool = True


def read_site(path: str, line: int, end_line: int | None = None, source: str | None = None) -> ParsedSite:
    """Read the file (or ``source``, an editor's unsaved text) and make the site of the loop at
    0-based ``line`` (or within ``line..end_line``).

    Raises:
        OSError: the file cannot be read.
        ParseFailure, NoLoopFound, NotInFunction: see :func:`~parevo.toolchain.parsing.find_loop`.
    """
    text = source if source is not None else Path(path).read_text()
    return find_loop(text, os.path.abspath(path), line, end_line)


def _spec_path(req: EvolveRequest, site: ParsedSite) -> str | None:
    if req.input_spec:
        return req.input_spec
    beside = Path(site.path).with_name("parevo.inputs.toml")
    return str(beside) if beside.exists() else None


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it, else as given."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def make_config(req: EvolveRequest) -> EvalConfig:
    """The cascade configuration for ``req`` (threads, seeds, overrides)."""
    cfg = EvalConfig(**req.eval)
    if req.threads:
        cfg.threads = req.threads
    cfg.seed = req.seed
    if "check_seeds" not in req.eval:
        cfg.check_seeds = [req.seed + k for k in range(len(cfg.check_seeds))]
    return cfg


def search_settings(req: EvolveRequest) -> SearchSettings:
    """The search knobs of ``req`` (``generations`` and ``token_budget`` from their own fields)."""
    s = (req.search or SearchSettings()).model_copy()
    s.generations = req.generations
    s.token_budget = req.token_budget
    return s


def toolchain_info(tc: Toolchain, ev: Evaluator) -> ToolchainInfo:
    """Provenance of every figure: compiler, flags, ParlayLib, profiler."""
    return ToolchainInfo(compiler=tc.cxx, compiler_version=tc.cxx_version, flags=ev.compile_flags,
                         tsan_flags=ev.tsan_compile_flags, parlay_include=tc.parlay_include,
                         parlay_version=tc.parlay_version, profiler=tc.perf or "rusage")


def code_identity(root: Path) -> str:
    """SHA-256 (16 hex digits) over every ``.py``, ``.h`` and ``.cpp`` file under ``root`` (relative path and
    bytes, in sorted order).

    Cached verdicts are keyed by it (:func:`_harness_identity`): a parevo whose verifier (program generation,
    splicing, the stages, the C++ harness) differs by one byte never reuses a verdict another one reached.
    """
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".h", ".cpp") and p.is_file()
                    and "__pycache__" not in p.parts):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def _harness_identity() -> str:
    """The verifier's identity: the driver, the runtime header and the code of :mod:`parevo.toolchain`
    that generates, splices and judges programs (:func:`code_identity`); a change invalidates cached verdicts."""
    h = hashlib.sha256(driver_source().encode())
    h.update((resources.files("parevo.toolchain") / "cpp" / "parevo_harness.h").read_bytes())
    h.update(code_identity(Path(str(resources.files("parevo.toolchain")))).encode())
    return h.hexdigest()[:16]


def loop_context(site: ParsedSite, plan, tc: Toolchain, ev: Evaluator, cfg: EvalConfig) -> str:
    """The evaluation-cache context of this loop (see :func:`context_key`)."""
    return context_key(source=site.source, loop_span=(site.loop.start_byte, site.loop.end_byte),
                       plan_json=plan.describe_json(), toolchain_identity=tc.identity + ":" + _harness_identity(),
                       flags=ev.compile_flags, race_flags=ev.tsan_compile_flags, config_json=cfg.model_dump_json())


def evolve(site: ParsedSite, facts: LoopFacts, req: EvolveRequest, progress: ProgressFn | None = None,
           cancel: threading.Event | None = None, toolchain: Toolchain | None = None, *,
           llm_client: LLMClient | None = None) -> EvolutionResult:
    """Find, verify and measure ParlayLib rewrites of the loop of ``site``.

    Args:
        site: the selected loop, parsed once by the caller (:func:`read_site`,
            :func:`~parevo.toolchain.parsing.find_loop`); everything reads its nodes.
        facts: ``analyze(site)``.
        req: how hard to try.
        progress: called with a :class:`ProgressEvent` at every stage (on the calling thread).
        cancel: set it to stop the search (running compiles and runs are killed).
        toolchain: a discovered toolchain (default: discovered from ``req.discovery``).
        llm_client: replaces the client built from ``req.llm`` (tests).

    Returns an :class:`EvolutionResult` whose ``status`` says how it ended:
    ``verified`` (``best_id``, ``edits`` and ``diff`` set; ``site`` the site's spans and
    content hash, for :meth:`EvolutionResult.edits_for`), ``none-verified``,
    ``not-parallelizable`` (``message`` gives the reason from the loop facts),
    or ``cancelled``.

    Raises:
        HarnessError: the harness cannot run the loop (it is in ``main()`` or a lambda, or a parameter
            cannot be generated: the message names it and the fix), decided before any compile.
        ToolchainMissing: no compiler or no ParlayLib.
        BaselineFailed: the original does not compile or run in the harness.
    """
    return _search(site, facts, req, LiveRun(llm_client), progress, cancel, toolchain)


def replay(run: str, *, cache_dir: str | None = None, progress: ProgressFn | None = None,
           cancel: threading.Event | None = None, toolchain: Toolchain | None = None) -> EvolutionResult:
    """Re-run the search recorded in ``run`` (a run id under ``cache_dir``, or a transcript path) offline.

    LLM replies and the run's own timings come from the transcript (never the
    network), verdicts from the evaluation cache; the search stops where the recorded run
    stopped (its evaluation count and generation). The original loses nothing:
    the replay writes no transcript and no checkpoint. ``search.replay_diverged``
    is set when a prompt differs from the recorded one or a candidate had to be
    evaluated again (the cache lost it).

    Raises:
        FileNotFoundError: no such run.
        TranscriptError: the file is not a parevo run transcript (the message names the line and why).
        ParevoError: the recorded request is not one this version understands.
        ParseFailure, NoLoopFound, NotInFunction: the recorded loop cannot be found in the recorded text.
    """
    cache_dir = cache_dir or default_cache_dir()
    mode = ReplayRun.load(resolve_run(run, cache_dir))
    try:
        req = EvolveRequest.model_validate(mode.head.request)
    except ValidationError as e:
        raise ParevoError(f"{mode.path}: the recorded request cannot be replayed by this parevo version: "
                          f"{e.errors()[0].get('msg', e)}") from None
    site = _recorded_site(mode.head)
    req.cache_dir = cache_dir
    req.resume = False
    req.budget, req.generations = mode.limits(req.budget, req.generations)
    return _search(site, analyze(site), req, mode, progress, cancel, toolchain)


def _recorded_site(head: RunRecord) -> ParsedSite:
    """The site of a transcript's run record: found by its recorded span in the recorded text (runs
    recorded before sites were recorded name the file and line in their request)."""
    if head.source is None:
        raise ParevoError("the transcript does not hold the source text of its run")
    if head.site is not None:
        return site_at(head.source, head.site.path, head.site.loop.start_byte, head.site.loop.end_byte)
    r = head.request
    if "path" not in r or "line" not in r:
        raise ParevoError("the transcript's run record names no loop (no site, no path and line)")
    return find_loop(head.source, os.path.abspath(r["path"]), int(r["line"]), r.get("end_line"))


def needs_search(req: EvolveRequest, site: ParsedSite, facts) -> bool:
    """True when :func:`evolve` would search this loop, and so needs the compiler, ParlayLib and
    ThreadSanitizer; False when it answers from the loop facts alone (``not-parallelizable``:
    the loop is already parallel, or no rule applies and no LLM endpoint is configured)."""
    return _searches(facts, _seeds(req, site, facts), req.llm if req.llm is not None and req.llm.configured else None)


def _seeds(req: EvolveRequest, site: ParsedSite, facts) -> list:
    return rules.propose(site, facts) if (req.rules and facts.parallelizable) else []


def _searches(facts, seeds: list, llm_cfg: LLMSettings | None) -> bool:
    return not facts.already_parallel and (bool(seeds) or llm_cfg is not None)


def _not_parallelizable(facts, req: EvolveRequest, llm_on: bool, base: dict, start: float) -> EvolutionResult:
    why = facts.reason or (
        "the loop is already parallel" if facts.already_parallel
        else (f"no ParlayLib rewrite rule applies to this {facts.pattern} loop" if req.rules
              else "rule-based candidates are disabled")
    )
    if not llm_on and not facts.already_parallel:
        why += " and no LLM endpoint is configured"
    return EvolutionResult(status="not-parallelizable", message=f"not parallelizable as it stands: {why}",
                           seconds_total=time.monotonic() - start, **base)


@dataclass
class _Session:
    """What one search works with, once the loop is read and the toolchain found."""

    req: EvolveRequest
    mode: RunMode
    site: ParsedSite
    facts: LoopFacts
    cfg: EvalConfig
    settings: SearchSettings
    base: dict
    llm_cfg: LLMSettings | None
    seeds: list
    start: float
    emit: ProgressFn
    cancel: threading.Event
    tc: Toolchain | None = None
    compiler: Compiler | None = None
    ev: Evaluator | None = None
    evalcache: EvalCache | None = None
    tinfo: ToolchainInfo | None = None
    key: str = ""


def _search(site: ParsedSite, facts: LoopFacts, req: EvolveRequest, mode: RunMode, progress: ProgressFn | None,
            cancel: threading.Event | None, toolchain: Toolchain | None) -> EvolutionResult:
    """Set up the evaluation of the site's loop, run the search, assemble the result."""
    start = time.monotonic()
    if mode.replay_of is None:
        why = refusal_for(site, _spec_path(req, site))  # refuse before any search or compile
        if why:
            raise HarnessError(why)
    cfg = make_config(req)
    base = dict(path=site.path, function=site.qualified_name, loop_start_line=site.loop.start_line,
                loop_end_line=site.loop.end_line, content_hash=site.content_hash, seed=req.seed,
                source_sha256=site.source_sha256, site=site.info(),
                threads=cfg.threads, pattern=facts.pattern, facts=facts)
    llm_cfg = req.llm if req.llm is not None and req.llm.configured else None
    seeds = _seeds(req, site, facts)
    if not _searches(facts, seeds, llm_cfg):
        return _not_parallelizable(facts, req, llm_cfg is not None, base, start)
    s = _Session(req=req, mode=mode, site=site, facts=facts, cfg=cfg, settings=search_settings(req), base=base,
                 llm_cfg=llm_cfg, seeds=seeds, start=start, emit=progress or (lambda e: None),
                 cancel=cancel or threading.Event())
    _open(s, toolchain)
    try:
        baseline, before_evaluate = mode.baseline(s.ev, s.evalcache, s.emit, total=req.budget.evaluations,
                                                  start=start)
    except Cancelled:
        return EvolutionResult(status="cancelled", message="cancelled while preparing", run_id=mode.run_id,
                               seconds_total=time.monotonic() - start, toolchain=s.tinfo, **base)
    runner = CascadeRunner(s.ev, req.budget, s.emit, s.cancel, start=start, cache=s.evalcache,
                           before_evaluate=before_evaluate, **mode.runner_options())
    controller = _controller(s, runner)
    try:
        stopped = controller.run()
    except Cancelled:  # the lazy prepare of a replay
        stopped = "cancelled"
    result = _result(s, baseline, runner, controller, stopped)
    best = result.best
    mode.finish(EndRecord(status=result.status, stopped_by=stopped, generations=controller.state.generation,
                          evaluations=len(runner.records), best_id=result.best_id,
                          best_speedup=best.speedup if best else None, tokens=controller.usage.tokens,
                          eval_cache=s.evalcache.stats()))
    s.emit(ProgressEvent(stage="done", message=result.message, tried=len(runner.records),
                         total=req.budget.evaluations, best_speedup=best.speedup if best else None,
                         elapsed=result.seconds_total, generation=controller.state.generation))
    return result


def _open(s: _Session, toolchain: Toolchain | None) -> None:
    """Discover the toolchain, plan the inputs, build the evaluator and its cache, and open the run
    (resume a checkpoint of the same search, start a new transcript, or replay one)."""
    req = s.req
    s.tc = toolchain or discover(req.discovery)
    require(s.tc, parlay=True, tsan=True)
    cache_dir = req.cache_dir or default_cache_dir()
    s.compiler = Compiler(s.tc, cache_dir)
    plan, spec_text = s.mode.plan(s.site, _spec_path(req, s.site))
    s.ev = Evaluator(s.site, s.tc, s.compiler, plan, s.cfg, s.cancel)
    s.tinfo = toolchain_info(s.tc, s.ev)
    context = loop_context(s.site, plan, s.tc, s.ev, s.cfg)
    s.evalcache = EvalCache(cache_dir, context)
    proposers = {"rules": req.rules, "llm": {"base_url": s.llm_cfg.base_url, "model": s.llm_cfg.model}
                 if s.llm_cfg else None}
    s.key = ckpt.search_key(context, req.seed, proposers, s.settings.steering())
    head = RunRecord(run_id="", request=req.model_dump(mode="json"), site=s.site.info(), source=s.site.source,
                     input_spec_text=spec_text, settings=s.settings.model_dump(), context=context, search_key=s.key)
    s.mode.open(cache_dir=cache_dir, key=s.key, resume=req.resume, head=head)


def _controller(s: _Session, runner: CascadeRunner) -> SearchController:
    """The search loop over ``runner``, with the LLM and prompts when one is configured, resumed
    from the run's checkpoint when it has one."""
    cfg, settings, mode = s.cfg, s.settings, s.mode
    usage = LLMUsage(base_url=s.llm_cfg.base_url if s.llm_cfg else None, model=s.llm_cfg.model if s.llm_cfg else None,
                     token_budget=settings.token_budget, replayed=mode.replay_of is not None,
                     slow_s=s.llm_cfg.timeout_s / 2 if s.llm_cfg else None)
    llm = mode.llm(s.llm_cfg, usage, s.cancel) if s.llm_cfg is not None else None
    prompts = PromptBuilder(s.site, s.facts, compiler=s.tc.cxx or "c++", flags=s.tinfo.flags, threads=cfg.threads,
                            tsan_threads=cfg.tsan_threads, top_k=settings.top_k) if llm is not None else None
    controller = SearchController(s.site, s.facts, runner, settings=settings, seed=s.req.seed, seeds=s.seeds,
                                  llm=llm, prompts=prompts, usage=usage, transcript=mode.transcript,
                                  checkpoint=mode.checkpoint_path, key=s.key,
                                  run_id=mode.run_id, cancel=s.cancel, model=s.llm_cfg.model if s.llm_cfg else "")
    cp = mode.resume_from
    if cp is not None:
        controller.restore(cp)
        s.emit(ProgressEvent(stage="prepare", message=f"resuming run {mode.run_id} after generation "
                                                      f"{cp.state.generation}", tried=len(runner.records),
                             total=s.req.budget.evaluations, elapsed=time.monotonic() - s.start,
                             generation=cp.state.generation))
    return controller


def _result(s: _Session, baseline: Baseline, runner: CascadeRunner, controller: SearchController,
            stopped: str) -> EvolutionResult:
    """The :class:`EvolutionResult` of a finished search: the winner's edits and diff, every
    record, the search's figures and notes."""
    req, mode, site, facts = s.req, s.mode, s.site, s.facts
    best = runner.best()
    stats = s.compiler.stats
    st = controller.state
    usage = controller.usage
    notes = list(st.result_notes)
    if s.llm_cfg is None:
        notes.insert(0, NO_LLM_NOTE)
    diverged = mode.diverged(controller.llm, runner)
    notes += mode.notes(diverged)
    ids = [r.id for r in runner.records]
    ec = s.evalcache
    info = SearchInfo(strategy=s.settings.strategy, generations=st.generation, stopped_by=stopped,
                      evaluations=len(runner.records),
                      evaluations_to_best=(ids.index(best.id) + 1) if best else None,
                      eval_cache_lookups=ec.lookups, eval_cache_hits=ec.hits,
                      eval_cache_hit_rate=round(ec.hit_rate, 4), retimed=runner.retimed,
                      resumed_from_generation=controller.resumed_from,
                      replay_of=mode.replay_of, replay_diverged=diverged)
    proposer_names = (["rules"] if req.rules else []) + ["param-mutations"] + (
        ["llm"] if s.llm_cfg is not None and (st.llm_active or usage.calls) else [])
    cancelled = stopped == "cancelled"
    result = EvolutionResult(
        status="verified" if best else ("cancelled" if cancelled else "none-verified"),
        toolchain=s.tinfo, baseline=baseline, candidates=runner.records,
        best_id=best.id if best else None, seconds_total=time.monotonic() - s.start,
        time_to_first_verified=runner.first_verified_at,
        compile_seconds=float(stats.get("compile_seconds", 0.0)), compiles=int(stats.get("compiles", 0)),
        cache_hits=int(stats.get("cache_hits", 0)), proposers=proposer_names, run_id=mode.run_id,
        transcript_path=str(mode.transcript.path) if mode.transcript is not None else None, search=info,
        llm=usage if s.llm_cfg is not None else None, mutations=st.mutations, notes=notes, **s.base,
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
        reasons = "; ".join(f"{r.candidate.origin}: {r.reason}" for r in runner.records[:3])
        result.message = ("no rewrite could be verified"
                          + (f" ({facts.reason})" if facts.reason else "") + (f": {reasons}" if reasons else ""))
    return result
