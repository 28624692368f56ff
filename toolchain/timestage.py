"""Stage 4 of the cascade: time a candidate against the original, adaptively and noise-aware.

:func:`time_candidate` runs interleaved rounds (ABBA: one process of the
original and one of the candidate per round, the order alternating) at the
timing size, reading the machine's state (:mod:`parevo.toolchain.machine`)
before and after every process. After ``rounds`` rounds it computes the
speedup's bootstrap interval and verdict (:mod:`parevo.toolchain.timing`);
while the verdict is undecided and more rounds could decide it (:func:`_worth_more`),
it adds two rounds at a time, up to ``max_rounds``, and never starts a round
that would end after the evaluator's ``deadline``. A candidate found faster is then timed
with one worker in ``one_worker_rounds`` more rounds against the original, so
the report can split the speedup into its algorithmic and parallel factors.

Every process of a variant is one :class:`Timed` run; its failure ends the
stage with a failed verdict naming the variant and the size.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field

from .machine import RunConditions, conditions
from .timing import SUPERLINEAR_MARGIN, Factors, TimingResult, decide
from .verdicts import StageVerdict, classify_run, stderr_tail


@dataclass
class _Arm:
    """One variant's rounds: medians per round come from ``samples`` (seconds)."""

    label: str
    path: str
    threads: int
    samples: list[list[float]] = field(default_factory=list)
    conds: list[RunConditions] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    bytes: int = 0


class _RunFailed(Exception):
    def __init__(self, verdict: StageVerdict):
        super().__init__(verdict.summary)
        self.verdict = verdict


def json_lines(text: str) -> list[dict]:
    """The JSON objects printed one per line in ``text`` (other lines ignored)."""
    out = []
    for ln in text.splitlines():
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                out.append(json.loads(ln))
            except json.JSONDecodeError:
                pass
    return out


def _run_once(ev, arm: _Arm, t0: float) -> None:
    """One timed process of ``arm`` (its samples, machine state and wall seconds appended)."""
    b, c = ev.baseline, ev.config
    ev._check_cancel()
    before = ev.machine.read()
    res = ev._run([arm.path, "time", str(b.n), str(c.seed), str(b.repeats)], threads=arm.threads)
    after = ev.machine.read()
    ev._check_cancel()
    rows = json_lines(res.stdout)
    if not res.ok or not rows or not rows[-1].get("samples"):
        why = "timed out" if res.timed_out else res.describe()
        raise _RunFailed(StageVerdict(stage="time", passed=False, seconds=time.monotonic() - t0,
                                      verdict=classify_run(res)[0] if not res.ok else "crash",
                                      stderr_tail=stderr_tail(res.stderr),
                                      summary=f"timing run of {arm.label} failed at n = {b.n:,}: {why}",
                                      feedback=f"timing run failed at n = {b.n}: {why}"))
    arm.samples.append([float(x) for x in rows[-1]["samples"]])
    arm.conds.append(conditions(before, after, res.user_s + res.sys_s))
    arm.seconds.append(res.wall_s or (after.at - before.at))
    arm.bytes = int(rows[-1].get("bytes", b.input_bytes))


def _round(ev, first: _Arm, second: _Arm, k: int, t0: float) -> None:
    order = (first, second) if k % 2 == 0 else (second, first)  # ABBA: cancels drift in machine load
    for arm in order:
        _run_once(ev, arm, t0)


def _room(ev, arms: tuple[_Arm, _Arm], count: int) -> bool:
    """True when ``count`` more rounds of ``arms`` can end before the evaluator's deadline."""
    deadline = getattr(ev, "deadline", None)
    if deadline is None:
        return True
    per_round = sum(statistics.mean(a.seconds) if a.seconds else ev.config.run_timeout_s / 10 for a in arms)
    return time.monotonic() + count * per_round <= deadline


def time_candidate(ev, exe: str) -> StageVerdict:
    """Time ``exe`` against the evaluator's original (see the module docstring).

    ``ev`` is a prepared :class:`~parevo.toolchain.evaluate.Evaluator` (its
    ``machine`` reader, ``config``, ``baseline``, ``deadline``). The verdict
    passes only when the outcome is ``faster``; ``timing.outcome`` tells a
    ``not-faster`` measurement from an ``inconclusive`` one.

    Raises:
        Cancelled: cancelled (or cut at the budget's wall) while timing.
    """
    assert ev.baseline is not None and ev._original_exe is not None, "prepare() first"
    t0 = time.monotonic()
    c, b = ev.config, ev.baseline
    orig = _Arm("the original", ev._original_exe, c.threads, bytes=b.input_bytes)
    cand = _Arm("the rewrite", exe, c.threads, bytes=b.input_bytes)
    try:
        k = 0
        while k < c.rounds:
            _round(ev, orig, cand, k, t0)
            k += 1
        tr = _summarize(ev, orig, cand)
        while tr.outcome == "inconclusive" and _worth_more(tr) and k + 2 <= c.max_rounds \
                and _room(ev, (orig, cand), 2):
            for _ in range(2):
                _round(ev, orig, cand, k, t0)
                k += 1
            tr = _summarize(ev, orig, cand)
        if tr.outcome == "faster" and c.one_worker_rounds > 0 and c.threads > 1 \
                and _room(ev, (orig, cand), c.one_worker_rounds):
            tr.factors = _factors(ev, exe, tr, t0)
    except _RunFailed as e:
        return e.verdict
    summary = tr.verdict_text()
    label = {"faster": "passed", "not-faster": "not faster"}.get(tr.outcome or "", "timing inconclusive")
    return StageVerdict(stage="time", passed=tr.outcome == "faster", seconds=time.monotonic() - t0, timing=tr,
                        verdict=label, summary=summary, feedback=summary)


def _worth_more(tr: TimingResult) -> bool:
    """Whether more rounds may decide an inconclusive result: on a quiet machine always (the
    interval narrows); on a busy one only when the speedup itself clears the threshold (more rounds
    may lift the interval above it; a busy machine never gives "not faster", so below the threshold
    the candidate waits to be timed again when the machine is quieter)."""
    return not tr.busy or tr.speedup >= tr.threshold


def _summarize(ev, orig: _Arm, cand: _Arm) -> TimingResult:
    c, b = ev.config, ev.baseline
    tr = TimingResult.from_rounds(n=b.n, threads=c.threads, repeats=b.repeats, input_bytes=cand.bytes,
                                  original=orig.samples, candidate=cand.samples, n_source=b.n_source,
                                  n_origin=getattr(b, "n_origin", ""), original_conditions=orig.conds,
                                  candidate_conditions=cand.conds)
    return decide(tr, c.min_speedup, c.precision)


def _factors(ev, exe: str, tr: TimingResult, t0: float) -> Factors:
    """Time ``exe`` with one worker against the original; split ``tr.speedup`` into factors."""
    c = ev.config
    orig = _Arm("the original", ev._original_exe, c.threads)
    one = _Arm("the rewrite on one worker", exe, 1)
    for k in range(c.one_worker_rounds):
        _round(ev, orig, one, k, t0)
    o = statistics.median(statistics.median(r) for r in orig.samples)
    m1 = statistics.median(statistics.median(r) for r in one.samples)
    alg = o / max(m1, 1e-12)
    par = tr.speedup / max(alg, 1e-12)
    return Factors(rounds=c.one_worker_rounds, one_worker_median=m1, algorithmic=alg, parallel=par,
                   efficiency=min(1.0, par / max(c.threads, 1)),
                   superlinear=par > c.threads * (1 + SUPERLINEAR_MARGIN))

