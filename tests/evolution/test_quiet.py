"""Waiting for a quiet machine after a search its load left inconclusive, then searching again
(:mod:`parevo.evolution.quiet`): the wait on scripted readings and a fake clock, the choice of result,
and the whole path through ``evolve()`` with the scripted cascade (no compiles)."""

from __future__ import annotations

import threading

import pytest

from parevo.evolution import quiet as quiet_module
from parevo.evolution.candidates import Candidate
from parevo.evolution.quiet import awaiting_quiet, search_when_quiet, wait_for_quiet
from parevo.evolution.report import render_text
from parevo.evolution.result import CandidateRecord, EvolutionResult
from parevo.evolution.search import CascadeRunner
from parevo.toolchain.machine import RunConditions
from parevo.toolchain.timing import TimingResult
from parevo.toolchain.verdicts import StageVerdict

pytestmark = pytest.mark.fast

LOAD = RunConditions(seconds=0.5, cores=2, own_cpu_seconds=0.5, busy_cores=2.0, foreign_cores=1.0, load1=2.1)


class Readings:
    """A machine whose idle cores are ``values`` one reading after another (the last repeats); each
    reading advances the fake clock by the seconds it spans."""

    cores = 2

    def __init__(self, values):
        self.values, self.now, self.read = list(values), 100.0, 0

    def idle_cores(self, seconds: float = 0.5):
        self.now += seconds
        v = self.values[min(self.read, len(self.values) - 1)]
        self.read += 1
        return v

    def clock(self) -> float:
        return self.now


def test_the_wait_ends_once_enough_cores_stay_idle_for_the_window():
    r = Readings([0.9, 1.0, 2.0, 1.9, 2.0, 2.0, 2.0])
    w = wait_for_quiet(r, 1.7, timeout_s=60, window_s=3.0, poll_s=1.0, clock=r.clock)
    assert w.quiet and w.why == "" and w.idle_cores == 2.0
    assert r.read == 5 and w.waited_s == pytest.approx(5.0)  # idle from the third reading's start: 3 s by the 5th


def test_a_lull_shorter_than_the_window_does_not_count():
    r = Readings([2.0, 2.0, 0.4, 2.0, 2.0, 2.0, 2.0])
    w = wait_for_quiet(r, 1.7, timeout_s=60, window_s=3.0, poll_s=1.0, clock=r.clock)
    assert w.quiet and r.read == 6  # the busy third reading restarts the window


def test_a_machine_that_stays_busy_ends_the_wait_at_its_timeout():
    r = Readings([1.0])
    seen = []
    w = wait_for_quiet(r, 1.7, timeout_s=30, poll_s=1.0, clock=r.clock, on_wait=lambda s, idle: seen.append(idle))
    assert not w.quiet and w.why == "timeout" and w.waited_s == pytest.approx(30.0) and w.idle_cores == 1.0
    assert len(seen) == 30


def test_cancel_other_work_and_an_unreadable_machine_end_the_wait():
    cancel = threading.Event()
    cancel.set()
    r = Readings([1.0])
    assert wait_for_quiet(r, 1.7, timeout_s=30, cancel=cancel, clock=r.clock).why == "cancelled"
    r = Readings([1.0, 1.0, 1.0])
    w = wait_for_quiet(r, 1.7, timeout_s=30, clock=r.clock, yield_to=lambda: r.read >= 1)  # other work queued
    assert w.why == "yielded" and r.read == 1
    r = Readings([None])
    assert wait_for_quiet(r, 1.7, timeout_s=30, clock=r.clock).why == "unknown"


def record(cid: str, speedup: float, high: float, *, outcome: str, busy: bool) -> CandidateRecord:
    t = TimingResult(n=1_000_000, threads=2, rounds=6, repeats=3, speedup=speedup, speedup_low=speedup * 0.8,
                     speedup_high=high, outcome=outcome, busy=busy, candidate_conditions=[LOAD] if busy else [],
                     machine="load 2.1 on 2 cores, 1.0 cores busy with other work" if busy else "")
    rec = CandidateRecord(id=cid, verified=True, candidate=Candidate(origin=f"rule:{cid}"))
    rec.stages = [StageVerdict(stage="time", passed=outcome == "faster", timing=t, summary=outcome)]
    rec.faster = outcome == "faster"
    rec.speedup = speedup
    if outcome == "inconclusive":
        rec.rejected_stage, rec.reason = "time", "timing inconclusive"
    return rec


def result(*recs: CandidateRecord, best: str | None = None, status: str = "none-verified",
           run_id: str = "first") -> EvolutionResult:
    return EvolutionResult(path="/x.cpp", function="f", loop_start_line=3, loop_end_line=5, content_hash="0",
                           status=status if best is None else "verified", seed=1, threads=2, pattern="reduction",
                           candidates=list(recs), best_id=best, run_id=run_id)


def test_only_busy_inconclusive_candidates_that_could_still_win_wait():
    busy = record("a", 1.1, 1.9, outcome="inconclusive", busy=True)
    noisy = record("b", 1.1, 1.9, outcome="inconclusive", busy=False)  # a quiet machine, wide interval
    cannot_win = record("c", 0.9, 1.2, outcome="inconclusive", busy=True)
    best = record("d", 1.3, 1.4, outcome="faster", busy=False)
    assert [r.id for r in awaiting_quiet(result(busy, noisy, cannot_win, best, best="d"))] == ["a"]
    assert [r.id for r in awaiting_quiet(result(busy, cannot_win))] == ["a", "c"]
    # a best verified beside the load waits too (its figure may be understated); another such rewrite does not
    under_load = record("e", 1.3, 1.5, outcome="faster", busy=True)
    also = record("f", 1.2, 1.25, outcome="faster", busy=True)
    assert [r.id for r in awaiting_quiet(result(under_load, also, cannot_win, best="e"))] == ["e"]
    assert awaiting_quiet(result(busy, status="cancelled")) == []


def test_after_a_quiet_window_the_search_runs_again_and_its_result_is_returned():
    first = result(record("a", 1.1, 1.9, outcome="inconclusive", busy=True))
    second = result(record("a", 1.8, 1.9, outcome="faster", busy=False), best="a", run_id="second")
    r = Readings([1.0] * 12 + [2.0])
    events, calls = [], []
    got = search_when_quiet(first, lambda: calls.append(1) or second, reader=r, wait_s=60, progress=events.append,
                            clock=r.clock)
    assert got is second and calls == [1]
    q = got.search.quiet
    assert q.quiet and q.pending == 1 and q.first_run_id == "first" and q.second_status == "verified"
    assert q.waited_s == pytest.approx(15.0) and q.idle_cores == 2.0 and q.needed_cores == pytest.approx(1.7)
    assert q.describe() == ("timed on a quiet machine after waiting 15 s (2.0 cores idle): run first timed 1 candidate "
                            "while the machine was busy (load 2.1 on 2 cores, 1.0 cores busy with other work); "
                            "correctness verdicts came from the evaluation cache")
    assert [e.stage for e in events] == ["wait", "wait", "wait"]  # the start, one at 10 s, the quiet machine
    assert events[0].message == ("machine busy (load 2.1 on 2 cores, 1.0 cores busy with other work): waiting up "
                                 "to 60 s for 1.7 idle cores to time 1 candidate again")
    assert "quiet machine: timed on a quiet machine after waiting 15 s" in render_text(got)


def test_a_busy_machine_keeps_the_first_result_and_says_so():
    first = result(record("a", 1.1, 1.9, outcome="inconclusive", busy=True))
    r = Readings([1.0])
    got = search_when_quiet(first, lambda: pytest.fail("no second search on a busy machine"), reader=r, wait_s=20,
                            clock=r.clock)
    assert got is first and got.search.quiet.why == "timeout"
    assert got.search.quiet.describe() == ("waited 20 s for 1.7 idle cores to time 1 candidate again: the machine "
                                           "stayed busy (load 2.1 on 2 cores, 1.0 cores busy with other work); run "
                                           "again when it is quieter")
    text = render_text(got)
    assert "quiet machine: waited 20 s for 1.7 idle cores" in text and "run again when the machine is quieter" in text
    assert "--wait-quiet" not in text  # it waited already: the hint would send the user round in a circle


def test_nothing_waits_without_a_wait_or_without_busy_timings():
    quiet = result(record("a", 1.8, 1.9, outcome="faster", busy=False), best="a")
    r = Readings([2.0])
    fail = lambda: pytest.fail("no second search")  # noqa: E731
    assert search_when_quiet(quiet, fail, reader=r, wait_s=60, clock=r.clock) is quiet and r.read == 0
    busy = result(record("a", 1.1, 1.9, outcome="inconclusive", busy=True))
    assert search_when_quiet(busy, fail, reader=r, wait_s=0, clock=r.clock) is busy and busy.search.quiet is None


def test_a_second_search_that_verifies_nothing_leaves_the_first_rewrite_standing():
    first = result(record("d", 1.3, 1.4, outcome="faster", busy=False),
                   record("a", 1.1, 1.9, outcome="inconclusive", busy=True), best="d")
    second = result(record("a", 1.1, 1.9, outcome="inconclusive", busy=True), run_id="second")
    r = Readings([2.0])
    got = search_when_quiet(first, lambda: second, reader=r, wait_s=60, clock=r.clock)
    assert got is first and got.best.id == "d" and got.search.quiet.kept_first
    assert got.search.quiet.second_status == "none-verified"


def test_evolve_waits_for_a_quiet_machine_and_verifies_from_the_cache(fake_cascade, loop_file, tmp_path,
                                                                     monkeypatch):
    """Rules only, every timing inconclusive on a busy machine: ``evolve`` with ``quiet_wait_s`` waits until
    the machine's readings say quiet, then searches again; the second search takes every candidate's
    correctness from the evaluation cache (no evaluation runs again) and times it on the quiet machine."""
    from test_search_llm import evolve_at
    from test_search_llm import request as llm_request

    from parevo.evolution.controller import SearchSettings

    tc, calls = fake_cascade
    calls["idle_cores"] = 0.0
    quiet = {"now": False}
    real = CascadeRunner.evaluate

    def busy_timing(rec):
        t = rec.stage("time")
        if t is not None and not quiet["now"]:
            t.timing.busy, t.timing.outcome = True, "inconclusive"
            t.timing.machine = "load 2.1 on 2 cores, 1.0 cores busy with other work"
            t.passed, t.summary = False, t.timing.verdict_text()
            rec.faster, rec.rejected_stage, rec.reason = False, "time", t.summary
        return rec

    def evaluate(self, cand):
        rec = busy_timing(real(self, cand))
        evaluated.append(cand.origin)
        return rec

    def remeasure(self, rec, cand):  # the scripted figures, inconclusive until the machine is quiet
        calls["retimed"] += 1
        fresh = real(self, cand)
        return busy_timing(rec.with_measurements([s for s in fresh.stages if s.stage in ("time", "profile")]))

    class QuietAfterTwo:  # two busy readings, then idle: the timings from then on are conclusive
        cores, read = 2, 0

        def idle_cores(self, seconds: float = 0.5):
            self.read += 1
            quiet["now"] = self.read > 2
            return 2.0 if quiet["now"] else 0.5

    evaluated: list[str] = []
    monkeypatch.setattr(CascadeRunner, "evaluate", evaluate)
    monkeypatch.setattr(CascadeRunner, "measure_again", remeasure)
    monkeypatch.setattr(quiet_module, "QUIET_WINDOW_S", 0.0)  # readings here take no time
    req = llm_request(loop_file, tmp_path / "cache", rules=True, generations=0,
                      search=SearchSettings(children=2, patience=3))
    req.quiet_wait_s = 120
    events = []
    reader = QuietAfterTwo()
    res = evolve_at(loop_file, req, toolchain=tc, reader=reader, progress=events.append)
    n = len(evaluated)
    assert n and res.status == "verified" and res.search.quiet.quiet and res.search.quiet.pending == n
    assert res.run_id != res.search.quiet.first_run_id  # a second run, new transcript
    assert res.search.eval_cache_hits == n and len(evaluated) == n  # correctness from the cache
    assert reader.read == 3 and any(e.stage == "wait" for e in events)


def test_ctrl_c_during_the_wait_and_a_failing_second_search_keep_the_first_result():
    """Ctrl-C while waiting stops the wait (the CLI then prints what the search found); a second search that
    fails (the compiler or the cache went away meanwhile) leaves the first result standing, with the reason."""
    from parevo.toolchain.models import ParevoError

    class Interrupted(Readings):
        def idle_cores(self, seconds: float = 0.5):
            if self.read == 2:
                raise KeyboardInterrupt
            return super().idle_cores(seconds)

    first = result(record("a", 1.1, 1.9, outcome="inconclusive", busy=True))
    r = Interrupted([1.0])
    got = search_when_quiet(first, lambda: pytest.fail("no second search after Ctrl-C"), reader=r, wait_s=60,
                            clock=r.clock)
    assert got is first and got.search.quiet.why == "cancelled" and got.search.quiet.waited_s == pytest.approx(2.0)

    def fails():
        raise ParevoError("no C++ compiler found: install g++ or clang++")

    first = result(record("a", 1.1, 1.9, outcome="inconclusive", busy=True))
    r = Readings([2.0])
    got = search_when_quiet(first, fails, reader=r, wait_s=60, clock=r.clock)
    assert got is first and got.search.quiet.second_error == "no C++ compiler found: install g++ or clang++"
    assert got.search.quiet.describe() == ("waited 3 s for a quiet machine to time 1 candidate again, but the search "
                                           "run then failed (no C++ compiler found: install g++ or clang++); run "
                                           "first's result stands")


def test_a_search_the_load_ended_waits_even_when_its_end_retiming_was_quiet_and_ctrl_c_in_the_second_keeps_the_first():
    """``stopped_by == "busy"``: no mutation was tried, so every timed candidate waits, even when the re-timing at
    the end found the machine quiet; Ctrl-C during the second search keeps the first result (and cancels)."""
    best = record("d", 1.5, 1.6, outcome="faster", busy=False)  # re-timed quiet at the end of the search
    low = record("a", 0.8, 0.9, outcome="inconclusive", busy=True)
    first = result(best, low, best="d")
    assert awaiting_quiet(first) == []
    first.search.stopped_by = "busy"
    assert [r.id for r in awaiting_quiet(first)] == ["d", "a"]

    def interrupted():
        raise KeyboardInterrupt

    cancel = threading.Event()
    r = Readings([2.0])
    got = search_when_quiet(first, interrupted, reader=r, wait_s=60, cancel=cancel, clock=r.clock)
    assert got is first and got.best.id == "d" and cancel.is_set()
    assert got.search.quiet.describe() == ("waited 3 s for a quiet machine to time 2 candidates again, but the "
                                           "search run then was interrupted; run first's result stands")

    def gone():
        raise NotADirectoryError(20, "Not a directory", "/tmp/cache/runs/x")

    r = Readings([2.0])
    got = search_when_quiet(result(low), gone, reader=r, wait_s=60, clock=r.clock)
    assert got.search.quiet.second_error == "/tmp/cache/runs/x: Not a directory"
