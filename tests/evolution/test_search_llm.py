"""The evolutionary search with LLM mutations, end to end through ``evolve()``, without compiling.

The real ``openai`` client talks to a loopback OpenAI-compatible server
(:class:`FakeOpenAI`) serving scripted replies; the cascade is replaced by
:func:`scripted_evaluate` (verdicts from markers in the candidate's text) and
``Evaluator.prepare`` by a fixed baseline, so these tests exercise the search
loop, prompts, reply handling, retries, budgets, transcripts, the evaluation
cache, replay and resume in seconds. The same paths with real compiles are in
``test_search_parlay.py``.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from pathlib import Path

import pytest

from llm_fakes import LOOP_LINE, SRC, FakeOpenAI, closed_port_url
from parevo.evolution.checkpoint import Checkpoint
from parevo.evolution.controller import SearchController, SearchSettings
from parevo.evolution.engine import EvolveRequest, evolve, read_site, replay
from parevo.evolution.report import render_text
from parevo.evolution.llm import LLMSettings
from parevo.evolution.search import Budget, CascadeRunner
from parevo.evolution.transcript import Transcript, TranscriptError
from parevo.toolchain.facts import analyze
from parevo.toolchain.splice import StaleEdits, apply_edits

pytestmark = pytest.mark.fast

RACY = """A parallel_for is simplest:
```cpp
#include <parlay/parallel.h>
parlay::parallel_for(0, a.size(), [&](size_t i) {
  s += std::sqrt(a[i]) * std::sin(a[i]);  // RACY
});
```"""
NOCOMPILE = """```cpp
{
  NOCOMPILE s = parlay::reduce(a);
}
```"""
GOOD = """Use a delayed reduction:
```cpp
#include <parlay/primitives.h>
{
  s += parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) {
    return std::sqrt(a[i]) * std::sin(a[i]);
  }));
  (void)"SPEEDUP(1.8)";
}
```"""
BAD_EDIT = """<<<<<<< SEARCH
  s += std::sqrt(a[i]) * std::cos(a[i]);  // RACY
=======
  s += 0;
>>>>>>> REPLACE"""
GOOD_EDIT = """<<<<<<< SEARCH
parlay::parallel_for(0, a.size(), [&](size_t i) {
  s += std::sqrt(a[i]) * std::sin(a[i]);  // RACY
});
=======
s += parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) {
  return std::sqrt(a[i]) * std::sin(a[i]);
}), parlay::plus<double>());
(void)"SPEEDUP(1.5)";
>>>>>>> REPLACE"""


def request(loop_file, cache, server_url=None, *, rules=False, generations=2, evaluations=40,
            token_budget=200_000, search=None, llm=None, resume=True) -> EvolveRequest:
    if llm is None and server_url is not None:
        llm = LLMSettings(base_url=server_url, model="fake-model", api_key_env="PAREVO_TEST_KEY", backoff_s=0.01,
                          timeout_s=5, max_retries=3)
    return EvolveRequest(cache_dir=str(cache), rules=rules, llm=llm,
                         generations=generations, token_budget=token_budget, resume=resume,
                         budget=Budget(seconds=300, evaluations=evaluations),
                         search=search or SearchSettings(children=2, p_fix=1.0, patience=5))


def evolve_at(loop_file, req: EvolveRequest, **kw):
    """``evolve`` of the loop at LOOP_LINE of ``loop_file``: the site is read once, here."""
    site = read_site(str(loop_file), LOOP_LINE)
    return evolve(site, analyze(site), req, **kw)


def scripted(replies):
    def responder(body, i):
        r = replies[i] if i < len(replies) else replies[-1]
        return r if isinstance(r, dict) else {"reply": r}
    return responder


def test_race_compile_error_and_failed_edits_are_fed_back(fake_cascade, loop_file, tmp_path, monkeypatch):
    tc, _ = fake_cascade
    monkeypatch.setenv("PAREVO_TEST_KEY", "sk-test-secret-123")
    replies = [RACY, NOCOMPILE, "I would use a reduction here.", BAD_EDIT, GOOD, GOOD_EDIT]
    with FakeOpenAI(scripted(replies)) as srv:
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url), toolchain=tc)
    prompts = srv.user_prompts()
    assert len(prompts) == 6
    # generation 1: fix the compile failure, then the race, each with its evidence in the user's terms
    assert "failed at the compile stage" in prompts[2]
    assert "compile error at line 2 of the candidate: `NOCOMPILE s = parlay::reduce(a);`" in prompts[2]
    assert "'NOCOMPILE' was not declared in this scope (1 more error followed)" in prompts[2]
    assert "failed at the race stage" in prompts[3]
    assert "data race on `s`" in prompts[3]
    assert "write by thread T2 at line 2 of the candidate: `s += std::sqrt(a[i]) * std::sin(a[i]);  // RACY`" \
        in prompts[3]
    assert "previous read by thread T1" in prompts[3]
    # the reply without code and the edit that does not apply are recorded and fed back
    assert "could not be used: the reply has no ```cpp code block" in prompts[3]
    assert "could not be used: the edit does not apply: the SEARCH block was not found" in prompts[4]
    assert "did you mean these lines?" in prompts[4] and "std::sin(a[i]);  // RACY" in prompts[4]
    failures = [m for m in res.mutations if m.failure]
    assert [m.operator for m in failures] == ["llm:fix", "llm:fix"]
    assert "no ```cpp code block" in failures[0].failure and "not found" in failures[1].failure
    # the fixed candidates were evaluated; the best is the 1.8x reduction
    assert res.status == "verified" and res.best.speedup == pytest.approx(1.8)
    assert res.best.candidate.origin == "llm:fix" and "<parlay/primitives.h>" in res.best.candidate.includes
    by_stage = {r.rejected_stage for r in res.candidates}
    assert {"race", "compile"} <= by_stage
    edited = [r for r in res.candidates if r.speedup == pytest.approx(1.5)]
    assert edited and edited[0].candidate.level == "loop"  # an edit inside the loop stays a loop rewrite
    assert "parlay::reduce" in res.diff and "#include <parlay/primitives.h>" in res.diff
    # the key went to the endpoint, never into the transcript or the result
    auth = {k.lower(): v for k, v in srv.headers[0].items()}.get("authorization")
    assert auth == "Bearer sk-test-secret-123"
    assert "sk-test-secret-123" not in Path(res.transcript_path).read_text()
    assert "sk-test-secret-123" not in res.model_dump_json()
    assert res.llm.calls == 6 and res.llm.tokens == 6 * 150


def test_replay_reaches_the_same_result_offline(fake_cascade, loop_file, tmp_path):
    tc, calls = fake_cascade
    replies = [RACY, NOCOMPILE, "no code", BAD_EDIT, GOOD, GOOD_EDIT]
    with FakeOpenAI(scripted(replies)) as srv:
        first = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url), toolchain=tc)
    evaluated = calls["n"]
    assert evaluated == len(first.candidates) > 0
    loop_file.write_text("// the file changed since\n" + SRC)  # the replay uses the recorded source
    again = replay(first.run_id, cache_dir=str(tmp_path / "cache"), toolchain=tc)  # server is down now
    assert calls["n"] == evaluated  # nothing evaluated again: every verdict from the evaluation cache
    assert again.best_id == first.best_id and again.best.speedup == first.best.speedup
    assert [r.id for r in again.candidates] == [r.id for r in first.candidates]
    assert again.best.stage("time").timing == first.best.stage("time").timing
    assert again.search.eval_cache_hit_rate == 1.0 and not again.search.replay_diverged
    assert again.llm.calls == first.llm.calls and again.llm.tokens == first.llm.tokens
    assert again.diff == first.diff
    # and from the transcript file itself
    again2 = replay(first.transcript_path, cache_dir=str(tmp_path / "cache"), toolchain=tc)
    assert again2.best_id == first.best_id


def test_retries_on_429_500_and_slow_replies(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    replies = [{"status": 429, "headers": {"Retry-After": "0"}}, {"status": 500}, {"delay": 1.5, "reply": GOOD},
               {"status": 503}, GOOD]
    llm = LLMSettings(base_url=None, model="fake-model", backoff_s=0.01, timeout_s=0.6, max_retries=4)
    with FakeOpenAI(scripted(replies)) as srv:
        llm.base_url = srv.base_url
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", llm=llm, generations=0,
                             search=SearchSettings(children=1)), toolchain=tc)
    assert len(srv.requests) == 5  # 429, 500, timed out, 503, success
    assert res.llm.calls == 1 and res.llm.retries == 4 and res.llm.failed_calls == 0
    assert res.status == "verified" and res.best.speedup == pytest.approx(1.8)
    rec = [r for r in Transcript.read(res.transcript_path) if r.type == "llm"]
    assert rec[0].attempts == 5


def test_token_budget_stops_the_run(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade

    def responder(body, i):
        return {"reply": GOOD.replace("SPEEDUP(1.8)", f"SPEEDUP(1.{i + 1})").replace("(void)", f"int v{i} = 0; (void)"),
                "usage": (4000, 1000)}

    with FakeOpenAI(responder) as srv:
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, generations=10, token_budget=12_000,
                             search=SearchSettings(children=1, p_llm=1.0, patience=50)), toolchain=tc)
    assert res.search.stopped_by == "tokens"
    assert len(srv.requests) == 3 and res.llm.tokens == 15_000
    assert all(r["max_tokens"] <= 12_000 for r in srv.requests)


def test_endpoint_down_continues_with_rules_and_says_so(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    llm = LLMSettings(base_url=closed_port_url(), model="fake-model", backoff_s=0.01, max_retries=1)
    res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", llm=llm, rules=True, generations=2,
                         search=SearchSettings(children=3, p_fix=0.0, p_combine=0.0, p_llm=1.0)), toolchain=tc)
    assert any("unavailable" in n and "rule-based candidates and parameter mutations" in n for n in res.notes)
    assert res.llm.failed_calls == 1 and res.llm.calls == 1  # asked once, then never again
    ops = [m.operator for m in res.mutations]
    assert ops.count("rules") == 3 and any(o.startswith("param:") for o in ops)
    assert res.status in ("verified", "none-verified") and res.search.generations >= 1


def test_no_llm_configured_runs_rules_and_mutations_and_says_so(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", rules=True, generations=3,
                         search=SearchSettings(children=3)), toolchain=tc)
    assert res.llm is None and "no LLM endpoint configured" in res.notes[0]
    assert res.proposers == ["rules", "param-mutations"]
    gens = {r.generation for r in res.candidates}
    assert 0 in gens and len(gens) > 1
    assert all(r.candidate.origin.startswith(("rule:", "mut:")) for r in res.candidates)
    # a second identical run is answered from the evaluation cache and finds the same best
    res2 = evolve_at(loop_file, request(loop_file, tmp_path / "cache", rules=True, generations=3, resume=False,
                          search=SearchSettings(children=3)), toolchain=tc)
    assert res2.best_id == res.best_id and res2.search.eval_cache_hit_rate == 1.0


def test_not_parallelizable_without_rules_or_llm(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", rules=False), toolchain=tc)
    assert res.status == "not-parallelizable" and "no LLM endpoint is configured" in res.message


def _deterministic_responder(body, i):
    """A reply that depends only on the prompt, so interrupted and uninterrupted runs get the same ones."""
    h = int(hashlib.sha256(json.dumps(body["messages"]).encode()).hexdigest()[:6], 16)
    if h % 5 == 0:
        return {"reply": RACY.replace("s +=", f"s += 0 * {h} +")}
    return {"reply": GOOD.replace("SPEEDUP(1.8)", f"SPEEDUP({1.1 + (h % 90) / 100:.2f})")
            .replace("(void)", f"int tag{h} = 0; (void)tag{h}; (void)")}


def test_cancelled_search_resumes_from_its_last_generation(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    settings = SearchSettings(children=3, p_fix=0.3, p_combine=0.3, p_llm=0.8, patience=50)
    with FakeOpenAI(_deterministic_responder) as srv:
        full = evolve_at(loop_file, request(loop_file, tmp_path / "a", srv.base_url, rules=True, generations=3, search=settings),
                      toolchain=tc)
        n_full = len(srv.requests)
    assert full.search.stopped_by == "generations"
    assert sum(1 for r in full.candidates if r.generation == 2) >= 2

    cancel = threading.Event()

    def progress(ev):  # cancel in the middle of generation 2: after its first candidate
        if ev.stage == "candidate" and ev.generation == 2:
            cancel.set()

    with FakeOpenAI(_deterministic_responder) as srv2:
        part = evolve_at(loop_file, request(loop_file, tmp_path / "b", srv2.base_url, rules=True, generations=3, search=settings),
                      progress=progress, cancel=cancel, toolchain=tc)
        assert part.search.stopped_by == "cancelled" and part.search.generations == 2
        first_session = len(srv2.requests)
        resumed = evolve_at(loop_file, request(loop_file, tmp_path / "b", srv2.base_url, rules=True, generations=3,
                                 search=settings), toolchain=tc)
        n_split = len(srv2.requests)
    assert resumed.search.resumed_from_generation == 1
    assert resumed.run_id == part.run_id
    # same search as the uninterrupted one; the interrupted generation's replies came from the transcript
    assert [r.id for r in resumed.candidates] == [r.id for r in full.candidates]
    assert resumed.best_id == full.best_id
    assert n_split == n_full and first_session < n_full
    assert [(m.operator, m.candidate_id) for m in resumed.mutations] == [
        (m.operator, m.candidate_id) for m in full.mutations]
    # and the replay of the resumed run (transcript spanning both sessions) agrees
    again = replay(resumed.run_id, cache_dir=str(tmp_path / "b"), toolchain=tc)
    assert [r.id for r in again.candidates] == [r.id for r in full.candidates]
    assert not again.search.replay_diverged


def test_best_of_n_baseline_samples_the_same_proposers(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", rules=True, evaluations=6,
                         search=SearchSettings(strategy="best-of-n")), toolchain=tc)
    assert res.search.strategy == "best-of-n" and len(res.candidates) == 6
    assert all(r.candidate.origin.startswith(("rule:", "mut:")) for r in res.candidates)


def test_unknown_run_is_a_clear_error(tmp_path, fake_cascade):
    tc, _ = fake_cascade
    with pytest.raises(FileNotFoundError, match="no transcript for run"):
        replay("nope", cache_dir=str(tmp_path), toolchain=tc)


def test_cancel_while_waiting_for_a_slow_reply_leaves_a_consistent_result(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    cancel = threading.Event()

    def responder(body, i):
        if i == 0:
            threading.Timer(0.3, cancel.set).start()
            return {"delay": 4.0, "reply": GOOD}
        return {"reply": GOOD}

    import time as _time

    with FakeOpenAI(responder) as srv:
        t0 = _time.monotonic()
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, rules=True, generations=3,
                             search=SearchSettings(children=2, p_llm=1.0)), cancel=cancel, toolchain=tc)
        assert _time.monotonic() - t0 < 3.0  # did not wait for the slow reply
    assert res.search.stopped_by == "cancelled"
    assert [r.generation for r in res.candidates] == [0, 0, 0]  # the rules, evaluated before the cancel
    assert res.status in ("verified", "none-verified")
    end = [r for r in Transcript.read(res.transcript_path) if r.type == "end"]
    assert end and end[-1].stopped_by == "cancelled" and end[-1].evaluations == 3


def test_replay_uses_the_recorded_input_spec(fake_cascade, loop_file, tmp_path):
    tc, calls = fake_cascade
    spec = loop_file.with_name("parevo.inputs.toml")
    spec.write_text("[heavy.a]\nmin = 0.0\nmax = 4.0\n")
    first = evolve_at(loop_file, request(loop_file, tmp_path / "cache", rules=True, generations=1), toolchain=tc)
    head = Transcript.read(first.transcript_path)[0]
    assert head.type == "run" and head.input_spec_text == spec.read_text()
    spec.write_text("[heavy.a]\nmin = -9.0\nmax = 9.0\n")  # a different spec would be another loop context
    n = calls["n"]
    again = replay(first.run_id, cache_dir=str(tmp_path / "cache"), toolchain=tc)
    assert calls["n"] == n and again.search.eval_cache_hit_rate == 1.0 and again.best_id == first.best_id


def _timing_verdict(speedup: float):
    from parevo.toolchain.timing import TimingResult
    from parevo.toolchain.verdicts import StageVerdict

    tr = TimingResult.from_samples(n=1 << 20, threads=2, rounds=3, repeats=2, input_bytes=8 << 20,
                                   original=[0.010] * 6, candidate=[0.010 / speedup] * 6)
    passed = speedup >= 1.05
    return StageVerdict(stage="time", passed=passed, timing=tr,
                        summary=tr.describe() if passed else f"not faster: {speedup:.2f}x")


def test_a_cached_timing_does_not_decide_a_later_run_but_replays_keep_their_own(fake_cascade, loop_file,
                                                                               tmp_path, monkeypatch):
    """A candidate measured 0.95x under load is timed again by the next run (1.60x on a quiet machine)
    and wins there; replaying the first run still shows its own 0.95x (from its transcript)."""
    tc, calls = fake_cascade
    slow = GOOD.replace("SPEEDUP(1.8)", "SPEEDUP(0.95)")
    with FakeOpenAI(scripted([slow])) as srv:
        first = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, generations=0), toolchain=tc)
    assert first.status == "none-verified" and first.candidates[0].speedup == pytest.approx(0.95)
    assert first.search.retimed == 0

    def quiet_machine(self, rec, cand):
        calls["retimed"] += 1
        return rec.with_measurements([_timing_verdict(1.60)])

    monkeypatch.setattr(CascadeRunner, "measure_again", quiet_machine)
    with FakeOpenAI(scripted([slow])) as srv:
        second = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, generations=0, resume=False),
                        toolchain=tc)
    assert second.search.eval_cache_hits >= 1 and second.search.retimed == 1 and calls["retimed"] == 1
    assert second.status == "verified" and second.best.speedup == pytest.approx(1.60)
    assert "candidates answered by the evaluation cache (verdicts of earlier runs, 1 of them timed again)" \
        in render_text(second)

    again = replay(first.run_id, cache_dir=str(tmp_path / "cache"), toolchain=tc)
    assert calls["retimed"] == 1  # a replay measures nothing
    assert again.status == "none-verified" and again.candidates[0].speedup == pytest.approx(0.95)
    assert not again.search.replay_diverged


def test_a_hit_that_cannot_be_rebuilt_keeps_its_cached_figures(fake_cascade, loop_file, tmp_path, monkeypatch):
    """When a verified hit's executable cannot be rebuilt, the run shows the cached timing and records
    no measurement of its own for it."""
    tc, _ = fake_cascade
    with FakeOpenAI(scripted([GOOD])) as srv:
        first = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, generations=0), toolchain=tc)
    assert first.status == "verified"
    monkeypatch.setattr(CascadeRunner, "measure_again", lambda self, rec, cand: None)
    with FakeOpenAI(scripted([GOOD])) as srv:
        second = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, generations=0, resume=False),
                        toolchain=tc)
    assert second.search.retimed == 0 and second.best.speedup == pytest.approx(first.best.speedup)
    measured = [r for r in Transcript.read(second.transcript_path) if r.type == "measured"]
    assert measured == []


def test_a_reply_that_does_not_parse_is_fed_back_and_never_evaluated(fake_cascade, loop_file, tmp_path):
    tc, calls = fake_cascade
    garbled = "```cpp\n{\n  s += parlay::reduce(a) @@;\n}\n```"
    with FakeOpenAI(scripted([garbled, GOOD])) as srv:
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, generations=1, evaluations=1,
                             llm=LLMSettings(base_url=srv.base_url, model="fake-model", backoff_s=0.01,
                                             timeout_s=5, max_retries=1)), toolchain=tc)
    prompts = srv.user_prompts()
    assert len(prompts) >= 2
    assert ("could not be used: the new loop does not parse as C++ (line 2, column 26: unexpected text '@@')"
            in prompts[1])
    assert "line 2 of the new loop:\n    s += parlay::reduce(a) @@;" in prompts[1]
    assert [m.failure.split(" (")[0] for m in res.mutations if m.failure] == ["the new loop does not parse as C++"]
    assert all("@@" not in r.candidate.code for r in res.candidates) and calls["n"] == len(res.candidates)


UNTYPED = Path(__file__).parent / "data" / "transcript_untyped.jsonl"


def test_a_transcript_written_before_the_records_were_typed_still_replays(fake_cascade, tmp_path):
    """``data/transcript_untyped.jsonl`` was written by the engine that wrote plain dicts (an LLM search:
    a race, a compile error, an unusable reply, an edit that does not apply, two fixes at 1.8x and 1.5x).
    It reads as typed records and replays offline to the same winner."""
    tc, _ = fake_cascade
    records = Transcript.read(UNTYPED)
    assert [r.type for r in records[:3]] == ["run", "prepared", "llm"] and records[-1].type == "end"
    assert records[-1].best_speedup == pytest.approx(1.8)
    again = replay(str(UNTYPED), cache_dir=str(tmp_path / "cache"), toolchain=tc)  # no network, fresh cache
    assert again.status == "verified" and again.best.speedup == pytest.approx(1.8)
    assert again.llm.calls == 6 and again.search.replay_of == records[0].run_id
    assert again.search.replay_diverged  # its verdicts were not in this cache: evaluated again, and it says so


def test_a_damaged_transcript_is_a_clear_error(fake_cascade, tmp_path):
    tc, _ = fake_cascade
    lines = UNTYPED.read_text().splitlines()
    bad = tmp_path / "unknown.jsonl"
    bad.write_text("\n".join(lines[:2] + ['{"type": "bogus", "x": 1}'] + lines[2:]) + "\n")
    with pytest.raises(TranscriptError, match=r"unknown.jsonl, line 3: not a parevo transcript record of type "
                                              r"'bogus'"):
        replay(str(bad), cache_dir=str(tmp_path / "cache"), toolchain=tc)
    missing = tmp_path / "missing.jsonl"
    llm = json.loads(lines[2])
    del llm["prompt_sha256"]
    missing.write_text("\n".join(lines[:2] + [json.dumps(llm)] + lines[3:]) + "\n")
    with pytest.raises(TranscriptError, match=r"line 3: .* of type 'llm': Field required \(at llm.prompt_sha256\)"):
        Transcript.read(missing)
    headless = tmp_path / "headless.jsonl"
    headless.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(TranscriptError, match="not a parevo run transcript \\(no run record\\)"):
        replay(str(headless), cache_dir=str(tmp_path / "cache"), toolchain=tc)
    cut = tmp_path / "cut.jsonl"  # a crash while writing the last record loses only that record
    cut.write_text("\n".join(lines) + "\n" + lines[-1][:40])
    assert len(Transcript.read(cut)) == len(lines)


def test_a_checkpoint_holds_the_whole_search_state_and_restores_it(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    with FakeOpenAI(_deterministic_responder) as srv:
        res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", srv.base_url, rules=True, generations=2,
                             search=SearchSettings(children=3, p_fix=0.3, p_combine=0.3, p_llm=0.8, patience=50)),
                     toolchain=tc)
    (path,) = (tmp_path / "cache" / "searches").glob("*/checkpoint.json")
    cp = Checkpoint.model_validate_json(path.read_text())
    assert cp.finished and cp.run_id == res.run_id
    st = cp.state
    assert st.generation == res.search.generations == 2 and st.stopped_by == "generations"
    assert [r.id for r in st.records] == [r.id for r in res.candidates]
    assert st.mutations == res.mutations and st.llm_usage == res.llm and st.llm_seq == res.llm.calls
    # a controller restored from it has that state, its records in the runner, and the same random draws
    runner = CascadeRunner(None, Budget())
    c = SearchController(None, None, runner, settings=SearchSettings(), seed=1, seeds=[])
    c.restore(cp)
    assert c.state.model_dump(exclude={"llm_active"}) == st.model_dump(exclude={"llm_active"})
    assert st.llm_active and not c.state.llm_active  # this controller has no LLM behind it
    assert runner.records == st.records and runner.seen == {r.id for r in st.records}
    again = random.Random()
    st.load_rng(again)
    assert [c.rng.random() for _ in range(3)] == [again.random() for _ in range(3)]


def test_the_engines_edits_travel_with_the_result_and_follow_the_function(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    res = evolve_at(loop_file, request(loop_file, tmp_path / "cache", rules=True, generations=0), toolchain=tc)
    assert res.status == "verified" and res.site is not None and res.edits
    assert res.site.content_hash == res.content_hash and res.site.source_sha256 == res.source_sha256
    stored = type(res).model_validate_json(res.model_dump_json())  # as a result store keeps it
    text = loop_file.read_text()
    same = read_site(str(loop_file), LOOP_LINE)
    assert stored.edits_for(same) == res.edits  # the same text: exactly the engine's edits
    rewritten = apply_edits(text, res.edits)
    assert "parlay::" in rewritten and rewritten.count("#include <parlay/") >= 1
    moved_text = "// two new\n// lines\n" + text
    moved = read_site(str(loop_file), LOOP_LINE + 2, source=moved_text)
    assert apply_edits(moved_text, stored.edits_for(moved)) == "// two new\n// lines\n" + rewritten
    changed = read_site(str(loop_file), LOOP_LINE, source=text.replace("std::sqrt", "std::cbrt"))
    with pytest.raises(StaleEdits):
        stored.edits_for(changed)
