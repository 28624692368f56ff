"""What the sandbox costs and what its ThreadSanitizer memory limit allows, measured on the examples.

Timing: for every example (or ``--only``), the original loop and its first
rule-based ParlayLib rewrite are built by the harness and timed by the driver
(``exe time n seed repeats``: the same in-process timer the time stage uses) in
bubblewrap namespaces and in a plain process group, interleaved ABBA over
``--rounds`` rounds at the example's own n (``examples/parevo.inputs.toml``).
The table gives the median per-call time in each, and the ratio sandboxed /
plain as the median of the per-round ratios (each round's two runs are adjacent
in time, so a neighbour's load hits both) with their quartiles; then the
start-up cost of a sandboxed run (``/bin/true``). The load average is printed
before and after.

TSan: the shadow reservation the discovery probe measured, the RLIMIT_DATA a
TSan run gets (reservation + ``TSAN_HEAP_BYTES``), which allocations a TSan
program is granted under it (in the sandbox), and the peak memory of each
example's TSan run of its rewrite (``os.wait4``'s max RSS).

    python bench/sandbox.py [--only NAME ...] [--rounds 15] [--threads 2] [--cache-dir DIR]

Figures are printed, not asserted: the machine is shared and noisy; read a
ratio against its range, and rerun on a quiet machine for tight figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from parevo.evolution import rules
from parevo.toolchain.compiler import Compiler
from parevo.toolchain.discovery import DiscoverySettings, discover, require
from parevo.toolchain.evaluate import EvalConfig, Evaluator, _json_lines
from parevo.toolchain.facts import analyze
from parevo.toolchain.harness import variant_source
from parevo.toolchain.inputs import load_spec, plan_inputs
from parevo.toolchain.isolation import isolation
from parevo.toolchain.parsing import find_loop, find_marked_lines
from parevo.toolchain.racesizes import max_race_n
from parevo.toolchain.sandbox import RunLimits, run_sandboxed
from parevo.toolchain.tsan import TSAN_HEAP_BYTES, tsan_env, tsan_limits

ROOT = Path(__file__).resolve().parent.parent
GiB = 1 << 30

_ALLOC = r"""
#include <cstdio>
#include <cstdlib>
int main(int argc, char** argv) {
  std::size_t mib = std::strtoull(argv[1], nullptr, 10);
  char* p = static_cast<char*>(std::malloc(mib << 20));
  if (p == nullptr) { std::printf("refused\n"); return 3; }
  volatile char* v = p;
  for (std::size_t i = 0; i < (mib << 20); i += 4096) v[i] = 1;  // touch every page
  std::printf("granted\n");
  return 0;
}
"""


def _median_call(exe: str, n: int, repeats: int, threads: int, iso) -> list[float]:
    res = run_sandboxed([exe, "time", str(n), "1", str(repeats)], env_extra={"PARLAY_NUM_THREADS": str(threads)},
                        limits=RunLimits(timeout_s=300), sandbox=iso)
    rows = _json_lines(res.stdout)
    if not res.ok or not rows:
        raise RuntimeError(f"timing run failed: {res.describe()} {res.stderr[-300:]}")
    return [float(x) for x in rows[-1]["samples"]]


def time_both(exe: str, n: int, repeats: int, threads: int, rounds: int) -> dict:
    """Interleaved timing of ``exe`` in namespaces and in a process group: medians (s) and ratios."""
    strong, plain = isolation("auto"), isolation("process-group")
    if not strong.strong:
        raise SystemExit(f"bubblewrap namespaces are unavailable here: {strong.reason}")
    got: dict[str, list[float]] = {"ns": [], "pg": []}
    ratios = []
    for r in range(rounds):
        order = [("ns", strong), ("pg", plain)]
        if r % 2:
            order.reverse()
        per = {}
        for name, iso in order:
            samples = _median_call(exe, n, repeats, threads, iso)
            got[name] += samples
            per[name] = statistics.median(samples)
        ratios.append(per["ns"] / per["pg"])
    ns, pg = statistics.median(got["ns"]), statistics.median(got["pg"])
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
    return {"ns": ns, "pg": pg, "ratio": statistics.median(ratios), "low": q[0], "high": q[2]}


def startup(runs: int = 30) -> tuple[float, float]:
    """Median wall seconds of ``/bin/true`` in namespaces and in a process group."""
    out = []
    for mode in ("auto", "process-group"):
        iso, ts = isolation(mode), []
        for _ in range(runs):
            t0 = time.perf_counter()
            run_sandboxed(["/bin/true"], sandbox=iso)
            ts.append(time.perf_counter() - t0)
        out.append(statistics.median(ts))
    return out[0], out[1]


def tsan_allowance(compiler: Compiler, tc) -> list[tuple[int, str]]:
    """Which allocations (MiB) a TSan program is granted under the TSan stage's limit, in the sandbox."""
    out = compiler.build_executable(_ALLOC, ["-std=c++17", "-O1", "-g", "-fsanitize=thread"],
                                    ["-fsanitize=thread"], label="alloc")
    if not out.ok:
        raise RuntimeError(f"cannot build the TSan allocation probe: {out.first_error}")
    rows = []
    for mib in (256, 768, 1536, 16384):
        with tempfile.TemporaryDirectory(prefix="parevo-bench-tsan-") as tmp:
            res = run_sandboxed([out.output_path, str(mib)], cwd=tmp, env_extra=tsan_env(tmp, 1),
                                limits=tsan_limits(tc.tsan_reserved_bytes, timeout_s=120))
        rows.append((mib, (res.stdout.strip() or res.describe()) + f", max RSS {res.maxrss_bytes / GiB:.2f} GiB"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="example names (file stems)")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds per executable (default 15)")
    p.add_argument("--threads", type=int, default=2, help="ParlayLib worker threads (default 2)")
    p.add_argument("--cache-dir", help="compile cache (default: a fresh temporary one)")
    args = p.parse_args(argv)
    cache = args.cache_dir or tempfile.mkdtemp(prefix="parevo-bench-sandbox-")
    tc = discover(DiscoverySettings(cache_dir=cache))
    require(tc, parlay=True, tsan=True)
    compiler = Compiler(tc, cache)
    iso = isolation("auto")
    print(f"sandbox: {iso.describe()}; {args.threads} threads; {args.rounds} interleaved rounds per executable; "
          f"load average {_load()}")
    ns, pg = startup()
    print(f"start-up of /bin/true: {ns * 1000:.1f} ms in namespaces, {pg * 1000:.1f} ms in a process group "
          f"(median of 30)\n")
    head = (f"{'example':<19} {'what':<24} {'n':>9} {'sandboxed':>10} {'plain':>10} {'ratio':>6}  quartiles"
            f"      TSan max RSS")
    print(head)
    print("-" * len(head))
    files = sorted((ROOT / "examples").glob("*.cpp"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    all_ratios = []
    for f in files:
        src = f.read_text()
        marked = find_marked_lines(src)
        if not marked:
            continue
        site = find_loop(src, str(f), marked[0])
        facts = analyze(site)
        seeds = rules.propose(site, facts) if facts.parallelizable else []
        spec = f.with_name("parevo.inputs.toml")
        plan = plan_inputs(site, load_spec(spec) if spec.exists() else None)
        ev = Evaluator(site, tc, compiler, plan, EvalConfig(threads=args.threads))
        try:
            base = ev.prepare()
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"{f.stem:<19} cannot prepare: {e}")
            continue
        exes = [("original (serial)", ev._original_exe, "")]
        if seeds:
            source = variant_source(site, seeds[0].loop_text, seeds[0].includes, plan,
                                    function_text=seeds[0].function_text)
            verdict, exe = ev.compile_stage(source, label=seeds[0].origin)
            if exe:
                exes.append((seeds[0].origin, exe, tsan_run(ev, tc, source, base.n)))
        for what, exe, tsan in exes:
            t = time_both(exe, base.n, base.repeats, args.threads, args.rounds)
            all_ratios.append(t["ratio"])
            print(f"{f.stem:<19} {what[:24]:<24} {base.n:>9} {t['ns'] * 1e3:>8.3f}ms {t['pg'] * 1e3:>8.3f}ms "
                  f"{t['ratio']:>6.3f}  {t['low']:.2f}-{t['high']:.2f}  {tsan}")
            sys.stdout.flush()
    if all_ratios:
        print(f"\nsandboxed / plain per-call time over {len(all_ratios)} executables: median "
              f"{statistics.median(all_ratios):.3f}, min {min(all_ratios):.3f}, max {max(all_ratios):.3f}; "
              f"load average {_load()}")
    print(f"\nThreadSanitizer: shadow reservation {tc.tsan_reserved_bytes / (1 << 40):.2f} TiB (VmData of an empty "
          f"TSan program, {tc.cxx_version}); RLIMIT_DATA = reservation + {TSAN_HEAP_BYTES / GiB:.1f} GiB")
    for mib, answer in tsan_allowance(compiler, tc):
        print(f"  malloc({mib} MiB) + touch every page under TSan: {answer}")
    return 0


def _load() -> str:
    """The 1, 5 and 15 minute load averages (the machine's state beside every figure)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def tsan_run(ev: Evaluator, tc, source: str, n: int) -> str:
    """One race-stage run of ``source``'s TSan build (4 workers, n capped as the race stage caps its largest
    size: :func:`~parevo.toolchain.racesizes.max_race_n`) under
    the TSan limit, in the sandbox: how it ended and its max RSS."""
    out, exe = ev.build(source, sanitize=True, label="tsan")
    if exe is None:
        return f"TSan build failed: {out.first_error}"
    c = ev.config
    cap = max_race_n(ev.baseline.calibration, c.tsan_max_input_bytes, c.tsan_max_call_s)
    n_race = max(1, min(cap or n, n))
    with tempfile.TemporaryDirectory(prefix="parevo-bench-tsan-") as tmp:
        res = run_sandboxed([exe, "run", str(n_race), "1", "1"], cwd=tmp, env_extra=tsan_env(tmp, c.tsan_threads),
                            limits=tsan_limits(tc.tsan_reserved_bytes, timeout_s=300))
    return f"{res.maxrss_bytes / GiB:.2f} GiB at n = {n_race:,} ({res.describe()})"


if __name__ == "__main__":
    sys.exit(main())
