"""``python -m bench``: the whole suite, every method, one run; a Markdown table, JSON and a plot.

    python -m bench                      # full suite (about 25 min on 2 busy cores)
    python -m bench --reduced            # the CI subset at small sizes (pipeline check, timings meaningless)
    python -m bench --only bfs matmul    # some kernels
    python -m bench --no-parevo          # only the baselines

Writes ``bench.md``, ``bench.json`` and ``bench.png`` to ``--out`` (default
``bench/out/``; the report is rewritten after each kernel, so an interrupted run
keeps what it measured). An LLM endpoint for parevo's search is taken from
``--llm-base-url``/``--llm-model``/``--llm-api-key-env`` or the environment
variables ``PAREVO_LLM_BASE_URL``/``PAREVO_LLM_MODEL``/``PAREVO_LLM_KEY_ENV``
and passed to the search when the engine takes LLM settings.

By default the run compiles into a fresh, empty cache (removed at the end), so
parevo's search cost (compile seconds, cache hit rate, time to the first
verified rewrite) is what a first search costs; ``--cache-dir`` reuses a cache
(faster, but parevo's evaluation cache then replays earlier searches).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import DiscoverySettings, discover, require
from parevo.toolchain.models import ParevoError

from .measure import load_average
from .parevo_run import LlmChoice, llm_request_fields
from .plot import PlotUnavailable, plot_speedups
from .report import summarize, write_report
from .runner import BenchConfig, available_cores, bench_kernel
from .suite import KERNEL_DIR, SuiteError, load_suite

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
#: A 1-minute load average above this share of the cores means other work ran during the run.
NOISY_LOAD_SHARE = 0.25


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", metavar="KERNEL", help="run only these kernels (names in suite.toml)")
    p.add_argument("--reduced", action="store_true", help="the CI subset at small sizes, few runs")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: bench/out)")
    p.add_argument("--kernels", type=Path, default=KERNEL_DIR, help="kernel directory (default: bench/kernels)")
    p.add_argument("--cache-dir", help="reuse this compile cache (default: a fresh empty one, removed at the end)")
    p.add_argument("--keep-cache", action="store_true", help="keep the fresh cache and print where it is")
    p.add_argument("--threads", type=int, help="threads of the parallel runs (default: the available cores)")
    p.add_argument("--target-ms", type=float, help="serial call time that sets each kernel's n, in ms")
    p.add_argument("--rounds", type=int, help="timing processes per method")
    p.add_argument("--repeats", type=int, help="timed calls per process")
    p.add_argument("--no-parevo", action="store_true", help="skip parevo's search (baselines only)")
    p.add_argument("--parevo-budget", type=float, help="seconds per parevo search")
    p.add_argument("--parevo-candidates", type=int, help="candidates per parevo search")
    p.add_argument("--llm-base-url")
    p.add_argument("--llm-model")
    p.add_argument("--llm-api-key-env", help="name of the environment variable holding the API key")
    p.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="only re-render bench.md and bench.png from an existing bench.json (into --out)")
    return p.parse_args(argv)


def make_config(args: argparse.Namespace) -> BenchConfig:
    """The :class:`BenchConfig` the arguments ask for."""
    over: dict = {}
    if args.threads:
        over["threads"] = args.threads
    if args.target_ms:
        over["target_seconds"] = args.target_ms / 1e3
    if args.rounds:
        over["rounds"] = args.rounds
        over["split_rounds"] = max(1, min(args.rounds, 5))
    if args.repeats:
        over["repeats"] = args.repeats
    if args.no_parevo:
        over["parevo"] = False
    if args.parevo_budget:
        over["parevo_budget_s"] = args.parevo_budget
    if args.parevo_candidates:
        over["parevo_evaluations"] = args.parevo_candidates
    env = LlmChoice.from_env()
    over["llm"] = LlmChoice(base_url=args.llm_base_url or env.base_url, model=args.llm_model or env.model,
                            api_key_env=args.llm_api_key_env or env.api_key_env)
    return BenchConfig.reduced(**over) if args.reduced else BenchConfig(**over)


def noise_note(load_before: float | None, load_after: float | None, cores: int) -> str:
    """A sentence about machine load during the run ("" when it looked quiet)."""
    loads = [x for x in (load_before, load_after) if x is not None]
    if loads and max(loads) > NOISY_LOAD_SHARE * cores:
        return (f"the 1-minute load average reached {max(loads):.2f} on {cores} cores: other work was running "
                "during the run, so timings are noisy (the quartile ranges show how much)")
    return ""


def render(json_path: Path, out: Path, plot: bool = True) -> dict[str, Path]:
    """Rewrite the Markdown table (and the plot) of an existing JSON report into ``out``."""
    report = json.loads(json_path.read_text())
    report["summary"] = summarize(report["kernels"])
    paths = write_report(report, out)
    if plot:
        try:
            paths["plot"] = plot_speedups(report, out / "bench.png")
        except PlotUnavailable as e:
            print(f"bench: plot skipped: {e}", file=sys.stderr)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        paths = render(args.render, args.out, plot=not args.no_plot)
        print("bench: rendered " + ", ".join(str(p) for p in paths.values()))
        return 0
    try:
        kernels = load_suite(args.kernels, only=args.only, reduced=args.reduced)
    except SuiteError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    cfg = make_config(args)
    fresh = not args.cache_dir
    cache_dir = tempfile.mkdtemp(prefix="parevo-bench-cache-") if fresh else args.cache_dir
    try:
        return _run(args, kernels, cfg, cache_dir, fresh)
    finally:
        if fresh and not args.keep_cache:
            shutil.rmtree(cache_dir, ignore_errors=True)
        elif fresh:
            print(f"bench: compile cache kept in {cache_dir}")


def _run(args: argparse.Namespace, kernels, cfg: BenchConfig, cache_dir: str, fresh: bool) -> int:
    try:
        tc = discover(DiscoverySettings(cache_dir=cache_dir))
        require(tc, parlay=True, tsan=cfg.parevo)
    except ParevoError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    compiler = Compiler(tc, cache_dir)
    _, llm_note = llm_request_fields(cfg.llm)
    t0 = time.monotonic()
    meta = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "threads": cfg.threads, "cores": available_cores(), "compiler": tc.cxx, "compiler_version": tc.cxx_version,
        "parlay_version": tc.parlay_version, "parlay_include": tc.parlay_include,
        "cache": "fresh (cold: real compile costs)" if fresh else f"reused ({cache_dir})",
        "reduced": args.reduced, "load_before": load_average(), "parevo_mode": llm_note if cfg.parevo else "not run",
        "base_flags": [],
    }
    config = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "llm"}
    report = {"meta": meta, "config": config, "kernels": [], "summary": {}}
    print(f"bench: {len(kernels)} kernels, {cfg.threads} threads, output in {args.out}")
    for i, k in enumerate(kernels, 1):
        print(f"[{i}/{len(kernels)}] {k.name} ({k.category})", flush=True)
        rec = bench_kernel(k, tc, compiler, cfg, cache_dir, progress=lambda s: print(s, flush=True))
        report["kernels"].append(rec)
        if rec.get("base_flags"):
            meta["base_flags"] = rec["base_flags"]
        meta["load_after"] = load_average()
        seen = [meta["load_before"], meta["load_after"]] + [v for r in report["kernels"]
                                                            for v in r.get("load_average", {}).values()]
        meta["load_max"] = max((x for x in seen if x is not None), default=None)
        meta["wall_s"] = time.monotonic() - t0
        meta["noise_note"] = noise_note(meta["load_before"], meta["load_max"], meta["cores"])
        report["summary"] = summarize(report["kernels"])
        paths = write_report(report, args.out)
    if not args.no_plot and report["kernels"]:
        try:
            paths["plot"] = plot_speedups(report, args.out / "bench.png")
        except PlotUnavailable as e:
            print(f"bench: plot skipped: {e}", file=sys.stderr)
    print(f"bench: done in {meta['wall_s']:.0f} s: " + ", ".join(str(p) for p in paths.values()))
    return 1 if report["summary"].get("errors") else 0
