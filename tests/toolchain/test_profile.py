"""Tests of parevo.toolchain.profile: perf stat parsing, rusage fallback."""

from __future__ import annotations

import shutil
import sys

import pytest

from parevo.toolchain.discovery import PERF_SOFTWARE, Toolchain, probe_perf
from parevo.toolchain.profile import RUSAGE, parse_perf_csv, profile_run
from parevo.toolchain.sandbox import RunLimits

pytestmark = pytest.mark.fast

BUSY = [sys.executable, "-c", "x = 0\nfor i in range(2_000_000): x += i\nprint('done', x)"]

PERF_CSV = """\
# started on Sat Nov 22 03:00:00 2025

123.45,msec,task-clock:u,123450000,100.00,0.951,CPUs utilized
17,,context-switches,123450000,100.00,137.708,/sec
2,,cpu-migrations,123450000,100.00,16.201,/sec
4711,,page-faults:u,123450000,100.00,38.161,K/sec
<not supported>,,instructions,0,100.00,,
"""

PERF_PATH = shutil.which("perf")
PERF_KIND = probe_perf(PERF_PATH) if PERF_PATH else None


def _toolchain(**kw) -> Toolchain:
    return Toolchain(cxx="/usr/bin/g++", **kw)


def test_parse_perf_csv():
    assert parse_perf_csv(PERF_CSV) == {
        "task-clock": 123.45,
        "context-switches": 17.0,
        "cpu-migrations": 2.0,
        "page-faults": 4711.0,
    }
    assert parse_perf_csv("") == {}


def test_rusage_only_without_perf():
    res = profile_run(BUSY, threads=2, toolchain=_toolchain(perf=None, perf_path=None))
    assert res.profiler == RUSAGE
    assert res.outcome.ok and "done" in res.outcome.stdout
    assert res.user_s > 0.02 and res.wall_s > 0
    assert res.threads == 2
    assert res.cpu_utilization == pytest.approx((res.user_s + res.sys_s) / res.wall_s)
    assert res.parallel_efficiency == pytest.approx(res.cpu_utilization / 2)
    assert 0.2 < res.cpu_utilization < 1.5  # one busy Python thread
    assert res.task_clock_ms is None and res.page_faults is None
    assert any("perf not installed" in n for n in res.notes)


def test_threads_reach_the_program():
    code = "import os; print(os.environ['PARLAY_NUM_THREADS'])"
    res = profile_run([sys.executable, "-c", code], threads=3, toolchain=_toolchain(), env_extra={"A": "1"})
    assert res.outcome.stdout.strip() == "3"


def test_perf_failing_at_run_time_falls_back_to_rusage():
    broken = _toolchain(perf=PERF_SOFTWARE, perf_path="/bin/false")
    res = profile_run(BUSY, threads=1, toolchain=broken)
    assert res.profiler == RUSAGE
    assert any("fell back to rusage" in n for n in res.notes)
    assert res.outcome.ok and "done" in res.outcome.stdout  # ran again without perf
    assert res.outcome.argv == BUSY


def test_failing_program_is_reported_not_raised():
    res = profile_run([sys.executable, "-c", "raise SystemExit(7)"], threads=1, toolchain=_toolchain())
    assert res.outcome.returncode == 7


def test_timeout_is_reported():
    res = profile_run(["/bin/sleep", "30"], threads=1, toolchain=_toolchain(), limits=RunLimits(timeout_s=0.3))
    assert res.outcome.timed_out


@pytest.mark.skipif(PERF_KIND is None, reason="perf stat cannot count here")
def test_real_perf_counters():
    tc = _toolchain(perf=PERF_KIND, perf_path=PERF_PATH)
    res = profile_run(BUSY, threads=1, toolchain=tc)
    assert res.profiler == PERF_KIND
    assert res.task_clock_ms is not None and res.task_clock_ms > 10
    assert res.page_faults is not None and res.page_faults > 0
    assert res.context_switches is not None and res.cpu_migrations is not None
    # perf's CPU time and rusage's CPU time agree within reason
    assert res.task_clock_ms / 1000 <= (res.user_s + res.sys_s) * 1.5 + 0.05
    assert res.outcome.ok and "done" in res.outcome.stdout
    assert res.outcome.argv == BUSY
    # the program's own stderr is not mixed with perf's counters
    err = profile_run([sys.executable, "-c", "import sys; sys.stderr.write('mine')"], threads=1, toolchain=tc)
    assert err.outcome.stderr == "mine"
