"""The LLM search with real compiles, ThreadSanitizer and timing, then its replay offline.

One search, rules disabled so the LLM's scripted replies decide: a rewrite that
races, one that does not compile, a good one; then fix prompts that must carry
the real compiler error and the real race in the candidate's terms. The replay
afterwards runs with the loopback server shut down and must reach the same
result from the transcript and the evaluation cache without compiling.
Objects, verdicts and probes persist in the session cache (``parevo_cache_dir``).
"""

from __future__ import annotations

import re

import pytest

from llm_fakes import FakeOpenAI
from parevo.evolution.controller import SearchSettings
from parevo.evolution.engine import EvolveRequest, evolve, read_site, replay
from parevo.evolution.llm import LLMSettings
from parevo.evolution.search import Budget
from parevo.toolchain.facts import analyze

pytestmark = pytest.mark.parlay

EVAL = dict(check_sizes=[0, 1, 2, 3, 17, 100, 1000], check_seeds=[1, 2], target_seconds=0.002,
            n_max=1 << 20, rounds=3, repeats=2, tsan_runs=2, tsan_max_input_bytes=2 << 20)

SRC = """#include <cmath>
#include <vector>

double wave_energy(const std::vector<double>& a) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += std::sqrt(std::fabs(a[i])) * std::sin(a[i]) * std::cos(0.5 * a[i]);
  }
  return s;
}
"""

# every iteration stores the same value into `s`: the output is always right, so the verdict
# cannot depend on whether lost updates happen to show at the check sizes; the stores still race
RACY = """```cpp
#include <parlay/parallel.h>
#include <parlay/primitives.h>
#include <parlay/delayed.h>
{ const double total = s + parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) -> double { return std::sqrt(std::fabs(a[i])) * std::sin(a[i]) * std::cos(0.5 * a[i]); }), parlay::plus<double>()); parlay::parallel_for(0, a.size(), [&](size_t i) {
  s = total;
}); }
```"""
NOCOMPILE = """```cpp
{
  s += parlay_reduce_everything(a);
}
```"""
GOOD = """```cpp
#include <parlay/primitives.h>
#include <parlay/delayed.h>
{
  s += parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) -> double {
    return std::sqrt(std::fabs(a[i])) * std::sin(a[i]) * std::cos(0.5 * a[i]);
  }), parlay::plus<double>());
}
```"""


def test_llm_search_rejects_race_and_compile_error_with_evidence_then_replays(parevo_cache_dir, toolchain,
                                                                           tmp_path):
    path = tmp_path / "wave.cpp"
    path.write_text(SRC)
    replies = [RACY, NOCOMPILE, GOOD, GOOD, "Sorry, no code this time."]

    def responder(body, i):
        return {"reply": replies[min(i, len(replies) - 1)], "usage": (1500, 300)}

    with FakeOpenAI(responder) as srv:
        req = EvolveRequest(
            cache_dir=str(parevo_cache_dir), rules=False, resume=False, eval=dict(EVAL),
            llm=LLMSettings(base_url=srv.base_url, model="scripted", backoff_s=0.01, timeout_s=30),
            generations=1, search=SearchSettings(children=3, p_fix=1.0),
            budget=Budget(seconds=900, evaluations=12),
            stop_at_bound=False)  # generation 1's fix prompts are the point, however fast the good rewrite is
        site = read_site(str(path), 5)
        res = evolve(site, analyze(site), req, toolchain=toolchain)
        prompts = srv.user_prompts()
    assert len(res.candidates) == 3 and len(prompts) == 6  # 3 first rewrites, 3 fixes
    racy = next(r for r in res.candidates if "parallel_for" in r.candidate.loop_text)
    broken = next(r for r in res.candidates if "parlay_reduce_everything" in r.candidate.loop_text)
    good = next(r for r in res.candidates if "parallel_for" not in r.candidate.loop_text
                and "delayed_tabulate" in r.candidate.loop_text)
    assert racy.rejected_stage == "race" and racy.stage("race").races
    assert broken.rejected_stage == "compile"
    assert good.verified and good.speedup is not None
    # generation 1: the fix prompts carry the real evidence, in the candidate's terms
    assert "compile error at line 2 of the candidate: `s += parlay_reduce_everything(a);`" in prompts[3]
    assert "parlay_reduce_everything" in prompts[3] and "was not declared" in prompts[3]
    assert "data race on `s`" in prompts[4] and "at line 2 of the candidate" in prompts[4]
    assert re.search(r"(read|write) by (thread T\d+|the main thread) at line 2 of the candidate", prompts[4])
    # the duplicate reply and the reply without code are recorded and fed back, not dropped
    assert any(m.duplicate for m in res.mutations)
    assert "is the same program as candidate" in prompts[4]
    assert any(m.failure and "no ```cpp code block" in m.failure for m in res.mutations)
    assert "could not be used: the reply has no ```cpp code block" in prompts[5]
    assert res.search.eval_cache_hits >= 1  # the duplicate counts as a cache hit

    again = replay(res.run_id, cache_dir=str(parevo_cache_dir), toolchain=toolchain)  # the server is gone
    assert again.compiles == 0 and again.search.eval_cache_hit_rate == 1.0 and not again.search.replay_diverged
    assert [r.id for r in again.candidates] == [r.id for r in res.candidates]
    assert again.best_id == res.best_id and again.status == res.status
    assert [r.speedup for r in again.candidates] == [r.speedup for r in res.candidates]
    assert again.llm.calls == 6 and again.llm.tokens == res.llm.tokens == 6 * 1800
