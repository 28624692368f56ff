"""Verdicts on a quiet machine and on a loaded one: does noise ever become "not faster"?

Runs ``parevo evolve`` on the marked loop of every example twice: first as
the machine is, then with one core kept busy by a load generator (a busy loop
in its own session, as a browser or a build in another terminal would be:
with session autogroups, ``nice`` would not shield the timing from it). Each
run has a fresh cache, so both search and compile from scratch. Per example it
prints the verdict (the best rewrite's speedup and 95 % interval, or why none
was verified, with the timing outcomes counted), and the seconds the search
took, in both runs; then the issue's goals:

* no "not faster" under load that the quiet run contradicts (a candidate the
  quiet run timed "faster" whose timing under load came out "not faster"
  rather than "inconclusive");
* at least 80 % of the quiet run's verified rewrites still verified under load
  (re-timing included): printed twice, at the end of the search under load, and
  after the product's wait for a quiet machine (``--wait-quiet``, the editors'
  ``quietWait``): the load generator stops when the search ends, as a build in
  another terminal would, and a search that left busy timings waits for idle
  cores and runs again (:func:`~parevo.evolution.quiet.search_when_quiet`);
* every simple reduction or map ends within 90 s with its verdict.

The machine's load before each phase and its busy cores during the timings
are printed: "quiet" means what the machine was, not what it should be.
Figures are printed, not asserted.

    python bench/noise.py [--only NAME ...] [--budget S] [--wait-quiet S] [--phases quiet loaded] [--json PATH]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parevo.evolution.engine import EvolveRequest, evolve, read_site
from parevo.evolution.quiet import search_when_quiet
from parevo.evolution.search import Budget
from parevo.toolchain.facts import analyze
from parevo.toolchain.machine import MachineReader
from parevo.toolchain.parsing import find_marked_lines

ROOT = Path(__file__).resolve().parent.parent
SIMPLE = {"reduction", "map"}  # the patterns the 90 s goal is about


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the benchmark ends, however it ends (``PR_SET_PDEATHSIG``)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


class LoadGenerator:
    """One busy process in its own session (one core's worth of load), stopped by :meth:`stop`, and
    killed by the kernel when the benchmark's process ends first (a SIGTERM skips ``finally``)."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"], start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def outcomes_of(res) -> tuple[dict[str, int], dict[str, str], list[float]]:
    """Timing outcomes counted, each candidate's outcome, and the foreign cores during the timings."""
    outcomes = {"faster": 0, "not-faster": 0, "inconclusive": 0}
    by_id: dict[str, str] = {}
    foreign = []
    for r in res.candidates:
        v = r.stage("time")
        if v is not None and v.timing is not None:
            if v.timing.outcome in outcomes:
                outcomes[v.timing.outcome] += 1
                by_id[r.id] = v.timing.outcome
            foreign += [c.foreign_cores for c in v.timing.candidate_conditions if c.foreign_cores is not None]
    return outcomes, by_id, foreign


def run_one(path: Path, budget: float, cache_dir: str, wait_s: float, loaded: bool) -> dict:
    """Search the marked loop of ``path`` (``loaded``: beside a :class:`LoadGenerator`, stopped when the
    search ends), then, as ``evolve`` with ``quiet_wait_s`` does, wait for a quiet machine and search again
    when the search left busy timings (:func:`~parevo.evolution.quiet.search_when_quiet`); return the
    verdicts, intervals, outcomes and seconds of both."""
    src = path.read_text()
    (line,) = find_marked_lines(src)[:1]
    t0 = time.monotonic()
    load = os.getloadavg()[0]
    gen = LoadGenerator() if loaded else None
    req = EvolveRequest(budget=Budget(seconds=budget), cache_dir=cache_dir, resume=False)
    try:
        site = read_site(str(path), line)
        facts = analyze(site)
        try:
            first = evolve(site, facts, req)
        finally:
            if gen is not None:
                gen.stop()  # the other work ends with the search, as a build in another terminal would
        res = search_when_quiet(first, lambda: evolve(site, facts, req), reader=MachineReader(), wait_s=wait_s)
    except Exception as e:  # report and go on
        return {"kernel": path.stem, "error": f"{type(e).__name__}: {e}", "seconds": time.monotonic() - t0,
                "load": load}
    outcomes, by_id, foreign = outcomes_of(res)
    first_outcomes, first_by_id, _ = outcomes_of(first)
    best = res.best
    t = best.stage("time").timing if best else None
    q = res.search.quiet
    return {
        "first": ({"status": first.status, "speedup": first.best.speedup if first.best else None,
                   "seconds": round(first.seconds_total, 1), "outcomes": first_outcomes, "by_id": first_by_id,
                   "waited": q.waited_s, "quiet": q.quiet} if q is not None else None),
        "kernel": path.stem, "pattern": res.pattern, "status": res.status,
        "speedup": round(best.speedup, 2) if best else None,
        "interval": [round(t.speedup_low, 2), round(t.speedup_high, 2)] if t else None,
        "outcomes": outcomes, "by_id": by_id, "stopped_by": res.search.stopped_by, "stop_note": res.search.stop_note,
        "candidates": len(res.candidates), "seconds": round(time.monotonic() - t0, 1), "load": round(load, 2),
        "search_seconds": round(res.seconds_total, 1),
        "foreign_cores": round(sorted(foreign)[len(foreign) // 2], 2) if foreign else None,
        "message": "" if best else res.message[:120],
    }


def first_verdict(row: dict) -> str:
    """The verdict when the search under load ended, before any wait for a quiet machine."""
    f = row.get("first")
    if f is None:
        return verdict(row)
    if f["speedup"]:
        return f"{f['speedup']:.2f}x"
    o = f["outcomes"]
    return f"none ({o['not-faster']} nf, {o['inconclusive']} inc)"


def first_verified(row: dict | None) -> bool:
    if not row or "error" in row:
        return False
    f = row.get("first")
    return row["status"] == "verified" if f is None else f["status"] == "verified"


def verdict(row: dict) -> str:
    if "error" in row:
        return "error"
    if row["status"] == "verified":
        lo, hi = row["interval"]
        return f"{row['speedup']:.2f}x [{lo:.2f}-{hi:.2f}]"
    if row["status"] == "not-parallelizable":
        return "not parallelizable"
    o = row["outcomes"]
    return f"none ({o['not-faster']} nf, {o['inconclusive']} inc)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="example names (file stems)")
    p.add_argument("--budget", type=float, default=600.0, help="seconds per search (the CLI's default: 600)")
    p.add_argument("--wait-quiet", type=float, default=300.0,
                   help="seconds a search the load left inconclusive waits for a quiet machine (0: none)")
    p.add_argument("--phases", nargs="*", default=["quiet", "loaded"], choices=["quiet", "loaded"])
    p.add_argument("--json", help="also write the rows as JSON")
    p.add_argument("--from-json", metavar="PATH", help="print the table and the goals of an earlier run's --json")
    args = p.parse_args(argv)
    if args.from_json:
        summarize(json.loads(Path(args.from_json).read_text()), args.budget)
        return 0
    files = sorted((ROOT / "examples").glob("*.cpp"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    reader = MachineReader()
    rows: dict[str, dict[str, dict]] = {}
    for phase in args.phases:
        idle = reader.idle_cores(1.0)
        print(f"== {phase}: load average {os.getloadavg()[0]:.2f}, idle cores {idle if idle is not None else '?'} "
              f"of {reader.cores}" + (" (a load generator beside each search)" if phase == "loaded" else ""),
              flush=True)
        for f in files:
            cache = tempfile.mkdtemp(prefix=f"parevo-noise-{phase}-")
            try:
                row = run_one(f, args.budget, cache, args.wait_quiet, phase == "loaded")
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            rows.setdefault(f.stem, {})[phase] = row
            w = row.get("first")
            waited = (f"; search {w['seconds']} s -> {first_verdict(row)}, waited {w['waited']} s for a quiet "
                      f"machine ({'quiet' if w['quiet'] else 'stayed busy'})" if w else "")
            print(f"  {f.stem:<18} {verdict(row):<32} {row['seconds']:>6} s (search {row.get('search_seconds', '-')} s)"
                  f"  load {row['load']:>5}  other work: "
                  f"{row.get('foreign_cores', '-')} cores  {row.get('stop_note') or row.get('stopped_by') or ''}"
                  f"{waited}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
    summarize(rows, args.budget)
    return 0


def summarize(rows: dict[str, dict[str, dict]], budget: float) -> None:
    """Print the per-example table and the issue's goals for ``rows`` (example -> phase -> row)."""
    print()
    print(f"{'example':<18} {'pattern':<11} {'quiet':<30} {'s':>6}  {'loaded, search end':<20} {'s':>6}  "
          f"{'loaded, after re-timing':<30} {'s':>6}")
    contradictions, kept, kept_end, quiet_verified, slow_simple = [], 0, 0, 0, []
    for name, by in rows.items():
        q, ld = by.get("quiet"), by.get("loaded")
        pattern = (q or ld or {}).get("pattern", "?")
        end_s = (ld.get("first") or {}).get("seconds", ld["seconds"]) if ld else "-"
        print(f"{name:<18} {pattern:<11} {verdict(q) if q else '-':<30} {q['seconds'] if q else '-':>6}  "
              f"{first_verdict(ld) if ld else '-':<20} {end_s:>6}  "
              f"{verdict(ld) if ld else '-':<30} {ld['seconds'] if ld else '-':>6}")
        if q and q.get("status") == "verified":
            quiet_verified += 1
            kept += bool(ld and ld.get("status") == "verified")
            kept_end += first_verified(ld)
        if q and ld:  # a rewrite faster on the quiet machine, "not faster" under load (not after the wait:
            # the search run once the machine was quiet measured on a quiet machine)
            under_load = (ld.get("first") or ld).get("by_id", {})
            for cid, outcome in under_load.items():
                if outcome == "not-faster" and q.get("by_id", {}).get(cid) == "faster":
                    contradictions.append(f"{name} [{cid}]")
        for ph, r in (("quiet", q), ("loaded", ld)):  # the search's own verdict (a wait comes after it)
            end = (r.get("first") or {}).get("seconds", r.get("seconds", 0)) if r else 0
            if r and r.get("pattern") in SIMPLE and end > 90:
                slow_simple.append(f"{name} ({ph}, {end} s)")
    print()
    print(f"'not faster' under load where the quiet run verified: {', '.join(contradictions) or 'none'}")
    if quiet_verified and any("loaded" in by for by in rows.values()):
        print(f"quiet run's verified rewrites verified under load at the end of the search: {kept_end}/"
              f"{quiet_verified} ({kept_end / quiet_verified:.0%})")
        print(f"quiet run's verified rewrites still verified under load, re-timing included (the wait for a quiet "
              f"machine): {kept}/{quiet_verified} ({kept / quiet_verified:.0%}; goal 80%)")
    print(f"simple reductions and maps over 90 s (to the end of the search, before any wait): "
          f"{', '.join(slow_simple) or 'none'}")
    over = [(sec - budget, f"{name} ({ph})") for name, by in rows.items() for ph, r in by.items()
            for sec in ([r["first"]["seconds"], r["search_seconds"]] if r.get("first") else [r["seconds"]])]
    if over:
        worst, who = max(over)
        print(f"budget {budget:.0f} s: longest search {budget + worst:.1f} s ({who}): "
              + (f"{worst:.1f} s over the budget" if worst > 0 else f"{-worst:.1f} s inside it"))


if __name__ == "__main__":
    sys.exit(main())
