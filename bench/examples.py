"""Run ``parevo evolve`` on every example and print what it found and what it cost.

Per kernel: pattern, verified yes/no, speedup at the available threads (with n;
``*`` marks an n from ``examples/parevo.inputs.toml`` or the example's own
``main()``, instead of a calibrated one),
time to the first verified candidate, candidates evaluated, candidates per
minute of search (throughput), compile seconds per candidate compile, and why
the search stopped. Figures are printed, not asserted: the machine is noisy;
the machine's load while it ran is printed at the end.

    python bench/examples.py [--only NAME ...] [--cache-dir DIR] [--budget S] [--json PATH]
                             [--max-candidates N] [--no-stop-at-bound] [--no-build-ahead]

Throughput before and after the build pipeline (issue 12 item 4), the same candidates on the same
machine: run twice with ``--max-candidates N --no-stop-at-bound``, once with ``--no-build-ahead``
(one candidate built at a time, none while another is measured) and once without.

By default the compile cache is a fresh temporary directory, so compile costs
are real (use --cache-dir to reuse one and measure the warm path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from parevo.evolution.engine import EvolveRequest, evolve, read_site
from parevo.evolution.search import Budget
from parevo.toolchain.facts import analyze
from parevo.toolchain.parsing import find_marked_lines

ROOT = Path(__file__).resolve().parent.parent


def run_one(path: Path, cache_dir: str, budget: float, threads: int | None, *, evaluations: int = 64,
            stop_at_bound: bool = True, build_ahead: bool = True) -> dict:
    """Evolve the marked loop of ``path``; return a row of figures."""
    src = path.read_text()
    (line,) = find_marked_lines(src)[:1]
    t0 = time.monotonic()
    req = EvolveRequest(budget=Budget(seconds=budget, evaluations=evaluations), cache_dir=cache_dir,
                        threads=threads, stop_at_bound=stop_at_bound, build_ahead=build_ahead)
    try:
        site = read_site(str(path), line, source=src)
        res = evolve(site, analyze(site), req)
    except Exception as e:  # report and go on with the other kernels
        return {"kernel": path.stem, "error": f"{type(e).__name__}: {e}", "seconds": time.monotonic() - t0}
    best = res.best
    t = best.stage("time").timing if best else None
    return {
        "kernel": path.stem,
        "pattern": res.pattern,
        "status": res.status,
        "verified": best is not None,
        "speedup": round(best.speedup, 2) if best else None,
        "threads": res.threads,
        "n": t.n if t else None,
        "n_source": t.n_source if t else None,
        "winner": best.candidate.origin if best else None,
        "first_verified_s": round(res.time_to_first_verified, 1) if res.time_to_first_verified else None,
        "candidates": len(res.candidates),
        "compiles": res.compiles,
        "compile_s_per": round(res.compile_seconds / res.compiles, 1) if res.compiles else None,
        "seconds": round(res.seconds_total, 1),
        "per_minute": round(len(res.candidates) / max(res.seconds_total, 1e-9) * 60, 2),
        "stopped_by": getattr(res.search, "stopped_by", None),
        "message": "" if best else res.message[:160],
    }


def _n(row: dict) -> str:
    """The timing size, ``*`` when the user gave it (input spec or setting) rather than calibrated."""
    if not row.get("n"):
        return "-"
    return f"{row['n']}{'*' if row.get('n_source') not in (None, 'calibrated') else ''}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="kernel names (file stems) to run")
    p.add_argument("--cache-dir", help="compile cache to use (default: a fresh temporary one)")
    p.add_argument("--budget", type=float, default=300.0, help="seconds per kernel")
    p.add_argument("--threads", type=int, help="timing threads (default: all cores)")
    p.add_argument("--json", help="also write the rows as JSON")
    p.add_argument("--max-candidates", type=int, default=64, help="evaluations per kernel (default 64)")
    p.add_argument("--no-stop-at-bound", action="store_true", help="do not stop within 10%% of the loop's bound")
    p.add_argument("--no-build-ahead", action="store_true",
                   help="build one candidate at a time (the code before the build pipeline, for before/after)")
    args = p.parse_args(argv)
    files = sorted((ROOT / "examples").glob("*.cpp"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    cache = args.cache_dir or tempfile.mkdtemp(prefix="parevo-bench-")
    rows = []
    head = f"{'kernel':<18} {'pattern':<11} {'ok':<3} {'speedup':>8} {'thr':>3} {'n':>10} {'1st(s)':>7} " \
           f"{'cands':>5} {'c/min':>5} {'cc/s':>5} {'total':>6} {'stop':<11} winner / reason"
    load0 = os.getloadavg()[0]
    print(head)
    print("-" * len(head))
    for f in files:
        r = run_one(f, cache, args.budget, args.threads, evaluations=args.max_candidates,
                    stop_at_bound=not args.no_stop_at_bound, build_ahead=not args.no_build_ahead)
        rows.append(r)
        if "error" in r:
            print(f"{r['kernel']:<18} error: {r['error'][:120]}")
        else:
            sp = f"{r['speedup']:.2f}x" if r["speedup"] else "-"
            print(f"{r['kernel']:<18} {r['pattern']:<11} {'yes' if r['verified'] else 'no':<3} {sp:>8} "
                  f"{r['threads']:>3} {_n(r):>10} {r['first_verified_s'] or '-':>7} {r['candidates']:>5} "
                  f"{r['per_minute']:>5} {r['compile_s_per'] or '-':>5} {r['seconds']:>6} "
                  f"{r['stopped_by'] or '-':<11} {r['winner'] or r['message']}")
        sys.stdout.flush()
    done = [r for r in rows if "error" not in r and r["candidates"]]
    if done:
        total_c = sum(r["candidates"] for r in done)
        total_s = sum(r["seconds"] for r in done)
        print(f"throughput ({'one build at a time' if args.no_build_ahead else 'builds ahead'}): "
              f"{total_c} candidates in {total_s:.0f} s = {total_c / total_s * 60:.1f} per minute "
              f"(load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after, {os.cpu_count()} cores)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
