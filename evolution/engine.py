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
"not parallelizable"), then a :class:`~parevo.evolution.session.SearchSession`
finds the toolchain, plans the inputs, opens the run, prepares the original,
runs the search loop inside the budget's wall and assembles the
:class:`EvolutionResult`. With ``quiet_wait_s``, a search whose candidates
were timed on a busy machine waits for a quiet one and runs again
(:mod:`parevo.evolution.quiet`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, Field, ValidationError

from parevo.toolchain.discovery import DiscoverySettings, Toolchain, default_cache_dir
from parevo.toolchain.evaluate import EvalConfig
from parevo.toolchain.facts import analyze
from parevo.toolchain.machine import MachineReader
from parevo.toolchain.models import HarnessError, LoopFacts, ParevoError
from parevo.toolchain.parsing import find_loop, site_at
from parevo.toolchain.refusal import refusal_for
from parevo.toolchain.site import ParsedSite

from . import rules
from .controller import SearchSettings
from .llm import LLMClient, LLMSettings
from .quiet import IdleReader, search_when_quiet
from .result import EvolutionResult
from .runmode import LiveRun, ReplayRun, RunMode
from .search import Budget, ProgressFn
from .session import SearchSession
from .transcript import RunRecord, resolve_run


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
    alone, ``resume=False`` to ignore a checkpoint of the same search,
    ``stop_at_bound=False`` to run the generations even once a rewrite comes
    within 10 % of the loop's bound (tests of later generations, strategy comparisons),
    ``build_ahead=False`` to build one candidate at a time, none ahead while another is measured
    (the benchmark's before/after of the build pipeline: ``bench/examples.py --no-build-ahead``).
    ``quiet_wait_s`` > 0: when the search timed candidates on a busy machine
    (:func:`~parevo.evolution.quiet.awaiting_quiet`), wait up to that many seconds for a quiet
    machine and search again (:mod:`parevo.evolution.quiet`; the second search has its own ``budget``).
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
    stop_at_bound: bool = True
    build_ahead: bool = True
    quiet_wait_s: float = Field(default=0.0, ge=0.0)


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


def evolve(site: ParsedSite, facts: LoopFacts, req: EvolveRequest, progress: ProgressFn | None = None,
           cancel: threading.Event | None = None, toolchain: Toolchain | None = None, *,
           llm_client: LLMClient | None = None, yield_to: Callable[[], bool] | None = None,
           reader: IdleReader | None = None) -> EvolutionResult:
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
        yield_to: while waiting for a quiet machine (``req.quiet_wait_s``), stop waiting when it
            returns True (a server's other searches are queued).
        reader: the machine reader of that wait (default :class:`MachineReader`; tests pass a fake).

    Returns an :class:`EvolutionResult` whose ``status`` says how it ended:
    ``verified`` (``best_id``, ``edits`` and ``diff`` set; ``site`` the site's spans and
    content hash, for :meth:`EvolutionResult.edits_for`), ``none-verified``,
    ``not-parallelizable`` (``message`` gives the reason from the loop facts),
    or ``cancelled``; ``search.quiet`` says whether it waited for a quiet machine and searched again.

    Raises:
        HarnessError: the harness cannot run the loop (it is in ``main()`` or a lambda, or a parameter
            cannot be generated: the message names it and the fix), decided before any compile.
        ToolchainMissing: no compiler or no ParlayLib.
        BaselineFailed: the original does not compile or run in the harness.
    """
    first = _search(site, facts, req, LiveRun(llm_client), progress, cancel, toolchain)
    if req.quiet_wait_s <= 0:
        return first
    again = req.model_copy(update={"quiet_wait_s": 0.0, "resume": False})
    return search_when_quiet(first, lambda: _search(site, facts, again, LiveRun(llm_client), progress, cancel,
                                                    toolchain),
                             reader=reader or MachineReader(), wait_s=req.quiet_wait_s, progress=progress,
                             cancel=cancel, yield_to=yield_to)


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
    session = SearchSession(req, mode, site, facts, cfg, search_settings(req), seeds, llm_cfg, base, start,
                            progress, cancel, _spec_path(req, site))
    return session.run(toolchain)
