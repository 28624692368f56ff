"""Race check of a loop that is already parallel (ParlayLib, OpenMP, std::execution::par).

``check_races(site, request)`` builds the harness around the user's own function,
compiles it with ThreadSanitizer and runs it with more workers than cores
(the race stage of the cascade), and returns every race attributed to the
user's lines. Like :func:`~parevo.evolution.engine.evolve` it is synchronous
and blocking; front doors run it on a worker thread and stop it with ``cancel``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Literal

from pydantic import Field

from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import Toolchain, default_cache_dir, default_include_paths, discover, require
from parevo.toolchain.evaluate import Cancelled, Evaluator
from parevo.toolchain.harness import original_source
from parevo.toolchain.inputs import load_spec, plan_inputs
from parevo.toolchain.models import HarnessError
from parevo.toolchain.race_sites import RaceSites, race_sites
from parevo.toolchain.refusal import refusal_for
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.syntax import captures, pragmas
from parevo.toolchain.tsan import RaceReport
from parevo.toolchain.verdicts import RaceRun

from .engine import EvolveRequest, _spec_path, make_config
from .session import toolchain_info
from .result import LoopResult, ToolchainInfo
from .search import ProgressEvent, ProgressFn

RaceStatus = Literal["races", "clean", "cancelled", "error"]

#: ThreadSanitizer runs of a race check unless ``eval.tsan_runs`` says otherwise.
RACE_CHECK_RUNS = 4


class RaceCheckResult(LoopResult):
    """What ThreadSanitizer found in the user's own parallel loop.

    ``status``: ``races`` (``races`` holds every report attributed to the
    user's file, both accesses with their frames; ``sites[k]`` maps report
    ``k`` onto the expressions of the loop's function and names the memory;
    reports of the same race at other addresses are folded into one, ``reports``
    counts them all), ``clean`` (``runs`` runs reported nothing in user code;
    ``race_runs`` lists each run's size and workers, ``threads`` is the most
    workers and ``n`` the largest size),
    ``cancelled``, or ``error`` (the TSan build or run failed; ``message`` says
    how). Lines are 0-based like everywhere else; frame lines inside
    ``races`` are 1-based as TSan prints them.
    """

    status: RaceStatus
    races: list[RaceReport] = Field(default_factory=list)
    sites: list[RaceSites] = Field(default_factory=list)
    reports: int = 0
    unattributed: int = 0
    runs: int = 0
    threads: int = 0
    n: int = 0
    race_runs: list[RaceRun] = Field(default_factory=list)
    toolchain: ToolchainInfo | None = None
    seconds_total: float = 0.0




class FlaggedEvaluator(Evaluator):
    """An :class:`Evaluator` with extra compile flags, link flags and run environment
    (``-fopenmp`` and ``OMP_NUM_THREADS`` for OpenMP, ``-ltbb`` for parallel STL)."""

    def __init__(self, *args, compile_flags: list[str] | None = None, link_flags: list[str] | None = None,
                 openmp: bool = False, **kw):
        super().__init__(*args, **kw)
        self.extra_compile = list(compile_flags or [])
        self.extra_link = list(link_flags or [])
        self.openmp = openmp

    @property
    def compile_flags(self) -> list[str]:
        """Optimized-build flags plus the extra ones."""
        return super().compile_flags + self.extra_compile

    @property
    def tsan_compile_flags(self) -> list[str]:
        """ThreadSanitizer-build flags plus the extra ones."""
        return super().tsan_compile_flags + self.extra_compile

    def _link_flags(self, sanitize: bool) -> list[str]:
        return super()._link_flags(sanitize) + self.extra_link

    def _run(self, argv, *, threads, env_extra=None, **kw):
        if self.openmp:
            env_extra = {"OMP_NUM_THREADS": str(threads), **(env_extra or {})}
        return super()._run(argv, threads=threads, env_extra=env_extra, **kw)


def has_tbb(cxx: str | None) -> bool:
    """True when the compiler finds oneTBB's headers (libstdc++'s parallel STL backend)."""
    if not cxx:
        return False
    return any(os.path.exists(os.path.join(d, "tbb", "tbb.h")) or os.path.exists(os.path.join(d, "oneapi", "tbb.h"))
               for d in default_include_paths(cxx))


def uses_openmp(site: ParsedSite) -> bool:
    """True when the loop's function holds an OpenMP ``#pragma omp`` directive."""
    return any(n.text.split()[:1] == [b"omp"] for n in pragmas(site.function_node))


def uses_parlay(site: ParsedSite) -> bool:
    """True when the file includes a ParlayLib header (``#include <parlay/...>``): only then
    does its race check need ParlayLib."""
    return any(inc.strip('<>"').startswith("parlay/") for inc in site.includes)


def uses_parallel_stl(site: ParsedSite) -> bool:
    """True when the loop's function names a parallel execution policy (``std::execution::par``)."""
    return any(n.text.replace(b" ", b"").endswith((b"execution::par", b"execution::par_unseq"))
               for n in captures("(qualified_identifier) @q", site.function_node).get("q", []))


def check_races(site: ParsedSite, req: EvolveRequest, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, toolchain: Toolchain | None = None) -> RaceCheckResult:
    """Run the selected (already parallel) loop's function under ThreadSanitizer.

    Functions with OpenMP pragmas build with ``-fopenmp``; with ``std::execution::par``
    they link oneTBB when the compiler finds it (else the result says the loop ran serially).
    The original is prepared as for a search (so inputs the function cannot
    handle fail early with :class:`BaselineFailed`) while its TSan build
    compiles alongside; then the race stage runs it ``tsan_runs`` times (at least
    :data:`RACE_CHECK_RUNS` unless the request sets it; the first racy run ends
    the check) with ``tsan_threads`` workers.

    Raises:
        HarnessError: the harness cannot run the loop (in ``main()``, in a lambda, a parameter that
            cannot be generated), decided before any compile.
        ToolchainMissing: no compiler or ThreadSanitizer, or no ParlayLib for a file that includes it
            (:class:`~parevo.toolchain.discovery.ParlayLibMissing`).
        BaselineFailed: the function does not compile or run in the harness.
    """
    start = time.monotonic()
    cancel = cancel or threading.Event()
    emit = progress or (lambda e: None)
    why = refusal_for(site, _spec_path(req, site))  # refuse before any compile
    if why:
        raise HarnessError(why)
    cfg = make_config(req)
    if "tsan_runs" not in req.eval:
        # the race check is all the user asked for: more runs catch more races (a racy
        # run ends the check early, so only a clean loop pays for all of them)
        cfg.tsan_runs = max(cfg.tsan_runs, RACE_CHECK_RUNS)
    base = dict(path=site.path, function=site.qualified_name, loop_start_line=site.loop.start_line,
                loop_end_line=site.loop.end_line, content_hash=site.content_hash,
                source_sha256=site.source_sha256, site=site.info(), threads=cfg.tsan_threads, n=0)

    def elapsed() -> float:
        return time.monotonic() - start

    tc = toolchain or discover(req.discovery)
    require(tc, parlay=uses_parlay(site), tsan=True)
    compiler = Compiler(tc, req.cache_dir or default_cache_dir())
    spec_file = _spec_path(req, site)
    plan = plan_inputs(site, load_spec(spec_file) if spec_file else None)
    openmp = uses_openmp(site)
    pstl = uses_parallel_stl(site)
    tbb = pstl and has_tbb(tc.cxx)
    ev = FlaggedEvaluator(site, tc, compiler, plan, cfg, cancel, openmp=openmp,
                          compile_flags=["-fopenmp"] if openmp else [],
                          link_flags=(["-fopenmp"] if openmp else []) + (["-ltbb"] if tbb else []))
    caveat = ("; note: without oneTBB this toolchain runs std::execution::par serially, so its races cannot "
              "show (install libtbb-dev)") if pstl and not tbb else ""
    source = original_source(site, plan)
    info = toolchain_info(tc, ev)

    emit(ProgressEvent(stage="prepare", message="compiling the harness and your loop (optimized and TSan builds)",
                       total=1, elapsed=elapsed()))
    warm_error: list[BaseException] = []

    def warm_tsan() -> None:
        try:
            ev.build(source, sanitize=True, label="original (tsan)")
        except BaseException as e:  # noqa: BLE001 - reported by race_stage below
            warm_error.append(e)

    t = threading.Thread(target=warm_tsan, name="parevo-tsan-build", daemon=True)
    t.start()
    try:
        ev.prepare()
    except Cancelled:
        t.join()
        return RaceCheckResult(status="cancelled", message="race check cancelled", toolchain=info,
                               seconds_total=elapsed(), **base)
    finally:
        t.join()
    if cancel.is_set():
        return RaceCheckResult(status="cancelled", message="race check cancelled", toolchain=info,
                               seconds_total=elapsed(), **base)

    plan = ev.race_plan(site.loop_text)
    emit(ProgressEvent(stage="race", message=f"ThreadSanitizer: {len(plan.schedule())} runs at n = "
                                             f"{', '.join(f'{n:,}' for n in plan.sizes) or '-'} with "
                                             f"{'/'.join(str(w) for w in plan.workers)} workers",
                       total=1, elapsed=elapsed()))
    try:
        verdict = ev.race_stage(source, "original", code=site.loop_text)
    except Cancelled:
        return RaceCheckResult(status="cancelled", message="race check cancelled", toolchain=info,
                               seconds_total=elapsed(), **base)
    if cancel.is_set():
        return RaceCheckResult(status="cancelled", message="race check cancelled", toolchain=info,
                               seconds_total=elapsed(), **base)
    runs = verdict.runs
    last = verdict.race_runs[-1] if verdict.race_runs else None
    at = f"n = {verdict.n:,}, {last.workers if last else cfg.tsan_threads} workers"
    races, sites = distinct_races(site, verdict.races)
    if races:
        status: RaceStatus = "races"
        folded = len(verdict.races)
        message = races_sentence(site, races, sites) + (
            f" ({folded} report{'s' if folded != 1 else ''} in run {runs}, {at})")
    elif verdict.passed:
        status = "clean"
        message = (f"ThreadSanitizer found no data race in {site.qualified_name} ("
                   f"{verdict.summary.removeprefix('ThreadSanitizer clean: ')})" + caveat)
    else:
        status = "error"
        message = verdict.summary
    base["n"] = verdict.n or base["n"]  # the size TSan actually ran at (at most the timing size)
    if verdict.race_runs:
        base["threads"] = max(r.workers for r in verdict.race_runs)
    result = RaceCheckResult(status=status, message=message, races=races, sites=sites, reports=len(verdict.races),
                             unattributed=len(verdict.unattributed_races), runs=runs, toolchain=info,
                             race_runs=verdict.race_runs, seconds_total=elapsed(), **base)
    emit(ProgressEvent(stage="done", message=message, tried=1, total=1, elapsed=result.seconds_total))
    return result


def _who(thread: str) -> str:
    return "the main thread" if thread == "main" else f"thread {thread}"


def distinct_races(site: ParsedSite, reports: list[RaceReport]) -> tuple[list[RaceReport], list[RaceSites]]:
    """The distinct races among ``reports`` with their sites: TSan reports a race once per address, so a
    scatter gives one report per colliding element; reports whose accesses are the same operations at the
    same expressions (or lines) are one race for the user (the first report is kept)."""
    kept: list[RaceReport] = []
    kept_sites: list[RaceSites] = []
    seen: set[tuple] = set()
    for rep in reports:
        rs = race_sites(site, rep)
        frames = list(rep.user_frames) + [None] * len(rep.accesses)
        sig = (rep.kind, rs.memory, tuple(sorted(
            (a.op, a.atomic, repr((s.start, s.end) if s is not None else (f.file, f.line) if f is not None else None))
            for a, s, f in zip(rep.accesses, list(rs.accesses) + [None] * len(rep.accesses), frames))))
        if sig in seen:
            continue
        seen.add(sig)
        kept.append(rep)
        kept_sites.append(rs)
    return kept, kept_sites


def races_sentence(site: ParsedSite, races: list[RaceReport], sites: list[RaceSites]) -> str:
    """One sentence naming what raced and where, e.g. ``ThreadSanitizer found a data race on `total` in
    racy_sum: a read by thread T1 and a write by the main thread, both at line 12``.

    Lines are 1-based lines of the checked file; an access outside the loop's function is "in library code"
    (or ``file:line`` for another of the user's files, by its base name). No absolute paths.
    """
    def where(rep: RaceReport, rs: RaceSites | None, i: int) -> str:
        acc_site = rs.accesses[i] if rs is not None and i < len(rs.accesses) else None
        if acc_site is not None:
            return f"line {acc_site.line + 1}"
        frame = rep.user_frames[i] if i < len(rep.user_frames) else None
        if frame is not None and frame.line:
            same = os.path.basename(frame.file or "") == os.path.basename(site.path)
            return f"line {frame.line}" if same else f"{os.path.basename(frame.file or '?')}:{frame.line}"
        return "library code"

    first, rs = races[0], (sites[0] if sites else None)
    memory = rs.memory if rs is not None and rs.memory else None
    on = f" on `{memory}`" if memory else ""
    parts = [f"{'an atomic ' if a.atomic else 'a '}{a.op} by {_who(a.thread)}" for a in first.accesses]
    places = [where(first, rs, i) for i in range(len(first.accesses))]
    if len(set(places)) == 1 and len(places) > 1:
        at = f"{' and '.join(parts)}, {'both' if len(parts) == 2 else 'all'} at {places[0]}"
    else:
        at = " and ".join(f"{p} at {w}" for p, w in zip(parts, places))
    if len(races) == 1:
        return f"ThreadSanitizer found a data race{on} in {site.qualified_name}: {at}"
    return f"ThreadSanitizer found {len(races)} data races in {site.qualified_name}; the first{on}: {at}"
