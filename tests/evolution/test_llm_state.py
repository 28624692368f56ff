"""The LLM endpoint's state is always reported: up, slow, down (with why), or never contacted.

Runs the search end to end through ``evolve()`` against the loopback OpenAI-compatible server
of :mod:`llm_fakes`, with the scripted cascade of ``conftest`` (no compiles).
"""

from __future__ import annotations

import pytest
from llm_fakes import FakeOpenAI, closed_port_url
from test_search_llm import GOOD, evolve_at, request, scripted

from parevo.evolution.controller import SearchSettings
from parevo.evolution.llm import LLMSettings
from parevo.evolution.report import render_text

pytestmark = pytest.mark.fast


def _llm(url: str, **kw) -> LLMSettings:
    return LLMSettings(base_url=url, model="fake-model", api_key_env="PAREVO_TEST_KEY", backoff_s=0.01,
                       **{"timeout_s": 5, "max_retries": 1, **kw})


def test_a_refused_connection_is_the_endpoint_down_not_an_unusable_reply(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", llm=_llm(closed_port_url()), rules=True, generations=2,
                         search=SearchSettings(children=3, p_fix=0.0, p_combine=0.0, p_llm=1.0)), toolchain=tc)
    assert res.llm.state == "down" and "cannot reach" in res.llm.describe()
    [line] = [ln for ln in render_text(res).splitlines() if ln.startswith("LLM:")]
    assert ": down (cannot reach" in line and "1 failed" in line and "0 unusable replies" in line, line


def test_a_slow_endpoint_is_reported_slow(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    with FakeOpenAI(scripted([{"delay": 0.5, "reply": GOOD}])) as srv:
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", llm=_llm(srv.base_url, timeout_s=0.8), generations=0,
                             search=SearchSettings(children=1)), toolchain=tc)
    assert res.llm.replies == 1 and res.llm.state == "slow"
    [line] = [ln for ln in render_text(res).splitlines() if ln.startswith("LLM:")]
    assert ": slow (1 of 1 replies took over 0.4 s; mean 0." in line, line


def test_an_endpoint_answering_in_time_is_up(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    with FakeOpenAI(scripted([GOOD])) as srv:
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, generations=0,
                             search=SearchSettings(children=1)), toolchain=tc)
    assert res.llm.state == "up"
    assert any(ln.startswith("LLM:") and ": up (mean reply " in ln for ln in render_text(res).splitlines())


def test_an_endpoint_never_reached_within_the_budget_says_so(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    with FakeOpenAI(scripted([GOOD])) as srv:  # the budget ends with the rule-based candidates
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, rules=True, generations=2, evaluations=1,
                             search=SearchSettings(children=2, p_llm=1.0)), toolchain=tc)
    assert srv.requests == [] and res.llm.state == "not contacted"
    [line] = [ln for ln in render_text(res).splitlines() if ln.startswith("LLM:")]
    assert ": never contacted (the search stopped by evaluations before an LLM mutation was due)" in line, line
