"""Shared objects and packed storage in the loop facts (issue 11, item 2; toolchain/facts_shared.py).

A non-const member call on an object every iteration shares is a write conflict unless a rule replaces
it with a parallel primitive (``push_back`` onto a vector: a filter); ``m[k]`` on a shared map inserts
keys; writes at the index into ``std::vector<bool>``/``std::bitset`` are packed writes. The held-out
BFS-style loop (a shared ``std::queue`` and a ``std::vector<bool>``) is not a map loop.
"""

from __future__ import annotations

import pytest

from parevo.evolution.rules import propose
from parevo.toolchain.facts import analyze
from parevo.toolchain.parsing import find_loop, find_marked_lines

HEADER = """#include <bitset>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>
#include <vector>
struct Acc {
  long s;
  void add(long x) { s += x; }
  long get() const { return s; }
};
struct Cfg { std::vector<bool> mask; std::map<int, int> counts; };
struct Px { unsigned on : 1; unsigned level : 7; };
"""


def facts(params: str, loop: str):
    src = HEADER + f"void f({params}) {{\n  // parevo: select the loop below\n  {loop}\n}}\n"
    site = find_loop(src, "inline.cpp", find_marked_lines(src)[0])
    return site, analyze(site)


# the held-out BFS-style loops: a shared queue and a std::vector<bool> of visited vertices
BFS_LEVEL = ("const std::vector<int>& dist, int level, std::vector<bool>& visited, std::queue<int>& q, int n",
             "for (int v = 0; v < n; ++v) {\n    if (!visited[v] && dist[v] == level) {\n      visited[v] = true;\n"
             "      q.push(v);\n    }\n  }")
BFS_NEIGHBOURS = ("const std::vector<int>& off, const std::vector<int>& nbrs, int u, std::vector<bool>& visited, "
                  "std::queue<int>& q",
                  "for (int e = off[u]; e < off[u + 1]; ++e) {\n    int v = nbrs[e];\n    if (!visited[v]) {\n"
                  "      visited[v] = true;\n      q.push(v);\n    }\n  }")


@pytest.mark.parametrize("case", [BFS_LEVEL, BFS_NEIGHBOURS], ids=["level", "neighbours"])
def test_the_bfs_loop_is_not_a_parallelizable_map(case):
    site, f = facts(*case)
    assert f.pattern == "sequential" and not f.parallelizable
    assert f.reason.startswith("write conflict: `q.push(v)` at line ") and "calls `push`, which changes `q`, an " \
        "object all iterations share" in f.reason
    line = next(i for i, ln in enumerate(site.source.splitlines()) if "q.push(v);" in ln)
    assert f.reason_lines == [line]
    assert propose(site, f) == []


@pytest.mark.parametrize("params,loop,method", [
    ("const std::vector<int>& x, std::set<int>& s", "for (size_t i = 0; i < x.size(); ++i) { s.insert(x[i]); }",
     "insert"),
    ("const std::vector<int>& x, Acc& a", "for (size_t i = 0; i < x.size(); ++i) { a.add(x[i]); }", "add"),
    ("const std::vector<int>& k, std::vector<std::vector<int>>& rows",
     "for (size_t i = 0; i < k.size(); ++i) { rows[k[i]].push_back(i); }", "push_back"),
    ("std::vector<bool>& out, int n", "for (int i = 0; i < n; ++i) { if (i % 3 == 0) out.flip(); }", "flip"),
    ("const std::vector<int>& x, std::queue<int>& q, std::vector<int>& y",
     "for (size_t i = 0; i < x.size(); ++i) { y[i] = q.front() + x[i]; q.pop(); }", "pop"),
], ids=["set-insert", "struct-member", "bucket-push", "whole-vector-flip", "queue-pop"])
def test_a_non_const_member_call_on_a_shared_object_is_a_write_conflict(params, loop, method):
    _site, f = facts(params, loop)
    assert f.pattern == "sequential" and not f.parallelizable
    assert f.reason.startswith("write conflict: ") and f"calls `{method}`, which changes" in f.reason


@pytest.mark.parametrize("params,loop,how", [
    ("const std::vector<int>& x, std::map<int, int>& m", "for (size_t i = 0; i < x.size(); ++i) { m[x[i]] += 1; }",
     "updates the std::map `m` through operator[], which inserts a missing key"),
    ("const std::vector<int>& x, std::unordered_map<int, long>& m, std::vector<long>& y",
     "for (size_t i = 0; i < x.size(); ++i) { y[i] = m[x[i]]; }", "reads the std::unordered_map `m`"),
    ("Cfg* c, const std::vector<int>& x", "for (size_t i = 0; i < x.size(); ++i) { c->counts[x[i]]++; }",
     "updates the std::map `c->counts`"),
    ("const std::vector<int>& x, std::map<int, int>& m", "for (size_t i = 0; i < x.size(); ++i) { m.at(x[i]) += 1; }",
     "updates an element of the std::map `m`"),
], ids=["map-histogram", "unordered-map-read", "map-field", "map-at-histogram"])
def test_operator_brackets_on_a_shared_map_is_a_write_conflict(params, loop, how):
    _site, f = facts(params, loop)
    assert f.pattern == "sequential" and not f.parallelizable
    assert f.reason.startswith("write conflict: ") and how in f.reason


@pytest.mark.parametrize("params,loop,pattern", [
    ("const std::vector<int>& x, const std::map<int, int>& m, std::vector<int>& y",
     "for (size_t i = 0; i < x.size(); ++i) { y[i] = m.count(x[i]) ? m.at(x[i]) : 0; }", "map"),
    ("const std::vector<int>& x, Acc& a, std::vector<long>& y",
     "for (size_t i = 0; i < x.size(); ++i) { y[i] = a.get() + x[i]; }", "map"),
    ("std::vector<std::vector<int>>& rows, int n", "for (int i = 0; i < n; ++i) { rows[i].push_back(i); }", "map"),
    ("const std::vector<int>& x, std::vector<int>& out",
     "for (size_t i = 0; i < x.size(); ++i) { if (x[i] > 0) out.push_back(x[i]); }", "filter"),
    ("const std::vector<int>& x, std::vector<int>& y",
     "for (size_t i = 0; i < x.size(); ++i) { std::queue<int> q; q.push(x[i]); y[i] = q.front(); }", "map"),
    ("std::vector<Px>& p, const std::vector<int>& x", "for (size_t i = 0; i < x.size(); ++i) { p[i].on = x[i] > 0; }",
     "map"),
], ids=["const-map-lookups", "const-member", "own-row", "filter", "iteration-queue", "own-bit-field"])
def test_what_is_not_a_conflict(params, loop, pattern):
    """Const members and const objects, an element at the loop index, a container of the iteration, a
    filter, and a bit-field of the iteration's own element (distinct objects are distinct memory
    locations, C++ [intro.memory]/3)."""
    _site, f = facts(params, loop)
    assert f.pattern == pattern and f.parallelizable, f.reason
    assert f.packed_writes == []


def test_a_bit_field_of_a_shared_struct_is_not_parallel():
    _site, f = facts("Px& p, const std::vector<int>& x",
                     "for (size_t i = 0; i < x.size(); ++i) { if (x[i] > 0) p.on = 1; }")
    assert not f.parallelizable and "`p.on`" in f.reason and "shared by all iterations" in f.reason


@pytest.mark.parametrize("params,loop,array,kind,offset,element", [
    ("const std::vector<double>& x, std::vector<bool>& out",
     "for (size_t i = 0; i < x.size(); ++i) { out[i] = x[i] > 0.5; }", "out", "vector<bool>", 0, "out[i]"),
    ("std::vector<bool>& out, int n", "for (int i = 0; i < n; ++i) { out[i].flip(); }", "out", "vector<bool>", 0,
     None),
    ("const std::vector<int>& x, std::bitset<256>& bs", "for (int i = 0; i < 256; ++i) { if (x[i] > 0) bs.set(i); }",
     "bs", "bitset", 0, None),
    ("const std::vector<int>& x, std::bitset<256>& bs", "for (int i = 0; i < 256; ++i) { bs[i] = x[i] > 0; }",
     "bs", "bitset", 0, "bs[i]"),
    ("Cfg& c, int n", "for (int i = 0; i < n; ++i) { c.mask[i] = i % 3 == 0; }", "c.mask", "vector<bool>", 0,
     "c.mask[i]"),
    ("std::vector<bool>& g, int n", "for (int i = 0; i < n; ++i) { g[i + 1] = i % 3 == 0; }", "g", "vector<bool>", 1,
     "g[i + 1]"),
    ("std::vector<bool>& g, int n, int w",
     "for (int i = 0; i < n; ++i) { for (int j = 0; j < w; ++j) { g[i * w + j] = (i + j) % 2; } }", "g",
     "vector<bool>", None, "g[i * w + j]"),
], ids=["subscript", "flip", "bitset-set", "bitset-subscript", "field", "offset", "row-major"])
def test_writes_into_packed_storage_are_packed_writes(params, loop, array, kind, offset, element):
    site, f = facts(params, loop)
    assert f.parallelizable and f.pattern in ("map", "nest")
    assert [(p.array, p.kind, p.offset) for p in f.packed_writes] == [(array, kind, offset)]
    span = f.packed_writes[0].span
    got = None if span is None else site.source.encode()[span.start_byte:span.end_byte].decode()
    assert got == element


def test_packed_rewrites_follow_the_word_layout():
    """Word-aligned blocks and chunks when the iterations line up with 64-element words, the byte
    temporary when only the lower bound is unknown, nothing when the element is not the index."""
    def origins(params, loop):
        site, f = facts(params, loop)
        return [c.origin for c in propose(site, f)]

    aligned = ["rule:parallel-for-blocked", "rule:parallel-for-word-chunks"]
    assert origins("std::vector<bool>& g, int n", "for (int i = 0; i < n; ++i) { g[i] = i % 3 == 0; }") == \
        aligned + ["rule:packed-bytes"]
    assert origins("std::vector<bool>& g, int n", "for (int i = 128; i < n; ++i) { g[i] = i % 3 == 0; }") == \
        aligned + ["rule:packed-bytes"]
    assert origins("std::vector<bool>& g, int lo, int n",
                   "for (int i = lo; i < n; ++i) { g[i] = i % 3 == 0; }") == ["rule:packed-bytes"]
    assert origins("std::vector<bool>& g, int n", "for (int i = 1; i < n; ++i) { g[i] = i % 3 == 0; }") == \
        ["rule:packed-bytes"]
    assert origins("std::vector<bool>& g, int n, int w",
                   "for (int i = 0; i < n; ++i) { for (int j = 0; j < w; ++j) { g[i * w + j] = (i + j) % 2; } }") \
        == aligned
    assert origins("std::vector<bool>& g, int n", "for (int i = 0; i < n; ++i) { g[i + 1] = i % 3 == 0; }") == []
    assert origins("std::vector<bool>& g, int n", "for (int i = 0; i < n; i += 2) { g[i] = true; }") == []
    # appending to a std::vector<bool>: parlay::filter then one serial insert, never parallel writes
    assert origins("const std::vector<int>& x, std::vector<bool>& out",
                   "for (size_t i = 0; i < x.size(); ++i) { if (x[i] > 0) out.push_back(x[i] > 5); }") == []
    assert origins("const std::vector<bool>& x, std::vector<bool>& out",
                   "for (size_t i = 0; i < x.size(); ++i) { if (x[i]) out.push_back(x[i]); }") == \
        ["rule:filter-delayed"]


def test_the_llm_prompt_states_the_word_constraint():
    from parevo.evolution.prompts import facts_text

    site, f = facts("const std::vector<double>& x, std::vector<bool>& out",
                    "for (size_t i = 0; i < x.size(); ++i) { out[i] = x[i] > 0.5; }")
    assert ("- `out` is a std::vector<bool>: 64 elements share a word, so workers may only write it in blocks that "
            "start and end on a multiple of 64 elements") in facts_text(site, f)


def test_mutations_of_the_packed_rewrites_keep_blocks_on_words():
    """The search's parameter mutations change block sizes only to multiples of 64 and never turn a
    word-aligned rewrite back into a split at arbitrary iterations (granularities of the calls over
    blocks, chunks and words; blocked_for over those same indices)."""
    from parevo.evolution.mutations import param_mutations

    site, f = facts("const std::vector<double>& samples, std::vector<bool>& out",
                    "for (size_t i = 0; i < samples.size(); ++i) { out[i] = samples[i] > 0.5; }")
    device = {"rule:parallel-for-blocked": "for (size_t kk = blk * block; kk < last; ++kk) {",
              "rule:parallel-for-word-chunks": "samples.size() * c / chunks / 64 * 64",
              "rule:packed-bytes": "out[e] = bytes[e - lo_elem];"}
    cands = propose(site, f)
    assert sorted(c.origin for c in cands) == sorted(device)
    for cand in cands:
        kids = param_mutations(cand)
        assert len(kids) >= 10
        for _op, kid in kids:
            assert kid.params.get("block", 64) % 64 == 0, kid.loop_text
            assert device[cand.origin] in kid.loop_text, kid.loop_text
