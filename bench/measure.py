"""Interleaved timing of several executables of one harness.

Each timed process runs the harness driver's ``time`` mode (``exe time N SEED
REPEATS``): it generates the inputs for ``(N, SEED)``, makes one untimed
warm-up call, then times ``REPEATS`` calls inside the process around the call
(seconds per call, steady clock). Rounds interleave the variants, rotating the
order each round and reversing it every other round, so drift in the machine's
load is spread over all variants instead of landing on one.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
from dataclasses import dataclass, field

from parevo.toolchain.sandbox import RunLimits, run_sandboxed
from parevo.toolchain.timing import quartiles


@dataclass
class TimedRun:
    """One executable to time at ``threads`` workers (``PARLAY_NUM_THREADS`` and ``OMP_NUM_THREADS``)."""

    key: str
    exe: str
    threads: int


@dataclass
class Samples:
    """Timing samples of one run key: seconds per call, and CPU seconds inside the calls per process.

    ``error`` is set when a process failed (the run is dropped from later rounds).
    """

    key: str
    threads: int
    seconds: list[float] = field(default_factory=list)
    call_cpu_seconds: list[float] = field(default_factory=list)
    wall_in_calls: list[float] = field(default_factory=list)
    error: str | None = None

    def stats(self) -> dict:
        """Median and quartiles (seconds), sample count and CPU utilization inside the calls."""
        if not self.seconds:
            return {"samples": 0}
        q1, med, q3 = quartiles(self.seconds)
        wall = sum(self.wall_in_calls)
        util = sum(self.call_cpu_seconds) / wall if wall > 0 else None
        return {"samples": len(self.seconds), "median_s": med, "q1_s": q1, "q3_s": q3,
                "min_s": min(self.seconds), "spread": (q3 - q1) / med if med > 0 else None,
                "cpus_busy": util}


def round_order(n_runs: int, r: int) -> list[int]:
    """Indices of the runs in round ``r``: rotated by ``r``, reversed on odd rounds."""
    order = [(k + r) % n_runs for k in range(n_runs)]
    return order[::-1] if r % 2 else order


def time_interleaved(runs: list[TimedRun], *, n: int, seed: int, rounds: int, repeats: int,
                     timeout_s: float = 300.0, memory_bytes: int | None = None,
                     cancel: threading.Event | None = None) -> dict[str, Samples]:
    """Time every run in ``rounds`` interleaved rounds of one process each.

    Args:
        runs: the executables and their thread counts (keys must be unique).
        n, seed: the input size and seed every process generates (identical inputs).
        rounds: processes per run; repeats: timed calls per process.
        timeout_s: wall-clock limit of one process, seconds.
        memory_bytes: address-space limit of one process (``None``: unlimited).

    Returns:
        Samples per run key; a run whose process failed keeps the samples it had and an ``error``.
    """
    out = {r.key: Samples(key=r.key, threads=r.threads) for r in runs}
    for rnd in range(rounds):
        for idx in round_order(len(runs), rnd):
            run = runs[idx]
            s = out[run.key]
            if s.error or (cancel is not None and cancel.is_set()):
                continue
            env = {"PARLAY_NUM_THREADS": str(run.threads), "OMP_NUM_THREADS": str(run.threads)}
            res = run_sandboxed([run.exe, "time", str(n), str(seed), str(repeats)], env_extra=env,
                                limits=RunLimits(timeout_s=timeout_s, memory_bytes=memory_bytes), cancel=cancel)
            row = _last_json(res.stdout)
            if not res.ok or row is None:
                s.error = f"timing process {res.describe()}: {res.stderr.strip()[-300:]}"
                continue
            calls = [float(x) for x in row.get("samples", [])]
            s.seconds += calls
            s.wall_in_calls.append(sum(calls))
            s.call_cpu_seconds.append(float(row.get("call_cpu_s", 0.0)))
    return out


def speedup(base: Samples, other: Samples) -> dict:
    """``median(base) / median(other)`` with its quartile range ``[Q1(b)/Q3(o), Q3(b)/Q1(o)]``."""
    if not base.seconds or not other.seconds:
        return {}
    bq1, bm, bq3 = quartiles(base.seconds)
    oq1, om, oq3 = quartiles(other.seconds)
    return {"speedup": bm / om, "low": bq1 / oq3, "high": bq3 / oq1}


def _last_json(text: str) -> dict | None:
    for ln in reversed(text.splitlines()):
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                return json.loads(ln)
            except json.JSONDecodeError:
                return None
    return None


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), or None where unknown."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def geometric_mean(xs: list[float]) -> float | None:
    """Geometric mean of positive numbers, None for an empty list."""
    xs = [x for x in xs if x and x > 0]
    return statistics.geometric_mean(xs) if xs else None
