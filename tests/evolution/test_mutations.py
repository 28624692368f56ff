"""Parameter mutations, MAP-Elites features and parent selection, the evaluation cache."""

from __future__ import annotations

import random

import pytest

from parevo.evolution.candidates import Candidate
from parevo.evolution.evalcache import EvalCache
from parevo.evolution.mutations import (
    block_mutations,
    granularity_mutations,
    param_mutations,
    primitive_mutations,
    sequence_mutations,
)
from parevo.evolution.population import Population, features
from parevo.evolution.result import CandidateRecord
from parevo.toolchain import syntax
from parevo.toolchain.compiler import CompileOutcome
from parevo.toolchain.verdicts import StageVerdict

pytestmark = pytest.mark.fast

PFOR = Candidate(loop_text="{\n  parlay::parallel_for(0, n, [&](size_t i) {\n"
                           "    y[i] = a * x[i] + f(i, 2);\n  });\n}",
                 includes=["<parlay/parallel.h>"], origin="rule:parallel-for", params={"granularity": 0})
RED = Candidate(loop_text="{\n  const double t = parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) -> double {\n"
                          "    return a[i] * a[i];\n  }), parlay::plus<double>());\n  s += t;\n}",
                includes=["<parlay/primitives.h>"], origin="rule:reduce-delayed", params={"sequence": "delayed"})


def test_call_query_reads_separators_raw_strings_comments_and_templates():
    text = ('void f() { parlay::parallel_for(0, 1\'000, [&](size_t i) { h(i, R"x( ")", g(a, b) )x", \'(\'); },'
            ' /* grain */ 16); // parlay::parallel_for(bad\n parlay::tabulate<double>(n, g<int, 2>(x)); }')
    src = text.encode()
    calls = syntax.calls(syntax.parse(text).root_node, src, {"parlay::parallel_for", "parlay::tabulate"})
    assert [c.name for c in calls] == ["parlay::parallel_for", "parlay::tabulate"]
    assert [syntax.node_text(a, src) for a in calls[0].args] == [
        "0", "1'000", '[&](size_t i) { h(i, R"x( ")", g(a, b) )x", \'(\'); }', "16"]
    assert syntax.int_literal(calls[0].args[1], src) == 1000
    assert [syntax.node_text(a, src) for a in calls[1].args] == ["n", "g<int, 2>(x)"]


def test_granularity_mutation_adds_replaces_and_removes_the_argument():
    kids = granularity_mutations(PFOR)
    texts = {k.params["granularity"]: k.loop_text for k in kids}
    assert set(texts) == {1, 16, 256, 1024, 4096, 16384}
    assert "  }, 1024);" in texts[1024] and all(k.origin == "mut:granularity" for k in kids)
    back = granularity_mutations(kids[0])
    auto = next(k for k in back if k.params["granularity"] == 0)
    assert auto.loop_text == PFOR.loop_text and auto.parent_id == kids[0].id


def test_sequence_mutation_switches_delayed_and_materialized():
    (mat,) = sequence_mutations(RED)
    assert "parlay::tabulate(a.size()" in mat.loop_text and "delayed" not in mat.loop_text
    assert mat.params["sequence"] == "materialized" and "<parlay/sequence.h>" in mat.includes
    back = sequence_mutations(mat)
    assert [b.loop_text for b in back] == [RED.loop_text]


def test_a_switch_back_to_a_rules_form_is_that_rules_candidate():
    """The headers follow the code: a delayed form switched to a materialized one no longer lists
    <parlay/delayed.h>, and switched back no longer lists <parlay/sequence.h>, so the round trip has the
    rule's id and the search does not evaluate the same program twice."""
    red = RED.model_copy(update={"includes": ["<parlay/primitives.h>", "<parlay/delayed.h>"]})
    (mat,) = sequence_mutations(red)
    assert sorted(mat.includes) == ["<parlay/primitives.h>", "<parlay/sequence.h>"]
    (back,) = sequence_mutations(mat)
    assert sorted(back.includes) == ["<parlay/delayed.h>", "<parlay/primitives.h>"] and back.id == red.id
    # a header the code still uses stays: a parlay::sequence declared beside the switched call
    kept = red.model_copy(update={"loop_text": red.loop_text.replace("  s += t;", "  parlay::sequence<int> q;\n  s += t;"),
                                  "includes": red.includes + ["<parlay/sequence.h>"]})
    (mat2,) = sequence_mutations(kept)
    (back2,) = sequence_mutations(mat2)
    assert "<parlay/sequence.h>" in back2.includes


def test_primitive_mutations_block_a_parallel_for_and_a_reduction():
    blocked = primitive_mutations(PFOR)
    assert [b.params["block"] for b in blocked] == [512, 2048, 8192, 32768]
    assert "const size_t block_pv = 512;\n  parlay::blocked_for(0, n, block_pv, [&](size_t, size_t lo_pv, " \
           "size_t hi_pv)" in blocked[0].loop_text
    assert "for (size_t i = lo_pv; i < hi_pv; ++i)" in blocked[0].loop_text
    assert all(b.knobs == {"block": "block_pv"} for b in blocked)
    red = primitive_mutations(RED)
    assert red and "acc_pv = m_pv(acc_pv, f_pv(k_pv))" in red[0].loop_text and "<algorithm>" in red[0].includes
    # a body with `return` (a translated `continue`) cannot become a serial inner loop
    ret = PFOR.model_copy(update={"loop_text": PFOR.loop_text.replace("y[i] =", "if (i) return; y[i] =")})
    assert not [b for b in primitive_mutations(ret) if b.params.get("primitive") == "blocked_for"]


def test_block_mutation_changes_declared_knobs():
    c = Candidate(loop_text="const size_t blk = 2048, per_worker = 4;\n"
                            "parlay::parallel_for(0, (n + blk - 1) / blk, [&](size_t b) { g(b * blk, 2048); }, 1);",
                  origin="rule:parallel-for-blocked", params={"block": 2048, "blocks_per_worker": 4},
                  knobs={"block": "blk", "blocks_per_worker": "per_worker"})
    kids = block_mutations(c)
    k = next(k for k in kids if k.params.get("block") == 512)
    assert k.loop_text == c.loop_text.replace("blk = 2048", "blk = 512") and k.knobs == c.knobs
    w = next(k for k in kids if k.params.get("blocks_per_worker") == 8)
    assert w.loop_text == c.loop_text.replace("per_worker = 4", "per_worker = 8")
    assert len(kids) == 3 + 3  # the other block sizes and blocks per worker; no `min_block` knob declared
    # a knob the text no longer declares (an LLM rewrote it) has no mutations
    assert block_mutations(c.model_copy(update={"loop_text": "g(2048);"})) == []


def test_block_size_mutation_leaves_the_users_literals_alone():
    user = Candidate(loop_text="{\n  parlay::parallel_for(0, n, [&](size_t i) {\n    double scratch[512];\n"
                               "    scratch[i % 512] = x[i];\n    y[i] = scratch[i % 512] * 2;\n  });\n}",
                     includes=["<parlay/parallel.h>"], origin="llm:improve")
    blocked = next(b for b in primitive_mutations(user) if b.params["block"] == 512)
    assert blocked.loop_text.count("512") == 4  # the knob and the user's three
    bigger = next(k for k in block_mutations(blocked) if k.params["block"] == 2048)
    assert "const size_t block_pv = 2048;" in bigger.loop_text
    assert "double scratch[512];" in bigger.loop_text and bigger.loop_text.count("i % 512") == 2
    assert bigger.loop_text.replace("block_pv = 2048", "block_pv = 512") == blocked.loop_text
    # the granularity argument is the only literal a granularity mutation touches
    grain = Candidate(loop_text="parlay::parallel_for(0, n, [&](size_t i) { y[i] = s[i % 512]; }, 512);",
                      origin="x")
    kids = {k.params["granularity"]: k.loop_text for k in granularity_mutations(grain)}
    assert kids[4096] == grain.loop_text.replace("}, 512)", "}, 4096)")
    assert kids[0] == "parlay::parallel_for(0, n, [&](size_t i) { y[i] = s[i % 512]; });"


def test_mutations_read_digit_separators_raw_strings_and_templates():
    c = Candidate(loop_text=('parlay::parallel_for(0, 1\'000, [&](size_t i) { log(R"x( ")" )x"); '
                             'y[i] = 1\'024; }, 1\'024);'), origin="llm:improve")
    kids = {k.params["granularity"]: k.loop_text for k in granularity_mutations(c)}
    assert set(kids) == {0, 1, 16, 256, 4096, 16384}  # the current 1'024 is 1024
    assert kids[16] == c.loop_text.replace("}, 1'024);", "}, 16);")
    assert features(c) == ("parallel_for", "medium")
    t = Candidate(loop_text="auto v = parlay::tabulate<double>(n, [&](size_t i) { return f(i); }, 16);\n"
                            "s = parlay::reduce(v);", origin="x")
    (delayed,) = sequence_mutations(t)
    assert "parlay::delayed_tabulate<double>(n, [&](size_t i) { return f(i); });" in delayed.loop_text


def test_features_ignore_comments_and_string_literals():
    c = Candidate(loop_text='parlay::parallel_for(0, n, [&](size_t i) { log("parlay::filter(x)"); '
                            '/* parlay::scan(a) */ y[i] = 1; });', origin="x")
    assert features(c) == ("parallel_for", "auto")


def test_candidate_id_is_the_token_stream():
    url = 'std::puts("http://example.org/a");  s += {k};'
    one, two = (Candidate(loop_text=url.format(k=k), origin="x") for k in (1, 2))
    assert one.id != two.id  # `//` in a string literal is not a comment
    assert Candidate(loop_text="x = 1; /* a // b */ y = 2;", origin="x").id != Candidate(
        loop_text="x = 1; /* a // b */ y = 3;", origin="x").id
    assert Candidate(loop_text='x = R"(a b)";', origin="x").id != Candidate(loop_text='x = R"(a  b)";', origin="x").id
    assert Candidate(loop_text="x = 1'000;", origin="x").id != Candidate(loop_text="x = 1000;", origin="x").id
    garbage = Candidate(loop_text="s += 1 @@ {{", origin="x")
    assert garbage.id != Candidate(loop_text="s += 2 @@ {{", origin="x").id  # no parse, still an id


def test_comment_and_layout_differences_share_one_id():
    base = Candidate(loop_text="for (size_t i = 0; i < n; ++i) {\n  s += a[i] * 2;\n}", origin="x")
    layout = Candidate(loop_text="for(size_t i=0;i<n;++i){s+=a[i]*2;}", origin="x")
    comments = Candidate(loop_text="// sum\nfor (size_t i = 0; /* a // b */ i < n; ++i) {\n"
                                   "  s += a[i] * 2;  // twice\n}", origin="x")
    assert base.id == layout.id == comments.id
    assert base.id != Candidate(loop_text=base.loop_text.replace("2;", "2.;"), origin="x").id
    assert base.id != Candidate(function_text=base.loop_text, origin="x").id
    # the end of a preprocessor line is a token: `#define K 2` then `x = K;` is not `#define K 2 x = K;`
    assert Candidate(loop_text="#define K 2\nx = K;", origin="x").id != Candidate(
        loop_text="#define K 2 x = K;", origin="x").id


def test_param_mutations_are_unique_and_in_a_fixed_order():
    a = param_mutations(PFOR)
    b = param_mutations(PFOR)
    assert [c.id for _, c in a] == [c.id for _, c in b]
    assert len({c.id for _, c in a}) == len(a) and PFOR.id not in {c.id for _, c in a}


def test_features_name_the_primitive_form_and_grain():
    assert features(PFOR) == ("parallel_for", "auto")
    assert features(RED) == ("reduce/delayed", "auto")
    assert features(granularity_mutations(PFOR)[-1]) == ("parallel_for", "coarse")
    assert features(sequence_mutations(RED)[0]) == ("reduce/materialized", "auto")
    assert features(Candidate(loop_text="for (;;) {}", origin="x")) == ("other", "auto")


def _rec(cand: Candidate, speedup: float | None, stage: str | None = None) -> CandidateRecord:
    r = CandidateRecord(id=cand.id, candidate=cand, verified=speedup is not None, speedup=speedup,
                        faster=bool(speedup and speedup > 1.05), rejected_stage=stage)
    r.stages.append(StageVerdict(stage="compile", passed=stage != "compile", summary="x"))
    return r


def test_population_keeps_one_elite_per_cell_and_selects_reproducibly():
    pop = Population()
    kids = [c for _, c in param_mutations(PFOR)]
    pop.add(_rec(PFOR, 1.2))
    for k, s in zip(kids, [1.5, 0.9, 1.1, 1.7, 1.3, 1.0, 0.8, 1.4, 1.6, 1.05]):
        pop.add(_rec(k, s))
    failed = Candidate(loop_text="broken", origin="llm:improve")
    pop.add(_rec(failed, None, "compile"))
    assert len(pop.cells) == len({features(r.candidate) for r in pop.records.values() if r.fitness > 0})
    for cell, rid in pop.cells.items():
        same = [r for r in pop.records.values() if r.fitness > 0 and features(r.candidate) == cell]
        assert pop.records[rid].fitness == max(r.fitness for r in same)
    assert pop.best().fitness == 1.7
    rng1, rng2 = random.Random(3), random.Random(3)
    assert [pop.select_parent(rng1).id for _ in range(20)] == [pop.select_parent(rng2).id for _ in range(20)]
    assert pop.next_failure().id == failed.id and pop.next_failure().id == failed.id
    assert pop.next_failure() is None  # max_fix_attempts = 2
    restored = Population.restore([pop.records[i] for i in pop.order], pop.state())
    assert restored.cells == pop.cells and restored.best().id == pop.best().id


def test_evaluation_cache_round_trip_hit_rate_and_context(tmp_path):
    cache = EvalCache(tmp_path, "a" * 64)
    rec = _rec(PFOR, 1.4)
    assert cache.get(PFOR) is None
    assert cache.put(rec)
    relabeled = PFOR.model_copy(update={"origin": "llm:improve", "loop_text": PFOR.loop_text + "  // comment"})
    hit = cache.get(relabeled)  # same normalized program: same entry, this proposal's labels
    assert hit is not None and hit.cached and hit.speedup == 1.4 and hit.candidate.origin == "llm:improve"
    assert cache.stats() == {"lookups": 2, "hits": 1, "hit_rate": 0.5}
    assert EvalCache(tmp_path, "b" * 64).get(PFOR) is None  # another loop context
    timed_out = _rec(RED, None, "compile")
    timed_out.stages[0].compile = CompileOutcome(ok=False, timed_out=True)
    assert not cache.put(timed_out)


def test_evaluation_cache_pins_the_timing_size_of_a_loop(tmp_path):
    from parevo.toolchain.evaluate import Baseline

    cache = EvalCache(tmp_path, "c" * 64)
    first = cache.pin_baseline(Baseline(cases=["0:1"], n=1 << 20, input_bytes=8 << 20))
    assert first.n == 1 << 20
    later = cache.pin_baseline(Baseline(cases=["0:1", "1:1"], n=1 << 22, input_bytes=32 << 20))
    assert (later.n, later.input_bytes, later.cases) == (1 << 20, 8 << 20, ["0:1", "1:1"])
