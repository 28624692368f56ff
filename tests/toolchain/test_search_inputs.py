"""Early exits under the data: how far a search runs on the timing inputs (the probe in the report), and the
input spec's ``match_position``/``match_rate`` that place the matches where the user's data has them."""

from __future__ import annotations

import pytest

from parevo.toolchain.evaluate import EvalConfig, Evaluator
from parevo.toolchain.harness import variant_source
from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.inputspec import spec_from_dict
from parevo.toolchain.models import HarnessError
from parevo.toolchain.parsing import find_loop, find_marked_lines
from parevo.toolchain.probe import SearchReach, probe_loop_text, reach_note, search_reach
from parevo.toolchain.syntax import errors, parse

SRC = """#include <vector>
long first_above(const std::vector<double>& a, double t) {
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > t) return static_cast<long>(i);
  }
  return -1;
}
"""


def _site(src: str = SRC):
    return find_loop(src, "s.cpp", find_marked_lines(src)[0])


@pytest.mark.fast
def test_reach_note_says_the_inputs_decided_and_how_to_describe_them():
    early = reach_note(SearchReach(n=1 << 20, seed=1, iterations=15, first_block=4096), "first_above")
    assert early.startswith("on the generated timing inputs (n = 1,048,576, seed 1) the original loop stops after 15 "
                            "iterations: its first match comes within the first block")
    assert '`[first_above]` with `match_position = "n / 2"`' in early and "`match_rate = 0.0`" in early
    late = reach_note(SearchReach(n=1 << 20, seed=1, iterations=524289, first_block=4096), "first_above")
    assert late.endswith("stops after 524,289 iterations.")


@pytest.mark.fast
def test_probe_counts_every_iteration_and_reports_on_any_exit():
    text = probe_loop_text(_site())
    assert "++pv_probe.iterations;" in text and "~pv_probe_t()" in text
    assert not errors(parse("void f() {\n" + text + "\n}\n").root_node)


@pytest.mark.fast
@pytest.mark.parametrize("spec, why", [
    ({"first_above": {"match_rate": 1.5}}, "match_rate"),
    ({"first_above": {"match_position": "n +"}}, "match_position"),
])
def test_invalid_match_keys_are_clear_errors(spec, why):
    with pytest.raises(HarnessError, match=why):
        plan_inputs(_site(), spec_from_dict(spec, "parevo.inputs.toml"))


@pytest.mark.fast
def test_placement_needs_a_search_over_parameters():
    src = SRC.replace("if (a[i] > t) return static_cast<long>(i);", "s += a[i];").replace(
        "// parevo", "double s = 0;\n  // parevo")
    site = _site(src)
    plan = plan_inputs(site, spec_from_dict({"first_above": {"match_position": "n / 2"}}))
    with pytest.raises(HarnessError, match="not a search"):
        variant_source(site, site.loop_text, [], plan)
    local = SRC.replace("double t) {", "double t) {\n  double lim = t * 2;").replace("a[i] > t", "a[i] > lim")
    site = _site(local)
    plan = plan_inputs(site, spec_from_dict({"first_above": {"match_rate": 0.0}}))
    with pytest.raises(HarnessError, match="uses `lim`, not parameters"):
        variant_source(site, site.loop_text, [], plan)


@pytest.mark.parlay
@pytest.mark.parametrize("spec, reached", [
    ({}, lambda n, k: k <= 64),                                        # random data: a match at once
    ({"first_above": {"match_position": "n / 2"}}, lambda n, k: k == n // 2 + 1),
    ({"first_above": {"match_rate": 0.0}}, lambda n, k: k == n),       # no match: the whole scan
])
def test_the_probe_measures_where_the_original_stops(spec, reached, toolchain, compiler):
    site = _site()
    cfg = EvalConfig(check_sizes=[0, 1, 17], check_seeds=[1, 2], check_large_n=0, timing_n=20000, rounds=1,
                     repeats=1, target_seconds=0.001, tsan_runs=1, tsan_n=1 << 10)
    ev = Evaluator(site, toolchain, compiler, plan_inputs(site, spec_from_dict(spec) if spec else None), cfg)
    base = ev.prepare()
    reach = search_reach(ev, site, base.n, cfg.seed)
    assert reach is not None and reached(base.n, reach.iterations), reach
    assert reach.early == (reach.iterations <= 4096)
