"""Loop facts (``parevo.toolchain.facts.analyze``) on the examples and on small loops."""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.toolchain.facts import analyze
from parevo.toolchain.models import ReductionOp
from parevo.toolchain.parsing import find_loop, find_marked_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def facts_of_example(name: str):
    src = (EXAMPLES / name).read_text()
    site = find_loop(src, name, find_marked_lines(src)[0])
    return site, analyze(site)


PRE = """#include <vector>
#include <cstdio>
#include <cmath>
#include <algorithm>
double fn(const std::vector<double>& a, std::vector<double>& b, std::vector<double>& out, std::vector<double>& h,
          const std::vector<int>& idx, const std::vector<double>& w, const std::vector<unsigned>& ua,
          std::vector<int>& ids, int n, int m, double r, double t) {
  %s
  // parevo: select the loop below
  %s
  %s
}
"""


def facts_of(decls: str, loop: str, after: str = "return 0;"):
    src = PRE % (decls, loop, after)
    site = find_loop(src, "inline.cpp", find_marked_lines(src)[0])
    return analyze(site)


# ------------------------------------------------------------------ examples

EXPECTED = {
    "saxpy.cpp": "map",
    "sum_squares.cpp": "reduction",
    "dot_product.cpp": "reduction",
    "max_value.cpp": "reduction",
    "count_if.cpp": "reduction",
    "all_positive.cpp": "reduction",
    "histogram.cpp": "histogram",
    "prefix_sum.cpp": "scan",
    "cumulative_weights.cpp": "scan",
    "filter_positive.cpp": "filter",
    "find_first.cpp": "search",
    "argmin.cpp": "argminmax",
    "stencil.cpp": "map",
    "spmv_csr.cpp": "nest",
    "matvec_nested.cpp": "nest",
    "bfs_step.cpp": "nest",
    "particles.cpp": "map",
    "vec3_norms.cpp": "map",
    "flags.cpp": "map",
    "primes.cpp": "nest",
    "recurrence.cpp": "sequential",
    "scatter_conflict.cpp": "sequential",
}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.cpp")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_pattern(name):
    _site, f = facts_of_example(name)
    assert f.pattern == EXPECTED[name]
    assert f.parallelizable == (EXPECTED[name] != "sequential")
    assert not f.already_parallel
    if f.parallelizable:
        assert f.reason is None


def test_saxpy_header_and_writes():
    _s, f = facts_of_example("saxpy.cpp")
    assert (f.index_var, f.index_type, f.lower, f.upper, f.step) == ("i", "std::size_t", "0", "n", 1)
    assert [(a.array, a.index, a.op) for a in f.writes_at_index] == [("y", "i", "=")]
    assert {r.array for r in f.reads} == {"x", "y"}
    assert f.body_text.startswith("{") and "y[i] = a * x[i] + y[i];" in f.body_text


def test_sum_squares_reduction():
    site, f = facts_of_example("sum_squares.cpp")
    (r,) = f.reductions
    assert (r.var, r.var_type, r.op, r.expr, r.conditional) == ("s", "double", ReductionOp.ADD, "a[i] * a[i]", False)
    assert site.source.encode()[r.update.start_byte:r.update.end_byte].decode() == "s += a[i] * a[i];"


def test_dot_product_assignment_form():
    _s, f = facts_of_example("dot_product.cpp")
    (r,) = f.reductions
    assert (r.var, r.op, r.expr) == ("result", ReductionOp.ADD, "x[i] * y[i]")


def test_max_value_std_max():
    _s, f = facts_of_example("max_value.cpp")
    (r,) = f.reductions
    assert (r.op, r.expr) == (ReductionOp.MAX, "std::fabs(a[i])")
    assert {c.name for c in f.calls} >= {"std::fabs"} and all(c.pure for c in f.calls)


def test_count_if_is_conditional_count():
    _s, f = facts_of_example("count_if.cpp")
    (r,) = f.reductions
    assert (r.var, r.var_type, r.op, r.conditional) == ("count", "long", ReductionOp.COUNT, True)


def test_all_positive_is_logical_and():
    _s, f = facts_of_example("all_positive.cpp")
    (r,) = f.reductions
    assert (r.var, r.var_type, r.op, r.expr) == ("ok", "bool", ReductionOp.AND, "a[i] > 0")


def test_histogram_update():
    _s, f = facts_of_example("histogram.cpp")
    assert [(a.array, a.index, a.op) for a in f.writes_computed] == [("hist", "keys[i]", "++")]
    assert not f.dependences


def test_prefix_sum_is_inclusive_scan():
    _s, f = facts_of_example("prefix_sum.cpp")
    assert f.scan is not None
    assert (f.scan.kind, f.scan.op, f.scan.expr, f.scan.output, f.scan.acc) == (
        "inclusive", ReductionOp.ADD, "a[i]", "out", "acc")


def test_filter_push():
    _s, f = facts_of_example("filter_positive.cpp")
    (p,) = f.pushes
    assert (p.container, p.value, p.conditional, p.condition) == ("out", "a[i]", True, "a[i] > 0.0")


def test_find_first_search():
    _s, f = facts_of_example("find_first.cpp")
    assert f.search is not None
    assert (f.search.kind, f.search.condition, f.search.value) == ("return", "a[i] == target", "i")
    assert [e.kind for e in f.early_exits] == ["return"]
    assert f.index_type == "long" and f.upper == "static_cast<long>(a.size())"


def test_argmin_strict():
    _s, f = facts_of_example("argmin.cpp")
    (a,) = f.argextremes
    assert (a.kind, a.value_var, a.index_var, a.expr, a.strict) == ("min", "best", "best_i", "a[i]", True)
    assert f.lower == "1" and not f.reductions


def test_stencil_reads_neighbours_of_another_array():
    _s, f = facts_of_example("stencil.cpp")
    assert sorted(r.index for r in f.reads if r.array == "in") == ["i", "i + 1", "i - 1"]
    assert (f.lower, f.upper) == ("1", "n - 1") and not f.dependences


@pytest.mark.parametrize("name,private", [("spmv_csr.cpp", {"sum", "j"}), ("matvec_nested.cpp", {"acc", "j"}),
                                          ("bfs_step.cpp", {"e"})])
def test_nests_keep_inner_state_private(name, private):
    _s, f = facts_of_example(name)
    assert f.inner_loops == 1 and set(f.body_locals) == private
    assert not f.reductions and not f.early_exits  # the inner `break` does not leave the outer loop
    assert len(f.writes_at_index) == 1


def test_particles_struct_fields_are_written_at_index():
    _s, f = facts_of_example("particles.cpp")
    assert {a.array for a in f.writes_at_index} == {"ps"} and len(f.writes_at_index) == 2
    assert f.body_locals == ["force"]


def test_recurrence_reason():
    _s, f = facts_of_example("recurrence.cpp")
    assert f.reason == ("loop-carried dependence: `x` at line 9 reads `x[i - 1]`, the value written by the previous "
                        "iteration at line 9")
    assert f.reason_lines == [8]
    (d,) = f.dependences
    assert (d.var, d.distance) == ("x", 1)


def test_scatter_conflict_reason():
    _s, f = facts_of_example("scatter_conflict.cpp")
    assert f.reason == ("write conflict: `out[idx[i]] = …` at line 9: several iterations may write the same element, "
                        "and the last writer decides the result")
    assert f.reason_lines == [8]


# ------------------------------------------------------------------ small loops


@pytest.mark.parametrize("decls,loop,op,expr", [
    ("double p = 1;", "for (int i = 0; i < n; ++i) p *= a[i];", ReductionOp.MUL, "a[i]"),
    ("double s = 0;", "for (int i = 0; i < n; ++i) s -= a[i];", ReductionOp.ADD, "-(a[i])"),
    ("double s = 0;", "for (int i = 0; i < n; ++i) s = a[i] + s;", ReductionOp.ADD, "a[i]"),
    ("bool ok = true;", "for (int i = 0; i < n; ++i) ok = ok && (a[i] > 0);", ReductionOp.AND, "a[i] > 0"),
    ("bool found = false;", "for (int i = 0; i < n; ++i) { if (a[i] == t) found = true; }", ReductionOp.OR,
     "a[i] == t"),
    ("unsigned bits = ~0u;", "for (int i = 0; i < n; ++i) bits &= ua[i];", ReductionOp.BIT_AND, "ua[i]"),
    ("unsigned x = 0;", "for (int i = 0; i < n; ++i) x |= ua[i];", ReductionOp.BIT_OR, "ua[i]"),
    ("unsigned x = 0;", "for (int i = 0; i < n; ++i) x ^= ua[i];", ReductionOp.BIT_XOR, "ua[i]"),
    ("double mn = 1e300;", "for (int i = 0; i < n; ++i) { if (a[i] < mn) mn = a[i]; }", ReductionOp.MIN, "a[i]"),
    ("double mx = 0;", "for (int i = 0; i < n; ++i) { if (mx < a[i]) { mx = a[i]; } }", ReductionOp.MAX, "a[i]"),
    ("double mn = 1e300;", "for (int i = 0; i < n; ++i) mn = a[i] < mn ? a[i] : mn;", ReductionOp.MIN, "a[i]"),
    ("double mx = 0;", "for (int i = 0; i < n; ++i) mx = std::fmax(mx, a[i]);", ReductionOp.MAX, "a[i]"),
    ("int c = 0;", "for (int i = 0; i < n; ++i) if (a[i] > 0) c += 1;", ReductionOp.COUNT, "1"),
    ("int c = 0;", "for (int i = 0; i < n; ++i) if (a[i] > 0) ++c;", ReductionOp.COUNT, "1"),
])
def test_reduction_forms(decls, loop, op, expr):
    f = facts_of(decls, loop)
    assert f.pattern == "reduction" and f.parallelizable
    (r,) = f.reductions
    assert (r.op, r.expr) == (op, expr)


def test_multiplicative_recurrence_is_not_a_reduction():
    f = facts_of("double acc = 0;", "for (int i = 0; i < n; ++i) { acc = acc * r + a[i]; }", "return acc;")
    assert f.pattern == "sequential" and not f.parallelizable and not f.reductions
    assert f.reason.startswith("loop-carried dependence: `acc` at line 10 reads the value of `acc`")


def test_two_reductions_in_one_loop():
    f = facts_of("double s = 0; long c = 0;", "for (int i = 0; i < n; ++i) { if (a[i] > 0) { s += a[i]; c++; } }")
    assert f.pattern == "reduction"
    assert {(r.var, r.op) for r in f.reductions} == {("s", ReductionOp.ADD), ("c", ReductionOp.COUNT)}


def test_reduction_in_inner_loop():
    f = facts_of("double s = 0;", "for (int i = 0; i < n; ++i) for (int j = 0; j < n; ++j) s += a[i] * a[j];")
    assert f.pattern == "reduction" and f.reductions[0].in_inner_loop and f.inner_loops == 1


def test_reduction_variable_read_elsewhere_is_a_dependence():
    f = facts_of("double s = 0;", "for (int i = 0; i < n; ++i) { s += a[i]; b[i] = s * 2; }")
    assert f.pattern == "scan" and f.scan.output is None and f.scan.kind == "inclusive"
    f = facts_of("double s = 0;", "for (int i = 0; i < n; ++i) { if (a[i] < 0) continue; s += a[i]; b[i] = s; }")
    assert f.pattern == "sequential"
    f = facts_of("double s = 0;", "for (int i = 0; i < n; ++i) { b[i] = s; s = s * a[i] + 1; }")
    assert f.pattern == "sequential"


def test_exclusive_scan_and_carried_scans():
    f = facts_of("long acc = 0;", "for (size_t i = 0; i < a.size(); ++i) { out[i] = acc; acc += a[i]; }")
    assert f.pattern == "scan" and f.scan.kind == "exclusive" and f.scan.acc == "acc"
    f = facts_of("", "for (int i = 1; i < n; ++i) { out[i] = out[i - 1] + a[i]; }")
    assert f.pattern == "scan" and f.scan.carried == "out[i - 1]" and f.scan.expr == "a[i]" and not f.scan.in_place
    f = facts_of("", "for (int i = 1; i < n; ++i) b[i] += b[i - 1];")
    assert f.pattern == "scan" and f.scan.in_place and f.scan.output == "b"


def test_dependences_and_conflicts():
    f = facts_of("", "for (int i = 0; i < n - 1; ++i) { b[i] = b[i + 1] + a[i]; }")
    assert f.pattern == "sequential" and "which the next iteration overwrites" in f.reason
    assert f.dependences[0].distance == -1
    f = facts_of("", "for (int i = 0; i < n; ++i) { b[i] = b[idx[i]] + 1; }")
    assert f.pattern == "sequential" and "`b[idx[i]]`" in f.reason
    f = facts_of("", "for (int i = 2; i < n; ++i) { b[i] = b[i - 2] * r; }")
    assert "the value written 2 iterations earlier" in f.reason
    f = facts_of("", "for (int i = 0; i < n; ++i) { h[idx[i]] += h[0]; }")
    assert f.pattern == "sequential" and "`h[0]`" in f.reason
    f = facts_of("double last = 0;", "for (int i = 0; i < n; ++i) { last = a[i]; }", "return last;")
    assert f.pattern == "sequential" and f.reason.startswith("write conflict: every iteration may assign `last`")


def test_step_two_does_not_depend_on_odd_elements():
    f = facts_of("", "for (int i = 1; i < n; i += 2) { b[i] = b[i - 1] + 1; }")
    assert f.aliases[0].coef == 2 and f.pattern == "map" and f.parallelizable


def test_weighted_histogram():
    f = facts_of("", "for (int i = 0; i < n; ++i) { h[idx[i] % m] += w[i]; }")
    assert f.pattern == "histogram"
    assert [(a.array, a.index, a.op, a.value) for a in f.writes_computed] == [("h", "idx[i] % m", "+=", "w[i]")]


def test_argmax_non_strict():
    f = facts_of("double best = a[0]; int bi = 0;",
                 "for (int i = 1; i < n; ++i) { if (a[i] >= best) { best = a[i]; bi = i; } }")
    assert f.pattern == "argminmax"
    (a,) = f.argextremes
    assert (a.kind, a.strict, a.index_var) == ("max", False, "bi")


def test_range_for_filter_and_map():
    f = facts_of("", "for (double x : a) { if (x > 0) out.push_back(x); }")
    assert (f.pattern, f.range_var, f.range_var_type, f.range_expr) == ("filter", "x", "double", "a")
    f = facts_of("", "for (auto& x : b) { x = x * 2 + 1; }")
    assert f.pattern == "map" and f.range_var_type == "auto&" and f.writes_at_index[0].array == "b"


def test_filter_of_indices():
    f = facts_of("", "for (int i = 0; i < n; ++i) { if (a[i] > t) ids.push_back(i); }")
    assert f.pattern == "filter" and f.pushes[0].value == "i"


def test_break_search_with_assignment():
    f = facts_of("int at = -1;", "for (int i = 0; i < n; ++i) { if (a[i] > t) { at = i; break; } }")
    assert f.pattern == "search" and f.search.kind == "break" and f.search.action == "at = i;"
    assert f.early_exits[0].condition == "a[i] > t"


def test_other_early_exits_are_sequential():
    f = facts_of("", "for (int i = 0; i < n; ++i) { if (a[i] < 0) goto done; b[i] = a[i]; }\n done: ;")
    assert f.pattern == "sequential" and f.reason.startswith("early exit: `goto`")
    f = facts_of("", "for (int i = 0; i < n; ++i) { b[i] = a[i]; if (a[i] < 0) break; }")
    assert not f.parallelizable


def test_already_parallel():
    f = facts_of("", "#pragma omp parallel for\n  for (int i = 0; i < n; ++i) b[i] = a[i];")
    assert f.already_parallel and not f.parallelizable and "omp parallel for" in f.reason
    f = facts_of("", "for (int q = 0; q < 3; ++q) { parlay::parallel_for(0, n, [&](size_t i) { b[i] += a[i]; }); }")
    assert f.already_parallel


def test_parallel_call_selection_is_already_parallel():
    src = PRE % ("", "parlay::parallel_for(0, n, [&](size_t i) { b[i] = a[i]; });", "return 0;")
    site = find_loop(src, "inline.cpp", find_marked_lines(src)[0])
    assert site.loop_kind == "call"  # the parallel call itself is the selected "loop"
    assert analyze(site).already_parallel


def test_while_loop_is_unknown_with_reason():
    f = facts_of("int i = 0;", "while (i < n) { b[i] = a[i]; i = i * 2 + 1; }")
    assert f.pattern == "unknown" and not f.parallelizable and "while loop is neither counted" in f.reason


def test_header_forms():
    f = facts_of("double s = 0;", "for (int i = 1; i <= n; i++) s += a[i - 1];")
    assert (f.lower, f.upper, f.step) == ("1", "(n) + 1", 1)
    f = facts_of("double s = 0;", "for (int i = n - 1; i >= 0; --i) s += a[i];")
    assert f.pattern == "reduction" and f.step == 1 and f.lower == "0"  # read over positions
    assert [(a.name, a.coef, a.base) for a in f.aliases] == [("i", -1, "static_cast<int>((n - 1) + 1) - 1")]
    f = facts_of("int i;", "for (i = 0; i < n; ++i) b[i] = a[i];")
    assert f.index_declared_outside and f.index_type == "int"


def test_private_temporary_and_io():
    f = facts_of("double tmp;", "for (int i = 0; i < n; ++i) { tmp = a[i] * 2; b[i] = tmp + 1; }")
    assert f.pattern == "map" and f.private_scalars == ["tmp"]
    f = facts_of("", 'for (int i = 0; i < n; ++i) { printf("%f\\n", a[i]); }')
    assert f.pattern == "sequential" and "printf" in f.reason


def test_continue_is_recorded():
    f = facts_of("", "for (int i = 0; i < n; ++i) { if (a[i] < 0) continue; b[i] = a[i]; }")
    assert f.pattern == "map" and len(f.continues) == 1


def test_index_changed_in_body():
    f = facts_of("", "for (int i = 0; i < n; ++i) { b[i] = a[i]; i += 1; }")
    assert not f.parallelizable and "changes the index" in f.reason


def test_used_update_values_are_order_dependent():
    f = facts_of("int c = 0;", "for (int i = 0; i < n; ++i) { if (a[i] > 0) ids[c++] = i; }", "return c;")
    assert f.pattern == "sequential" and not f.reductions
    f = facts_of("", "for (int i = 0; i < n; ++i) { int slot = --ids[idx[i]]; b[slot] = a[i]; }")
    assert f.pattern == "sequential" and f.reason.startswith("write conflict: `--ids[idx[i]]`")


def test_at_accesses_are_element_accesses():
    f = facts_of("", "for (int i = 0; i < n; ++i) b.at(i) = std::max(b.at(i), 0.0);")
    assert f.pattern == "map" and f.writes_at_index[0].array == "b"
    f = facts_of("", "for (int i = 1; i < n; ++i) b.at(i) = b.at(i - 1) * r;")
    assert f.pattern == "scan" and f.scan.op == ReductionOp.MUL  # a prefix product
    f = facts_of("", "for (int i = 1; i < n; ++i) b.at(i) = b.at(i - 1) * r + 1;")
    assert f.pattern == "sequential" and "`b.at(i - 1)`" in f.reason


# ------------------------------------------------------------------ row-major subscripts

@pytest.mark.parametrize("loop", [
    "for (int i = 0; i < n; ++i) for (int j = 0; j < m; ++j) out[i * m + j] = a[j] * r;",
    "for (int i = 0; i < n; ++i) for (int j = 0; j < m; ++j) out[m * i + j] = a[j] * r;",
    "for (int i = 0; i < n; ++i) for (int j = 0; j < m; ++j) out[j + (i * m)] = a[j] * r;",
    # a stencil's interior: columns 1 .. m-2, rows read from another array
    "for (int i = 1; i < n - 1; ++i) for (int j = 1; j < m - 1; ++j)"
    " out[i * m + j] = a[(i - 1) * m + j] + a[i * m + j + 1];",
    # initialise a row, then accumulate into it (matrix product): same subscript, one row per iteration
    "for (int i = 0; i < n; ++i) { for (int j = 0; j < m; ++j) out[i * m + j] = 0.0;"
    " for (int k = 0; k < m; ++k) for (int j = 0; j < m; ++j) out[i * m + j] += a[i * m + k] * w[k * m + j]; }",
])
def test_row_major_writes_belong_to_their_row(loop):
    f = facts_of("", loop)
    assert f.parallelizable, f.reason
    assert f.pattern == "nest"
    assert [a.array for a in f.writes_at_index][:1] == ["out"] and not f.writes_computed


@pytest.mark.parametrize("loop, why", [
    # the column can leave the row: j reaches m
    ("for (int i = 0; i < n; ++i) for (int j = 0; j <= m; ++j) out[i * m + j] = r;", "write conflict"),
    # the column is bounded by something else than the row width
    ("for (int i = 0; i < n; ++i) for (int j = 0; j < n; ++j) out[i * m + j] = r;", "write conflict"),
    # the column starts below 0
    ("for (int i = 0; i < n; ++i) for (int j = -1; j < m; ++j) out[i * m + j + 1] = r;", "write conflict"),
    # not an inner loop's index
    ("for (int i = 0; i < n; ++i) out[i * m + ids[i]] = r;", "write conflict"),
    # the row width changes inside the loop
    ("for (int i = 0; i < n; ++i) { m = i; for (int j = 0; j < m; ++j) out[i * m + j] = r; }", ""),
    # reads the previous row of the array it writes
    ("for (int i = 1; i < n; ++i) for (int j = 0; j < m; ++j) out[i * m + j] = out[(i - 1) * m + j];",
     "loop-carried dependence"),
    # written row by row and somewhere else too
    ("for (int i = 0; i < n; ++i) { for (int j = 0; j < m; ++j) out[i * m + j] = r; out[0] = r; }",
     "write conflict"),
])
def test_row_major_claims_need_proof(loop, why):
    f = facts_of("", loop)
    # the rows are not claimed independent: the loop is sequential (an inner loop may still be offered)
    assert not f.parallelizable or (f.pattern == "inner" and f.sequential_outer)
    assert why in (f.reason or f.sequential_outer or "")


def test_shifted_carried_scan():
    f = facts_of("", "for (int i = 0; i < n - 1; ++i) { out[i + 1] = out[i] + a[i]; }")
    assert f.parallelizable and f.pattern == "scan"
    assert (f.scan.carried, f.scan.target, f.scan.expr) == ("out[i]", "out[i + 1]", "a[i]")


@pytest.mark.parametrize("loop", [
    "for (int i = 0; i < n - 2; ++i) { out[i + 2] = out[i] + a[i]; }",      # distance 2: not one scan
    "for (int i = 0; i < n - 1; ++i) { out[i + 1] = out[i] * r + a[i]; }",  # not a monoid (affine recurrence)
])
def test_other_carried_recurrences_stay_sequential(loop):
    f = facts_of("", loop)
    assert not f.parallelizable and "loop-carried dependence" in f.reason


def test_argmin_of_a_local_with_a_cast_index():
    f = facts_of("double best = 1e300; long bi = -1;",
                 "for (int i = 0; i < n; ++i) { double dx = a[i] - r, dy = b[i] - t; double d = dx * dx + dy * dy;"
                 " if (d < best) { best = d; bi = static_cast<long>(i); } }", "return bi;")
    assert f.parallelizable and f.pattern == "argminmax"
    (ax,) = f.argextremes
    assert (ax.value_var, ax.index_var, ax.index_expr, ax.expr) == ("best", "bi", "static_cast<long>(i)", "d")
    assert ax.prelude == ["double dx = a[i] - r, dy = b[i] - t;", "double d = dx * dx + dy * dy;"]


@pytest.mark.parametrize("decls, loop", [
    # the local's value also feeds another statement after the if: not an argmin on its own
    ("double best = 1e300; int bi = -1;",
     "for (int i = 0; i < n; ++i) { double d = a[i]; if (d < best) { best = d; bi = i; } b[i] = d; }"),
    # the stored position is not the index
    ("double best = 1e300; int bi = -1;",
     "for (int i = 0; i < n; ++i) { if (a[i] < best) { best = a[i]; bi = i + 1; } }"),
])
def test_argmin_lookalikes_are_not_argmins(decls, loop):
    f = facts_of(decls, loop, "return bi;")
    assert not f.argextremes
