"""Noise-aware timing, deterministically: recorded samples, recorded /proc files, a scripted evaluator.

No test here times anything: the machine's state comes from files written by
the test (a fake ``/proc``), the timings from ``data/timings_busy.json``
(three candidates of ``examples/sum_squares.cpp`` timed on this machine while
other test suites kept 1.8 of its 2 cores busy) or from scripted processes.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from parevo.toolchain.evaluate import Baseline, EvalConfig
from parevo.toolchain.machine import MachineReader, MachineState, RunConditions, conditions
from parevo.toolchain.sandbox import RunOutcome
from parevo.toolchain.timestage import time_candidate
from parevo.toolchain.timing import TimingResult, bootstrap_ratio, decide, machine_busy

pytestmark = pytest.mark.fast

DATA = Path(__file__).parent / "data"


def _proc(root: Path, *, load: str, stat_cpu: str, running: int, psi: str | None = None,
          mhz: list[float] | None = None) -> None:
    (root / "proc" / "pressure").mkdir(parents=True, exist_ok=True)
    (root / "proc" / "loadavg").write_text(f"{load} 2.37 1.37 8/145 24517\n")
    (root / "proc" / "stat").write_text(f"cpu  {stat_cpu}\ncpu0 1 2 3 4\nprocs_running {running}\nprocs_blocked 0\n")
    if psi is not None:
        (root / "proc" / "pressure" / "cpu").write_text(psi)
    if mhz is not None:
        (root / "proc" / "cpuinfo").write_text("".join(f"processor\t: {k}\ncpu MHz\t\t: {m}\n\n"
                                                       for k, m in enumerate(mhz)))


def test_the_machine_reader_reads_load_runnable_pressure_and_frequency(tmp_path):
    _proc(tmp_path, load="3.85", stat_cpu="81567 0 14666 123541 577 0 144 93 0 0", running=11,
          psi="some avg10=96.59 avg60=50.30 avg300=26.03 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
          mhz=[2299.998, 2300.002])
    st = MachineReader(tmp_path, cores=2).read()
    assert st.load1 == 3.85 and st.runnable == 11 and st.cores == 2
    assert st.cpu.total == 81567 + 14666 + 123541 + 577 + 144 + 93 and st.cpu.idle == 123541 + 577
    assert st.cpu.steal == 93
    assert st.pressure_avg10 == pytest.approx(0.9659) and st.freq_mhz == pytest.approx(2300.0)
    # where the kernel exposes nothing, the fields are None (and nothing raises)
    empty = MachineReader(tmp_path / "nothing", cores=2).read()
    assert empty.load1 is None and empty.cpu is None and empty.runnable is None and empty.freq_mhz is None


def test_conditions_split_busy_cores_into_our_own_and_other_processes(tmp_path):
    r = MachineReader(tmp_path, cores=2)
    _proc(tmp_path, load="1.0", stat_cpu="1000 0 0 1000 0 0 0 0 0 0", running=2)
    a = r.read().model_copy(update={"at": 100.0})
    # over 1 s, 200 jiffies passed on 2 cores: 150 busy (1.5 cores), 10 stolen; we used 0.9 CPU-seconds
    _proc(tmp_path, load="2.5", stat_cpu="1140 0 0 1050 0 0 0 10 0 0", running=4)
    b = r.read().model_copy(update={"at": 101.0})
    c = conditions(a, b, own_cpu_seconds=0.9)
    assert c.busy_cores == pytest.approx(1.5) and c.foreign_cores == pytest.approx(0.6)
    assert c.steal == pytest.approx(0.05) and c.load1 == 2.5 and c.runnable == 4


def test_the_bootstrap_interval_is_deterministic_and_brackets_the_ratio():
    o = [10.0, 10.2, 9.9, 10.1, 10.0, 10.3, 9.8]
    c = [5.0, 5.3, 4.9, 5.6, 5.1, 5.0, 5.4]
    lo, hi = bootstrap_ratio(o, c)
    assert (lo, hi) == bootstrap_ratio(o, c)  # fixed seed: same rounds, same interval
    est = statistics.median(o) / statistics.median(c)
    assert lo <= est <= hi and 1.8 < lo < hi < 2.1
    assert bootstrap_ratio([2.0] * 5, [1.0] * 5) == (2.0, 2.0)
    with pytest.raises(ValueError):
        bootstrap_ratio([1.0], [])


def _quiet(n: int, cores: int = 2) -> list[RunConditions]:
    return [RunConditions(seconds=0.1, cores=cores, own_cpu_seconds=0.18, busy_cores=1.9, foreign_cores=0.1,
                          steal=0.0, load1=0.3) for _ in range(n)]


def _busy(n: int, foreign: float = 1.2) -> list[RunConditions]:
    return [RunConditions(seconds=0.1, cores=2, own_cpu_seconds=0.08, busy_cores=2.0, foreign_cores=foreign,
                          steal=0.01, load1=9.7) for _ in range(n)]


def _result(o, c, conds_c, conds_o=None) -> TimingResult:
    return TimingResult.from_rounds(n=1 << 20, threads=2, repeats=1, input_bytes=8 << 20,
                                    original=[[x] for x in o], candidate=[[x] for x in c],
                                    original_conditions=conds_o or conds_c, candidate_conditions=conds_c)


def test_three_outcomes_faster_not_faster_inconclusive():
    fast = decide(_result([10.0, 10.1, 9.9, 10.2, 10.0], [5.5, 5.4, 5.6, 5.5, 5.3], _quiet(5)), 1.05, 0.05)
    assert fast.outcome == "faster" and fast.speedup_low >= 1.05
    slow = decide(_result([10.0, 10.1, 9.9, 10.2, 10.0], [12.5, 12.4, 12.9, 12.2, 12.6], _quiet(5)), 1.05, 0.05)
    assert slow.outcome == "not-faster" and "below the 1.05x needed" in slow.why
    noisy = decide(_result([10.0, 3.0, 25.0, 10.0, 6.0], [5.0, 14.0, 4.0, 9.0, 30.0], _quiet(5)), 1.05, 0.05)
    assert noisy.outcome == "inconclusive" and "varied too much" in noisy.why
    close = decide(_result([10.0, 10.0, 10.0, 10.0, 10.1], [9.4, 9.5, 9.45, 9.7, 9.2], _quiet(5)), 1.05, 0.05)
    assert close.speedup_low < 1.05 < close.speedup_high  # straddles the threshold, but narrowly
    assert close.outcome == "not-faster" and "precise measurement" in close.why
    # a busy machine: the same "slower" figures are inconclusive, with the machine's state in the words
    busy = decide(_result([10.0, 10.1, 9.9, 10.2, 10.0], [12.5, 12.4, 12.9, 12.2, 12.6], _busy(5)), 1.05, 0.05)
    assert busy.busy and busy.outcome == "inconclusive"
    assert "machine busy (load 9.7 on 2 cores, 1.2 cores busy with other work" in busy.why
    assert "will re-time when the machine is quieter" in busy.why
    # but a rewrite faster even on a busy machine is faster
    assert decide(_result([10.0, 10.1, 9.9, 10.2, 10.0], [5.5, 5.4, 5.6, 5.5, 5.3], _busy(5)), 1.05,
                  0.05).outcome == "faster"


def test_one_thread_tolerates_a_busy_second_core():
    one_busy_core = _busy(5, foreign=1.0)
    assert machine_busy(one_busy_core, threads=1) is False  # a 1-worker run leaves one core to others
    assert machine_busy(one_busy_core, threads=2) is True


def _recorded() -> list[dict]:
    return json.loads((DATA / "timings_busy.json").read_text())


def _from_recorded(d: dict) -> TimingResult:
    return TimingResult.from_rounds(
        n=d["n"], threads=d["threads"], repeats=d["repeats"], input_bytes=d["input_bytes"],
        original=d["original_per_round"], candidate=d["candidate_per_round"], n_source=d["n_source"],
        original_conditions=[RunConditions(**c) for c in d["original_conditions"]],
        candidate_conditions=[RunConditions(**c) for c in d["candidate_conditions"]])


def test_recorded_busy_timings_are_inconclusive_never_not_faster():
    """Three rewrites timed while other processes held 1.8 of 2 cores: one median below 1x with a
    range reaching 4x, one whose whole interval lies below 1x. The old rule (median at least 1.05x and
    quartile range above 1x) called all three "not faster"; measured on a busy machine they are
    inconclusive, and the words say so."""
    for d in _recorded():
        tr = _from_recorded(d)
        old_not_faster = not (tr.speedup >= 1.05 and min(tr.original_samples) > 0 and _quartile_low(tr) > 1.0)
        assert old_not_faster
        decide(tr, 1.05, 0.05)
        assert tr.outcome == "inconclusive" and tr.busy
        text = tr.verdict_text()
        assert text.startswith("timing inconclusive:") and "machine busy" in text and "not faster" not in text
        assert "95% interval" in text


def _quartile_low(tr: TimingResult) -> float:
    from parevo.toolchain.timing import quartiles

    oq1, _, _ = quartiles(tr.original_samples)
    _, _, cq3 = quartiles(tr.candidate_samples)
    return oq1 / cq3


# ---------------------------------------------------------------- the adaptive time stage, scripted


class _FakeMachine:
    """Snapshots from a script: between two reads, ``foreign`` of the ``cores`` were busy (the timed
    process reports no CPU time of its own, so all of it counts as other processes')."""

    def __init__(self, foreign: float, cores: int = 2):
        self.foreign, self.cores, self.t, self.total, self.idle = foreign, cores, 0.0, 0, 0

    def read(self) -> MachineState:
        from parevo.toolchain.machine import CpuTimes

        self.t += 0.05
        self.total += 100
        self.idle += round(100 * (1 - self.foreign / self.cores))
        return MachineState(at=self.t, cores=self.cores, load1=self.foreign + 1.0, runnable=2,
                            cpu=CpuTimes(total=self.total, idle=self.idle))


class _ScriptedEvaluator:
    """Enough of an Evaluator for :func:`time_candidate`: each process's samples come from ``script``."""

    def __init__(self, script, foreign: float = 0.0, config: EvalConfig | None = None, deadline=None):
        self.script = script
        self.config = config or EvalConfig(threads=2, rounds=5, max_rounds=11)
        self.baseline = Baseline(cases=["1:1"], n=1 << 20, repeats=3, input_bytes=8 << 20)
        self._original_exe = "orig"
        self.machine = _FakeMachine(foreign)
        self.deadline = deadline
        self.runs: list[tuple[str, int]] = []

    def _check_cancel(self):
        pass

    def _run(self, argv, *, threads, **kw):
        path = argv[0]
        self.runs.append((path, threads))
        k = sum(1 for p, t in self.runs if p == path and t == threads) - 1
        samples = self.script(path, threads, k)
        out = json.dumps({"n": 1 << 20, "bytes": 8 << 20, "samples": samples})
        return RunOutcome(argv=argv, returncode=0, wall_s=0.05, stdout=out)


def test_a_clear_result_stops_at_the_minimum_rounds_and_splits_its_factors():
    def script(path, threads, k):
        if path == "orig":
            return [0.010, 0.0101, 0.0099]
        return [0.0052, 0.0051, 0.0053] if threads == 2 else [0.0098, 0.0099, 0.0097]
    ev = _ScriptedEvaluator(script)
    v = time_candidate(ev, "cand")
    t = v.timing
    assert v.passed and t.outcome == "faster" and t.rounds == 5
    assert sum(1 for p, th in ev.runs if p == "cand" and th == 2) == 5
    # then 3 rounds with one worker: 1.02x from the algorithm, about 1.9x from the two threads
    assert sum(1 for p, th in ev.runs if p == "cand" and th == 1) == 3
    f = t.factors
    assert f.algorithmic == pytest.approx(1.02, abs=0.01) and f.parallel == pytest.approx(t.speedup / f.algorithmic)
    assert f.efficiency <= 1.0 and not f.superlinear


def test_parallel_efficiency_never_exceeds_100_percent():
    def script(path, threads, k):  # one worker slower than the original: the threads "gain" 2.5x
        if path == "orig":
            return [0.010] * 3
        return [0.004] * 3 if threads == 2 else [0.010] * 3
    t = time_candidate(_ScriptedEvaluator(script), "cand").timing
    assert t.factors.parallel == pytest.approx(2.5) and t.factors.efficiency == 1.0 and t.factors.superlinear


def test_a_parallel_factor_within_the_medians_spread_of_the_thread_count_is_not_flagged():
    def script(path, threads, k):  # 2.04x from 2 threads: two medians' spread, not a superlinear gain
        if path == "orig":
            return [0.0102] * 3
        return [0.005] * 3 if threads == 2 else [0.0102] * 3
    f = time_candidate(_ScriptedEvaluator(script), "cand").timing.factors
    assert f.parallel == pytest.approx(2.04) and f.efficiency == 1.0 and not f.superlinear


def test_an_undecided_result_gets_more_rounds_up_to_the_cap():
    import itertools

    wobble = itertools.cycle([0.006, 0.016, 0.009, 0.013, 0.007, 0.015])

    def script(path, threads, k):
        return [0.010] * 3 if path == "orig" else [next(wobble)] * 3
    ev = _ScriptedEvaluator(script)
    t = time_candidate(ev, "cand").timing
    assert t.outcome == "inconclusive" and t.rounds == 11  # 5, then pairs of rounds up to max_rounds
    assert [p for p, _ in ev.runs[:4]] == ["orig", "cand", "cand", "orig"]  # ABBA order


def test_no_round_starts_that_would_end_after_the_deadline():
    import itertools
    import time as _time

    wobble = itertools.cycle([0.006, 0.016, 0.009, 0.013, 0.007, 0.015])

    def script(path, threads, k):
        return [0.010] * 3 if path == "orig" else [next(wobble)] * 3
    ev = _ScriptedEvaluator(script, deadline=_time.monotonic() - 1.0)  # the wall has passed
    t = time_candidate(ev, "cand").timing
    assert t.rounds == 5  # the minimum ran (the runner would not have started the stage); no extra rounds


def test_a_busy_machine_below_the_threshold_stops_adding_rounds_and_stays_inconclusive():
    def script(path, threads, k):
        return [0.010] * 3 if path == "orig" else [0.014] * 3
    ev = _ScriptedEvaluator(script, foreign=1.3)
    v = time_candidate(ev, "cand")
    assert not v.passed and v.timing.outcome == "inconclusive" and v.timing.rounds == 5
    assert v.summary.startswith("timing inconclusive")


def test_on_a_busy_machine_more_rounds_only_while_the_speedup_clears_the_threshold():
    import itertools

    wobble = itertools.cycle([0.005, 0.012, 0.006, 0.011, 0.0065, 0.0105])  # around 1.25x, wide

    def script(path, threads, k):
        return [0.010] * 3 if path == "orig" else [next(wobble)] * 3
    t = time_candidate(_ScriptedEvaluator(script, foreign=1.3), "cand").timing
    assert t.busy and t.speedup >= 1.05 and t.rounds > 5  # may still be lifted above the threshold


def test_the_bandwidth_probe_waits_for_a_quiet_machine(tmp_path):
    from parevo.toolchain.bound import measure_bandwidth

    class Busy:
        cores = 2

        def idle_cores(self, seconds=0.5):
            return 0.6

    bw, note = measure_bandwidth(None, tmp_path, 2, machine=Busy(), identity="test")
    assert bw is None and note.startswith("memory bandwidth not measured: other work kept 1.4 of 2 cores busy")
    assert not (tmp_path / "machine").exists()  # nothing cached


def test_a_compile_cut_at_the_wall_is_a_cancellation_not_a_broken_driver_and_links_are_cut_too():
    """The budget's wall kills the driver's compile: that is the search ending, not "the parevo driver
    does not compile"; and a link in progress is given the same cancel."""
    import threading
    import types

    from parevo.toolchain.compiler import CompileOutcome
    from parevo.toolchain.evaluate import Cancelled, Evaluator

    seen = {}

    class Compiler:
        def compile_object(self, source, flags, *, label="", timeout_s=0, cancel=None):
            if label == "driver":
                return CompileOutcome(ok=False, cancelled=cancel is not None and cancel.is_set())
            return CompileOutcome(ok=True, output_path="/x.o")

        def link(self, objects, flags, *, timeout_s=0, cancel=None):
            seen["link_cancel"] = cancel
            return CompileOutcome(ok=False)

    class Ev(Evaluator):
        flags = ["-O3"]  # the real flags need a discovered toolchain

    ev = Ev.__new__(Ev)
    ev.compiler, ev.cancel, ev.config = Compiler(), threading.Event(), EvalConfig()
    ev.toolchain = types.SimpleNamespace(cxx="g++")
    ev._driver_obj = ev._driver_tsan_obj = None
    ev._driver_lock = threading.Lock()
    ev.cancel.set()
    with pytest.raises(Cancelled):
        ev.build("int f();", label="c")
    ev.cancel.clear()
    ev._driver_obj = "/driver.o"
    mine = threading.Event()
    ev.build("int f();", label="c", cancel=mine)
    assert seen["link_cancel"] is mine


def test_adversarial_classes_never_run_above_the_largest_check_size():
    """A cubic kernel's check sizes cut to 129 (bench/kernels/suite.toml's matmul, or a user's input spec):
    the value classes ran at 4,099 anyway, each case ending in the class timeout, and the search's budget
    ended while preparing the original (the loops benchmark's matmul and jacobi_2d)."""
    from parevo.toolchain.evaluate import EvalConfig, adversarial_sizes

    assert adversarial_sizes(EvalConfig()) == [1, 2, 17, 1000, 4099]  # the default is unchanged
    assert adversarial_sizes(EvalConfig(check_sizes=[0, 1, 2, 3, 5, 8, 17, 64, 129])) == [1, 2, 17, 129]
    assert adversarial_sizes(EvalConfig(check_sizes=[])) == [1, 2, 17, 1000, 4099]
