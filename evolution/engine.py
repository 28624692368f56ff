"""The engine behind ``parevo evolve`` and the language server: one call, one loop.

``evolve(request)`` reads the loop, analyzes it, discovers the toolchain, plans
the harness inputs, prepares the original, runs the evolutionary search
(:mod:`parevo.evolution.controller`: rule-based candidates first, then
generations of parameter mutations and, with an LLM endpoint configured, LLM
mutations) through the evaluation cascade and returns an
:class:`EvolutionResult`. It is synchronous and blocking (compiles and runs are
subprocesses, LLM calls HTTP requests); front doors run it on a worker thread
or in a worker process, and stop it with ``cancel``.

Every run writes a transcript (:mod:`parevo.evolution.transcript`) under
``<cache_dir>/runs/<run id>/`` and checkpoints each generation
(:mod:`parevo.evolution.checkpoint`): an identical request after a cancel or a
restart resumes the search. ``replay(run)`` re-runs a recorded search offline:
LLM replies and timings from the transcript, verdicts from the evaluation
cache (:mod:`parevo.evolution.evalcache`), no network.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field

from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import DiscoverySettings, Toolchain, default_cache_dir, discover, require
from parevo.toolchain.evaluate import Baseline, Cancelled, EvalConfig, Evaluator
from parevo.toolchain.facts import analyze
from parevo.toolchain.harness import driver_source
from parevo.toolchain.inputs import load_spec, plan_inputs
from parevo.toolchain.models import LoopSite, ParevoError
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.splice import rewrite_edits, rewritten_source, unified_diff
from parevo.toolchain.verdicts import StageVerdict

from . import checkpoint as ckpt
from . import rules
from .controller import SearchController, SearchSettings
from .evalcache import EvalCache, context_key
from .llm import LLMClient, LLMSettings
from .prompts import PromptBuilder
from .result import EvolutionResult, LLMUsage, SearchInfo, ToolchainInfo
from .search import Budget, CascadeRunner, ProgressEvent, ProgressFn
from .transcript import Transcript, TranscriptLLM, exchanges, new_run_id, resolve_run, transcript_path

NO_LLM_NOTE = ("no LLM endpoint configured: the search used rule-based candidates and their parameter mutations "
               "only (set --llm-model / --llm-base-url, or PAREVO_LLM_MODEL / PAREVO_LLM_BASE_URL, to add LLM "
               "mutations)")


class EvolveRequest(BaseModel):
    """What to parallelize and how hard to try.

    ``line``/``end_line`` are 0-based. ``source`` overrides the file's text on
    disk (an editor's unsaved buffer). ``eval`` overrides cascade knobs (see
    :class:`EvalConfig`); ``seed`` seeds input generation and every proposer.

    Search: ``llm`` (None or without a model: no LLM; the search then runs on
    rule-based candidates and their parameter mutations and says so),
    ``generations`` after the rule-based generation 0, ``token_budget`` (LLM
    prompt + completion tokens), ``search`` for the other knobs of
    :class:`SearchSettings` (its ``generations``/``token_budget`` are
    overridden by the two fields), ``rules=False`` to start from the LLM
    alone, ``resume=False`` to ignore a checkpoint of the same search.
    """

    path: str
    line: int
    end_line: int | None = None
    source: str | None = None
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


def read_site(req: EvolveRequest) -> LoopSite:
    """Read the file (or ``req.source``) and find the loop.

    Raises:
        OSError: the file cannot be read.
        ParseFailure, NoLoopFound, NotInFunction: see ``find_loop``.
    """
    source = req.source if req.source is not None else Path(req.path).read_text()
    return find_loop(source, os.path.abspath(req.path), req.line, req.end_line)


def _spec_path(req: EvolveRequest) -> str | None:
    if req.input_spec:
        return req.input_spec
    beside = Path(req.path).with_name("parevo.inputs.toml")
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


def _harness_identity() -> str:
    """Hash of the driver and runtime header: a change in them invalidates cached verdicts."""
    h = hashlib.sha256(driver_source().encode())
    h.update((resources.files("parevo.toolchain") / "cpp" / "parevo_harness.h").read_bytes())
    return h.hexdigest()[:16]


def loop_context(site: LoopSite, plan, tc: Toolchain, ev: Evaluator, cfg: EvalConfig) -> str:
    """The evaluation-cache context of this loop (see :func:`context_key`)."""
    return context_key(source=site.source, loop_span=(site.loop.start_byte, site.loop.end_byte),
                       plan_json=plan.describe_json(), toolchain_identity=tc.identity + ":" + _harness_identity(),
                       flags=ev.compile_flags, race_flags=ev.tsan_compile_flags, config_json=cfg.model_dump_json())


class _Replay(BaseModel):
    run_id: str
    records: list[dict]
    llm: LLMSettings | None = None
    baseline: Baseline | None = None
    spec_text: str | None = None

    def timings(self) -> dict[str, list[StageVerdict]]:
        """The recorded run's own timing and profile verdicts per candidate id (the last one wins)."""
        out: dict[str, list[StageVerdict]] = {}
        for r in self.records:
            if r.get("type") == "measured":
                out[r["id"]] = [StageVerdict.model_validate(s) for s in r.get("stages", [])]
        return out


def evolve(req: EvolveRequest, progress: ProgressFn | None = None,
           cancel: threading.Event | None = None, toolchain: Toolchain | None = None, *,
           llm_client: LLMClient | None = None) -> EvolutionResult:
    """Find, verify and measure ParlayLib rewrites of the loop ``req`` names.

    Returns an :class:`EvolutionResult` whose ``status`` says how it ended:
    ``verified`` (``best_id``, ``edits`` and ``diff`` set), ``none-verified``,
    ``not-parallelizable`` (``message`` gives the reason from the loop facts),
    or ``cancelled``. ``llm_client`` replaces the client built from
    ``req.llm`` (tests).

    Raises:
        ParseFailure, NoLoopFound, NotInFunction: the selection is unusable.
        HarnessError: a parameter cannot be generated (message names it and the fix).
        ToolchainMissing: no compiler or no ParlayLib.
        BaselineFailed: the original does not compile or run in the harness.
    """
    return _search(req, progress, cancel, toolchain, llm_client=llm_client, replay=None)


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
        ParevoError: the transcript is not a parevo run transcript.
    """
    cache_dir = cache_dir or default_cache_dir()
    path = resolve_run(run, cache_dir)
    records = Transcript.read(path)
    head = next((r for r in records if r.get("type") == "run"), None)
    if head is None:
        raise ParevoError(f"{path} is not a parevo run transcript (no run record)")
    req = EvolveRequest.model_validate(head["request"])
    req.source = head.get("source")
    req.cache_dir = cache_dir
    req.resume = False
    ends = [r for r in records if r.get("type") == "end"]
    # the search's own stops (generations, plateau, evaluations, tokens, exhaustion) recur by themselves;
    # a stop by the clock or a cancel is reproduced by stopping after as many evaluations
    evaluations = req.budget.evaluations
    if ends:
        req.generations = int(ends[-1]["generations"])
        if ends[-1].get("stopped_by") in ("time", "cancelled"):
            evaluations = int(ends[-1]["evaluations"])
    req.budget = Budget(seconds=math.inf, evaluations=evaluations)
    prepared = next((r for r in records if r.get("type") == "prepared"), None)
    rp = _Replay(run_id=head["run_id"], records=records, llm=req.llm,
                 baseline=Baseline.model_validate(prepared["baseline"]) if prepared else None,
                 spec_text=head.get("input_spec_text"))
    return _search(req, progress, cancel, toolchain, llm_client=None, replay=rp)


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


def _plan(req: EvolveRequest, site: LoopSite, replay: _Replay | None):
    """The input plan and the input spec's text (recorded in transcripts; a replay uses the recorded one)."""
    if replay is None:
        path = _spec_path(req)
        if path is None:
            return plan_inputs(site, None), None
        spec = load_spec(path)  # errors name the user's file
        return plan_inputs(site, spec), Path(path).read_text()
    text = replay.spec_text
    if text is None:
        return plan_inputs(site, None), None
    fd, tmp = tempfile.mkstemp(prefix="parevo-spec-", suffix=".toml")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return plan_inputs(site, load_spec(tmp)), text
    finally:
        os.unlink(tmp)


def _search(req: EvolveRequest, progress: ProgressFn | None, cancel: threading.Event | None,
            toolchain: Toolchain | None, *, llm_client: LLMClient | None, replay: _Replay | None) -> EvolutionResult:
    start = time.monotonic()
    cancel = cancel or threading.Event()
    emit = progress or (lambda e: None)
    site = read_site(req)
    facts = analyze(site)
    cfg = make_config(req)
    settings = search_settings(req)
    base = dict(path=site.path, function=site.qualified_name, loop_start_line=site.loop.start_line,
                loop_end_line=site.loop.end_line, content_hash=site.content_hash, seed=req.seed,
                source_sha256=hashlib.sha256(site.source.encode()).hexdigest(),
                threads=cfg.threads, pattern=facts.pattern, facts=facts)
    llm_cfg = req.llm if req.llm is not None and req.llm.configured else None
    seeds = rules.propose(site, facts) if (req.rules and facts.parallelizable) else []
    if facts.already_parallel or (not seeds and llm_cfg is None):
        return _not_parallelizable(facts, req, llm_cfg is not None, base, start)

    tc = toolchain or discover(req.discovery)
    require(tc, parlay=True, tsan=True)
    cache_dir = req.cache_dir or default_cache_dir()
    compiler = Compiler(tc, cache_dir)
    plan, spec_text = _plan(req, site, replay)
    ev = Evaluator(site, tc, compiler, plan, cfg, cancel)
    tinfo = toolchain_info(tc, ev)
    context = loop_context(site, plan, tc, ev, cfg)
    evalcache = EvalCache(cache_dir, context)

    # run identity: resume a checkpoint of the same search, else a fresh run with its own transcript
    proposers = {"rules": req.rules, "llm": {"base_url": llm_cfg.base_url, "model": llm_cfg.model}
                 if llm_cfg else None}
    key = ckpt.search_key(context, req.seed, proposers, settings.steering())
    cp_path = ckpt.checkpoint_path(cache_dir, key)
    cp = ckpt.load(cp_path, key) if (req.resume and replay is None) else None
    if cp is not None and cp.finished:
        cp = None
    transcript = None
    if replay is not None:
        run_id = replay.run_id
    else:
        run_id = cp.run_id if cp is not None else new_run_id()
        transcript = Transcript(transcript_path(cache_dir, run_id))
        if cp is not None and not transcript.path.exists():
            cp = None  # its transcript is gone: the unfinished generation's replies cannot be served
        if cp is None:
            transcript.write({"type": "run", "run_id": run_id, "version": 1,
                              "request": req.model_dump(mode="json", exclude={"source"}),
                              "source": site.source, "input_spec_text": spec_text,
                              "settings": settings.model_dump(), "context": context, "search_key": key})

    # the original: prepared now, or (replay) only if a candidate is missing from the evaluation cache
    before_evaluate = None
    baseline: Baseline | None = None
    if replay is not None and replay.baseline is not None:
        baseline = replay.baseline

        def lazy_prepare() -> None:  # a candidate the cache lost: prepare the evaluator after all
            ev.baseline = evalcache.pin_baseline(ev.prepare())
        before_evaluate = lazy_prepare
    else:
        emit(ProgressEvent(stage="prepare", message="compiling the harness and the original loop",
                           total=req.budget.evaluations, elapsed=time.monotonic() - start))
        try:
            baseline = ev.prepare()
            ev.baseline = baseline = evalcache.pin_baseline(baseline)
        except Cancelled:
            return EvolutionResult(status="cancelled", message="cancelled while preparing", run_id=run_id,
                                   seconds_total=time.monotonic() - start, toolchain=tinfo, **base)
        how = "calibrated" if baseline.n_source == "calibrated" else f"from the {baseline.n_source}"
        emit(ProgressEvent(stage="prepare", message=f"timing size n = {baseline.n:,} ({how}, {baseline.repeats} calls "
                                                    f"per round)", total=req.budget.evaluations,
                           elapsed=time.monotonic() - start))
        if transcript is not None and cp is None:
            transcript.write({"type": "prepared", "baseline": baseline.model_dump(mode="json")})

    def record_measurement(rec) -> None:  # the transcript keeps this run's own figures (for replays)
        if transcript is not None:
            transcript.write({"type": "measured", "id": rec.id, "stages": [
                s.model_dump(mode="json") for s in rec.stages if s.stage in ("time", "profile")]})

    runner = CascadeRunner(ev, req.budget, emit, cancel, start=start, cache=evalcache,
                           before_evaluate=before_evaluate, retime=replay is None,
                           timings=replay.timings() if replay is not None else None,
                           on_measured=record_measurement)
    usage = LLMUsage(base_url=llm_cfg.base_url if llm_cfg else None, model=llm_cfg.model if llm_cfg else None,
                     token_budget=settings.token_budget, replayed=replay is not None)
    llm = None
    if llm_cfg is not None:
        if replay is not None:
            llm = TranscriptLLM(exchanges(replay.records), None, None, usage)
        else:
            live = llm_client or LLMClient(llm_cfg, cancel=cancel)
            recorded = exchanges(Transcript.read(transcript.path))[cp.llm_seq:] if cp is not None else []
            llm = TranscriptLLM(recorded, live, transcript, usage, start_seq=cp.llm_seq if cp is not None else 0)
    prompts = PromptBuilder(site, facts, compiler=tc.cxx or "c++", flags=tinfo.flags, threads=cfg.threads,
                            tsan_threads=cfg.tsan_threads, top_k=settings.top_k) if llm is not None else None
    controller = SearchController(site, facts, runner, settings=settings, seed=req.seed, seeds=seeds, llm=llm,
                                  prompts=prompts, usage=usage, transcript=transcript,
                                  checkpoint=cp_path if replay is None else None, key=key, run_id=run_id,
                                  cancel=cancel, model=llm_cfg.model if llm_cfg else "")
    if cp is not None:
        controller.restore(cp)
        emit(ProgressEvent(stage="prepare", message=f"resuming run {run_id} after generation {cp.generation}",
                           tried=len(runner.records), total=req.budget.evaluations,
                           elapsed=time.monotonic() - start, generation=cp.generation))
    try:
        stopped = controller.run()
    except Cancelled:  # the lazy prepare of a replay
        stopped = "cancelled"

    best = runner.best()
    stats = compiler.stats
    notes = list(controller.result_notes)
    if llm_cfg is None:
        notes.insert(0, NO_LLM_NOTE)
    diverged = bool(replay is not None and ((llm is not None and llm.diverged) or runner.fresh > 0))
    if replay is not None:
        notes.append(f"replay of run {replay.run_id}: LLM replies and timings from its transcript, verdicts "
                     "from the evaluation cache" + (" (DIVERGED: a prompt or a verdict differed from the recording)"
                                           if diverged else ""))
    ids = [r.id for r in runner.records]
    info = SearchInfo(strategy=settings.strategy, generations=controller.generation, stopped_by=stopped,
                      evaluations=len(runner.records),
                      evaluations_to_best=(ids.index(best.id) + 1) if best else None,
                      eval_cache_lookups=evalcache.lookups, eval_cache_hits=evalcache.hits,
                      eval_cache_hit_rate=round(evalcache.hit_rate, 4), retimed=runner.retimed,
                      resumed_from_generation=controller.resumed_from,
                      replay_of=replay.run_id if replay is not None else None, replay_diverged=diverged)
    proposer_names = (["rules"] if req.rules else []) + ["param-mutations"] + (
        ["llm"] if llm_cfg is not None and (controller.llm_active or usage.calls) else [])
    cancelled = stopped == "cancelled"
    result = EvolutionResult(
        status="verified" if best else ("cancelled" if cancelled else "none-verified"),
        toolchain=tinfo, baseline=baseline, candidates=runner.records,
        best_id=best.id if best else None, seconds_total=time.monotonic() - start,
        time_to_first_verified=runner.first_verified_at,
        compile_seconds=float(stats.get("compile_seconds", 0.0)), compiles=int(stats.get("compiles", 0)),
        cache_hits=int(stats.get("cache_hits", 0)), proposers=proposer_names, run_id=run_id,
        transcript_path=str(transcript.path) if transcript is not None else None, search=info,
        llm=usage if llm_cfg is not None else None, mutations=controller.mutations, notes=notes, **base,
    )
    if best:
        c = best.candidate
        result.edits = rewrite_edits(site, c.loop_text, c.includes, function_text=c.function_text)
        result.diff = unified_diff(site, rewritten_source(site, c.loop_text, c.includes, function_text=c.function_text),
                                   display_path=display_path(site.path))
        result.message = f"verified ParlayLib rewrite: {best.stage('time').timing.describe()}"
    elif result.status == "cancelled":
        result.message = "search cancelled before a rewrite was verified"
    else:
        reasons = "; ".join(f"{r.candidate.origin}: {r.reason}" for r in runner.records[:3])
        result.message = ("no rewrite could be verified"
                          + (f" ({facts.reason})" if facts.reason else "") + (f": {reasons}" if reasons else ""))
    if transcript is not None:
        transcript.write({"type": "end", "status": result.status, "stopped_by": stopped,
                          "generations": controller.generation, "evaluations": len(runner.records),
                          "best_id": result.best_id, "best_speedup": best.speedup if best else None,
                          "tokens": usage.tokens, "eval_cache": evalcache.stats()})
    emit(ProgressEvent(stage="done", message=result.message, tried=len(runner.records), total=req.budget.evaluations,
                       best_speedup=best.speedup if best else None, elapsed=result.seconds_total,
                       generation=controller.generation))
    return result
