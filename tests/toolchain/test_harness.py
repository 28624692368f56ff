"""The generated harness end to end: variant sources, the driver's modes, constraints seen in real inputs.

The driver object is compiled once per session (``harness_build`` fixture in
tests/conftest.py); each variant translation unit compiles in about a second.
"""

import json
import os
from pathlib import Path

import pytest

from parevo.toolchain.harness import (
    HARNESS_FILE,
    driver_source,
    harness_header_dir,
    original_source,
    variant_source,
)
from parevo.toolchain.inputs import plan_inputs, spec_from_dict
from parevo.toolchain.outputs import DumpedSeq, Seq, Struct, compare
from parevo.toolchain.parsing import find_loop, find_marked_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MARK = "// parevo: select the loop below"
CASES = ["0:1", "1:1", "2:3", "17:2", "100:5", "1000:7"]


def site_of(src: str, path: str = "/tmp/parevo_harness_test.cpp"):
    return find_loop(src, path, find_marked_lines(src)[0])


def example(name: str):
    path = EXAMPLES / name
    site = site_of(path.read_text(), str(path))
    return site, plan_inputs(site)


def values(v):
    """Flatten a dumped value to a list of Python numbers."""
    if isinstance(v, (Seq, DumpedSeq)):
        out = []
        for x in v.items:
            out += values(x)
        return out
    if isinstance(v, Struct):
        out = []
        for x in v.fields.values():
            out += values(x)
        return out
    return [v.value]


# ------------------------------------------------------------------ source shape (no compiler)


def test_package_data_is_reachable():
    assert (harness_header_dir() / "parevo_harness.h").is_file()
    assert "parevo_create" in driver_source()


def test_variant_source_splices_loop_includes_main_and_line_directives():
    site, plan = example("sum_squares.cpp")
    cand = "s = parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) { return a[i] * a[i]; }));"
    text = variant_source(site, cand, ["<parlay/primitives.h>", "<vector>", "parlay/primitives.h"], plan)
    path = os.path.abspath(site.path)
    lines = text.splitlines()
    assert lines[0] == '#include "parevo_harness.h"'
    assert lines[1] == f'#line 1 "{path}"'
    assert text.count("#include <parlay/primitives.h>") == 1  # once, and <vector> is already there
    assert text.count("#include <vector>") == 1
    # the candidate starts on a #line naming the loop's own line
    k = next(i for i, ln in enumerate(lines) if "parlay::reduce" in ln)
    assert lines[k - 1] == f'#line {site.loop.start_line + 1} "{path}"'
    assert lines[k + 1] == f'#line {site.loop.end_line + 1} "{path}"'
    assert "int parevo_user_main()" in text and "int main()" not in text
    assert f'#line 1 "{HARNESS_FILE}"' in text
    assert site.loop_text not in text


def test_line_directives_keep_every_user_line_number():
    """Simulate the preprocessor's line counting over the variant: each user line keeps its number."""
    site, plan = example("spmv_csr.cpp")
    text = variant_source(site, "for (int i = 0; i < rows; ++i) {\n  y[i] = 0;\n}", ["<parlay/parallel.h>"], plan)
    user_lines = site.source.splitlines()
    line, file = None, None
    seen = 0
    for ln in text.splitlines():
        if ln.startswith("#line "):
            parts = ln.split(" ", 2)
            line, file = int(parts[1]), parts[2].strip('"')
            continue
        if file == os.path.abspath(site.path) and line is not None:
            src_ln = user_lines[line - 1]
            if ln.strip() and src_ln.strip() and not (site.loop.start_line + 1 <= line <= site.loop.end_line + 1):
                assert ln.replace("parevo_user_main", "main") == src_ln, (line, ln)
                seen += 1
        if line is not None:
            line += 1
    assert seen > 20


def test_original_source_keeps_the_loop():
    site, plan = example("histogram.cpp")
    text = original_source(site, plan)
    assert site.loop_text in text
    assert "parevo_create" in text and "parevo_dump_inputs" in text


# ------------------------------------------------------------------ compiled end to end


def build_original(harness_build, site, plan, **kw):
    return harness_build.exe(original_source(site, plan), **kw)


def test_off_by_one_candidate_is_caught_with_its_index(harness_build):
    src = f"""
#include <vector>
void twice(const std::vector<double>& a, std::vector<double>& out) {{
  {MARK}
  for (size_t i = 0; i < a.size(); ++i) {{
    out[i] = 2.0 * a[i];
  }}
}}
int main() {{ return 0; }}
"""
    site = site_of(src)
    plan = plan_inputs(site)
    orig = build_original(harness_build, site, plan)
    wrong = harness_build.exe(variant_source(
        site, "for (size_t i = 0; i + 1 < a.size(); ++i) {\n    out[i] = 2.0 * a[i];\n  }", [], plan))
    exp, r1 = harness_build.dump(orig, "check", CASES)
    got, r2 = harness_build.dump(wrong, "check", CASES)
    assert r1.returncode == 0 and r2.returncode == 0
    assert len(exp) == len(got) == len(CASES) and all(c.complete for c in exp + got)
    results = {(e.n, e.seed): compare(e, g) for e, g in zip(exp, got)}
    assert results[(0, 1)] is None  # nothing to differ at n = 0
    mm = results[(17, 2)]
    assert mm is not None and mm.output == "out[16]" and mm.index == 16 and mm.count == 1
    assert mm.describe().startswith("wrong output at n = 17 (seed 2): out[16] expected ")
    # the original against itself (a second process) matches exactly: inputs are deterministic
    again, _ = harness_build.dump(orig, "check", CASES)
    assert all(compare(e, g) is None for e, g in zip(exp, again))


@pytest.mark.parlay
def test_correct_parlay_candidates_match(harness_build):
    site, plan = example("sum_squares.cpp")
    orig = build_original(harness_build, site, plan)
    cand = ("s = parlay::reduce(parlay::delayed_tabulate(a.size(), "
            "[&](size_t i) { return a[i] * a[i]; }));")
    flags = ("-std=c++17", "-O2", "-pthread")
    par = harness_build.exe(variant_source(site, cand, ["<parlay/primitives.h>"], plan), flags)
    cases = CASES + ["4099:1", "100000:2"]
    exp, _ = harness_build.dump(orig, "check", cases)
    got, res = harness_build.dump(par, "check", cases, env={"PARLAY_NUM_THREADS": "4"})
    assert res.returncode == 0, res.stderr
    assert [compare(e, g) for e, g in zip(exp, got)] == [None] * len(cases)
    # reassociation really happened: the big case differs in its last bits, within the tolerance
    big_e, big_g = exp[-1].outputs["return"], got[-1].outputs["return"]
    assert abs(big_e.value - big_g.value) <= 1e-9 * abs(big_e.value)


def test_time_calibrate_and_run_modes(harness_build):
    site, plan = example("sum_squares.cpp")
    exe = build_original(harness_build, site, plan)
    res = harness_build.run(exe, "time", "100000", "3", "4")
    assert res.returncode == 0, res.stderr
    row = json.loads(res.stdout.strip().splitlines()[-1])
    assert row["n"] == 100000 and len(row["samples"]) == 4
    assert all(0 <= s < 5 for s in row["samples"]) and row["gen_s"] >= 0
    assert 8 * 100000 <= row["bytes"] < 8 * 100000 + 4096

    res = harness_build.run(exe, "calibrate", "1", "1e9", str(1 << 40), "1024", "16384")
    rows = [json.loads(x) for x in res.stdout.split()]
    assert [r["n"] for r in rows] == [1024, 2048, 4096, 8192, 16384]  # stops at N_MAX
    assert all(r["t"] >= 0 for r in rows) and rows[-1]["bytes"] > rows[0]["bytes"]

    res = harness_build.run(exe, "calibrate", "1", "0", str(1 << 40), "1024", "1048576")
    assert [json.loads(x)["n"] for x in res.stdout.split()] == [1024]  # target reached at once

    res = harness_build.run(exe, "calibrate", "1", "1e9", str(100_000), "1024", "1048576")
    rows = [json.loads(x) for x in res.stdout.split()]
    assert rows[-1]["bytes"] * 2 > 100_000 and all(r["bytes"] <= 100_000 for r in rows)  # memory cap

    res = harness_build.run(exe, "run", "5000", "2", "3")
    row = json.loads(res.stdout)
    assert row["n"] == 5000 and len(row["samples"]) == 3

    res = harness_build.run(exe, "describe")
    assert json.loads(res.stdout)["function"] == "sum_squares"

    for bad in (["time", "x", "1", "1"], ["nonsense"], [], ["check", "out.txt", "17"], ["calibrate", "1"]):
        assert harness_build.run(exe, *bad).returncode == 2


def test_crash_mid_run_leaves_the_finished_cases(harness_build):
    src = f"""
#include <cstdlib>
#include <vector>
void f(std::vector<int>& a) {{
  if (a.size() == 17) std::abort();
  {MARK}
  for (size_t i = 0; i < a.size(); ++i) a[i] += 1;
}}
"""
    site = site_of(src)
    exe = build_original(harness_build, site, plan_inputs(site))
    cases, res = harness_build.dump(exe, "check", ["3:1", "5:1", "17:1", "20:1"])
    assert res.returncode != 0
    assert [(c.n, c.complete) for c in cases] == [(3, True), (5, True), (17, False)]


def test_candidate_compile_error_maps_to_the_users_line(harness_build):
    site, plan = example("saxpy.cpp")
    bad = "for (std::size_t i = 0; i < n; ++i) {\n    y[i] = a * x[i] + undefined_name;\n  }"
    exe, err = harness_build.compile(variant_source(site, bad, [], plan))
    assert exe is None
    path = os.path.abspath(site.path)
    assert f"{path}:{site.loop.start_line + 2}:" in err  # second line of the loop
    assert "undefined_name" in err


def test_main_is_renamed_so_the_driver_links(harness_build):
    src = f"""
#include <cstdio>
#include <vector>
double total(const std::vector<double>& a) {{
  double s = 0;
  {MARK}
  for (double x : a) s += x;
  return s;
}}
int main(int argc, char** argv) {{ std::printf("%f", total(std::vector<double>(argc, 1.0))); return 0; }}
"""
    site = site_of(src)
    exe = build_original(harness_build, site, plan_inputs(site))
    cases, res = harness_build.dump(exe, "check", ["4:1"])
    assert res.returncode == 0 and cases[0].outputs["return"].kind == "d"


# ------------------------------------------------------------------ constraints seen in generated inputs


def inputs_of(harness_build, site, plan, cases=CASES):
    exe = build_original(harness_build, site, plan)
    got, res = harness_build.dump(exe, "inputs", cases)
    assert res.returncode == 0, res.stderr
    return {(c.n, c.seed): c.outputs for c in got}


def test_histogram_keys_stay_below_the_bin_count(harness_build):
    site, plan = example("histogram.cpp")
    for (n, seed), ins in inputs_of(harness_build, site, plan).items():
        keys, hist = values(ins["keys"]), values(ins["hist"])
        assert len(keys) == n and len(hist) == 256
        assert all(0 <= k < len(hist) for k in keys)
        if n >= 1000:
            assert len(set(keys)) > 200  # spread over the bins, not a constant


def test_csr_inputs_are_consistent(harness_build):
    site, plan = example("spmv_csr.cpp")
    for (n, seed), ins in inputs_of(harness_build, site, plan).items():
        off, cols, vals, x = (values(ins[k]) for k in ("offsets", "cols", "vals", "x"))
        assert ins["rows"].value == n
        assert len(off) == n + 1 and off[0] == 0
        assert all(a <= b for a, b in zip(off, off[1:]))
        assert len(cols) == len(vals) == off[-1]
        assert all(0 <= c < len(x) for c in cols)
        assert len(values(ins["y"])) == n


def test_bfs_inputs_index_in_range(harness_build):
    site, plan = example("bfs_step.cpp")
    for (n, seed), ins in inputs_of(harness_build, site, plan).items():
        dist, nb = values(ins["dist"]), values(ins["in_nbrs"])
        assert len(dist) == n and ins["num_vertices"].value == n
        assert all(0 <= v < max(len(dist), 1) for v in nb)


def test_inputs_are_deterministic_and_per_parameter(harness_build):
    site, plan = example("dot_product.cpp")
    a = inputs_of(harness_build, site, plan, ["100:5", "100:6"])
    b = inputs_of(harness_build, site, plan, ["100:5"])
    assert values(a[(100, 5)]["x"]) == values(b[(100, 5)]["x"])
    assert values(a[(100, 5)]["x"]) != values(a[(100, 6)]["x"])
    assert values(a[(100, 5)]["x"]) != values(a[(100, 5)]["y"])  # separate streams per parameter
    xs = values(a[(100, 5)]["x"])
    assert all(-1.0 <= v < 1.0 for v in xs)
    # the same parameter at the same index in another function gets the same data
    src = f"""
void g(const double* x, double* y, int n) {{
  {MARK}
  for (int i = 0; i < n; ++i) y[i] = x[i];
}}
"""
    s2 = site_of(src)
    c = inputs_of(harness_build, s2, plan_inputs(s2), ["100:5"])
    assert values(c[(100, 5)]["x"]) == xs


def test_spec_ranges_are_respected_in_generated_data(harness_build):
    site = site_of((EXAMPLES / "spmv_csr.cpp").read_text(), str(EXAMPLES / "spmv_csr.cpp"))
    plan = plan_inputs(site, spec_from_dict({"spmv": {"vals": {"min": 2.0, "max": 3.0},
                                                      "offsets": {"max_degree": 2}, "x": {"length": 7}}}))
    for (n, seed), ins in inputs_of(harness_build, site, plan).items():
        off = values(ins["offsets"])
        assert all(0 <= b - a <= 2 for a, b in zip(off, off[1:]))
        assert all(2.0 <= v < 3.0 for v in values(ins["vals"]))
        assert len(values(ins["x"])) == 7 and all(0 <= c < 7 for c in values(ins["cols"]))


# ------------------------------------------------------------------ shapes round-trip


SHAPES = f"""
#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>
struct Vec3 {{ double p[3]; float w; }};
struct Cell {{ int id; Vec3 centre; bool alive; std::vector<short> tags; }};
long shapes(std::vector<Cell>& cells, std::vector<bool>& flags, std::array<int, 4>& quad,
            std::vector<std::vector<double>>& grid, unsigned* buf, std::size_t len,
            std::vector<std::pair<int, char>>& pairs, std::string& word, const float* in, char mark) {{
  long acc = 0;
  {MARK}
  for (std::size_t i = 0; i < len; ++i) {{
    buf[i] += 1u;
    flags[i] = !flags[i];
    cells[i].id += 1;
    grid[i][0] += in[i];
    pairs[i].first += 1;
    acc += quad[i % 4];
  }}
  word += mark;
  return acc;
}}
"""


def test_every_shape_round_trips(harness_build):
    site = site_of(SHAPES)
    plan = plan_inputs(site)
    exe = build_original(harness_build, site, plan)
    out, res = harness_build.dump(exe, "check", ["0:1", "5:2", "40:3"])
    assert res.returncode == 0, res.stderr
    ins, _ = harness_build.dump(exe, "inputs", ["5:2"])
    o = {c.n: c.outputs for c in out}
    before = ins[0].outputs
    after = o[5]
    assert set(after) == {"return", "cells", "flags", "quad", "grid", "buf", "pairs", "word"}
    # pointer + size
    assert len(after["buf"].items) == 5
    assert [v + 1 for v in values(before["buf"])] == values(after["buf"])
    # vector<bool> flipped
    assert [1 - v for v in values(before["flags"])] == values(after["flags"])
    # struct with nested struct, C array, bool and vector fields
    cell = after["cells"].items[2]
    assert list(cell.fields) == ["id", "centre", "alive", "tags"]
    assert len(cell.fields["centre"].fields["p"].items) == 3
    assert cell.fields["centre"].fields["w"].kind == "f"
    assert cell.fields["alive"].kind == "b" and len(cell.fields["tags"].items) == plan.inner
    assert cell.fields["id"].value == before["cells"].items[2].fields["id"].value + 1
    # std::array keeps its length; nested vectors
    assert len(after["quad"].items) == 4
    assert len(after["grid"].items) == 5 and all(len(r.items) >= 1 for r in after["grid"].items)
    # pairs and strings
    assert after["pairs"].items[0].fields["second"].kind == "c"
    assert len(after["word"].items) == len(before["word"].items) + 1
    assert all(97 <= c <= 122 for c in values(after["word"]))
    # n = 0 works for every shape
    assert len(o[0]["buf"].items) == 0


def test_struct_returned_by_value(harness_build):
    src = f"""
#include <vector>
struct Stats {{ double sum; long count; }};
Stats stats(const std::vector<double>& a) {{
  Stats s{{0.0, 0}};
  {MARK}
  for (size_t i = 0; i < a.size(); ++i) {{ s.sum += a[i]; s.count++; }}
  return s;
}}
"""
    site = site_of(src)
    exe = build_original(harness_build, site, plan_inputs(site))
    out, _ = harness_build.dump(exe, "check", ["9:1"])
    ret = out[0].outputs["return"]
    assert ret.fields["count"].value == 9 and ret.fields["sum"].kind == "d"


def test_driver_compiles_with_clang_and_tsan(tmp_path):
    import shutil
    import subprocess

    src = tmp_path / "driver.cpp"
    src.write_text(driver_source())
    compilers = [c for c in ("g++", "clang++") if shutil.which(c)]
    if not compilers:
        pytest.skip("!!! no C++ compiler !!!")
    for cxx in compilers:
        for flags in (["-std=c++17", "-O3"], ["-std=c++17", "-O1", "-g", "-fsanitize=thread"]):
            res = subprocess.run([cxx, *flags, "-Wall", "-Wextra", "-Werror", "-c", str(src), "-o",
                                  str(tmp_path / "d.o")], capture_output=True, text=True)
            assert res.returncode == 0, f"{cxx} {flags}: {res.stderr}"


def test_exception_in_the_function_is_reported(harness_build):
    src = f"""
#include <stdexcept>
#include <vector>
double first_positive(const std::vector<double>& a) {{
  {MARK}
  for (size_t i = 0; i < a.size(); ++i) if (a[i] > 0) return a[i];
  throw std::runtime_error("no positive value");
}}
"""
    site = site_of(src)
    exe = build_original(harness_build, site, plan_inputs(site))
    cases, res = harness_build.dump(exe, "check", ["5:1", "0:1"])
    assert res.returncode == 5
    assert "no positive value" in res.stderr and "n = 0" in res.stderr
    assert [(c.n, c.complete) for c in cases] == [(5, True), (0, False)]


def test_search_target_found_on_even_seeds_only(harness_build):
    site, plan = example("find_first.cpp")
    exe = build_original(harness_build, site, plan)
    out, res = harness_build.dump(exe, "check", ["1000:1", "1000:2", "1000:3", "1000:4"])
    ret = {c.seed: c.outputs["return"].value for c in out}
    assert ret[1] == -1 and ret[3] == -1
    assert ret[2] >= 0 and ret[4] >= 0
