"""The benchmark report: a Markdown table set and a JSON file from the per-kernel records.

Every speedup is ``median(serial -O3) / median(method)`` over interleaved runs
on identical inputs, with its quartile range, at the threads and input size
named next to it. A method that did not build or did not match the serial
outputs has no speedup (the cell says why). parevo's *effective* speedup is its
winner's, or 1x when it offered no rewrite (the user keeps the serial loop).
"""

from __future__ import annotations

import json
from pathlib import Path

from .measure import geometric_mean
from .runner import METHOD_LABELS

#: parevo "matches" the expert when its median speedup reaches this share of the expert's.
MATCH_SHARE = 0.9
#: CPUs busy inside the calls below which GCC's parallelized loop is taken to have run serially
#: (GCC guards its parallel version with run-time checks).
AUTOPAR_RAN_SERIAL_BELOW = 1.2
#: parevo "beats" GCC auto-parallelization when its speedup exceeds autopar's by this factor.
BEAT_FACTOR = 1.05


def _x(v: float | None) -> str:
    """A speedup with 3 significant digits (``1.85x``, ``0.0046x``, ``134x``)."""
    if v is None:
        return "—"
    return f"{v:.2f}x" if 0.1 <= v < 10 else f"{v:.3g}x"


def _ms(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def method_speedup(k: dict, method: str) -> float | None:
    """Median speedup of ``method`` over serial in the main timing (None: not timed or failed)."""
    t = k.get("timing", {}).get(method, {})
    return t.get("speedup") if not t.get("error") else None


def parevo_offered(k: dict) -> bool:
    """True when parevo verified a rewrite faster than the serial loop (it would offer it)."""
    return bool(k.get("parevo", {}).get("winner"))


def parevo_effective(k: dict) -> float | None:
    """parevo's speedup as a user gets it: the winner's, else 1.0 (the serial loop is kept)."""
    if "parevo" not in k:
        return None
    if parevo_offered(k):
        return method_speedup(k, "parevo")
    return 1.0


def speedup_range(k: dict, method: str) -> tuple[float, float] | None:
    """The quartile range ``(low, high)`` of ``method``'s speedup, None when not timed."""
    t = k.get("timing", {}).get(method, {})
    return (t["low"], t["high"]) if "low" in t and not t.get("error") else None


def autopar_effective(k: dict) -> float | None:
    """GCC autopar's speedup; 1.0 when GCC did not parallelize the marked loop (the loop's code is
    then the serial loop's, and any measured difference is noise or code layout)."""
    ap = method_speedup(k, "gcc-autopar")
    if ap is not None and k.get("autopar") and not k["autopar"].get("marked_loop_parallelized"):
        return 1.0
    return ap


def verdicts(k: dict) -> dict:
    """Per kernel: did parevo beat GCC autopar, did it match the expert ParlayLib version?

    Each answer is ``yes``, ``no`` or ``within noise``. ``beats_autopar``:
    ``yes`` when parevo's effective speedup exceeds autopar's effective one by
    :data:`BEAT_FACTOR` and their quartile ranges do not overlap, ``no`` in the
    mirror case. ``matches_expert``: ``yes`` when parevo reaches
    :data:`MATCH_SHARE` of the expert's median speedup, ``within noise`` when
    it does not but the ranges overlap. A speedup that is 1.0 by definition
    (no rewrite offered, or GCC left the loop serial) has the range [1, 1].
    Both are ``None`` (n/a) for kernels that are not parallelizable.
    """
    pe, ap, ex = parevo_effective(k), autopar_effective(k), method_speedup(k, "parlay")
    out = {"parevo_effective": pe, "beats_autopar": None, "matches_expert": None}
    if not k.get("parallelizable", True):
        return out
    pr = (speedup_range(k, "parevo") or (pe, pe)) if parevo_offered(k) else (1.0, 1.0)
    if pe is not None and ap is not None:
        took_loop = bool(k.get("autopar", {}).get("marked_loop_parallelized", True))
        ar = (speedup_range(k, "gcc-autopar") or (ap, ap)) if took_loop else (1.0, 1.0)
        if pe > ap * BEAT_FACTOR and pr[0] > ar[1]:
            out["beats_autopar"] = "yes"
        elif ap > pe * BEAT_FACTOR and ar[0] > pr[1]:
            out["beats_autopar"] = "no"
        else:
            out["beats_autopar"] = "within noise"
    if pe is not None and ex is not None:
        er = speedup_range(k, "parlay") or (ex, ex)
        if pe >= MATCH_SHARE * ex:
            out["matches_expert"] = "yes"
        else:
            out["matches_expert"] = "within noise" if pr[1] >= er[0] else "no"
    return out


def summarize(kernels: list[dict]) -> dict:
    """Suite-wide figures: geometric-mean speedups over the parallelizable kernels, verdict counts."""
    par = [k for k in kernels if k.get("parallelizable") and "error" not in k]
    gm = {m: geometric_mean([method_speedup(k, m) for k in par if method_speedup(k, m)])
          for m in ("gcc-autopar", "omp", "parlay")}
    gm["parevo (effective)"] = geometric_mean([parevo_effective(k) for k in par if parevo_effective(k)])
    vs = [verdicts(k) for k in par]
    return {
        "parallelizable_kernels": len(par),
        "geomean_speedup": gm,
        "parevo_offered": sum(parevo_offered(k) for k in par),
        "parevo_beats_autopar": sum(v["beats_autopar"] == "yes" for v in vs),
        "parevo_matches_expert": sum(v["matches_expert"] == "yes" for v in vs),
        "errors": [k["kernel"] for k in kernels if "error" in k],
    }


def _parevo_cell(k: dict) -> str:
    if "parevo" not in k:
        return "not run"
    p = k["parevo"]
    t = k.get("timing", {}).get("parevo", {})
    if p.get("winner"):
        return _x(t.get("speedup")) if "speedup" in t else "built, not timed"
    if p.get("runner_up"):
        return f"1x (best correct {_x(t.get('speedup'))}, not faster: kept serial)"
    if p["status"] == "not-parallelizable":
        return "1x (declined: not parallelizable)"
    if p["status"] == "error":
        return "error"
    return "1x (nothing verified)"


def _cell(k: dict, method: str) -> str:
    t = k.get("timing", {}).get(method)
    b = k.get("builds", {}).get(method, {})
    if not b:
        return "—"
    if not b.get("ok"):
        return "build failed"
    if not b.get("check", {}).get("passed", False):
        return "WRONG OUTPUT"
    if not t or "speedup" not in t:
        return t.get("error", "—")[:40] if t else "—"
    return f"{_x(t['speedup'])} [{t['low']:.2f}–{t['high']:.2f}]"


def markdown(report: dict) -> str:
    """The report as Markdown: conditions, the speedup table, the gain split, parevo's cost."""
    meta, kernels = report["meta"], report["kernels"]
    P = meta["threads"]
    L = [f"# parevo benchmark: {len(kernels)} kernels, {P} threads", ""]
    def load(x):
        return "?" if x is None else f"{x:.2f}"

    L.append(f"- Machine: {meta['cores']} cores available; 1-minute load average {load(meta['load_before'])} "
             f"before, {load(meta['load_after'])} after, at most {load(meta.get('load_max'))} around the timings; "
             f"{meta['wall_s']:.0f} s wall for the whole run.")
    L.append(f"- Compiler: {meta['compiler']} ({meta['compiler_version']}); ParlayLib {meta['parlay_version']}; "
             f"base flags `{' '.join(meta['base_flags'])}`; variant flags: GCC autopar "
             f"`-ftree-parallelize-loops={P}`, OpenMP `-fopenmp`, sequential ParlayLib `-DPARLAY_SEQUENTIAL`.")
    c = report["config"]
    L.append(f"- Timing: interleaved rounds, {c['rounds']} processes x {c['repeats']} calls per method "
             f"(median, [quartile range] of the speedup); input size n per kernel set so the serial loop takes "
             f"about {c['target_seconds'] * 1e3:g} ms per call; seed {c['seed']}; every method runs the same "
             f"harness on the same inputs. parevo: {meta['parevo_mode']}; compile cache "
             f"{meta.get('cache', 'unknown')}.")
    if meta.get("noise_note"):
        L.append(f"- Noise: {meta['noise_note']}")
    L += ["", f"## Speedup over the serial loop at -O3 ({P} threads)", ""]
    L.append("| kernel | category | n | serial -O3 per call | GCC autopar | OpenMP | expert ParlayLib | parevo "
             "| parevo beats autopar? | parevo matches expert? |")
    L.append("|---|---|---:|---:|---|---|---|---|---|---|")
    for k in kernels:
        if "error" in k and "timing" not in k:
            L.append(f"| {k['kernel']} | {k['category']} | — | — | error: {k['error'][:80]} | | | | | |")
            continue
        ser = k.get("timing", {}).get("serial", {})
        ap = _cell(k, "gcc-autopar")
        if k.get("autopar") and ap not in ("—", "build failed"):
            busy = k.get("timing", {}).get("gcc-autopar", {}).get("cpus_busy")
            if not k["autopar"]["marked_loop_parallelized"]:
                ap += " (loop not parallelized)"
            elif busy is not None and busy < AUTOPAR_RAN_SERIAL_BELOW:
                ap += f" (parallelized at compile time, ran on {busy:.2f} CPUs)"
        v = verdicts(k)
        L.append(f"| {k['kernel']} | {k['category']} | {k.get('n', 0):,} | {_ms(ser.get('median_s'))} | {ap} | "
                 f"{_cell(k, 'omp')} | {_cell(k, 'parlay')} | {_parevo_cell(k)} | {v['beats_autopar'] or 'n/a'} | "
                 f"{v['matches_expert'] or 'n/a'} |")
    s = report["summary"]
    gm = s["geomean_speedup"]
    L += ["", f"Geometric mean over the {s['parallelizable_kernels']} parallelizable kernels: "
          + ", ".join(f"{m} {_x(v)}" for m, v in gm.items()) + ". "
          f"parevo offered a verified rewrite on {s['parevo_offered']}, beat GCC auto-parallelization on "
          f"{s['parevo_beats_autopar']} and matched the expert version (at least {MATCH_SHARE:.0%} of its speedup) "
          f"on {s['parevo_matches_expert']}."]

    L += ["", "## Algorithmic against parallel gain (ParlayLib rewrites)", "",
          "Sequential build = `-DPARLAY_SEQUENTIAL`, 1 thread: its speedup over the serial loop is the algorithmic "
          f"gain; parallel gain = the {P}-thread speedup / the algorithmic gain. Self-relative = "
          f"time at 1 thread / time at {P} threads, same build.", "",
          f"| kernel | n | method | {P}-thread speedup | sequential build (algorithmic) | parallel gain | "
          "1-thread speedup | self-relative |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for k in kernels:
        for m, g in k.get("gains", {}).items():
            L.append(f"| {k['kernel']} | {k.get('n', 0):,} | {METHOD_LABELS[m]} | {_x(method_speedup(k, m))} | "
                     f"{_x(g['algorithmic'])} | {_x(g['parallel'])} | {_x(g.get('one_thread'))} | "
                     f"{_x(g.get('self_relative'))} |")

    L += ["", "## parevo's cost", "",
          "Compiles = translation units compiled (optimized and ThreadSanitizer builds; the seconds include their "
          "links); cache hit rate = cache hits (objects and links) / (hits + compiles), as parevo's compiler "
          "counts them.", "",
          "| kernel | pattern | status | winner | first verified | search total | candidates | compiles | "
          "compile s per candidate | s per compile | cache hit rate |",
          "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k in kernels:
        p = k.get("parevo")
        if not p:
            continue
        win = (p.get("winner") or {}).get("origin") or "—"
        tf = p.get("time_to_first_verified")
        cps = p.get("compile_s_per_compile")
        cpc = p.get("compile_s_per_candidate")
        hr = p.get("cache_hit_rate")
        L.append(f"| {k['kernel']} | {p.get('pattern') or k.get('pattern', '')} | {p['status']} | {win} | "
                 f"{'—' if tf is None else f'{tf:.1f} s'} | {p['seconds_total']:.1f} s | {p['candidates']} | "
                 f"{p['compiles']} | {'—' if cpc is None else f'{cpc:.1f} s'} | {'—' if cps is None else f'{cps:.1f} s'} | "
                 f"{'—' if hr is None else f'{hr:.0%}'} |")
    L += ["", "## Why parevo did not offer a rewrite", ""]
    for k in kernels:
        p = k.get("parevo")
        if p and not p.get("winner"):
            L.append(f"- **{k['kernel']}**: {p['status']}: {p['message'][:300]}")
    return "\n".join(L) + "\n"


def write_report(report: dict, out_dir: Path) -> dict[str, Path]:
    """Write ``bench.json`` and ``bench.md`` into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "bench.json", "markdown": out_dir / "bench.md"}
    paths["json"].write_text(json.dumps(report, indent=1, default=str))
    paths["markdown"].write_text(markdown(report))
    return paths
