"""The evaluation cascade rejects wrong candidates at the right stage, with evidence.

Each deliberately wrong candidate is a realistic mistake: a racy reduction, an
off-by-one, a filter that loses order, a histogram with unsynchronized
increments, a candidate that does not compile, one that crashes, one that hangs,
and one that is correct but slower than the serial loop.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.evolution.candidates import Candidate
from parevo.evolution.search import Budget, CascadeRunner
from parevo.toolchain.evaluate import timing_repeats, EvalConfig, Evaluator
from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.parsing import find_loop, find_marked_lines

pytestmark = pytest.mark.parlay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FAST = dict(check_sizes=[0, 1, 2, 3, 17, 100, 1000], check_seeds=[1, 2], target_seconds=0.002, n_max=1 << 20,
            rounds=3, repeats=2, tsan_runs=2, run_timeout_s=20)


def _site(name: str):
    path = EXAMPLES / name
    src = path.read_text()
    return find_loop(src, str(path), find_marked_lines(src)[0])


_evaluators: dict[str, Evaluator] = {}


@pytest.fixture(scope="module")
def evaluator(toolchain, compiler):
    def get(name: str) -> Evaluator:
        if name not in _evaluators:
            site = _site(name)
            ev = Evaluator(site, toolchain, compiler, plan_inputs(site), EvalConfig(**FAST))
            ev.prepare()
            _evaluators[name] = ev
        return _evaluators[name]

    return get


def _evaluate(ev: Evaluator, loop_text: str, includes=("<parlay/primitives.h>",)):
    cand = Candidate(loop_text=loop_text, includes=list(includes), origin="test")
    runner = CascadeRunner(ev, Budget(seconds=600, evaluations=10))
    (rec,) = runner.run([cand])
    return rec


def test_racy_reduction_is_rejected_as_a_data_race_with_both_lines(evaluator):
    ev = evaluator("sum_squares.cpp")
    rec = _evaluate(ev, "parlay::parallel_for(0, a.size(), [&](size_t i) {\n  s += a[i] * a[i];\n});")
    # the race may already corrupt the outputs at the check sizes; if not, TSan must catch it
    assert rec.rejected_stage in ("test", "race")
    race = rec.stage("race")
    if rec.rejected_stage == "race":
        assert race.races, race.summary
        loop_line1 = ev.site.loop.start_line + 1
        lines = {f.line for r in race.races for f in r.user_frames if f is not None}
        assert lines == {loop_line1 + 1}, race.summary  # both accesses: `s += ...` on the loop's second line
        assert rec.reason.startswith("data race") and f"sum_squares.cpp:{loop_line1 + 1}" in rec.reason


def test_racy_reduction_caught_by_tsan_even_when_outputs_match(evaluator):
    """An atomic-free counter race that the small check sizes cannot see (one worker per block)."""
    ev = evaluator("count_if.cpp")
    body = ("parlay::parallel_for(0, a.size(), [&](size_t i) {\n"
            "  if (a[i] >= lo && a[i] < hi) count++;\n"
            "}, 5000);")
    rec = _evaluate(ev, body)
    # granularity 5000 keeps every check size in one serial block: outputs match, only TSan
    # (at the timing size: many blocks) sees the race
    assert rec.stage("test").passed, rec.reason
    assert rec.rejected_stage == "race" and rec.stage("race").races


def test_off_by_one_is_rejected_with_size_index_expected_got(evaluator):
    ev = evaluator("stencil.cpp")
    assert "i < n - 1" in ev.site.loop_text
    rec = _evaluate(ev, "parlay::parallel_for(1, std::max(1, n - 2), [&](int i) {\n"
                        "  out[i] = (in[i - 1] + in[i] + in[i + 1]) / 3.0;\n});")
    assert rec.rejected_stage == "test"
    mm = rec.stage("test").mismatch
    assert mm is not None and mm.output.startswith("out[")
    assert mm.index == mm.n - 2  # the last interior element is not written
    assert f"n = {mm.n}" in rec.reason and "expected" in rec.reason and "got" in rec.reason


def test_filter_that_loses_order_is_rejected(evaluator):
    ev = evaluator("filter_positive.cpp")
    # keep the right elements, but in reverse order
    rec = _evaluate(ev, "{\n  auto kept = parlay::filter(a, [](double x) { return x > 0.0; });\n"
                        "  for (size_t k = kept.size(); k-- > 0;) out.push_back(kept[k]);\n}")
    assert rec.rejected_stage == "test"
    assert rec.stage("test").mismatch.output.startswith("out[")


def test_histogram_with_unsynchronized_increments_is_rejected(evaluator):
    ev = evaluator("histogram.cpp")
    rec = _evaluate(ev, "parlay::parallel_for(0, keys.size(), [&](size_t i) {\n  hist[keys[i]]++;\n});")
    assert rec.rejected_stage in ("test", "race")
    if rec.rejected_stage == "race":
        assert any("hist" in (r.location or "") or r.user_frames for r in rec.stage("race").races)


def test_compile_error_names_the_users_file_and_line(evaluator):
    ev = evaluator("sum_squares.cpp")
    rec = _evaluate(ev, "{\n  s += parlay::reduce(parlay::map(a, [](double x) { return x * x }));\n}")
    assert rec.rejected_stage == "compile"
    out = rec.stage("compile").compile
    assert out.error_file and Path(out.error_file).name == "sum_squares.cpp"
    assert out.error_line1 == ev.site.loop.start_line + 2
    assert "did not compile" in rec.reason


def test_crashing_candidate_is_rejected_with_the_signal_and_size(evaluator):
    ev = evaluator("sum_squares.cpp")
    rec = _evaluate(ev, "{\n  if (a.size() > 2) { volatile int* p = nullptr; *p = 1; }\n  for (double x : a) s += x * x;\n}")
    assert rec.rejected_stage == "test" and rec.stage("test").label == "crash"
    assert rec.reason.startswith("crash at n = 3 (seed ") and "killed by SIGSEGV" in rec.reason


def test_hanging_candidate_is_killed_and_rejected(evaluator):
    ev = evaluator("sum_squares.cpp")
    rec = _evaluate(ev, "{\n  volatile bool spin = a.size() > 16;\n  while (spin) {}\n  for (double x : a) s += x * x;\n}")
    assert rec.rejected_stage == "test" and rec.stage("test").label == "hang"
    assert rec.reason.startswith("hang at n = ") and "did not finish within 20 s" in rec.reason


def test_correct_but_slower_candidate_is_rejected_at_timing(evaluator):
    ev = evaluator("stencil.cpp")
    loop = ev.site.loop_text
    # the serial loop three times over: same outputs, about 3x the work
    rec = _evaluate(ev, "{\n" + "\n".join([loop] * 3) + "\n}", includes=())
    assert rec.verified and not rec.faster
    # "not faster", or "inconclusive" when other processes held the cores it could need: never offered
    assert rec.rejected_stage == "time" and rec.reason.startswith(("not faster:", "timing inconclusive:"))
    assert rec.speedup is not None and rec.speedup < 1.0


def test_a_good_rewrite_passes_every_stage_with_evidence(evaluator):
    ev = evaluator("sum_squares.cpp")
    rec = _evaluate(ev, "{\n  s += parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) {"
                        " return a[i] * a[i]; }));\n}", includes=("<parlay/primitives.h>", "<parlay/delayed.h>"))
    assert [s.stage for s in rec.stages] == ["compile", "test", "race", "time", "profile"] or rec.rejected_stage == "time"
    assert rec.verified
    t = rec.stage("time").timing
    assert t.n == ev.baseline.n and t.threads == ev.config.threads
    # 3 rounds of `repeats` calls: 2, or more when the largest allowed n (n_max) is still shorter
    # than the target time per call (timing_repeats keeps each round's total above the target)
    assert t.repeats == ev.baseline.repeats == timing_repeats(ev.config, ev.baseline.original_seconds) >= 2
    assert t.rounds >= ev.config.rounds
    assert len(t.original_samples) == len(t.candidate_samples) == t.rounds * t.repeats


def test_seen_candidate_is_not_evaluated_twice(evaluator):
    ev = evaluator("sum_squares.cpp")
    text = "{\n  for (double x : a) s += x * x;\n}"
    runner = CascadeRunner(ev, Budget(seconds=600, evaluations=10))
    first = runner.run([Candidate(loop_text=text, origin="a")])
    again = runner.run([Candidate(loop_text=text.replace("\n", "\n\n") + " // same", origin="b")])
    assert len(first) == 1 and again == []


# ---------------------------------------------------------------- honest verdicts (issue 11, item 4)
_TSAN_ONLY = """#if defined(__SANITIZE_THREAD__)
#define PV_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PV_TSAN_BUILD 1
#endif
#endif
"""


def test_out_of_memory_is_its_own_verdict_with_the_drivers_message(evaluator):
    ev = evaluator("sum_squares.cpp")
    rec = _evaluate(ev, "{\n  static std::vector<double>* keep_pv = nullptr;\n"
                        "  if (a.size() > 16) keep_pv = new std::vector<double>(size_t(1) << 40);\n"
                        "  for (double x : a) s += x * x;\n}", includes=("<vector>",))
    test = rec.stage("test")
    assert rec.rejected_stage == "test" and test.label == "out of memory", rec.reason
    assert rec.reason.startswith("out of memory at n = 17") and "bad_alloc" in rec.reason
    assert any("out of memory inside the function" in ln for ln in test.stderr_tail), test.stderr_tail


def test_a_crash_under_threadsanitizer_is_a_sanitizer_crash_not_clean_nor_a_race(evaluator):
    """TSan turns a SEGV into exit status 66 with no WARNING block: it once passed as clean."""
    ev = evaluator("sum_squares.cpp")
    rec = _evaluate(ev, "{\n" + _TSAN_ONLY + "#ifdef PV_TSAN_BUILD\n"
                        "  if (a.size() > 100) { std::fprintf(stderr, \"candidate: giving up under tsan\\n\");"
                        " volatile int* p = nullptr; *p = 1; }\n#endif\n"
                        "  for (double x : a) s += x * x;\n}", includes=("<cstdio>",))
    assert rec.stage("test").passed, rec.reason
    race = rec.stage("race")
    assert rec.rejected_stage == "race" and race.label == "sanitizer crash", rec.reason
    assert not race.races and rec.reason.startswith("sanitizer crash under ThreadSanitizer at n = ")
    assert "(ERROR: ThreadSanitizer: SEGV on unknown address" in rec.reason, rec.reason
    assert any("giving up under tsan" in ln for ln in race.stderr_tail), race.stderr_tail
    assert race.race_runs and race.race_runs[-1].verdict == "sanitizer crash"

