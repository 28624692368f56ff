"""The timing size: calibrated by default, or the user's ``timing_n`` (input spec or setting).

Pure parts (spec parsing, precedence, repeats per round) are fast; one
evaluator run (the original timed against itself) checks that a fixed size is
what gets timed, with more calls per round.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.toolchain.evaluate import EvalConfig, Evaluator, timing_repeats, timing_size
from parevo.toolchain.harness import original_source
from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.inputspec import find_spec, spec_from_dict
from parevo.toolchain.models import HarnessError
from parevo.toolchain.parsing import find_loop, find_marked_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SRC = """#include <vector>
double total(const std::vector<double>& a) {
  double s = 0;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * a[i];
  return s;
}
"""


def _site(src: str = SRC, path: str = "t.cpp"):
    return find_loop(src, path, find_marked_lines(src)[0])


@pytest.mark.fast
def test_function_timing_n_wins_over_the_global_one():
    spec = spec_from_dict({"timing_n": 4096, "total": {"timing_n": 1000}, "other": {"m": 3}})
    assert spec.for_function("total", "total").timing_n == 1000
    assert spec.for_function("other", "other").timing_n == 4096
    assert plan_inputs(_site(), spec).timing_n == 1000
    assert plan_inputs(_site()).timing_n is None


@pytest.mark.fast
@pytest.mark.parametrize("bad", [0, -5, "big"])
def test_invalid_timing_n_is_a_clear_error(bad):
    with pytest.raises(HarnessError, match="timing_n"):
        spec_from_dict({"total": {"timing_n": bad}}, "parevo.inputs.toml")


@pytest.mark.fast
def test_setting_wins_over_spec_wins_over_calibration():
    spec_plan = plan_inputs(_site(), spec_from_dict({"timing_n": 5000}))
    assert timing_size(EvalConfig(), plan_inputs(_site())) == (None, "calibrated")
    assert timing_size(EvalConfig(), spec_plan) == (5000, "input spec")
    assert timing_size(EvalConfig(timing_n=7), spec_plan) == (7, "setting")


@pytest.mark.fast
def test_short_calls_are_timed_more_often_per_round():
    cfg = EvalConfig(target_seconds=0.01, repeats=3, max_repeats=200)
    assert timing_repeats(cfg, 0.02) == 3      # a calibrated size reaches the target
    assert timing_repeats(cfg, 0.001) == 30    # 3 x 10 ms / 1 ms
    assert timing_repeats(cfg, 0.0) == 200     # capped
    assert timing_repeats(cfg, 0.009) == 4


@pytest.mark.fast
def test_examples_time_at_their_programs_sizes():
    """examples/parevo.inputs.toml states the n each example's main() uses."""
    spec = find_spec(EXAMPLES / "stencil.cpp")
    assert spec is not None
    assert spec.for_function("smooth", "smooth").timing_n == 1 << 20
    assert spec.for_function("spmv", "spmv").timing_n == 1 << 16
    src = (EXAMPLES / "stencil.cpp").read_text()
    assert "int n = 1 << 20;" in src


@pytest.mark.parlay
def test_a_fixed_size_is_timed_and_reported(toolchain, compiler):
    cfg = EvalConfig(check_sizes=[0, 1, 17], check_seeds=[1], check_large_n=0, timing_n=3000, rounds=2,
                     repeats=2, target_seconds=0.002, tsan_runs=1, tsan_max_input_bytes=1 << 20)
    site = _site()
    ev = Evaluator(site, toolchain, compiler, plan_inputs(site), cfg)
    base = ev.prepare()
    assert (base.n, base.n_source) == (3000, "setting")
    # no doubling; one call at half the size, so that the race stage reads how a call grows with n
    assert [r["n"] for r in base.calibration] == [1500, 3000]
    assert base.original_seconds == base.calibration[-1]["t"]
    assert base.repeats == timing_repeats(cfg, base.original_seconds) > 2  # a 3000-element sum is µs
    exe = ev.compile_stage(original_source(site, ev.plan), label="same")[1]
    assert exe is not None
    verdict = ev.time_stage(exe)
    assert verdict.timing is not None
    assert verdict.timing.n == 3000 and verdict.timing.n_source == "setting"
    t = verdict.timing
    assert t.rounds >= cfg.rounds and len(t.candidate_samples) == t.rounds * base.repeats  # adaptive rounds
    assert "from the settings" in verdict.timing.describe()
