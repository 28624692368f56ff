"""Rewrites of loops as people write them (issue 16): what each rule emits, and every candidate compiled and
compared with the original at 1 and 4 workers (graphs, sorts, nests and standard algorithms through their own
drivers, ``rule_families``; the small loops of ``rule_cases`` through ``test_rules``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rule_cases import case_site  # noqa: E402
from rule_check import run_differential  # noqa: E402
from rule_families import FAMILIES, case_site as family_site, family_driver  # noqa: E402

from parevo.evolution.rules import propose  # noqa: E402
from parevo.toolchain.facts import analyze  # noqa: E402
from parevo.toolchain.parsing import find_loop, find_marked_lines  # noqa: E402

KERNELS = Path(__file__).resolve().parents[2] / "bench" / "kernels"


def kernel_candidates(name: str):
    src = (KERNELS / f"{name}.cpp").read_text()
    site = find_loop(src, f"{name}.cpp", find_marked_lines(src)[0])
    return propose(site, analyze(site))


def small(name: str):
    site = case_site(name)
    return propose(site, analyze(site))


# ------------------------------------------------------------------ fast: what each rule emits


def test_guarded_min_reduces_filter_or_identity():
    (first, *_rest) = small("gmin_and")
    assert first.origin == "rule:reduce-delayed"
    # the filter, and a NaN (which never passes the loop's `<`), give the identity
    assert ("{ const double operand = a[i]; return ((a[i] > 0.2)) && operand == operand ? operand : "
            "(std::numeric_limits<double>::has_infinity") in first.loop_text


def test_argmin_with_a_filter_drops_min_element_when_ties_keep_the_last():
    assert [c.origin for c in small("gargmax_le")] == ["rule:argmax-pair-reduce"]
    assert [c.origin for c in small("gargmin_and")] == ["rule:min-element", "rule:argmin-pair-reduce"]


def test_argmin_beside_a_sum_is_one_tuple_reduction():
    (c,) = small("argmin_sum")
    assert c.origin == "rule:reduce-shadowed" and "std::tuple<double, double, int, bool>" in c.loop_text
    assert "best_set = true;" in c.loop_text


def test_reverse_loop_candidates_bind_the_index_from_the_position():
    cands = small("rev_search")
    assert cands[0].origin == "rule:search-blocked"
    assert "const int i = static_cast<int>(i_base - static_cast<int>(" in cands[0].loop_text


def test_do_while_rewrite_keeps_the_first_run():
    c = small("do_count")[0]
    assert c.loop_text.startswith("{\n  if (j < n) {") and "} else {\n    do {" in c.loop_text


def test_bfs_kernel_gets_the_level_synchronous_rewrites():
    flat, levels = kernel_candidates("bfs")
    assert (flat.origin, levels.origin) == ("rule:frontier-flatten", "rule:frontier-levels")
    # ParlayLib's BFS: the frontier's edge slices in the flattened order (their starts scanned), the targets
    # filtered on a byte per vertex set once from the condition
    assert "seen[x].store((dist[v] == -1) ? 255 : 0, std::memory_order_relaxed);" in flat.loop_text
    assert "edge_lo[iu] = lo;" in flat.loop_text and "const size_t n_edges = parlay::scan_inplace(" in flat.loop_text
    assert "const int v = edges[static_cast<int>(edge_lo[iu] + static_cast<int>(pos - edge_at[iu]))];" in \
        flat.loop_text
    # every vertex a level claims ends at the same distance (`dist[v] = dist[u] + 1`) and `next` is local: any
    # claimant will do, one exchange of the byte decides it (no first-block order to keep); the frontier's
    # condition and reads checked in the pass over the frontier, each winner's condition after its block
    assert ("if (seen[x].load(std::memory_order_relaxed) == 255 && seen[x].compare_exchange_strong(state, 0)) "
            "kk.push_back(v);") in flat.loop_text
    assert "write_min" not in flat.loop_text and "mine" not in flat.loop_text
    assert "__builtin_prefetch(std::data(edges) + edge_lo[iu + 16]);" in flat.loop_text
    assert "seen[x].load(std::memory_order_relaxed) != 0 || std::make_tuple(dist[u]) != first)" in flat.loop_text
    assert "if (dist[v] == -1) again.store(true, std::memory_order_relaxed);" in flat.loop_text
    # a level run as written resynchronises the bytes of the vertices it pushed
    lines = [ln.strip() for ln in flat.loop_text.splitlines()]
    at = lines.index("parlay::parallel_for(0, next.size(), [&](size_t pos) {")
    assert lines[at + 3] == "if (x < dom) seen[x].store((dist[v] == -1) ? 255 : 0, std::memory_order_relaxed);"


def test_queue_bfs_gets_the_level_synchronous_rewrites_after_draining_the_queue():
    site = family_site(FAMILIES["graph"], "bfs_queue")
    flat, levels = propose(site, analyze(site))
    assert (flat.origin, levels.origin) == ("rule:frontier-flatten", "rule:frontier-levels")
    for c in (flat, levels):
        assert c.loop_text.startswith("{\n  std::vector<std::decay_t<decltype(q.front())>> q_level;\n"
                                      "  while (!q.empty()) { q_level.push_back(q.front()); q.pop(); }\n")
        assert "while (!q_level.empty()) {" in c.loop_text and "q_next.push_back(v);" in c.loop_text
    site = family_site(FAMILIES["graph"], "bfs_deque_parent")
    assert [c.origin for c in propose(site, analyze(site))] == ["rule:frontier-levels"]


def test_do_while_frontier_runs_the_original_when_the_frontier_starts_empty():
    site = family_site(FAMILIES["graph"], "bfs_do")
    facts = analyze(site)
    assert facts.normalized == "the do … while loop is read as `while (!frontier.empty())`"
    cands = propose(site, facts)
    assert [c.origin for c in cands] == ["rule:frontier-flatten", "rule:frontier-levels"]
    assert all(c.loop_text.startswith("{\n  if (!frontier.empty()) {") and "} else {\n    do {" in c.loop_text
               for c in cands)


def test_a_frontier_whose_claims_leave_different_reads_keeps_the_serial_order_of_the_next_frontier():
    """Many sources at distance 0, then distances that depend on the claimed vertex (``+ label[v] % 7``): the
    second level's reads differ, so it runs as written, and its result depends on the order the first (parallel)
    level left the frontier in. A rule that let any block claim a vertex here (``rule:frontier-claims``, removed)
    differed from the loop at n = 30,011 (graph family, compiled and compared below): the flattened rewrite keeps
    the first block's claim (``parlay::write_min`` of block ids), as it does whenever ``Frontier.uniform_reads``
    does not hold."""
    site = family_site(FAMILIES["graph"], "bfs_many_sources")
    facts = analyze(site)
    assert not facts.frontier.uniform_reads
    flat, levels = propose(site, facts)
    assert [flat.origin, levels.origin] == ["rule:frontier-flatten", "rule:frontier-levels"]
    assert "parlay::write_min(&seen[x], mine, std::less<unsigned char>());" in flat.loop_text
    assert "compare_exchange_strong" not in flat.loop_text


def test_frontier_whose_block_reads_the_vertex_itself_keeps_the_loops_order():
    site = family_site(FAMILIES["graph"], "bfs_parent")
    assert [c.origin for c in propose(site, analyze(site))] == ["rule:frontier-levels"]


@pytest.mark.parametrize("case, origins", [
    # the condition also reads `label[v]`, written by the block at `[v]` only: the flags cover both arrays
    ("bfs_masked", ["rule:frontier-flatten", "rule:frontier-levels"]),
    # each level writes `label` at another vertex: a flag set once from the condition would go stale
    ("bfs_mask_moves", ["rule:frontier-levels"]),
    # the block reads the edge index: the flattened targets do not carry it
    ("bfs_parent", ["rule:frontier-levels"]),
])
def test_frontier_flatten_applies_only_when_the_condition_is_the_vertexs_own(case, origins):
    site = family_site(FAMILIES["graph"], case)
    cands = propose(site, analyze(site))
    assert [c.origin for c in cands] == origins
    if origins[0] == "rule:frontier-flatten":
        assert "const size_t dom = std::min<size_t>({std::size(dist), std::size(label)});" in cands[0].loop_text


def test_label_propagation_kernel_gets_relaxed_atomic_sweeps():
    (c,) = kernel_candidates("label_propagation")
    assert c.origin == "rule:relaxation-sweeps"
    assert "if (__atomic_load_n(&label[u], __ATOMIC_RELAXED) < own) {" in c.loop_text
    # the own label is stored once after the edges, the shared flag only written while unset
    lines = [ln.strip() for ln in c.loop_text.splitlines()]
    at = lines.index("own = __atomic_load_n(&label[u], __ATOMIC_RELAXED);")
    assert lines[at + 1] == "moved = true;"
    assert lines[-8:-2] == ["if (moved) {", "__atomic_store_n(&label[v], own, __ATOMIC_RELAXED);",
                            "if (!stored.load(std::memory_order_relaxed)) stored.store(true, std::memory_order_relaxed);",
                            "}", "});", "if (stored.load()) changed = true;"]


def test_insertion_sort_kernel_becomes_a_parallel_sort():
    (c,) = kernel_candidates("insertion_sort")
    assert c.origin == "rule:sort-inplace" and "parlay::sort_inplace(parlay::make_slice(&a[0]" in c.loop_text


def test_nest_keeps_the_outer_loop_and_says_so():
    site = family_site(FAMILIES["nest"], "gauss_elimination")
    cands = propose(site, analyze(site))
    assert cands and cands[0].loop_text.startswith("for (int k = 0; k < n; ++k) {")
    assert "parlay::parallel_for" in cands[0].loop_text
    assert cands[0].description.startswith("the outer loop stays sequential (loop-carried dependence")


def test_algorithm_call_is_replaced_in_its_statement():
    site = family_site(FAMILIES["stl"], "count_if")
    (c,) = propose(site, analyze(site))
    assert c.loop_text == ("long c = static_cast<std::ptrdiff_t>(parlay::count_if(parlay::make_slice(a.begin(), "
                           "a.end()), [&](double x) { return x > t; }));")


# ------------------------------------------------------------------ slow: compiled and compared


@pytest.fixture(scope="module")
def parlay_flags(toolchain):
    return [f"-I{toolchain.parlay_include}"] if toolchain.parlay_include else []


@pytest.mark.parlay
@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_candidates_match_the_original(family, tmp_path, parlay_flags):
    fam = FAMILIES[family]
    by_case = {}
    for name in fam.cases:
        site = family_site(fam, name)
        facts = analyze(site)
        assert facts.parallelizable, (name, facts.reason)
        by_case[name] = propose(site, facts)
        assert by_case[name], name
    assert not run_differential(family_driver(fam, by_case), tmp_path, parlay_flags)


def test_report_notes_say_how_the_loop_was_read():
    from parevo.evolution.session import facts_notes

    site = case_site("rev_search")
    assert facts_notes(analyze(site)) == ["the loop was read as written differently: the loop counts down: read as a "
                                          "forward loop over the iteration position `i_pos` binding `i` in each "
                                          "iteration (same order, same index values)"]
    site = family_site(FAMILIES["nest"], "gauss_elimination")
    (note,) = facts_notes(analyze(site))
    assert note.startswith("the selected loop stays sequential (loop-carried dependence") and note.endswith(
        "the rewrites run its inner loop(s) at line(s) 14 in parallel")
