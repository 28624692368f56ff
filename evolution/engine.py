"""The engine behind ``parevo evolve`` and the language server: one call, one loop.

``evolve(request)`` reads the loop, analyzes it, discovers the toolchain, plans
the harness inputs, prepares the original, runs the candidates through the
cascade and returns an :class:`EvolutionResult`. It is synchronous and
blocking (compiles and runs are subprocesses); front doors run it on a worker
thread or in a worker process, and stop it with ``cancel``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

from pydantic import BaseModel, Field

from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import DiscoverySettings, Toolchain, default_cache_dir, discover, require
from parevo.toolchain.evaluate import Cancelled, EvalConfig, Evaluator
from parevo.toolchain.facts import analyze
from parevo.toolchain.inputs import load_spec, plan_inputs
from parevo.toolchain.models import LoopSite
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.splice import rewrite_edits, rewritten_source, unified_diff

from . import rules
from .result import EvolutionResult, ToolchainInfo
from .search import Budget, CascadeRunner, ProgressEvent, ProgressFn


class EvolveRequest(BaseModel):
    """What to parallelize and how hard to try.

    ``line``/``end_line`` are 0-based. ``source`` overrides the file's text on
    disk (an editor's unsaved buffer). ``eval`` overrides cascade knobs (see
    :class:`EvalConfig`); ``seed`` seeds input generation and every proposer.
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


def toolchain_info(tc: Toolchain, ev: Evaluator) -> ToolchainInfo:
    """Provenance of every figure: compiler, flags, ParlayLib, profiler."""
    return ToolchainInfo(compiler=tc.cxx, compiler_version=tc.cxx_version, flags=ev.flags[:-2],
                         tsan_flags=ev.race_flags[:-2], parlay_include=tc.parlay_include,
                         parlay_version=tc.parlay_version, profiler=tc.perf or "rusage")


def evolve(req: EvolveRequest, progress: ProgressFn | None = None,
           cancel: threading.Event | None = None, toolchain: Toolchain | None = None) -> EvolutionResult:
    """Find, verify and measure ParlayLib rewrites of the loop ``req`` names.

    Returns an :class:`EvolutionResult` whose ``status`` says how it ended:
    ``verified`` (``best_id``, ``edits`` and ``diff`` set), ``none-verified``,
    ``not-parallelizable`` (``message`` gives the reason from the loop facts),
    or ``cancelled``.

    Raises:
        ParseFailure, NoLoopFound, NotInFunction: the selection is unusable.
        HarnessError: a parameter cannot be generated (message names it and the fix).
        ToolchainMissing: no compiler or no ParlayLib.
        BaselineFailed: the original does not compile or run in the harness.
    """
    start = time.monotonic()
    cancel = cancel or threading.Event()
    emit = progress or (lambda e: None)
    site = read_site(req)
    facts = analyze(site)
    cfg = make_config(req)
    base = dict(path=site.path, function=site.qualified_name, loop_start_line=site.loop.start_line,
                loop_end_line=site.loop.end_line, content_hash=site.content_hash, seed=req.seed,
                source_sha256=hashlib.sha256(site.source.encode()).hexdigest(),
                threads=cfg.threads, pattern=facts.pattern, facts=facts)
    candidates = rules.propose(site, facts) if facts.parallelizable else []
    if not candidates:
        why = facts.reason or (
            "the loop is already parallel" if facts.already_parallel
            else f"no ParlayLib rewrite rule applies to this {facts.pattern} loop"
        )
        return EvolutionResult(status="not-parallelizable", message=f"not parallelizable as it stands: {why}",
                               seconds_total=time.monotonic() - start, **base)

    tc = toolchain or discover(req.discovery)
    require(tc, parlay=True, tsan=True)
    cache_dir = req.cache_dir or default_cache_dir()
    compiler = Compiler(tc, cache_dir)
    spec_file = _spec_path(req)
    plan = plan_inputs(site, load_spec(spec_file) if spec_file else None)
    ev = Evaluator(site, tc, compiler, plan, cfg, cancel)
    emit(ProgressEvent(stage="prepare", message="compiling the harness and the original loop",
                       total=req.budget.evaluations, elapsed=time.monotonic() - start))
    try:
        baseline = ev.prepare()
    except Cancelled:
        return EvolutionResult(status="cancelled", message="cancelled while preparing",
                               seconds_total=time.monotonic() - start, toolchain=toolchain_info(tc, ev), **base)
    emit(ProgressEvent(stage="prepare", message=f"timing size n = {baseline.n:,}", total=req.budget.evaluations,
                       elapsed=time.monotonic() - start))
    runner = CascadeRunner(ev, req.budget, emit, cancel, start=start)
    runner.run(candidates)
    best = runner.best()
    stats = compiler.stats
    result = EvolutionResult(
        status="verified" if best else ("cancelled" if runner.stopped_by == "cancelled" else "none-verified"),
        toolchain=toolchain_info(tc, ev), baseline=baseline, candidates=runner.records,
        best_id=best.id if best else None, seconds_total=time.monotonic() - start,
        time_to_first_verified=runner.first_verified_at,
        compile_seconds=float(stats.get("compile_seconds", 0.0)), compiles=int(stats.get("compiles", 0)),
        cache_hits=int(stats.get("cache_hits", 0)), proposers=["rules"], **base,
    )
    if best:
        result.edits = rewrite_edits(site, best.candidate.loop_text, best.candidate.includes)
        result.diff = unified_diff(site, rewritten_source(site, best.candidate.loop_text, best.candidate.includes),
                                   display_path=display_path(site.path))
        result.message = f"verified ParlayLib rewrite: {best.stage('time').timing.describe()}"
    elif result.status == "cancelled":
        result.message = "search cancelled before a rewrite was verified"
    else:
        reasons = "; ".join(f"{r.candidate.origin}: {r.reason}" for r in runner.records[:3])
        result.message = ("no rewrite could be verified"
                          + (f" ({facts.reason})" if facts.reason else "") + (f": {reasons}" if reasons else ""))
    emit(ProgressEvent(stage="done", message=result.message, tried=len(runner.records), total=req.budget.evaluations,
                       best_speedup=best.speedup if best else None, elapsed=result.seconds_total))
    return result
