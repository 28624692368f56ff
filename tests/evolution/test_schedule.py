"""The runner shares the machine and the budget as promised, driven by a scripted evaluator.

Each candidate's fate is written in its text (``FAIL_TEST``, ``RACY``,
``SLOW``, ``BUSY``, ``SPEEDUP(x)``); the evaluator records what ran, when
relative to the cores gate, and never compiles or times anything. Nothing here
depends on the machine's speed or load.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from parevo.evolution import pipeline as pipeline_mod
from parevo.evolution import search as search_mod
from parevo.evolution.candidates import Candidate
from parevo.evolution.evalcache import EvalCache
from parevo.evolution.schedule import CoreGate, StageClock, Wall
from parevo.evolution.search import Budget, CascadeRunner
from parevo.toolchain.bound import Bandwidth, BandwidthPoint, loop_bound
from parevo.toolchain.evaluate import Baseline, Cancelled, EvalConfig
from parevo.toolchain.machine import RunConditions
from parevo.toolchain.timing import TimingResult, decide
from parevo.toolchain.verdicts import StageVerdict

pytestmark = pytest.mark.fast


class _Machine:
    cores = 2

    def __init__(self, idle: float = 2.0):
        self.idle = idle

    def idle_cores(self, seconds: float = 0.5):
        return self.idle


def _timing(speedup: float, busy: bool = False) -> TimingResult:
    conds = [RunConditions(seconds=0.1, cores=2, foreign_cores=1.3 if busy else 0.05, load1=9.7 if busy else 0.2)
             for _ in range(5)]
    tr = TimingResult.from_rounds(n=1 << 20, threads=2, repeats=1, input_bytes=8 << 20,
                                  original=[[0.010]] * 5, candidate=[[0.010 / (speedup * (1 + d))]
                                                                     for d in (-0.5, 0.3, 0.0, 0.4, -0.4)]
                                  if busy else [[0.010 / speedup]] * 5,
                                  original_conditions=conds, candidate_conditions=conds)
    return decide(tr, 1.05, 0.05)


class FakeEvaluator:
    """The parts of :class:`Evaluator` the runner uses; stages read their fate from the candidate text."""

    def __init__(self, gate_probe=None, idle: float = 2.0):
        self.cancel = threading.Event()
        self.machine = _Machine(idle)
        self.config = EvalConfig(threads=2)
        self.site = self.plan = None
        self.baseline = Baseline(cases=["1:1"], n=1 << 20)
        self.log: list[tuple[str, str]] = []
        self.gate: CoreGate | None = None
        self.overlaps: list[str] = []
        self.quiet_now = False  # BUSY candidates measure quietly once this is set
        self.block_time: threading.Event | None = None

    def _note(self, what: str, text: str, exclusive: bool) -> None:
        self.log.append((what, _name(text)))
        if exclusive and self.gate is not None and self.gate.compiling:
            self.overlaps.append(what)

    def compile_stage(self, source, label="", cancel=None):
        self._note("compile", source, False)
        time.sleep(0.02)  # builds ahead are still running when the next measurement wants the cores
        return StageVerdict(stage="compile", passed=True, summary="compiled"), "exe:" + source

    def build(self, source, *, sanitize=False, label="", cancel=None):
        self._note("tsan-build" if sanitize else "build", source, False)
        time.sleep(0.02)
        return None, "exe"

    def test_stage(self, exe, cancel=None):
        self._note("test", exe, False)
        if "SLOW_TEST" in exe:  # a test run that lasts until it is killed
            (cancel or self.cancel).wait(30)
            return StageVerdict(stage="test", passed=False, summary="killed")
        ok = "FAIL_TEST" not in exe
        return StageVerdict(stage="test", passed=ok, summary="outputs equal" if ok else "wrong output at n = 17")

    def race_refusal(self, code):
        if "UNCHECKABLE" not in code:
            return None
        return StageVerdict(stage="race", passed=False, verdict="not checkable",
                            summary="not checkable for data races: its blocks cover every iteration")

    def race_beyond_timing(self, code):
        return 16_777_216 if "BIG_BLOCKS" in code else None

    def race_stage(self, source, label="", code=None):
        self._note("race", source, True)
        ok = "RACY" not in source
        return StageVerdict(stage="race", passed=ok, summary="clean" if ok else "data race on `s`")

    def time_stage(self, exe):
        self._note("time", exe, True)
        if self.block_time is not None:  # a stage still running at the wall
            self.cancel.wait(30)
            raise Cancelled("cut at the wall")
        m = re.search(r"SPEEDUP\(([\d.]+)\)", exe)
        s = float(m.group(1)) if m else 1.5
        tr = _timing(s, busy="BUSY" in exe and not self.quiet_now)
        return StageVerdict(stage="time", passed=tr.outcome == "faster", timing=tr, summary=tr.verdict_text())

    def profile_stage(self, exe):
        self._note("profile", exe, True)
        return StageVerdict(stage="profile", passed=True, summary="2 CPUs busy")


def _name(text: str) -> str:
    m = re.search(r"NAME\((\w+)\)", text)
    return m.group(1) if m else text


def cand(name: str, *marks: str) -> Candidate:
    return Candidate(loop_text=f"NAME({name}) " + " ".join(marks), origin=f"rule:{name}")


@pytest.fixture(autouse=True)
def no_harness(monkeypatch):
    for mod in (search_mod, pipeline_mod):
        monkeypatch.setattr(mod, "variant_source", lambda site, loop, inc, plan, function_text=None: loop)


def runner(ev: FakeEvaluator, *, seconds: float = 600.0, **kw) -> CascadeRunner:
    wall = Wall(ev.cancel, 10 ** 12, poll=0.02) if seconds >= 600 else None
    r = CascadeRunner(ev, Budget(seconds=seconds, evaluations=50), cancel=ev.cancel, wall=wall, **kw)
    ev.gate = r.gate
    return r


def test_no_compile_or_test_runs_beside_a_race_timing_or_profile_run():
    ev = FakeEvaluator()
    r = runner(ev)
    r.run([cand(f"c{k}", "SPEEDUP(1.5)") for k in range(6)] + [cand("t", "FAIL_TEST"), cand("r", "RACY")])
    r.close()
    assert len(r.records) == 8 and ev.overlaps == []
    assert {w for w, _ in ev.log} >= {"compile", "test", "race", "time", "profile"}


def test_latency_first_then_throughput_without_tsan_builds_for_failed_tests():
    ev = FakeEvaluator()
    r = runner(ev)
    r.run([cand("first", "SPEEDUP(1.5)"), cand("second", "SPEEDUP(1.4)"), cand("bad", "FAIL_TEST"),
           cand("good", "SPEEDUP(1.6)")])
    r.close()
    tsan = [n for w, n in ev.log if w == "tsan-build"]
    # a candidate nothing was built ahead for (the first two: no build ahead until a result exists) gets its
    # ThreadSanitizer build beside its compile; one built ahead gets it only after its test passed
    assert set(tsan) == {"first", "second", "good"}
    assert [x.rejection for x in r.records] == ["", "", "wrong output", ""]


def test_a_candidate_the_race_stage_cannot_check_is_rejected_before_anything_is_built():
    ev = FakeEvaluator()
    r = runner(ev)
    r.run([cand("first", "SPEEDUP(1.5)"), cand("huge", "UNCHECKABLE"), cand("after", "SPEEDUP(1.6)")])
    r.close()
    # read from its text: no compile, no test, no ThreadSanitizer build, not even ahead of its turn
    assert "huge" not in {n for _, n in ev.log}
    assert [x.rejection for x in r.records] == ["", "not checkable", ""]
    assert r.records[1].stages[0].stage == "race" and "not checkable" in r.records[1].reason
    assert not r.checkable(cand("x", "UNCHECKABLE")) and r.checkable(cand("y"))


def test_a_candidate_whose_race_check_runs_beyond_the_timing_size_is_timed_first(tmp_path):
    """Blocked reductions with blocks of 512-2,048 iterations put every parallel task beyond the timed n
    (all_positive: race runs at n = 8 M and 16 M under ThreadSanitizer, 12-16 s each, for rewrites that timed
    0.76x and 1.00x). Timed first, a definite "not faster" skips that check and is not cached (a later run
    evaluates it again rather than reuse an old timing); "faster" or "inconclusive" goes on to the race check,
    so nothing is ever offered, or re-timed into an offer, unchecked."""
    ev = FakeEvaluator()
    cache = EvalCache(tmp_path, "0123456789abcdef0123")
    r = runner(ev, cache=cache)
    r.run([cand("slow", "BIG_BLOCKS", "SPEEDUP(0.8)"), cand("fast", "BIG_BLOCKS", "SPEEDUP(1.6)"),
           cand("racy", "BIG_BLOCKS", "SPEEDUP(1.7)", "RACY"), cand("plain", "SPEEDUP(0.8)")])
    r.close()
    order = [(w, n) for w, n in ev.log if w in ("race", "time")]
    assert order == [("time", "slow"), ("time", "fast"), ("race", "fast"), ("time", "racy"), ("race", "racy"),
                     ("race", "plain"), ("time", "plain")]
    slow, fast, racy, plain = r.records
    assert slow.rejection == "not faster" and not slow.verified and slow.speedup == pytest.approx(0.8)
    assert slow.reason.endswith("its ThreadSanitizer check (n up to 16,777,216) was not run")
    assert [s.stage for s in fast.stages] == ["compile", "test", "race", "time", "profile"] and fast.faster
    assert racy.rejection == "data race" and not racy.verified and r.best() is fast
    assert plain.verified and plain.rejection == "not faster"
    assert cache.peek(slow.candidate) is None and cache.peek(plain.candidate) is not None


def test_inconclusive_timings_wait_and_are_timed_again_when_quiet():
    ev = FakeEvaluator(idle=0.4)  # the machine is busy
    verified = []
    r = runner(ev, on_verified=verified.append, retime=True)
    again = []

    def measure_again(rec, c):
        again.append(c.id)
        return rec.with_measurements([ev.time_stage("exe:" + c.loop_text)])
    r.measure_again = measure_again
    r.run([cand("busy", "BUSY", "SPEEDUP(1.6)")])
    (rec,) = r.records
    assert rec.rejection == "timing inconclusive" and not rec.faster and r.pending == [rec.id]
    assert r.best() is None and verified == []  # never offered on an inconclusive figure
    assert r.retime_pending() == 0 and again == []  # between generations: only when the machine is quiet
    ev.machine.idle, ev.quiet_now = 2.0, True
    assert r.retime_pending() == 1 and rec.faster and r.pending == [] and verified == [rec]
    assert r.retimed_pending == 1
    r.close()


def test_at_the_end_inconclusive_timings_are_repeated_whatever_the_load():
    ev = FakeEvaluator(idle=0.2)
    r = runner(ev, retime=True)
    r.measure_again = lambda rec, c: rec.with_measurements([ev.time_stage("exe:" + c.loop_text)])
    r.run([cand("busy", "BUSY", "SPEEDUP(1.6)")])
    assert r.retime_pending(at_end=True) == 1  # still busy: still inconclusive, and said so
    assert r.records[0].rejection == "timing inconclusive" and r.best() is None
    r.close()


def test_the_search_stops_within_ten_percent_of_the_bound_and_says_so():
    ev = FakeEvaluator()
    bw = Bandwidth(machine="test", threads=2, points=[BandwidthPoint(bytes=1 << 23, one_gbs=20.0, all_gbs=36.0)])

    def bound(rec):
        t = rec.stage("time").timing
        return loop_bound(2, original_seconds=t.original_median, nbytes=t.input_bytes, n=t.n, bandwidth=bw)
    r = runner(ev, bound=bound)
    r.run([cand("a", "SPEEDUP(1.5)"), cand("b", "SPEEDUP(1.85)"), cand("c", "SPEEDUP(1.95)")])
    r.close()
    # 1.85x is within 10 % of the 2-thread bound: the third candidate is never evaluated
    assert r.stopped_by == "bound" and [_name(x.candidate.loop_text) for x in r.records] == ["a", "b"]
    assert r.bound_reached.kind == "threads" and r.bound_reached.bound == 2.0
    assert r.bound_reached.describe() == "2.00x bound (2 threads)"


def test_a_memory_bound_loop_is_bounded_by_the_bandwidth_ratio():
    bw = Bandwidth(machine="test", threads=2, points=[BandwidthPoint(bytes=1 << 23, one_gbs=20.0, all_gbs=30.0),
                                                      BandwidthPoint(bytes=1 << 26, one_gbs=12.0, all_gbs=15.0)])
    # the original streams 8 MiB in 0.42 ms: 20 GB/s, the one-thread bandwidth; two threads reach 30 GB/s
    b = loop_bound(2, original_seconds=(8 << 20) / 20e9, nbytes=8 << 20, n=1 << 20, bandwidth=bw)
    assert b.kind == "memory" and b.bound == pytest.approx(1.5) and b.reached(1.36) and not b.reached(1.3)
    assert b.bytes_per_iteration == 8.0 and "memory bandwidth" in b.describe()
    # a compute-bound original (10x slower than streaming) is bounded by the threads
    assert loop_bound(2, original_seconds=10 * (8 << 20) / 20e9, nbytes=8 << 20, n=1 << 20,
                      bandwidth=bw).kind == "threads"
    # a rewrite with an algorithmic gain of 3x on one worker may go beyond the thread count
    assert loop_bound(2, original_seconds=0.1, nbytes=8 << 20, n=1 << 20, bandwidth=None,
                      algorithmic=3.0).bound == 6.0
    # between measured sizes the bandwidth is interpolated
    one, all_ = bw.at(1 << 24)
    assert 12.0 < one < 20.0 and 15.0 < all_ < 30.0


def test_no_stage_starts_that_cannot_end_inside_the_budget():
    ev = FakeEvaluator()
    r = runner(ev, seconds=20.0)  # a fresh candidate is estimated at 31 s (StageClock's first guesses)
    r.run([cand("a", "SPEEDUP(1.5)")])
    r.close()
    assert r.stopped_by == "time" and r.records == [] and ev.log == []


def test_a_stage_running_at_the_wall_is_cut_and_its_candidate_dropped():
    ev = FakeEvaluator()
    wall = Wall(ev.cancel, time.monotonic() + 0.3, poll=0.01)  # the wall comes while the timing runs
    r = CascadeRunner(ev, Budget(seconds=10 ** 6, evaluations=5), cancel=threading.Event(), wall=wall)
    ev.gate = r.gate
    ev.cancel = wall.event
    r.fits = lambda *stages: True  # the estimate said it fits; the wall comes anyway
    ev.block_time = threading.Event()
    r.run([cand("a", "SPEEDUP(1.5)")])
    r.close()
    wall.close()
    assert r.stopped_by == "time" and r.records == []
    assert ("time", "a") in ev.log


def test_the_gate_keeps_compiles_out_while_a_measurement_waits_or_runs():
    gate = CoreGate()
    order = []
    compiling = threading.Event()
    release = threading.Event()

    def compile_job():
        with gate.shared():
            compiling.set()
            release.wait(5)
            order.append("compile ends")

    t = threading.Thread(target=compile_job)
    t.start()
    compiling.wait(5)

    def measure():
        with gate.exclusive():
            order.append("measure")

    m = threading.Thread(target=measure)
    m.start()
    def late_compile():
        with gate.shared():
            order.append("late compile")

    late = threading.Thread(target=late_compile)
    while not gate._waiting:  # the measurement is waiting for the running compile
        pass
    late.start()
    release.set()
    for th in (t, m, late):
        th.join(5)
    assert order == ["compile ends", "measure", "late compile"]


def test_stage_estimates_follow_what_was_seen():
    c = StageClock()
    assert c.estimate("compile") == 12.0
    c.add("compile", 30.0)
    c.add("compile", 20.0)
    assert c.estimate("compile") == 25.0
    c.add("test", 0.1)
    assert c.estimate("test") == 1.5  # never below half the first guess


def test_dropping_the_builds_ahead_kills_their_test_runs_too():
    """A search that stops before its wall (the next candidate would not end inside the budget) does
    not wait for the differential tests of the candidates built ahead: they are killed with their compiles."""
    ev = FakeEvaluator()
    r = runner(ev)
    r.builds.upcoming = [cand("slow", "SLOW_TEST"), cand("slow2", "SLOW_TEST")]
    r.builds.ahead(set())
    deadline = time.monotonic() + 10
    while sum(1 for w, _ in ev.log if w == "test") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    r.close()
    assert time.monotonic() - t0 < 5  # not the 30 s the test runs would last
    assert not ev.cancel.is_set()  # the search itself was not cancelled
