"""Benchmark one kernel: every method on the same harness, inputs and machine, side by side.

Per kernel, in this order (compiles never overlap a timing run):

1. **prepare**: parevo's :class:`~parevo.toolchain.evaluate.Evaluator` compiles
   the harness and the serial loop, records the serial outputs on the check
   inputs and calibrates the input size ``n`` (the serial loop at ``-O3``, one
   thread, takes about ``target_seconds`` per call).
2. **build** the methods' executables (two compiles at a time): the serial loop
   at ``-O3``; the serial loop with ``-ftree-parallelize-loops=P`` (GCC
   auto-parallelization); the OpenMP version (``-fopenmp``); the expert
   ParlayLib version, natively and with ``-DPARLAY_SEQUENTIAL``.
3. **check** each against the serial outputs (the evaluator's test stage).
4. **search** with parevo (:mod:`bench.parevo_run`) at the same ``n``, then
   build and check its winner (natively and sequentially).
5. **time** (a) the methods at ``P`` threads, interleaved; (b) separately, the
   ParlayLib rewrites at 1 thread and in their sequential build against the
   serial loop: the sequential build's speedup is the *algorithmic* gain, the
   rest of the ``P``-thread speedup the *parallel* gain.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import Toolchain
from parevo.toolchain.evaluate import EvalConfig, Evaluator
from parevo.toolchain.facts import analyze
from parevo.toolchain.inputs import load_spec, plan_inputs
from parevo.toolchain.parsing import find_loop

from .build import AUTOPAR_REPORT_FLAG, BuildSpec, Built, autopar_loops, build_variant
from .measure import TimedRun, load_average, speedup, time_interleaved
from .parevo_run import LlmChoice, ParevoOutcome, run_parevo
from .suite import Kernel

SEQ_FLAG = "-DPARLAY_SEQUENTIAL"

#: Methods of the main comparison, in report order.
METHODS = ("serial", "gcc-autopar", "omp", "parlay", "parevo")
METHOD_LABELS = {
    "serial": "serial -O3",
    "gcc-autopar": "GCC autopar",
    "omp": "OpenMP",
    "parlay": "expert ParlayLib",
    "parevo": "parevo",
}


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class BenchConfig:
    """Knobs of a benchmark run. Times in seconds, sizes in elements or bytes.

    ``target_seconds`` sets each kernel's input size: the serial loop's call
    time at ``-O3`` on one thread (doubling ``n`` from ``n_start`` up to
    ``n_max`` or ``max_input_bytes`` of inputs). ``rounds`` x ``repeats`` calls
    are timed per method at ``threads`` workers (``split_rounds`` for the
    1-thread and sequential runs). ``parevo_budget_s`` and
    ``parevo_evaluations`` bound each search.
    """

    threads: int = field(default_factory=available_cores)
    seed: int = 1
    target_seconds: float = 0.02
    n_start: int = 1 << 10
    n_max: int = 1 << 23
    max_input_bytes: int = 1 << 29
    rounds: int = 5
    repeats: int = 3
    split_rounds: int = 3
    parevo: bool = True
    parevo_budget_s: float = 75.0
    parevo_evaluations: int = 12
    run_timeout_s: float = 300.0
    llm: LlmChoice = field(default_factory=LlmChoice.from_env)

    @classmethod
    def reduced(cls, **over) -> "BenchConfig":
        """Small sizes and few runs: checks the pipeline end to end, timings mean little."""
        base = dict(target_seconds=0.001, n_start=256, n_max=1 << 13, max_input_bytes=1 << 24, rounds=2, repeats=2,
                    split_rounds=2, parevo_budget_s=90.0, parevo_evaluations=3, run_timeout_s=60.0)
        base.update(over)
        return cls(**base)

    def eval_config(self, kernel: Kernel) -> dict:
        """``EvalConfig`` fields for ``kernel`` (shared by the benchmark's evaluator and parevo's search)."""
        cfg = dict(target_seconds=self.target_seconds, n_start=self.n_start, n_max=self.n_max,
                   max_input_bytes=self.max_input_bytes, run_timeout_s=self.run_timeout_s)
        cfg.update(kernel.eval)
        return cfg


Progress = Callable[[str], None]


def _spec_of(kernel: Kernel):
    spec = kernel.path.with_name("parevo.inputs.toml")
    return load_spec(str(spec)) if spec.exists() else None


def _build_all(ev: Evaluator, specs: list[BuildSpec]) -> dict[str, Built]:
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: two compiles
        futures = {s.key: pool.submit(build_variant, ev, s) for s in specs}
        return {k: f.result() for k, f in futures.items()}


def _build_record(b: Built, check) -> dict:
    rec = {"method": b.spec.method, "flags": list(b.spec.flags), "includes": list(b.spec.includes),
           "ok": b.exe is not None, "compile_s": round(b.compile_seconds, 2), "cached": b.cached}
    if b.error:
        rec["error"] = b.error
    if check is not None:
        rec["check"] = {"passed": check.passed, "summary": check.summary}
    return rec


def bench_kernel(kernel: Kernel, tc: Toolchain, compiler: Compiler, cfg: BenchConfig, cache_dir: str,
                 progress: Progress = print, cancel: threading.Event | None = None) -> dict:
    """Run every method on ``kernel`` and return its JSON-ready record (never raises for a kernel's failure)."""
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    rec: dict = {"kernel": kernel.name, "category": kernel.category, "parallelizable": kernel.parallelizable,
                 "file": str(kernel.path), "threads": cfg.threads, "seed": cfg.seed}
    try:
        _bench(kernel, tc, compiler, cfg, cache_dir, progress, cancel, rec)
    except Exception as e:  # keep the suite going; the report shows the error
        rec["error"] = f"{type(e).__name__}: {e}"
        progress(f"  {kernel.name}: error: {rec['error']}")
    rec["seconds"] = round(time.monotonic() - t0, 1)
    return rec


def _bench(kernel: Kernel, tc: Toolchain, compiler: Compiler, cfg: BenchConfig, cache_dir: str,
           progress: Progress, cancel: threading.Event, rec: dict) -> None:
    P = cfg.threads
    site = find_loop(kernel.path.read_text(), str(kernel.path.resolve()), kernel.line)
    facts = analyze(site)
    plan = plan_inputs(site, _spec_of(kernel))
    ev = Evaluator(site, tc, compiler, plan, EvalConfig(threads=P, seed=cfg.seed, **cfg.eval_config(kernel)), cancel)
    rec.update(function=site.qualified_name, loop_lines=[site.loop.start_line + 1, site.loop.end_line + 1],
               pattern=facts.pattern)

    progress(f"  {kernel.name}: compiling the harness and the serial loop, calibrating n")
    base = ev.prepare()
    rec.update(n=base.n, input_bytes=base.input_bytes, serial_call_s_1thread=base.original_seconds,
               base_flags=ev.compile_flags, sizes=plan.size_at(base.n))

    # ---- the methods' builds
    omp, parlay = kernel.alternatives["omp"], kernel.alternatives["parlay"]
    specs = [
        BuildSpec("serial", "serial", site.loop_text),
        BuildSpec("gcc-autopar", "gcc-autopar", site.loop_text, [], [f"-ftree-parallelize-loops={P}",
                                                                        AUTOPAR_REPORT_FLAG]),
        BuildSpec("omp", "omp", omp.loop_text, omp.includes, omp.flags),
        BuildSpec("parlay", "parlay", parlay.loop_text, parlay.includes, parlay.flags),
    ]
    if not parlay.serial:
        specs.append(BuildSpec("parlay/seq", "parlay", parlay.loop_text, parlay.includes, parlay.flags + [SEQ_FLAG]))
    progress(f"  {kernel.name}: n = {base.n:,}; building {', '.join(s.key for s in specs)}")
    built = _build_all(ev, specs)
    rec["builds"] = {}
    checks = {}
    for key, b in built.items():
        checks[key] = ev.test_stage(b.exe) if b.exe else None
        rec["builds"][key] = _build_record(b, checks[key])
        if b.exe is None or not checks[key].passed:
            progress(f"  {kernel.name}: {key} FAILED: {b.error or checks[key].summary}")
    ap = built["gcc-autopar"]
    lines = autopar_loops(ap.stderr, str(kernel.path), rec["loop_lines"][0], rec["loop_lines"][1])
    rec["autopar"] = {"parallelized_lines": lines, "marked_loop_parallelized": bool(lines)}

    # ---- parevo's search (nothing else runs meanwhile: it times its candidates)
    po: ParevoOutcome | None = None
    if cfg.parevo:
        progress(f"  {kernel.name}: parevo search (budget {cfg.parevo_budget_s:.0f} s, "
                 f"{cfg.parevo_evaluations} candidates)")
        # the search times its candidates at the benchmark's n (a size setting wins over the kernel's own
        # call sites and over calibration)
        search_eval = {**cfg.eval_config(kernel), "timing_n": base.n}
        po = run_parevo(kernel, seed=cfg.seed, threads=P, budget_s=cfg.parevo_budget_s,
                        evaluations=cfg.parevo_evaluations, cache_dir=cache_dir, eval_overrides=search_eval,
                        llm=cfg.llm)
        rec["parevo"] = dataclasses.asdict(po)
        rec["parevo"]["compile_s_per_compile"] = po.compile_seconds_per_compile
        rec["parevo"]["compile_s_per_candidate"] = po.compile_seconds_per_candidate
        rec["parevo"]["cache_hit_rate"] = po.cache_hit_rate
        progress(f"  {kernel.name}: parevo {po.status} in {po.seconds_total:.0f} s: {po.message[:140]}")
        rw = po.winner or po.runner_up
        if rw is not None:
            rec["parevo"]["timed"] = "winner" if po.winner else "runner-up (rejected by parevo as not faster)"
            fn = rw.get("function_text")
            pspecs = [BuildSpec("parevo", "parevo", rw["loop_text"], rw["includes"], function_text=fn),
                      BuildSpec("parevo/seq", "parevo", rw["loop_text"], rw["includes"], [SEQ_FLAG], function_text=fn)]
            pbuilt = _build_all(ev, pspecs)
            for key, b in pbuilt.items():
                checks[key] = ev.test_stage(b.exe) if b.exe else None
                rec["builds"][key] = _build_record(b, checks[key])
            built.update(pbuilt)

    def ok(key: str) -> bool:
        return key in built and built[key].exe is not None and checks.get(key) is not None and checks[key].passed

    # ---- timing (a): every method at P threads, interleaved
    mem = 4 * cfg.max_input_bytes + (2 << 30)
    main_runs = [TimedRun(k, built[k].exe, P) for k in METHODS if ok(k)]
    progress(f"  {kernel.name}: timing {len(main_runs)} methods at {P} threads "
             f"({cfg.rounds} rounds x {cfg.repeats} calls, n = {base.n:,})")
    load0 = load_average()
    main = time_interleaved(main_runs, n=base.n, seed=cfg.seed, rounds=cfg.rounds, repeats=cfg.repeats,
                            timeout_s=cfg.run_timeout_s, memory_bytes=mem, cancel=cancel)
    rec["timing"] = {}
    for key, s in main.items():
        rec["timing"][key] = {"threads": s.threads, **s.stats(), "samples_s": s.seconds,
                              **({"error": s.error} if s.error else {})}
        if "serial" in main and key != "serial":
            rec["timing"][key].update(speedup(main["serial"], s))

    # ---- timing (b): the ParlayLib rewrites at 1 thread and sequentially built
    split_runs = [TimedRun("serial", built["serial"].exe, 1)] if ok("serial") else []
    for m in ("parlay", "parevo"):
        if ok(m) and ok(f"{m}/seq"):
            split_runs += [TimedRun(f"{m}@1", built[m].exe, 1), TimedRun(f"{m}/seq", built[f"{m}/seq"].exe, 1)]
    rec["split"] = {}
    rec["gains"] = {}
    if len(split_runs) > 1:
        progress(f"  {kernel.name}: timing {', '.join(r.key for r in split_runs[1:])} at 1 thread")
        split = time_interleaved(split_runs, n=base.n, seed=cfg.seed, rounds=cfg.split_rounds, repeats=cfg.repeats,
                                 timeout_s=cfg.run_timeout_s, memory_bytes=mem, cancel=cancel)
        for key, s in split.items():
            rec["split"][key] = {"threads": s.threads, **s.stats(), "samples_s": s.seconds,
                                 **({"error": s.error} if s.error else {})}
            if key != "serial":
                rec["split"][key].update(speedup(split["serial"], s))
        for m in ("parlay", "parevo"):
            seq = rec["split"].get(f"{m}/seq", {}).get("speedup")
            one = rec["split"].get(f"{m}@1", {}).get("speedup")
            par = rec["timing"].get(m, {}).get("speedup")
            if seq and par:
                rec["gains"][m] = {"algorithmic": seq, "parallel": par / seq,
                                   "one_thread": one, "self_relative": (par / one) if one else None}
    rec["load_average"] = {"before_timing": load0, "after_timing": load_average()}
