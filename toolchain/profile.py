"""Profile one run of a program with what this machine supports.

With a working ``perf`` (``Toolchain.perf`` set by discovery) the program runs
under ``perf stat -x, -e task-clock,context-switches,cpu-migrations,page-faults``
(counters written to a file with ``-o`` so they do not mix with the program's
stderr); otherwise, or when perf fails at run time, only the ``os.wait4``
resource usage of the sandboxed run is reported, and ``notes`` say so.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from pydantic import BaseModel, Field

from .discovery import Toolchain
from .sandbox import RunLimits, RunOutcome, run_sandboxed

PERF_EVENTS = ("task-clock", "context-switches", "cpu-migrations", "page-faults")
RUSAGE = "rusage (os.wait4)"


class ProfileResult(BaseModel):
    """Measurements of one profiled run.

    ``profiler`` names what ran (``"perf stat (software counters)"``, ...,
    or ``"rusage (os.wait4)"``). Times in seconds; ``threads`` is the
    ``PARLAY_NUM_THREADS`` given; ``cpu_utilization`` = (user+sys)/wall
    (CPUs kept busy); ``parallel_efficiency`` = that divided by ``threads``.
    ``task_clock_ms`` (milliseconds of CPU), ``context_switches``,
    ``cpu_migrations``, ``page_faults`` are ``None`` when not measured.
    ``outcome`` is the sandboxed run itself (exit status, output).
    ``call_seconds``/``call_cpu_seconds`` are wall and CPU (user+sys, all
    threads) seconds spent inside the timed calls alone, as the harness driver
    reports them (input generation excluded); ``call_utilization`` is their
    ratio and ``call_efficiency`` that divided by ``threads``.
    """

    profiler: str
    wall_s: float
    user_s: float
    sys_s: float
    threads: int
    cpu_utilization: float | None = None
    parallel_efficiency: float | None = None
    maxrss_bytes: int = 0
    task_clock_ms: float | None = None
    context_switches: int | None = None
    cpu_migrations: int | None = None
    page_faults: int | None = None
    notes: list[str] = Field(default_factory=list)
    outcome: RunOutcome
    call_seconds: float | None = None
    call_cpu_seconds: float | None = None
    call_utilization: float | None = None
    call_efficiency: float | None = None


def parse_perf_csv(text: str) -> dict[str, float]:
    """Counter values from ``perf stat -x,`` output: ``{event: value}``.

    Skips comments, blank lines and ``<not supported>``/``<not counted>``
    values; strips modifiers such as ``:u`` from event names.
    """
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(",")
        if len(fields) < 3:
            continue
        event = fields[2].split(":")[0].strip()
        try:
            values[event] = float(fields[0])
        except ValueError:
            continue
    return values


def _result(outcome: RunOutcome, profiler: str, threads: int, notes: list[str]) -> ProfileResult:
    cpu = outcome.user_s + outcome.sys_s
    util = cpu / outcome.wall_s if outcome.wall_s > 0 else None
    return ProfileResult(
        profiler=profiler, wall_s=outcome.wall_s, user_s=outcome.user_s, sys_s=outcome.sys_s, threads=threads,
        cpu_utilization=util, parallel_efficiency=(util / threads if util is not None and threads > 0 else None),
        maxrss_bytes=outcome.maxrss_bytes, notes=notes, outcome=outcome,
    )


def profile_run(
    argv: list[str], *, threads: int, toolchain: Toolchain, env_extra: dict[str, str] | None = None,
    limits: RunLimits | None = None, cancel: threading.Event | None = None,
) -> ProfileResult:
    """Run ``argv`` once with ``PARLAY_NUM_THREADS=threads`` and measure it.

    Uses ``perf stat`` software counters when ``toolchain.perf`` is set, else
    rusage only. If perf fails at run time (no counters written), the program
    is run again without perf and ``notes`` explain why. A failing program is
    not an error: its outcome is in ``result.outcome``. Raises
    ``FileNotFoundError`` for a missing executable.
    """
    limits = limits or RunLimits()
    env = {**(env_extra or {}), "PARLAY_NUM_THREADS": str(int(threads))}
    notes: list[str] = []
    if toolchain.perf and toolchain.perf_path:
        with tempfile.TemporaryDirectory(prefix="parevo-perf-") as tmp:
            stat_file = Path(tmp) / "perf.csv"
            perf_argv = [toolchain.perf_path, "stat", "-x,", "-o", str(stat_file), "-e", ",".join(PERF_EVENTS),
                         "--", *argv]
            outcome = run_sandboxed(perf_argv, cwd=tmp, env_extra=env, limits=limits, cancel=cancel)
            try:
                text = stat_file.read_text(errors="replace")
            except OSError:
                text = ""
        counters = parse_perf_csv(text)
        if "task-clock" in counters:
            outcome.argv = list(argv)
            missing = [e for e in PERF_EVENTS if e not in counters]
            if missing:
                notes.append(f"perf stat did not count: {', '.join(missing)}")
            notes.append("wall and rusage times include perf's own start-up (a few ms)")
            result = _result(outcome, toolchain.perf, threads, notes)
            result.task_clock_ms = counters.get("task-clock")
            for field, event in (("context_switches", "context-switches"), ("cpu_migrations", "cpu-migrations"),
                                 ("page_faults", "page-faults")):
                if event in counters:
                    setattr(result, field, int(counters[event]))
            return result
        if outcome.cancelled or outcome.timed_out:
            return _result(outcome, RUSAGE, threads, [f"run under perf {outcome.describe()}"])
        detail = next((ln.strip() for ln in outcome.stderr.splitlines() if ln.strip()), outcome.describe())
        notes.append(f"perf stat failed at run time ({detail[:200]}); fell back to rusage")
    elif toolchain.perf_path:
        notes.append("perf cannot count events on this machine (kernel.perf_event_paranoid?); rusage only")
    else:
        notes.append("perf not installed; rusage only")
    outcome = run_sandboxed(list(argv), env_extra=env, limits=limits, cancel=cancel)
    return _result(outcome, RUSAGE, threads, notes)
