"""The race stage runs a candidate where it really runs in parallel, at sizes that break alignment
(issue 11, item 1): the ``std::vector<bool>`` chunk candidate, clean at the old aligned size
n = 262,144, is a data race; the word-aligned blocked candidate stays clean, and the evidence lists
every size and worker count it ran at."""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.evolution import rules
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


@pytest.fixture(scope="module")
def flags(toolchain, compiler):
    path = EXAMPLES / "flags.cpp"
    src = path.read_text()
    site = find_loop(src, str(path), find_marked_lines(src)[0])
    ev = Evaluator(site, toolchain, compiler, plan_inputs(site), EvalConfig(**CONFIG))
    ev.prepare()
    return ev, {c.origin: c for c in rules.propose(site, analyze(site))}


def _race(ev, cand):
    source = variant_source(ev.site, cand.loop_text, cand.includes, ev.plan, function_text=cand.function_text)
    return ev.race_stage(source, cand.origin, code=cand.code)


def test_the_vector_bool_chunk_candidate_is_a_data_race_at_a_misaligned_size(flags):
    ev, cands = flags
    verdict = _race(ev, cands["rule:parallel-for-chunks"])
    assert not verdict.passed and verdict.label == "data race", verdict.summary
    run = verdict.race_runs[-1]
    assert run.verdict == "data race" and run.workers > (ev.config.threads if ev.config.threads > 2 else 2)
    assert misaligned(run.n, [run.workers]) and run.n % 2 == 1
    first, last = ev.site.loop.start_line + 1, ev.site.loop.start_line + 1 + cands["rule:parallel-for-chunks"].code.count("\n")
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
