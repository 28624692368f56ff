"""The race stage runs a candidate where it really runs in parallel, at sizes that break alignment
(issue 11, item 1): the ``std::vector<bool>`` chunk candidate (one chunk per worker split at arbitrary
indices, which the rules proposed before issue 11 item 2), clean at the old aligned size n = 262,144, is
a data race; the word-aligned blocked candidate stays clean, and the evidence lists every size and
worker count it ran at. Every candidate the rules propose for a ``std::vector<bool>`` output (item 2)
computes the serial loop's output and is race-free at those misaligned sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.evolution import rules
from parevo.evolution.rule_frame import Names, build_frame
from parevo.toolchain.evaluate import EvalConfig, Evaluator
from parevo.toolchain.facts import analyze
from parevo.toolchain.harness import variant_source
from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.parsing import find_loop, find_marked_lines
from parevo.toolchain.racesizes import misaligned

pytestmark = pytest.mark.parlay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIG = dict(check_sizes=[0, 1, 2, 17, 1000], check_seeds=[1], timing_n=1 << 17, rounds=3, repeats=2,
              tsan_runs=2, run_timeout_s=60)


def _example(name, toolchain, compiler):
    path = EXAMPLES / name
    src = path.read_text()
    site = find_loop(src, str(path), find_marked_lines(src)[0])
    ev = Evaluator(site, toolchain, compiler, plan_inputs(site), EvalConfig(**CONFIG))
    ev.prepare()
    return ev, {c.origin: c for c in rules.propose(site, analyze(site))}


@pytest.fixture(scope="module")
def flags(toolchain, compiler):
    return _example("flags.cpp", toolchain, compiler)


def _arbitrary_chunks(site):
    """One chunk per worker split at arbitrary indices: the chunk candidate the rules proposed for a
    ``std::vector<bool>`` output before issue 11 item 2 (they now round its boundaries to words)."""
    facts = analyze(site)
    return rules._chunks(site, facts, build_frame(site, facts, Names(site)))


def _race(ev, cand):
    source = variant_source(ev.site, cand.loop_text, cand.includes, ev.plan, function_text=cand.function_text)
    return ev.race_stage(source, cand.origin, code=cand.code)


def test_the_vector_bool_chunk_candidate_is_a_data_race_at_a_misaligned_size(flags):
    ev, cands = flags
    chunks = _arbitrary_chunks(ev.site)
    assert "rule:parallel-for-chunks" not in cands  # never proposed for a std::vector<bool> output
    verdict = _race(ev, chunks)
    assert not verdict.passed and verdict.label == "data race", verdict.summary
    run = verdict.race_runs[-1]
    assert run.verdict == "data race" and run.workers > (ev.config.threads if ev.config.threads > 2 else 2)
    assert misaligned(run.n, [run.workers]) and run.n % 2 == 1
    first, last = ev.site.loop.start_line + 1, ev.site.loop.start_line + 1 + chunks.code.count("\n")
    frames = [f for r in verdict.races for f in r.user_frames if f is not None]
    assert frames and all(f.file.endswith("flags.cpp") and first <= f.line <= last for f in frames)
    assert f"n = {run.n:,}, {run.workers} workers" in verdict.summary


def test_the_word_aligned_blocked_candidate_is_clean_and_lists_every_size(flags):
    ev, cands = flags
    cand = cands["rule:parallel-for-blocked"]
    plan = ev.race_plan(cand.code)
    assert plan.block == 2048 and plan.sizes == [32_801, 65_568, 1 << 17]
    verdict = _race(ev, cand)
    assert verdict.passed, verdict.summary
    runs = [(r.n, r.workers) for r in verdict.race_runs]
    # the first run, with the most workers, measures a call; the sizes grow when calls are too short
    assert runs[0] == (32_801, max(plan.workers))
    sizes = sorted({n for n, _ in runs})
    assert sizes[-1] >= ev.baseline.n  # the timing size, or a larger size a call needed
    for n in sizes[1:]:
        assert {w for m, w in runs if m == n} == set(plan.workers), runs  # every size at every worker count
    assert all(n % 64 for n in sizes if n != ev.baseline.n)
    assert min(plan.workers) > plan.cores
    listed = verdict.summary.split("n = ", 1)[1].split(" with ")[0]
    assert listed == (" and ".join(f"{n:,}" for n in sizes) if len(sizes) < 3 else
                      ", ".join(f"{n:,}" for n in sizes[:-1]) + f" and {sizes[-1]:,}"), verdict.summary
    assert "blocks of 2,048" in verdict.summary


@pytest.mark.parametrize("name", ["flags.cpp", "primes.cpp"])
def test_every_rule_candidate_for_a_vector_bool_output_is_correct_and_race_free_at_misaligned_sizes(
        name, toolchain, compiler):
    """Issue 11 item 2: each candidate is compiled, compared with the serial loop, and race-checked under
    ThreadSanitizer at sizes that put an even split's boundaries mid-word for every worker count; the
    candidates that split the output at arbitrary indices are not among them."""
    ev, cands = _example(name, toolchain, compiler)
    assert set(cands) == {"rule:parallel-for-blocked", "rule:parallel-for-word-chunks", "rule:packed-bytes"}
    for origin, cand in cands.items():
        source = variant_source(ev.site, cand.loop_text, cand.includes, ev.plan, function_text=cand.function_text)
        compiled, exe = ev.compile_stage(source, origin)
        assert compiled.passed and exe is not None, (origin, compiled.summary)
        tested = ev.test_stage(exe)
        assert tested.passed, (origin, tested.summary)
        verdict = ev.race_stage(source, origin, code=cand.code)
        assert verdict.passed, (origin, verdict.summary)
        runs = verdict.race_runs
        assert runs and all(r.verdict == "passed" for r in runs), (origin, runs)
        misaligned_runs = [r for r in runs if misaligned(r.n, [r.workers])]
        assert len({r.workers for r in misaligned_runs}) >= 2 and all(r.workers > 2 for r in runs), (origin, runs)
