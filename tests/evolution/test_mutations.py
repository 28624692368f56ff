"""Parameter mutations, MAP-Elites features and parent selection, the evaluation cache."""

from __future__ import annotations

import random

import pytest

from parevo.evolution.candidates import Candidate
from parevo.evolution.cpptext import find_calls
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
from parevo.toolchain.compiler import CompileOutcome
from parevo.toolchain.verdicts import StageVerdict

pytestmark = pytest.mark.fast

PFOR = Candidate(loop_text="{\n  parlay::parallel_for(0, n, [&](size_t i) {\n"
                           "    y[i] = a * x[i] + f(i, 2);\n  });\n}",
                 includes=["<parlay/parallel.h>"], origin="rule:parallel-for", params={"granularity": 0})
RED = Candidate(loop_text="{\n  const double t = parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) -> double {\n"
                          "    return a[i] * a[i];\n  }), parlay::plus<double>());\n  s += t;\n}",
                includes=["<parlay/primitives.h>"], origin="rule:reduce-delayed", params={"sequence": "delayed"})


def test_call_scanner_splits_top_level_arguments_only():
    text = 'parlay::parallel_for(0, g(a, b), [&](size_t i) { h(i, "x,)"); }, 16); // parallel_for(bad'
    calls = find_calls(text, r"parlay::parallel_for")
    assert len(calls) == 1
    assert [calls[0].arg(text, k) for k in range(4)] == ["0", "g(a, b)", '[&](size_t i) { h(i, "x,)"); }', "16"]


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


def test_primitive_mutations_block_a_parallel_for_and_a_reduction():
    blocked = primitive_mutations(PFOR)
    assert [b.params["block"] for b in blocked] == [512, 2048, 8192, 32768]
    assert "parlay::blocked_for(0, n, 512, [&](size_t, size_t lo_pv, size_t hi_pv)" in blocked[0].loop_text
    assert "for (size_t i = lo_pv; i < hi_pv; ++i)" in blocked[0].loop_text
    red = primitive_mutations(RED)
    assert red and "acc_pv = m_pv(acc_pv, f_pv(k_pv))" in red[0].loop_text and "<algorithm>" in red[0].includes
    # a body with `return` (a translated `continue`) cannot become a serial inner loop
    ret = PFOR.model_copy(update={"loop_text": PFOR.loop_text.replace("y[i] =", "if (i) return; y[i] =")})
    assert not [b for b in primitive_mutations(ret) if b.params.get("primitive") == "blocked_for"]


def test_block_mutation_changes_declared_knobs():
    c = Candidate(loop_text="parlay::parallel_for(0, (n + 2047) / 2048, [&](size_t b) { g(b * 2048); }, 1);",
                  origin="rule:parallel-for-blocked", params={"block": 2048})
    kids = block_mutations(c)
    k = next(k for k in kids if k.params["block"] == 512)
    assert "(n + 511) / 512" in k.loop_text and "b * 512" in k.loop_text


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
