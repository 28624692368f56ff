"""Loop facts for loops as people write them (issue 16): guarded reductions, loops in any direction, early
exits, ``while`` loops (counted, frontier, relaxation), nests with a sequential outer loop, standard
algorithms and insertion sort. Each case was refused or misread before."""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.toolchain.facts import analyze
from parevo.toolchain.models import ReductionOp
from parevo.toolchain.normalize import normalize
from parevo.toolchain.parsing import find_loop, find_marked_lines

KERNELS = Path(__file__).resolve().parents[2] / "bench" / "kernels"

PRE = """#include <vector>
#include <numeric>
#include <algorithm>
#include <functional>
#include <cmath>
struct P { double x, y; int tag; };
double fn(const std::vector<double>& a, std::vector<double>& b, std::vector<double>& out, std::vector<P>& ps,
          std::vector<int>& v, const std::vector<int>& idx, int n, double t) {
  %s
  // parevo: select the loop below
  %s
  %s
}
"""


def site_of(decls: str, loop: str, after: str = "return 0;"):
    src = PRE % (decls, loop, after)
    return find_loop(src, "inline.cpp", find_marked_lines(src)[0])


def facts_of(decls: str, loop: str, after: str = "return 0;"):
    return analyze(site_of(decls, loop, after))


def kernel_facts(name: str):
    src = (KERNELS / f"{name}.cpp").read_text()
    return analyze(find_loop(src, f"{name}.cpp", find_marked_lines(src)[0]))


# ------------------------------------------------------------------ 1. guarded reductions


def test_min_under_a_filter_is_a_reduction_with_that_filter():
    f = facts_of("double best = 1e300;", "for (int i = 0; i < n; ++i) { if (a[i] > 0 && a[i] < best) best = a[i]; }",
                 "return best;")
    assert f.pattern == "reduction" and f.parallelizable
    (r,) = f.reductions
    assert r.op == ReductionOp.MIN and r.expr == "a[i]" and r.filter == "(a[i] > 0)"


@pytest.mark.parametrize("loop", [
    "for (int i = 0; i < n; ++i) { if (b[i] > t) { if (a[i] * b[i] < best) best = a[i] * b[i]; } }",
    "for (int i = 0; i < n; ++i) { double s = 0; for (int j = 0; j < 4; ++j) s += a[(i + j) % n]; "
    "if (s < best) best = s; }",
    "for (size_t i = 0; i < ps.size(); ++i) { if (ps[i].tag == 3 && ps[i].x < best) best = ps[i].x; }",
    "for (const P& p : ps) { double d = p.x * p.x + p.y * p.y; if (d < best) best = d; }",
])
def test_min_of_any_iteration_value(loop):
    f = facts_of("double best = 1e300;", loop, "return best;")
    assert f.pattern == "reduction" and f.parallelizable, f.reason
    assert [r.op for r in f.reductions] == [ReductionOp.MIN]


def test_argmin_under_a_filter_records_the_filter():
    f = facts_of("double best = 1e300; int bi = -1;",
                 "for (int i = 0; i < n; ++i) { if (idx[i] > 5 && a[i] < best) { best = a[i]; bi = i; } }",
                 "return bi;")
    assert f.pattern == "argminmax"
    (ax,) = f.argextremes
    assert ax.filter == "(idx[i] > 5)" and ax.strict and ax.kind == "min"


def test_argmax_under_an_outer_guard_records_it():
    f = facts_of("double best = -1e300; int bi = -1;",
                 "for (int i = 0; i < n; ++i) { if (b[i] > t) { if (a[i] >= best) { best = a[i]; bi = i; } } }",
                 "return bi;")
    (ax,) = f.argextremes
    assert ax.filter == "(b[i] > t)" and not ax.strict


def test_several_accumulators_and_an_argmin_are_one_reduction():
    f = facts_of("double best = 1e300; int bi = -1; double s = 0;",
                 "for (int i = 0; i < n; ++i) { s += a[i]; if (a[i] < best) { best = a[i]; bi = i; } }",
                 "return bi + s;")
    assert f.pattern == "reduction" and f.parallelizable
    assert [r.var for r in f.reductions] == ["s"] and [a.value_var for a in f.argextremes] == ["best"]


def test_guard_reading_another_accumulator_is_a_dependence():
    f = facts_of("double lo = 1e300, hi = -1e300;",
                 "for (int i = 0; i < n; ++i) { if (a[i] < lo) lo = a[i]; else if (a[i] > hi) hi = a[i]; }",
                 "return hi - lo;")
    assert not f.parallelizable
    assert "runs only when `!(a[i] < lo)`, which reads `lo`" in f.reason


def test_count_guarded_by_the_improvement_test_is_order_dependent():
    f = facts_of("double best = 1e300; int c = 0;",
                 "for (int i = 0; i < n; ++i) { if (a[i] < best) best = a[i]; if (a[i] < best + 1) ++c; }",
                 "return best + c;")
    assert not f.parallelizable


# ------------------------------------------------------------------ 2. direction and step


def test_reverse_early_exit_is_a_search_in_position_order():
    site = site_of("", "for (int i = n - 1; i >= 0; --i) { if (a[i] > t) return i; }", "return -1;")
    nz = normalize(site)
    assert nz is not None and "counts down" in nz.note
    f = analyze(site)
    assert f.pattern == "search" and f.parallelizable and f.step == 1
    (al,) = f.aliases
    assert al.name == "i" and al.coef == -1


def test_reverse_copy_is_a_map():
    f = facts_of("", "for (int i = n - 1; i >= 0; --i) out[n - 1 - i] = a[i];")
    assert f.pattern == "map" and f.parallelizable


def test_reverse_accumulation_is_a_scan_and_reverse_carried_scan_too():
    f = facts_of("double acc = 0;", "for (int i = n - 1; i >= 0; --i) { acc += a[i]; out[i] = acc; }", "return acc;")
    assert f.pattern == "scan" and f.parallelizable
    f = facts_of("", "for (int i = n - 2; i >= 0; --i) out[i] = out[i + 1] + a[i];")
    assert f.pattern == "scan" and f.scan.carried == "out[i + 1]"


def test_post_decrement_header_and_stride_two():
    f = facts_of("double s = 0;", "for (size_t i = a.size(); i-- > 0; ) s += a[i];", "return s;")
    assert f.pattern == "reduction" and f.aliases[0].coef == -1
    f = facts_of("", "for (int i = 0; i + 1 < n; i += 2) { out[i] = a[i] + a[i + 1]; out[i + 1] = a[i] - a[i + 1]; }")
    assert f.pattern == "map" and f.parallelizable and f.aliases[0].coef == 2


def test_stride_two_reading_the_previous_iteration_is_a_scan_and_a_shifted_read_a_dependence():
    f = facts_of("", "for (int i = 2; i < n; i += 2) { out[i] = out[i - 2] + 1; }")
    assert f.pattern == "scan" and f.scan.carried == "out[i - 2]"
    f = facts_of("", "for (int i = 2; i < n; i += 2) { out[i] = out[i - 2] * out[i - 4]; }")
    assert not f.parallelizable and "previous iteration" in f.reason


def test_unsigned_index_counting_down_to_zero_never_ends():
    f = facts_of("double s = 0;", "for (size_t i = a.size() - 1; i >= 0; --i) s += a[i];", "return s;")
    assert not f.parallelizable and "never ends" in f.reason


# ------------------------------------------------------------------ 3. early exits


@pytest.mark.parametrize("decls, loop, after", [
    ("", "for (const auto& x : a) { if (x > t) return x; }", "return -1;"),
    ("bool found = false;", "for (double x : a) { if (x > t) { found = true; break; } }", "return found;"),
    ("bool found = false; int pos = -1;",
     "for (int i = 0; i < n && !found; ++i) { if (a[i] > t) { found = true; pos = i; } }", "return pos;"),
    ("int i = 0;", "while (i < n && a[i] <= t) ++i;", "return i;"),
    ("int pos = -1;", "for (int i = 0; i < n; ++i) { if (a[i] > t) pos = i; }", "return pos;"),
    ("double last = -1;", "for (double x : a) { if (x > t) last = x; }", "return last;"),
])
def test_early_exit_forms_are_searches(decls, loop, after):
    f = facts_of(decls, loop, after)
    assert f.pattern == "search" and f.parallelizable, f.reason


def test_last_match_reads_as_a_search_from_the_end():
    f = facts_of("int pos = -1;", "for (int i = 0; i < n; ++i) { if (a[i] > t) pos = i; }", "return pos;")
    assert "search from the end" in f.normalized and f.aliases[0].coef == -1


def test_flag_set_to_true_is_still_a_reduction_not_a_last_match():
    f = facts_of("bool any = false;", "for (int i = 0; i < n; ++i) { if (a[i] > t) any = true; }", "return any;")
    assert f.pattern == "reduction" and f.reductions[0].op == ReductionOp.OR


# ------------------------------------------------------------------ 4. while loops


def test_counted_while_and_do_while_are_for_loops():
    f = facts_of("double s = 0; int j = 0;", "while (j < n) { s += a[j] * j; ++j; }", "return s;")
    assert f.pattern == "reduction" and "counted while loop" in f.normalized
    site = site_of("double s = 1; int j = 0;", "do { if (j < n) s += a[j]; s += 1; j++; } while (j < n);",
                   "return s;")
    nz = normalize(site)
    assert nz is not None and nz.entry_test == "j < n"
    assert analyze(site).parallelizable


def test_while_with_a_continue_skipping_the_step_is_not_counted():
    f = facts_of("double s = 0; int j = 0;", "while (j < n) { if (a[j] < 0) { ++j; continue; } s += a[j]; ++j; }",
                 "return s;")
    assert not f.parallelizable


def test_pre_decrement_condition_is_not_read_as_a_post_decrement():
    """``while (--i >= 0)`` tests the decremented value: not the ``i-- > 0`` form (once read as it, and the
    rewrite applied again to its own ``for`` loop)."""
    site = site_of("double s = 0; int i = n - 1;", "do { s += a[i]; } while (--i >= 0);", "return s;")
    assert normalize(site) is None
    f = analyze(site)
    assert not f.parallelizable and f.normalized is None


def test_bfs_kernel_is_a_frontier():
    f = kernel_facts("bfs")
    assert f.pattern == "frontier" and f.parallelizable
    fr = f.frontier
    assert (fr.frontier, fr.next, fr.vertex, fr.pushed, fr.written, fr.domain) == (
        "frontier", "next", "u", "v", ["dist"], "dist")
    assert [r.name for r in fr.record] == ["u", "v"]
    assert fr.vertex_reads == ["dist[u]"] and fr.next_is_local and fr.vertex_decl == "int u"
    # the level loop's body is a CSR edge loop, and the condition reads the claimed vertex's own `dist[v]`
    src = (Path(__file__).resolve().parents[2] / "bench" / "kernels" / "bfs.cpp").read_bytes()
    ed = fr.edges
    assert (ed.index, ed.index_type, ed.adjacency) == ("e", "int", "edges")
    assert (src[ed.lower.start_byte:ed.lower.end_byte], src[ed.upper.start_byte:ed.upper.end_byte]) == (
        b"offsets[u]", b"offsets[u + 1]")
    assert fr.own_condition == ["dist"]


def test_label_propagation_kernel_is_a_relaxation():
    f = kernel_facts("label_propagation")
    assert f.pattern == "relaxation" and f.parallelizable
    rx = f.relaxation
    assert (rx.flag, rx.vertex, rx.labels, rx.kind) == ("changed", "v", "label", "min") and len(rx.reads) == 3


GRAPH = """#include <vector>
void g(const std::vector<int>& off, const std::vector<int>& adj, std::vector<int>& dist, std::vector<int>& parent,
       std::vector<double>& w, int src, int nv) {
  std::vector<int> frontier(1, src);
  bool changed = true;
  // parevo: select the loop below
  %s
}
"""


def graph_facts(loop: str):
    src = GRAPH % loop
    return analyze(find_loop(src, "g.cpp", find_marked_lines(src)[0]))


def test_frontier_with_an_indexed_loop_and_a_parent_array():
    f = graph_facts("""while (frontier.size() > 0) {
    std::vector<int> next;
    for (size_t k = 0; k < frontier.size(); ++k) {
      int u = frontier[k];
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int x = adj[e];
        if (parent[x] < 0) { parent[x] = u; dist[x] = dist[u] + 1; next.push_back(x); }
      }
    }
    std::swap(frontier, next);
  }""")
    assert f.pattern == "frontier", f.reason
    assert f.frontier.index == "k" and f.frontier.written == ["parent", "dist"]
    assert f.frontier.vertex_reads is None  # `parent[x] = u` reads the vertex itself
    assert f.frontier.vertex_decl == "int u" and f.frontier.next_is_local


FRONTIER = """while (!frontier.empty()) {
    std::vector<int> next;
    BEFORE
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int x = adj[e];
        if (COND) { dist[x] = dist[u] + 1; BLOCK next.push_back(x); }
      }
    }
    frontier.swap(next);
  }"""


@pytest.mark.parametrize("before, cond, block, edges, own", [
    ("", "dist[x] == -1", "", True, ["dist"]),
    ("", "dist[x] == -1 && parent[x] != 0", "parent[x] = 1;", True, ["dist", "parent"]),
    ("", "x != src && dist[x] < 0", "", True, ["dist"]),
    # `parent` written at another vertex than the claimed one (outside the level loop): stale flags
    ("parent[0] = 1;", "dist[x] == -1 && parent[x] != 0", "", True, None),
    # the condition reads a scalar the loop changes, or another vertex's element
    ("++src;", "dist[x] == -1 && x != src", "", True, None),
    ("", "dist[x] == -1 && parent[nv - 1 - x] != 0", "", True, None),
    ("", "dist[x] == -1 && *(&parent[0] + x) != 0", "", True, None),
    # a call whose effects parevo does not see, beside the level loop
    ("g(dist);", "dist[x] == -1", "", False, None),
    # the block reads the edge index: not the CSR shape the flattened targets carry
    ("", "dist[x] == -1", "parent[x] = e;", False, ["dist"]),
])
def test_frontier_edges_and_own_condition(before, cond, block, edges, own):
    loop = FRONTIER.replace("BEFORE", before).replace("COND", cond).replace("BLOCK", block)
    f = graph_facts(loop)
    assert f.pattern == "frontier", f.reason
    assert (f.frontier.edges is not None, f.frontier.own_condition) == (edges, own)


@pytest.mark.parametrize("block, uniform", [
    ("", True),  # dist[x] = dist[u] + 1: every vertex a level claims ends at the frontier's distance plus one
    ("parent[x] = 7;", True),  # parent is not read at [u]
    ("dist[x] = 2 * dist[u] - 1;", True),
    # a claimed vertex's read depends on the vertex, on the edge, or on another array: reads that differ
    ("dist[x] = dist[u] + x;", False),
    ("dist[x] = dist[u] + e;", False),
    ("dist[x] = dist[u] + w[x];", False),
    ("dist[x] += 1;", False),
    ("dist[x] = std::max(dist[u], 0) + 1;", False),  # calls are not read (even pure ones)
    ("parent[x] = parent[u];", True),  # each claimed vertex copies the frontier's (equal) parent[u]
    ("parent[x] = parent[u] + x;", False),
])
def test_frontier_uniform_reads(block, uniform):
    f = graph_facts(FRONTIER.replace("BEFORE", "").replace("COND", "dist[x] == -1").replace("BLOCK", block))
    assert f.pattern == "frontier", f.reason
    assert f.frontier.uniform_reads is uniform


def test_frontier_edges_need_the_adjacency_slot_alone():
    f = graph_facts("""while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier)
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int x = adj[e];
        int y = x;
        if (dist[y] == -1) { dist[y] = dist[u] + 1; next.push_back(y); }
      }
    frontier.swap(next);
  }""")
    assert f.pattern == "frontier", f.reason
    assert f.frontier.edges is None and f.frontier.own_condition == ["dist"]


@pytest.mark.parametrize("change, why", [
    ("dist[u] = 0;", "writes `dist[u]`"),
    ("if (dist[x] == -1 && dist[u] > 2) { dist[x] = dist[u] + 1; next.push_back(x); }", "reads `dist[u]`"),
])
def test_frontier_refusals(change, why):
    body = "if (dist[x] == -1) { dist[x] = dist[u] + 1; next.push_back(x); }"
    loop = """while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int x = adj[e];
        BODY
      }
    }
    frontier.swap(next);
  }"""
    new = body.replace("if (dist[x] == -1)", change + " if (dist[x] == -1)") if change.endswith(";") else change
    f = graph_facts(loop.replace("BODY", new))
    assert f.pattern != "frontier" and not f.parallelizable
    assert why in f.reason


def test_relaxation_of_floating_values_is_refused():
    f = graph_facts("""while (changed) {
    changed = false;
    for (int v = 0; v < nv; ++v)
      for (int e = off[v]; e < off[v + 1]; ++e) {
        int u = adj[e];
        if (w[u] < w[v]) { w[v] = w[u]; changed = true; }
      }
  }""")
    assert not f.parallelizable and "not an array of integers" in f.reason


QUEUE = """#include <vector>
#include <queue>
#include <deque>
void g(const std::vector<int>& off, const std::vector<int>& adj, std::vector<int>& dist, std::vector<int>& parent,
       std::vector<bool>& seen, int src, int nv) {
  %s
  // parevo: select the loop below
  %s
}
"""


def queue_facts(decls: str, loop: str):
    src = QUEUE % (decls, loop)
    return analyze(find_loop(src, "q.cpp", find_marked_lines(src)[0]))


def test_queue_bfs_is_a_frontier_read_level_by_level():
    f = queue_facts("std::queue<int> q; q.push(src);", """while (!q.empty()) {
    int u = q.front();
    q.pop();
    for (int e = off[u]; e < off[u + 1]; ++e) {
      int v = adj[e];
      if (dist[v] == -1) { dist[v] = dist[u] + 1; q.push(v); }
    }
  }""")
    assert f.pattern == "frontier" and f.parallelizable, f.reason
    assert f.normalized.startswith("the queue `q` is processed level by level: read as a frontier `q_level`")
    fr = f.frontier
    assert (fr.frontier, fr.next, fr.vertex, fr.pushed, fr.written) == ("q_level", "q_next", "u", "v", ["dist"])
    assert fr.vertex_reads == ["dist[u]"] and fr.next_is_local and fr.vertex_decl == "int u"


def test_deque_bfs_with_a_parent_array_is_a_frontier():
    f = queue_facts("std::deque<int> q{src};", """while (q.size() > 0) {
    const auto u = q.front(); q.pop_front();
    for (int e = off[u]; e < off[u + 1]; ++e) {
      int v = adj[e];
      if (parent[v] < 0) { parent[v] = u; q.push_back(v); }
    }
  }""")
    assert f.pattern == "frontier" and f.frontier.written == ["parent"] and f.frontier.vertex_reads is None


@pytest.mark.parametrize("first, push", [
    ("int& u = q.front(); q.pop();", "q.push(v);"),  # a reference to the popped front dangles
    ("int u = q.front(); q.pop();", "q.push(v); dist[v] += static_cast<int>(q.size());"),  # reads the queue
    ("q.pop(); int u = q.front();", "q.push(v);"),  # pops before it reads
])
def test_queue_loops_not_read_level_by_level(first, push):
    f = queue_facts("std::queue<int> q; q.push(src);", f"""while (!q.empty()) {{
    {first}
    for (int e = off[u]; e < off[u + 1]; ++e) {{ int v = adj[e]; if (dist[v] == -1) {{ dist[v] = 1; {push} }} }}
  }}""")
    assert not f.parallelizable and f.normalized is None
    assert "`q` is a queue: parevo reads it level by level when the body starts with `T u = q.front(); q.pop();`" \
        in f.reason


def test_inner_loop_pushing_onto_a_shared_queue_is_not_a_map():
    """The issue's misread: the inner loop of a queue BFS, selected alone, marks a std::vector<bool> and pushes
    onto the shared queue; it is not a parallel map."""
    src = QUEUE % ("std::queue<int> q; int u = src;", """for (int e = off[u]; e < off[u + 1]; ++e) {
    int v = adj[e];
    if (!seen[v]) { seen[v] = true; q.push(v); }
  }""")
    f = analyze(find_loop(src, "q.cpp", find_marked_lines(src)[0]))
    assert not f.parallelizable and f.pattern in ("sequential", "unknown"), f.pattern


# ------------------------------------------------------------------ 5. nests with a sequential outer loop


def test_elimination_step_offers_its_inner_loop():
    f = facts_of("", """for (int k = 0; k < n; ++k) {
    for (int i = k + 1; i < n; ++i) {
      double f = out[i] / (a[k] + 2.0);
      out[i] -= f * out[k];
    }
  }""")
    assert f.pattern == "inner" and f.parallelizable
    assert f.sequential_outer and "loop-carried dependence" in f.sequential_outer
    (il,) = f.inner_parallel
    assert il.index_var == "i" and il.pattern == "map"


def test_inner_loop_reading_the_pivot_row_it_may_write_stays_sequential():
    f = facts_of("", """for (int k = 0; k < n; ++k) {
    for (int i = k; i < n; ++i) out[i] -= out[k] * 0.5;
  }""")
    assert f.pattern != "inner" and not f.parallelizable


# ------------------------------------------------------------------ 6. standard algorithms


@pytest.mark.parametrize("stmt, pattern", [
    ("double s = std::accumulate(a.begin(), a.end(), 0.0);", "reduction"),
    ("std::transform(a.begin(), a.end(), out.begin(), [](double x) { return x * 2; });", "map"),
    ("long c = std::count_if(a.begin(), a.end(), [&](double x) { return x > t; });", "reduction"),
    ("auto it = std::min_element(a.begin(), a.end());", "argminmax"),
    ("std::inclusive_scan(a.begin(), a.end(), out.begin());", "scan"),
])
def test_algorithm_calls_are_loops(stmt, pattern):
    site = site_of("", stmt)
    assert site.loop_kind == "algorithm"
    f = analyze(site)
    assert f.pattern == pattern and f.parallelizable and f.algorithm is not None


@pytest.mark.parametrize("stmt, why", [
    ("int s = std::accumulate(a.begin(), a.end(), 0);", "truncates it"),
    ("double s = std::accumulate(a.begin(), a.end(), 0.0, [](double x, double y) { return x - y; });",
     "cannot tell that it is associative"),
])
def test_algorithm_calls_refused_with_reason(stmt, why):
    f = analyze(site_of("", stmt))
    assert not f.parallelizable and why in f.reason


def test_transform_into_a_bool_vector_races():
    src = PRE.replace("std::vector<int>& v,", "std::vector<int>& v, std::vector<bool>& flags,")
    src = src % ("", "std::transform(a.begin(), a.end(), flags.begin(), [](double x) { return x > 0; });", "return 0;")
    f = analyze(find_loop(src, "inline.cpp", find_marked_lines(src)[0]))
    assert not f.parallelizable and "neighbouring elements share a machine word" in f.reason


def test_a_loop_starting_on_the_line_wins_over_an_algorithm_inside_it():
    site = site_of("double s = 0;", "for (int i = 0; i < n; ++i) s += std::accumulate(a.begin(), a.end(), 0.0);",
                   "return s;")
    assert site.loop_kind == "for"


# ------------------------------------------------------------------ insertion sort


def test_insertion_sort_kernel_is_a_sort():
    f = kernel_facts("insertion_sort")
    assert f.pattern == "sort" and f.parallelizable
    assert (f.sort.array, f.sort.count, f.sort.field, f.sort.descending) == ("a", "a.size()", None, False)


def test_insertion_sort_by_a_field_descending():
    f = facts_of("", """for (size_t i = 1; i < ps.size(); ++i) {
    P key = ps[i]; long j = (long)i - 1;
    while (j >= 0 && ps[j].tag < key.tag) { ps[j + 1] = ps[j]; --j; }
    ps[j + 1] = key;
  }""")
    assert f.pattern == "sort" and f.sort.field == "tag" and f.sort.descending


@pytest.mark.parametrize("test, elem, why", [
    ("a2[j] >= key", "int", "also moves equal elements"),
    ("a2[j] > key", "double", "not integers"),
])
def test_insertion_sort_refusals(test, elem, why):
    src = f"""#include <vector>
void s(std::vector<{elem}>& a2, int n) {{
  // parevo: select the loop below
  for (int i = 1; i < n; ++i) {{ {elem} key = a2[i]; int j = i - 1;
    while (j >= 0 && {test}) {{ a2[j + 1] = a2[j]; --j; }}
    a2[j + 1] = key; }}
}}
"""
    f = analyze(find_loop(src, "s.cpp", find_marked_lines(src)[0]))
    assert not f.parallelizable and why in f.reason


def test_reverse_write_into_packed_storage_is_a_conflict():
    """A loop read backwards writes a std::vector<bool> at `base - position`: blocks of positions do not start on
    its 64-element words, so no block split is race-free; the loop is refused, not given a word-aligned rewrite."""
    src = PRE.replace("std::vector<int>& v,", "std::vector<int>& v, std::vector<bool>& flags,")
    src = src % ("", "for (int i = n - 1; i >= 0; --i) flags[i] = a[i] > t;", "return 0;")
    f = analyze(find_loop(src, "inline.cpp", find_marked_lines(src)[0]))
    assert not f.parallelizable and "writes the packed `flags` (64 elements per word)" in f.reason
