"""The reduced benchmark end to end: ``python -m bench --reduced`` builds, checks and times every
method on the CI kernels and writes the table, the JSON and the plot. Timings are not asserted
(small sizes on a shared machine); what is asserted is that every piece of the pipeline ran and
recorded its provenance."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.runner import BenchConfig
from bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reduced_run(parevo_cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-out")
    res = subprocess.run([sys.executable, "-m", "bench", "--reduced", "--out", str(out),
                          "--cache-dir", str(parevo_cache_dir)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    return out, res


@pytest.mark.parlay
def test_reduced_bench_writes_table_json_and_plot(reduced_run):
    out, res = reduced_run
    assert res.returncode == 0, f"stdout:\n{res.stdout[-4000:]}\nstderr:\n{res.stderr[-4000:]}"
    report = json.loads((out / "bench.json").read_text())
    md = (out / "bench.md").read_text()
    expected = [k.name for k in load_suite(reduced=True)]
    assert [k["kernel"] for k in report["kernels"]] == expected
    assert report["meta"]["threads"] >= 1 and report["meta"]["compiler_version"]
    for name in expected:
        assert f"| {name} |" in md
    assert f"({report['meta']['threads']} threads)" in md
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "plot skipped" in res.stderr


@pytest.mark.parlay
def test_reduced_bench_checks_and_times_every_method_on_identical_inputs(reduced_run):
    out, res = reduced_run
    assert res.returncode == 0, res.stderr[-4000:]
    report = json.loads((out / "bench.json").read_text())
    cfg = BenchConfig.reduced()
    P = report["meta"]["threads"]
    for k in report["kernels"]:
        assert "error" not in k, k.get("error")
        assert k["n"] >= 1 and k["threads"] == P
        b = k["builds"]
        for m in ("serial", "gcc-autopar", "omp", "parlay"):
            assert b[m]["ok"] and b[m]["check"]["passed"], (k["kernel"], m, b[m])
            t = k["timing"][m]
            assert t["samples"] == cfg.rounds * cfg.repeats and t["median_s"] > 0
        assert f"-ftree-parallelize-loops={P}" in b["gcc-autopar"]["flags"]
        assert "speedup" in k["timing"]["parlay"] and "low" in k["timing"]["parlay"]
        p = k["parevo"]
        assert p["seconds_total"] > 0 and p["candidates"] >= 0
        if p["search_n"] is not None:
            assert p["search_n"] == k["n"]  # the search timed its candidates on the benchmark's inputs
        if k["parallelizable"]:
            assert "-fopenmp" in b["omp"]["flags"]
            # the sequential build separates algorithmic from parallel gain
            assert "-DPARLAY_SEQUENTIAL" in b["parlay/seq"]["flags"] and b["parlay/seq"]["check"]["passed"]
            g = k["gains"]["parlay"]
            assert g["algorithmic"] > 0 and g["parallel"] > 0
            assert k["split"]["parlay/seq"]["threads"] == 1
            assert p["status"] in ("verified", "none-verified")
            assert p["candidates"] >= 1 and p["compiles"] + p["cache_hits"] >= 1
            if p["winner"] or p["runner_up"]:
                assert b["parevo"]["check"]["passed"] and "parevo" in k["timing"]
                assert "parevo" in k["gains"]
        else:
            assert p["status"] == "not-parallelizable"
            assert "parlay/seq" not in b
