"""What the race stage costs per candidate: seconds, sizes and runs, for the examples' rule candidates.

For each example (``examples/*.cpp``; ``--only`` picks some) the script reads the marked loop, plans its
inputs with ``examples/parevo.inputs.toml`` (so the timing size is the example program's own), prepares
the original, builds every rule-based candidate's ThreadSanitizer executable first (compile time is not
part of the figure), then runs :meth:`Evaluator.race_stage` on each and prints one row per candidate:
the verdict, the seconds the stage took, the ThreadSanitizer runs, and every size it ran at. The last
lines give the mean and the maximum seconds per candidate. Figures are printed, not asserted: the
machine is shared and noisy; run it before and after a change to the race stage on the same machine.

    python bench/race_cost.py [--only NAME ...] [--cache-dir DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from parevo.evolution import rules
from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import DiscoverySettings, discover, require
from parevo.toolchain.evaluate import EvalConfig, Evaluator
from parevo.toolchain.facts import analyze
from parevo.toolchain.harness import variant_source
from parevo.toolchain.inputs import load_spec, plan_inputs
from parevo.toolchain.parsing import find_loop, find_marked_lines

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ONLY = ["flags", "stencil", "sum_squares", "histogram", "bfs_step", "argmin"]


def _sizes(verdict) -> str:
    """The sizes a race verdict ran at (every size when the verdict lists them, else its one ``n``)."""
    runs = getattr(verdict, "race_runs", None)
    if runs:
        return " / ".join(f"{n:,}" for n in sorted({r.n for r in runs}))
    return f"{verdict.n:,}" if verdict.n else "-"


def run_example(path: Path, compiler: Compiler, toolchain, spec) -> list[dict]:
    """Race-check every rule candidate of ``path``'s marked loop; one row per candidate."""
    src = path.read_text()
    site = find_loop(src, str(path), find_marked_lines(src)[0])
    facts = analyze(site)
    cands = rules.propose(site, facts)
    if not cands:
        return []
    ev = Evaluator(site, toolchain, compiler, plan_inputs(site, spec), EvalConfig())
    ev.prepare()
    rows = []
    for cand in cands:
        source = variant_source(site, cand.loop_text, cand.includes, ev.plan, function_text=cand.function_text)
        label = f"{cand.origin} {cand.id}"
        built, exe = ev.build(source, sanitize=True, label=label + " (tsan)")
        if exe is None:
            rows.append({"kernel": path.stem, "candidate": cand.origin, "verdict": "tsan build failed",
                         "seconds": None, "runs": 0, "sizes": "-"})
            continue
        t0 = time.monotonic()
        try:
            verdict = ev.race_stage(source, label, code=cand.code)
        except TypeError:  # a race stage without the candidate's code (before issue 11)
            verdict = ev.race_stage(source, label)
        secs = time.monotonic() - t0
        rows.append({"kernel": path.stem, "candidate": cand.origin, "n_time": ev.baseline.n,
                     "verdict": "clean" if verdict.passed else verdict.summary[:70],
                     "seconds": round(secs, 2), "runs": verdict.runs, "sizes": _sizes(verdict)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", default=DEFAULT_ONLY, help="example names (file stems)")
    p.add_argument("--cache-dir", help="compile cache (default: a fresh temporary one)")
    p.add_argument("--json", help="also write the rows as JSON")
    args = p.parse_args(argv)
    tmp = None
    cache_dir = args.cache_dir
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="parevo-race-bench-")
        cache_dir = tmp.name
    tc = discover(DiscoverySettings(cache_dir=cache_dir))
    require(tc, parlay=True, tsan=True)
    compiler = Compiler(tc, cache_dir)
    spec = load_spec(str(ROOT / "examples" / "parevo.inputs.toml"))
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    print(f"race stage cost per candidate ({os.cpu_count()} cores, load {' '.join(load)} before)")
    print(f"{'kernel':12} {'candidate':28} {'n_time':>9} {'s':>7} {'runs':>4}  sizes / verdict")
    rows = []
    for name in args.only:
        for row in run_example(ROOT / "examples" / f"{name}.cpp", compiler, tc, spec):
            rows.append(row)
            secs = f"{row['seconds']:.2f}" if row["seconds"] is not None else "-"
            print(f"{row['kernel']:12} {row['candidate']:28} {row.get('n_time', 0):>9} {secs:>7} "
                  f"{row['runs']:>4}  {row['sizes']}  {row['verdict']}", flush=True)
    secs = [r["seconds"] for r in rows if r["seconds"] is not None]
    if secs:
        print(f"race stage: {len(secs)} candidates, mean {statistics.mean(secs):.2f} s, median "
              f"{statistics.median(secs):.2f} s, max {max(secs):.2f} s per candidate")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
