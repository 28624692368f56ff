"""Evolutionary search against best-of-N sampling of the same proposers, at the same evaluation budget.

For each example loop, runs :func:`parevo.evolution.engine.evolve` twice with
the same seed and evaluation budget:

* ``evolve``: generations with MAP-Elites parent selection and feedback
  (:mod:`parevo.evolution.controller`);
* ``best-of-n``: N independent draws from the same proposers, no selection,
  no feedback: the rule-based candidates and their one-step parameter
  mutations when no LLM endpoint is configured; with one (``PAREVO_LLM_MODEL``,
  ``PAREVO_LLM_BASE_URL``, ``PAREVO_LLM_KEY_ENV``), the rule candidates plus
  independent first-rewrite LLM samples.

Both share one evaluation cache, so a candidate proposed by both is measured
once and carries the same figures in both columns (the comparison is about
which candidates each strategy finds, not about timing noise). Printed per
example and strategy: the best verified speedup offered (faster than the
original), the best verified speedup at all, evaluations to reach the best,
evaluations used, evaluation-cache hit rate and wall seconds.

Usage::

    python bench/search_vs_bestofn.py                       # default examples, 10 evaluations
    python bench/search_vs_bestofn.py --evaluations 16 --examples saxpy.cpp:8 histogram.cpp:8
    python bench/search_vs_bestofn.py --json out.json
    python bench/search_vs_bestofn.py --report seed1.json seed2.json   # summary over saved runs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EXAMPLES = ["sum_squares.cpp:8", "saxpy.cpp:8", "histogram.cpp:8", "prefix_sum.cpp:8"]
FAST_EVAL = dict(check_sizes=[0, 1, 2, 3, 17, 100, 1000, 4099], check_seeds=[1, 2], rounds=3, repeats=3,
                 tsan_runs=2, tsan_max_input_bytes=2 << 20, target_seconds=0.005)


def run_one(example: str, strategy: str, args, llm) -> dict:
    """One search of ``example`` (``FILE:LINE`` under examples/) with ``strategy``; a summary row."""
    from parevo.evolution.controller import SearchSettings
    from parevo.evolution.engine import EvolveRequest, evolve, read_site
    from parevo.toolchain.facts import analyze
    from parevo.evolution.search import Budget

    name, line = example.rsplit(":", 1)
    path = Path(name) if Path(name).exists() else ROOT / "examples" / name
    req = EvolveRequest(seed=args.seed, cache_dir=args.cache_dir,
                        budget=Budget(seconds=args.seconds, evaluations=args.evaluations), llm=llm,
                        generations=args.generations, eval=dict(FAST_EVAL) if args.fast else {},
                        search=SearchSettings(strategy=strategy, children=args.children, patience=args.patience),
                        resume=False)
    t0 = time.monotonic()
    site = read_site(str(path), int(line) - 1)
    res = evolve(site, analyze(site), req)
    verified = [r for r in res.candidates if r.verified and r.speedup is not None]
    best_any = max(verified, key=lambda r: r.speedup, default=None)
    best = res.best
    return {
        "example": example, "strategy": strategy, "seed": args.seed, "status": res.status,
        "best_speedup": round(best.speedup, 3) if best else None,
        "best_origin": best.candidate.origin if best else None,
        "best_verified_speedup": round(best_any.speedup, 3) if best_any else None,
        "evaluations_to_best": res.search.evaluations_to_best,
        "evaluations": res.search.evaluations, "generations": res.search.generations,
        "stopped_by": res.search.stopped_by,
        "cache_lookups": res.search.eval_cache_lookups, "cache_hits": res.search.eval_cache_hits,
        "cache_hit_rate": res.search.eval_cache_hit_rate, "compiles": res.compiles,
        "seconds": round(time.monotonic() - t0, 1), "run_id": res.run_id,
        "llm_tokens": res.llm.tokens if res.llm else 0,
    }


def fmt(x, suffix="x"):
    return "-" if x is None else f"{x:.2f}{suffix}"


def print_table(rows: list[dict]) -> None:
    head = (f"{'example':<20} {'seed':>4} {'strategy':<10} {'best':>6} {'(any)':>7} {'evals→best':>10} {'evals':>6} "
            f"{'cache hit':>9} {'seconds':>8}  winner")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['example']:<20} {r.get('seed', '?'):>4} {r['strategy']:<10} {fmt(r['best_speedup']):>6} "
              f"{fmt(r['best_verified_speedup']):>7} {r['evaluations_to_best'] or '-':>10} {r['evaluations']:>6} "
              f"{r['cache_hit_rate']:>8.0%} {r['seconds']:>8.1f}  {r['best_origin'] or '-'}")


def summarize(rows: list[dict]) -> list[str]:
    """Per strategy: mean best offered speedup (0 when none), mean best verified speedup (offered or
    not: the timing gate rejects noisy measurements), evaluations to the best, cache hits; then
    head-to-head counts per (example, seed)."""
    out = []
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["strategy"], []).append(r)
    for strat, rs in by.items():
        sp = [r["best_speedup"] or 0.0 for r in rs]
        anyv = [r["best_verified_speedup"] or 0.0 for r in rs]
        tb = [r["evaluations_to_best"] for r in rs if r["evaluations_to_best"]]
        hits = sum(r["cache_hits"] for r in rs)
        looks = sum(r["cache_lookups"] for r in rs)
        out.append(f"{strat}: {len(rs)} searches; a faster rewrite offered in {sum(1 for x in sp if x > 0)}, mean "
                   f"best offered {sum(sp) / len(sp):.2f}x, mean best verified {sum(anyv) / len(anyv):.2f}x; "
                   f"mean evaluations to the offered best "
                   f"{(sum(tb) / len(tb)) if tb else float('nan'):.1f}; evaluation cache {hits}/{looks} hits "
                   f"({hits / looks if looks else 0:.0%})")
    pairs: dict[tuple, dict] = {}
    for r in rows:
        pairs.setdefault((r["example"], r.get("seed")), {})[r["strategy"]] = r
    for key, label in (("best_speedup", "offered"), ("best_verified_speedup", "verified")):
        ev = [(p["evolve"][key] or 0.0, p["best-of-n"][key] or 0.0) for p in pairs.values()
              if "evolve" in p and "best-of-n" in p]
        wins = sum(1 for a, b in ev if a > b + 1e-9)
        losses = sum(1 for a, b in ev if b > a + 1e-9)
        out.append(f"best {label} speedup, evolve vs best-of-n: {wins} wins, {losses} losses, "
                   f"{len(ev) - wins - losses} ties over {len(ev)} (loop, seed) pairs")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", nargs="+", default=DEFAULT_EXAMPLES, help="FILE:LINE (1-based) under examples/")
    p.add_argument("--evaluations", type=int, default=10, help="evaluation budget per search (default 10)")
    p.add_argument("--generations", type=int, default=10)
    p.add_argument("--children", type=int, default=4)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3600.0, help="wall budget per search")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cache-dir", help="shared cache (default: parevo's)")
    p.add_argument("--full-eval", dest="fast", action="store_false",
                   help="the default cascade settings instead of the benchmark's lighter ones")
    p.add_argument("--json", help="write the rows as JSON")
    p.add_argument("--report", nargs="+", metavar="JSON", help="print the table and summary of saved --json files")
    args = p.parse_args(argv)
    if args.report:
        rows = [r for f in args.report for r in json.loads(Path(f).read_text())]
        print_table(rows)
        print()
        for line in summarize(rows):
            print(line)
        return 0

    from parevo.evolution.llm import LLMSettings

    llm = LLMSettings.from_env()
    proposers = (f"rules + parameter mutations + LLM {llm.describe()}" if llm
                 else "rules + parameter mutations (no LLM endpoint configured)")
    print(f"proposers: {proposers}; budget {args.evaluations} evaluations per search; seed {args.seed}", flush=True)
    rows = []
    for k, ex in enumerate(args.examples):
        order = ["evolve", "best-of-n"] if k % 2 == 0 else ["best-of-n", "evolve"]
        for strat in order:
            print(f"... {ex} {strat}", file=sys.stderr, flush=True)
            rows.append(run_one(ex, strat, args, llm))
    rows.sort(key=lambda r: (args.examples.index(r["example"]), r["strategy"] != "evolve"))
    print_table(rows)
    print()
    for line in summarize(rows):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
