"""Fast checks of the benchmark's pieces that need no compiler: suite files, ordering, parsing, verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.build import autopar_loops, link_flags
from bench.cli import noise_note
from bench.measure import Samples, round_order, speedup
from bench.report import markdown, summarize, verdicts
from bench.suite import SuiteError, load_suite, parse_alternative

pytestmark = pytest.mark.fast

CATEGORIES_REQUIRED = ["map", "reduction", "histogram", "scan", "filter", "search", "argmin", "stencil",
                       "dense matrix", "CSR", "BFS", "connected components", "sort"]


def test_suite_has_every_category_and_both_alternatives():
    kernels = load_suite()
    assert len(kernels) >= 16
    cats = " | ".join(k.category for k in kernels)
    for c in CATEGORIES_REQUIRED:
        assert c in cats, f"no kernel of category {c!r}"
    assert sum(not k.parallelizable for k in kernels) >= 2
    for k in kernels:
        assert set(k.alternatives) == {"omp", "parlay"}
        omp = k.alternatives["omp"]
        if k.parallelizable:
            assert "-fopenmp" in omp.flags and "#pragma omp" in omp.loop_text, k.name
            assert "parlay::" in k.alternatives["parlay"].loop_text, k.name
            assert any(i.startswith("<parlay/") for i in k.alternatives["parlay"].includes), k.name
        else:
            assert omp.serial and k.alternatives["parlay"].serial
        assert "bench-" not in omp.loop_text  # directives are stripped from the loop text


def test_reduced_suite_is_a_subset_with_a_non_parallelizable_kernel():
    reduced = load_suite(reduced=True)
    assert 1 <= len(reduced) <= 4
    assert any(not k.parallelizable for k in reduced) and any(k.parallelizable for k in reduced)


def test_unknown_kernel_is_an_error_naming_it():
    with pytest.raises(SuiteError, match="no_such_kernel"):
        load_suite(only=["no_such_kernel"])


def test_alternative_directives(tmp_path: Path):
    p = tmp_path / "k.omp.cpp"
    p.write_text("// bench: test\n// bench-flags: -fopenmp -DX=1\n// bench-includes: <omp.h> <algorithm>\n"
                 "#pragma omp parallel for\nfor (int i = 0; i < n; ++i) a[i] = i;\n")
    alt = parse_alternative(p, "omp")
    assert alt.flags == ["-fopenmp", "-DX=1"]
    assert alt.includes == ["<omp.h>", "<algorithm>"]
    assert alt.loop_text.startswith("// bench: test\n#pragma omp parallel for\n")
    assert not alt.serial


def test_link_flags_keep_only_runtime_flags():
    assert link_flags(["-fopenmp", "-DPARLAY_SEQUENTIAL", "-ftree-parallelize-loops=2", "-fopt-info-loop"]) == [
        "-fopenmp", "-ftree-parallelize-loops=2"]


def test_round_order_rotates_and_alternates():
    orders = [round_order(3, r) for r in range(4)]
    assert orders[0] == [0, 1, 2]
    for o in orders:
        assert sorted(o) == [0, 1, 2]
    assert orders[0][0] != orders[2][0]  # each run takes its turn first
    assert orders[1] == list(reversed([(k + 1) % 3 for k in range(3)]))


def test_autopar_report_lines_inside_the_loop_only():
    err = ("/x/k.cpp:10:24: optimized: parallelizing inner loop 1\n"
           "/x/k.cpp:30:5: optimized: parallelizing outer loop 2\n"
           "/usr/include/c++/12/bits/stl_algobase.h:921:22: optimized: Loop 3 distributed\n")
    assert autopar_loops(err, "/x/k.cpp", 9, 12) == [10]
    assert autopar_loops(err, "/x/k.cpp", 13, 20) == []


def test_speedup_uses_medians_and_quartile_bounds():
    base = Samples("serial", 1, seconds=[4.0, 4.0, 4.0, 4.0])
    fast = Samples("x", 2, seconds=[1.0, 2.0, 2.0, 3.0])
    s = speedup(base, fast)
    assert s["speedup"] == pytest.approx(2.0)
    assert s["low"] < 2.0 < s["high"]


def _kernel(name, par, serial=0.01, autopar=1.0, omp=1.8, parlay=1.9, parevo=None, status="verified",
            autopar_took_loop=False):
    t = {"serial": {"median_s": serial, "samples": 3}}
    for m, v in (("gcc-autopar", autopar), ("omp", omp), ("parlay", parlay), ("parevo", parevo)):
        if v is not None:
            t[m] = {"speedup": v, "low": v * 0.9, "high": v * 1.1, "median_s": serial / v}
    builds = {m: {"ok": True, "check": {"passed": True}} for m in t}
    p = {"status": status, "message": "why", "winner": {"origin": "rule:x"} if status == "verified" else None,
         "runner_up": None, "seconds_total": 10.0, "time_to_first_verified": 5.0 if status == "verified" else None,
         "candidates": 3, "compiles": 6, "compile_s_per_compile": 2.0, "cache_hit_rate": 0.5, "pattern": "map"}
    return {"kernel": name, "category": "c", "parallelizable": par, "n": 1000, "timing": t, "builds": builds,
            "parevo": p, "gains": {}, "autopar": {"marked_loop_parallelized": autopar_took_loop}}


def test_verdicts_and_summary_count_parevo_against_autopar_and_expert():
    good = _kernel("good", True, parevo=1.85)
    declined = _kernel("declined", True, autopar=1.6, status="not-parallelizable", autopar_took_loop=True)
    serial = _kernel("serial", False, omp=1.0, parlay=1.0, status="not-parallelizable")
    assert verdicts(good) == {"parevo_effective": 1.85, "beats_autopar": "yes", "matches_expert": "yes"}
    v = verdicts(declined)
    assert v["parevo_effective"] == 1.0 and v["beats_autopar"] == "no" and v["matches_expert"] == "no"
    # GCC left the loop serial: its measured 0.9x is noise, so declining is a tie, not a win
    untouched = _kernel("untouched", True, autopar=0.9, status="not-parallelizable")
    assert verdicts(untouched)["beats_autopar"] == "within noise"
    # a lower median whose range overlaps the expert's is not a clear loss
    close = _kernel("close", True, parevo=1.6, parlay=1.9)
    close["timing"]["parevo"].update(low=1.2, high=2.0)
    assert verdicts(close)["matches_expert"] == "within noise"
    assert verdicts(serial) == {"parevo_effective": 1.0, "beats_autopar": None, "matches_expert": None}
    s = summarize([good, declined, serial])
    assert s["parallelizable_kernels"] == 2 and s["parevo_offered"] == 1
    assert s["parevo_beats_autopar"] == 1 and s["parevo_matches_expert"] == 1
    report = {"meta": {"threads": 2, "cores": 2, "load_before": 0.1, "load_after": 0.2, "wall_s": 5.0,
                       "compiler": "g++", "compiler_version": "12", "parlay_version": "2.3", "base_flags": ["-O3"],
                       "parevo_mode": "rules only", "noise_note": ""},
              "config": {"rounds": 3, "repeats": 2, "target_seconds": 0.02, "seed": 1},
              "kernels": [good, declined, serial], "summary": s}
    md = markdown(report)
    assert "| good | c | 1,000 |" in md and "1.85x" in md
    assert "1x (declined: not parallelizable)" in md
    assert "| n/a | n/a |" in md
    assert "(2 threads)" in md


def test_noise_note_only_when_loaded():
    assert noise_note(0.1, 0.2, 2) == ""
    assert "noisy" in noise_note(1.7, 0.3, 2)


def test_render_rewrites_the_table_from_json(tmp_path: Path):
    import json

    from bench.cli import render

    k = _kernel("stencil", True, autopar=1.02, parevo=1.5, autopar_took_loop=True)
    k["timing"]["gcc-autopar"]["cpus_busy"] = 1.0
    report = {"meta": {"threads": 2, "cores": 2, "load_before": 0.1, "load_after": 0.2, "wall_s": 5.0,
                       "compiler": "g++", "compiler_version": "12", "parlay_version": "2.3", "base_flags": ["-O3"],
                       "parevo_mode": "rules only", "noise_note": ""},
              "config": {"rounds": 3, "repeats": 2, "target_seconds": 0.02, "seed": 1}, "kernels": [k]}
    src = tmp_path / "in.json"
    src.write_text(json.dumps(report))
    paths = render(src, tmp_path / "out", plot=False)
    md = paths["markdown"].read_text()
    assert "(parallelized at compile time, ran on 1.00 CPUs)" in md
    assert json.loads(paths["json"].read_text())["summary"]["parevo_offered"] == 1


def test_a_function_level_rewrite_travels_whole_to_the_benchmarks_build():
    """A rewrite that declares its reduction in place replaces the function: the benchmark builds it
    from its function text (it used to build the empty loop text and call it wrong)."""
    from bench.build import BuildSpec
    from bench.parevo_run import _rewrite
    from parevo.evolution.candidates import Candidate
    from parevo.evolution.result import CandidateRecord

    cand = Candidate(function_text="double f(const std::vector<double>& a) { return 0; }", origin="rule:x")
    rw = _rewrite(CandidateRecord(id="c", candidate=cand))
    assert rw["loop_text"] == "" and rw["function_text"] == cand.function_text
    assert BuildSpec("parevo", "parevo", rw["loop_text"], function_text=rw["function_text"]).function_text


def test_the_noise_benchmarks_load_generator_dies_with_the_benchmark():
    """A benchmark stopped by SIGTERM (a signal that bypasses ``finally`` blocks) leaves no busy loop behind:
    one did, and skewed the next benchmark's timings for minutes."""
    import signal
    import subprocess
    import sys
    import time

    from bench.proctree import alive

    parent = subprocess.Popen([sys.executable, "-c", "import time; from bench.noise import LoadGenerator; "
                               "g = LoadGenerator(); print(g.proc.pid, flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert alive(pid)
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid), "the load generator outlived the benchmark"
    finally:
        parent.kill()
