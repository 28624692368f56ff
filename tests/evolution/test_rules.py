"""Rule-based candidates (``parevo.evolution.rules.propose``).

Fast tests check what each pattern emits; ``parlay`` tests syntax-check every
candidate of every example (one ``g++ -fsyntax-only`` per example, candidates
batched as renamed copies of the function); ``slow`` tests compile and run
candidates against the original: the first candidate of each example through
its own ``main``, and every candidate of the small loops in ``rule_cases``
through a differential driver at sizes 0 … 100003 and 1 and 4 threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rule_cases import CASES, case_site, driver_source  # noqa: E402
from rule_check import EXAMPLES, batch_source, example_site, run_differential, site_from_text  # noqa: E402

from parevo.evolution.rules import propose  # noqa: E402
from parevo.toolchain.facts import analyze  # noqa: E402
from parevo.toolchain.splice import rewritten_source  # noqa: E402

ALL_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.cpp"))
NEGATIVE = {"recurrence.cpp", "scatter_conflict.cpp"}

FIRST_ORIGIN = {
    "saxpy.cpp": "rule:parallel-for",
    "sum_squares.cpp": "rule:reduce-delayed",
    "dot_product.cpp": "rule:reduce-delayed",
    "max_value.cpp": "rule:reduce-delayed",
    "count_if.cpp": "rule:reduce-delayed",
    "all_positive.cpp": "rule:reduce-delayed",
    "histogram.cpp": "rule:histogram-blocks",
    "prefix_sum.cpp": "rule:scan-blocked",
    "cumulative_weights.cpp": "rule:scan-blocked",
    "filter_positive.cpp": "rule:filter-delayed",
    "find_first.cpp": "rule:search-blocked",
    "argmin.cpp": "rule:min-element",
    "stencil.cpp": "rule:parallel-for",
    "spmv_csr.cpp": "rule:parallel-for",
    "matvec_nested.cpp": "rule:parallel-for",
    "bfs_step.cpp": "rule:parallel-for",
    "particles.cpp": "rule:parallel-for",
    "vec3_norms.cpp": "rule:parallel-for",
    "flags.cpp": "rule:parallel-for-blocked",
    "primes.cpp": "rule:parallel-for-blocked",
}


def candidates(name: str):
    site = example_site(name)
    return site, propose(site, analyze(site))


# ------------------------------------------------------------------ fast


def test_first_origins_cover_every_positive_example():
    assert sorted(FIRST_ORIGIN) == sorted(set(ALL_EXAMPLES) - NEGATIVE)


#: Origins of evolution/rules_reduce.py, whose rewrites need no wrapper block in a statement list.
REDUCE_ORIGINS = {"rule:reduce-delayed", "rule:reduce-materialized", "rule:reduce-shadowed", "rule:count-if",
                  "rule:min-element", "rule:max-element", "rule:argmin-pair-reduce", "rule:argmax-pair-reduce"}


@pytest.mark.parametrize("name", sorted(FIRST_ORIGIN))
def test_example_candidates_shape(name):
    _site, cands = candidates(name)
    assert cands, f"no candidate for {name}"
    assert cands[0].origin == FIRST_ORIGIN[name]
    assert len({c.id for c in cands}) == len(cands)
    site = _site
    head = site.function_text[:site.function_text.index("{") + 1]
    for c in cands:
        assert c.origin.startswith("rule:") and c.description
        if c.level == "function":  # the accumulator's declaration and the loop became one declaration
            assert c.function_text.startswith(head) and c.function_text.endswith("}")
            assert site.loop_text not in c.function_text
        elif c.origin in REDUCE_ORIGINS:
            # reductions: statements in the loop's statement list, no wrapper block
            assert not c.loop_text.startswith("{") and c.loop_text.rstrip().endswith((";", "}"))
        else:
            assert c.loop_text.startswith("{\n") and c.loop_text.endswith("\n}")
        assert c.includes and all(i.startswith("<") and i.endswith(">") for i in c.includes)
        assert any(i.startswith("<parlay/") for i in c.includes)
        assert "parlay::" in c.code


@pytest.mark.parametrize("name", sorted(NEGATIVE))
def test_not_parallelizable_examples_get_nothing(name):
    assert candidates(name)[1] == []


def test_already_parallel_gets_nothing():
    src = """#include <vector>
void f(std::vector<double>& b, const std::vector<double>& a, int n) {
  // parevo: select the loop below
  #pragma omp parallel for
  for (int i = 0; i < n; ++i) b[i] = a[i];
}
"""
    site = site_from_text(src)
    facts = analyze(site)
    assert facts.already_parallel and propose(site, facts) == []


def test_reduction_variants_delayed_before_materialized():
    _s, cands = candidates("sum_squares.cpp")
    assert [c.params.get("sequence") for c in cands[:2]] == ["delayed", "materialized"]
    # `double s = 0.0;` right above the loop: the declaration and the loop become one declaration
    assert cands[0].level == cands[1].level == "function"
    assert "  double s = parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) -> double {\n" \
           "    return a[i] * a[i];\n  }), parlay::plus<double>());\n" in cands[0].function_text
    assert "// parevo: select the loop below\n  double s = parlay::reduce(" in cands[0].function_text  # comment kept
    assert "static_cast" not in cands[0].function_text and "double s = 0.0;" not in cands[0].function_text
    assert "parlay::tabulate(a.size()" in cands[1].function_text
    assert cands[0].includes == ["<parlay/primitives.h>", "<parlay/delayed.h>"]  # no <algorithm>, <limits>
    assert cands[-1].origin == "rule:reduce-shadowed" and "double s = double(0);" in cands[-1].loop_text


def test_an_accumulator_that_does_not_start_at_the_identity_is_folded_into():
    src = """#include <vector>
double f(const std::vector<double>& a) {
  double s = 1.0;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    s += a[i];
  }
  return s;
}
"""
    site = site_from_text(src)
    [first] = propose(site, analyze(site))[:1]
    assert first.level == "loop"
    assert first.loop_text == ("const double total = parlay::reduce(parlay::delayed_tabulate(a.size(), "
                               "[&](size_t i) -> double {\n  return a[i];\n}), parlay::plus<double>());\n"
                               "s += total;")
    # as the body of an `if`, the statements need a block
    site = site_from_text(src.replace("  // parevo: select the loop below\n  for", "  if (a.size() > 2)\n"
                                      "  // parevo: select the loop below\n  for"))
    assert propose(site, analyze(site))[0].loop_text.startswith("{\n  const double total = ")


def test_count_and_logical_and_fold_into_their_variables():
    _s, cands = candidates("count_if.cpp")
    assert any(c.origin == "rule:count-if" and "parlay::count_if(parlay::iota(a.size())" in c.code
               for c in cands)
    assert "long count = parlay::reduce(" in cands[0].code and "? 1 : long(0)" in cands[0].code
    _s, cands = candidates("all_positive.cpp")
    assert "bool ok = parlay::reduce(" in cands[0].code and "parlay::logical_and<bool>()" in cands[0].code


def test_max_is_guarded_for_an_empty_range_and_keeps_int_index_type():
    _s, cands = candidates("max_value.cpp")
    t = cands[0].loop_text
    assert "const int hi = n;" in t and "int i = static_cast<int>(k);" in t
    assert "if (n_iter > 0) best = std::max(best, total);" in t


def test_map_keeps_body_and_rebinds_index():
    _s, cands = candidates("stencil.cpp")
    t = cands[0].loop_text
    assert "parlay::parallel_for(1, (hi > 1 ? hi : 1), [&](size_t k) {" in t
    assert "out[i] = (in[i - 1] + in[i] + in[i + 1]) / 3.0;" in t
    grains = [c.params.get("granularity") for c in cands if c.origin.startswith("rule:parallel-for")]
    assert 0 in grains and 1024 in grains
    assert any(c.origin == "rule:tabulate" for c in cands)
    chunks = next(c for c in cands if c.origin == "rule:parallel-for-chunks")
    # the original header over each chunk, in the original index type (vectorizes like the serial loop)
    assert "for (int i = b; i < e; ++i) {" in chunks.loop_text
    assert "const size_t per_worker = 1;" in chunks.loop_text and "}, 1);" in chunks.loop_text
    assert "per_worker * parlay::num_workers()" in chunks.loop_text
    assert chunks.params == {"blocks_per_worker": 1} and chunks.knobs == {"blocks_per_worker": "per_worker"}
    # a range-based for has no index header to reuse: no chunk rewrite
    src = """#include <vector>
void twice(std::vector<double>& v) {
  // parevo: select the loop below
  for (double& x : v) x *= 2.0;
}
"""
    site = site_from_text(src)
    origins = [c.origin for c in propose(site, analyze(site))]
    assert "rule:parallel-for" in origins and "rule:parallel-for-chunks" not in origins


def test_generated_names_avoid_the_functions_identifiers():
    _s, cands = candidates("particles.cpp")  # the function has a parameter `k`
    assert all("size_t k)" not in c.loop_text for c in cands)
    assert "parlay::parallel_for(0, ps.size(), [&](size_t i) {" in cands[0].loop_text


def test_nest_parallelizes_the_outer_loop_only():
    _s, cands = candidates("spmv_csr.cpp")
    t = cands[0].loop_text
    assert t.count("parlay::parallel_for") == 1
    assert "for (int j = offsets[i]; j < offsets[i + 1]; ++j) {" in t
    assert {c.params["granularity"] for c in cands if "granularity" in c.params} == {0, 1, 16}
    assert [c.params for c in cands if c.origin == "rule:parallel-for-chunks"] == [{"blocks_per_worker": 1}]


def test_bool_vector_output_gets_only_word_aligned_rewrites():
    """Issue 11 item 2: a std::vector<bool> output is split only on 64-element words: blocks of 2048 from
    0, chunks with boundaries rounded down to 64, or a byte-per-element temporary copied back by words;
    never parallel_for at the library's or a fixed granularity, never chunks at arbitrary indices."""
    _s, cands = candidates("flags.cpp")
    assert [c.origin for c in cands] == ["rule:parallel-for-blocked", "rule:parallel-for-word-chunks",
                                         "rule:packed-bytes"]
    assert cands[0].params == {"block": 2048} and 2048 % 64 == 0
    assert cands[0].knobs == {"block": "block"} and "const size_t block = 2048;" in cands[0].loop_text
    chunks = cands[1].loop_text
    assert "samples.size() * c / chunks / 64 * 64" in chunks
    assert "c + 1 == chunks ? samples.size() : samples.size() * (c + 1) / chunks / 64 * 64" in chunks
    assert cands[1].params == {"blocks_per_worker": 1, "word": 64}
    t = cands[2].loop_text
    assert "auto bytes = parlay::tabulate(samples.size(), [&](size_t i) -> bool { return out[lo_elem + i]; });" in t
    assert "bytes[i] = samples[i] > threshold;" in t and "out[i]" not in t
    assert "parlay::parallel_for(lo_elem / 64, (hi_elem + 63) / 64, [&](size_t word) {" in t
    assert "out[e] = bytes[e - lo_elem];" in t
    # the primes nest: blocks, word chunks and the temporary (its uneven rows balance at any granularity)
    _s, cands = candidates("primes.cpp")
    assert [c.origin for c in cands] == ["rule:parallel-for-blocked", "rule:parallel-for-word-chunks",
                                         "rule:packed-bytes"]


def test_histogram_strategies():
    _s, cands = candidates("histogram.cpp")
    origins = [c.origin for c in cands]
    assert origins[0] == "rule:histogram-blocks" and "rule:histogram-by-index" in origins
    assert "rule:histogram-atomic" in origins
    t = cands[0].loop_text
    assert "Hist& hist = partial[b];" in t and "hist[keys[i]]++;" in t and "hist[bin] += sum;" in t


def test_scan_keeps_the_final_accumulator():
    _s, cands = candidates("prefix_sum.cpp")
    assert [c.origin for c in cands] == ["rule:scan-blocked", "rule:scan-delayed", "rule:scan-inplace"]
    blocked = cands[0].loop_text
    assert "auto block_sums = parlay::tabulate(nb," in blocked and "running = running + t;" in blocked
    assert "long acc = block_sums[b];" in blocked and "acc += a[i];\n        out[i] = acc;" in blocked
    t = cands[1].loop_text
    assert "parlay::scan(parlay::delayed_tabulate(a.size()" in t
    assert blocked.rstrip("}").rstrip().endswith("acc = running;")
    assert t.rstrip("}").rstrip().endswith("acc = acc0 + total;")
    assert "long acc = acc0 + prefix[i];" in t
    assert "parlay::scan_inclusive_inplace" in cands[2].loop_text


def test_filter_appends_after_existing_contents():
    _s, cands = candidates("filter_positive.cpp")
    assert "out.insert(out.end(), kept.begin(), kept.end());" in cands[0].loop_text
    pack = next(c for c in cands if c.origin == "rule:pack-index")
    assert "const size_t old_size = out.size();" in pack.loop_text
    assert "out[old_size + jj] = a[i];" in pack.loop_text


def test_search_returns_first_index():
    _s, cands = candidates("find_first.cpp")
    assert [c.origin for c in cands] == ["rule:search-blocked", "rule:search-chunks", "rule:find-if",
                                         "rule:min-index"]
    blocked = cands[0].loop_text
    assert "if (a[i] == target) return k;" in blocked and "round *= 2;" in blocked
    assert "first_hit = parlay::reduce(hits, parlay::minimum<size_t>());" in blocked
    chunks = cands[1].loop_text
    # a chunk gives up before a block that starts after a smaller hit, and keeps only a smaller hit
    assert "if (first_hit.load(std::memory_order_relaxed) < blk) return;" in chunks
    assert "while (k < cur && !first_hit.compare_exchange_weak(cur, k, std::memory_order_relaxed)) {}" in chunks
    assert "if (hit < n_iter) {\n    const size_t k = hit;\n    long i = static_cast<long>(k);\n    return i;" in chunks
    assert "<atomic>" in cands[1].includes
    t = cands[2].loop_text
    assert "parlay::find_if(positions" in t and "return i;" in t


def test_argmin_strict_and_non_strict_order():
    _s, cands = candidates("argmin.cpp")
    assert [c.origin for c in cands] == ["rule:min-element", "rule:argmin-pair-reduce"]
    assert "if (v < best) {" in cands[0].loop_text
    site = case_site("arg_max_nonstrict")
    cands = propose(site, analyze(site))
    assert [c.origin for c in cands] == ["rule:argmax-pair-reduce", "rule:max-element"]
    assert cands[0].params["ties"] == "last"


def test_private_scalar_gets_a_copy_per_iteration():
    site = case_site("map_private")
    cands = propose(site, analyze(site))
    assert "std::remove_reference_t<decltype(tmp)> tmp;" in cands[0].loop_text


def test_index_declared_outside_gets_its_final_value():
    site = case_site("map_outside_idx")
    t = propose(site, analyze(site))[0].loop_text
    assert "i = static_cast<int>(n_iter);" in t


# ------------------------------------------------------------------ compile checks


def _gxx(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    cxx = os.environ.get("CXX", "g++")
    return subprocess.run([cxx, "-std=c++17", "-pthread", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def parlay_flags(toolchain):
    return [f"-I{toolchain.parlay_include}"] if toolchain.parlay_include else []


@pytest.mark.parlay
@pytest.mark.parametrize("name", sorted(FIRST_ORIGIN))
def test_every_candidate_of_every_example_syntax_checks(name, tmp_path, parlay_flags):
    site, cands = candidates(name)
    path = tmp_path / f"batch_{name}"
    path.write_text(batch_source(site, cands))
    r = _gxx([*parlay_flags, "-fsyntax-only", str(path)])
    assert r.returncode == 0, r.stderr[-4000:]


@pytest.mark.parlay
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIRST_ORIGIN))
def test_first_candidate_runs_like_the_original(name, tmp_path, parlay_flags):
    site, cands = candidates(name)
    orig, new = tmp_path / "orig.cpp", tmp_path / "new.cpp"
    orig.write_text(site.source)
    c = cands[0]
    new.write_text(rewritten_source(site, c.loop_text, c.includes, function_text=c.function_text))
    for src, exe in ((orig, tmp_path / "orig"), (new, tmp_path / "new")):
        r = _gxx([*parlay_flags, "-O2", str(src), "-o", str(exe)])
        assert r.returncode == 0, r.stderr[-4000:]
    ref = subprocess.run([str(tmp_path / "orig")], capture_output=True, text=True, timeout=120).stdout
    for threads in ("1", "4"):
        env = {**os.environ, "PARLAY_NUM_THREADS": threads}
        got = subprocess.run([str(tmp_path / "new")], capture_output=True, text=True, timeout=120, env=env).stdout
        assert got == ref


@pytest.mark.parlay
@pytest.mark.slow
def test_small_loop_candidates_match_the_original(tmp_path, parlay_flags):
    by_case = {}
    for name in CASES:
        site = case_site(name)
        facts = analyze(site)
        assert facts.parallelizable, (name, facts.reason)
        by_case[name] = propose(site, facts)
        assert by_case[name], name
    mismatches = run_differential(driver_source(by_case), tmp_path, parlay_flags)
    # only the deliberately emitted first-on-ties max_element for a `>=` loop may differ
    assert all("arg_max_nonstrict#1 rule:max-element" in ln or "rev_argmax_le#1 rule:max-element" in ln
               for ln in mismatches), mismatches
