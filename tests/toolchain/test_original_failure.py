"""The message when the user's own function fails on generated inputs (issue 13, item 7): the stage,
how the run ended (signal, exception, time-out) with its last stderr lines, the parameters involved
(read from the function's syntax tree) and the input-spec entry for them."""

from __future__ import annotations

import pytest

from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.original_failure import how_it_ended, index_uses, original_failure_message
from parevo.toolchain.parsing import find_loop

pytestmark = pytest.mark.fast

GRAPH = """#include <vector>
void relax(const std::vector<int>& src, const std::vector<int>& dst, const std::vector<double>& w,
           std::vector<double>& dist) {
  for (size_t e = 0; e < src.size(); ++e) {
    int v = dst[e] - 1;
    double d = dist[src[e]] + w[e];
    if (d < dist.at(v)) dist.at(v) = d;
  }
}
"""

TERMINATE = ("terminate called after throwing an instance of 'std::out_of_range'\n"
             "  what():  vector::_M_range_check: __n (which is 18446744073709551615) >= this->size() (which is 256)\n")


def _site():
    site = find_loop(GRAPH, "/w/graph.cpp", 3)
    return site, plan_inputs(site)


def test_index_uses_follow_locals_and_at_calls():
    site, _ = _site()
    assert index_uses(site) == {"src": [("dist", 0)], "dst": [("dist", 0)]}


def test_how_it_ended_names_the_exception():
    assert how_it_ended("killed by SIGABRT", TERMINATE) == "killed by SIGABRT, an uncaught std::out_of_range"
    assert how_it_ended("exited with status 5", "parevo driver: the function threw an exception (std::length_error)"
                        " at n = 3 (seed 1): x\n") == "it threw std::length_error (exited with status 5)"
    assert how_it_ended("killed by SIGSEGV", "") == "killed by SIGSEGV"


def test_a_crash_names_stage_signal_stderr_parameters_and_the_entry():
    site, plan = _site()
    msg = original_failure_message(site, plan, "recording its outputs on the check inputs", "killed by SIGABRT",
                                   "noise\n" * 5 + TERMINATE, n=17, seed=2)
    assert msg.startswith("the original function relax() failed on parevo's generated inputs while recording its "
                          "outputs on the check inputs (n = 17, seed 2): killed by SIGABRT, an uncaught "
                          "std::out_of_range; its last stderr lines: noise | terminate called after throwing")
    assert "Parameters involved: src (its values index dist; generated as indices in [0, m = 256)); dst " in msg
    # dst reaches dist through the local v: the planner did not see it, the entry makes it an index
    assert '[relax.dst] kind = "index", index_of = "dist"' in msg
    assert "[relax.src] min = 0, max = ... (the smallest and largest values your program passes" in msg
    assert "\n" not in msg


def test_a_hang_names_the_loop_bounds_and_timing_n():
    site, plan = _site()
    msg = original_failure_message(site, plan, "calibrating the input size", "timed out after 300.0 s", "",
                                   n=1 << 20, seed=1, timed_out=True)
    assert "(n = 1,048,576, seed 1): timed out after 300.0 s." in msg
    assert "Parameters involved: the parameters bounding its loops: src." in msg
    assert "timing_n = <n> in parevo.inputs.toml beside graph.cpp" in msg
