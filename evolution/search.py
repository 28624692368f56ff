"""Run candidates through the evaluation cascade under a budget.

The search keeps the two cores busy without disturbing measurements: for each
candidate the optimized and the ThreadSanitizer builds compile concurrently
(the compile phase), then the candidate is tested, race-checked, timed and
profiled with nothing else compiling (the measure phase). A candidate seen
before (same token stream and includes: :attr:`Candidate.id`) is never evaluated twice.

Fitness is the verified speedup: 0 unless the candidate compiled, matched the
original on every check input and ran ThreadSanitizer-clean; a candidate that
is not at least ``EvalConfig.min_speedup`` times faster is rejected at the
timing stage and never wins.

With an :class:`~parevo.evolution.evalcache.EvalCache`, a candidate evaluated
in an earlier run (same loop context, same candidate id) is answered from
the cache: no compile, no run, its recorded verdicts reused (``cached=True`` on
the record). Cached and fresh records count alike against the evaluation
budget, so a replay stops where the recorded run stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from parevo.toolchain.evaluate import Cancelled, Evaluator
from parevo.toolchain.harness import variant_source
from parevo.toolchain.verdicts import StageVerdict

from .candidates import Candidate
from .result import CandidateRecord


class ProgressEvent(BaseModel):
    """A progress report: what the search is doing now.

    ``stage`` is one of ``prepare``, ``compile``, ``test``, ``race``, ``time``,
    ``profile``, ``done``; ``tried`` counts candidates whose evaluation ended;
    ``best_speedup`` is the best verified speedup so far (None before one).
    """

    stage: str
    message: str
    candidate_id: str | None = None
    origin: str | None = None
    tried: int = 0
    total: int = 0
    best_speedup: float | None = None
    elapsed: float = 0.0
    generation: int | None = None


ProgressFn = Callable[[ProgressEvent], None]


class Budget(BaseModel):
    """Limits of a search: wall seconds and candidate evaluations."""

    seconds: float = 600.0
    evaluations: int = 64


class CascadeRunner:
    """Evaluate candidates one by one with the cascade, recording every stage.

    Args:
        evaluator: a prepared :class:`Evaluator` (``prepare()`` already called).
        budget: wall-clock and evaluation limits, counted from ``start``.
        progress: called on the caller's thread with each :class:`ProgressEvent`.
        cancel: when set, the running stage is killed and the search ends.
        start: ``time.monotonic()`` of the search start (for budgets and
            ``at_seconds``).
        cache: the evaluation cache of this loop (None: evaluate everything).
        before_evaluate: called once before the first candidate that is not
            in the cache (a replay prepares the evaluator only when it must).
        retime: a verified candidate found in the cache is timed (and
            profiled) again instead of reusing the figures of an earlier run:
            a measurement taken under other load must not decide this run.
            Its correctness verdicts and executable come from the caches.
        timings: a replay's per-candidate timing and profile verdicts, as the
            recorded run measured them (they win over the cache's latest).
        on_measured: called with each record whose timing this run measured
            (fresh or re-timed), e.g. to write it to the transcript.

    ``generation`` is stamped on the records :meth:`run` adds (the search
    loop sets it).
    """

    def __init__(self, evaluator: Evaluator | None, budget: Budget, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None, start: float | None = None, cache=None,
                 before_evaluate: Callable[[], None] | None = None, retime: bool = False,
                 timings: dict[str, list[StageVerdict]] | None = None,
                 on_measured: Callable[[CandidateRecord], None] | None = None):
        self.ev = evaluator
        self.retime = retime
        self.timings = timings
        self.on_measured = on_measured
        self.retimed = 0  # cached candidates timed again
        self.budget = budget
        self.progress = progress or (lambda e: None)
        self.cancel = cancel or (evaluator.cancel if evaluator is not None else threading.Event())
        self.start = start if start is not None else time.monotonic()
        self.cache = cache
        self.before_evaluate = before_evaluate
        self.records: list[CandidateRecord] = []
        self.seen: set[str] = set()
        self.first_verified_at: float | None = None
        self.stopped_by: str | None = None
        self.generation = 0
        self.fresh = 0  # candidates evaluated for real (not from the cache)

    # ------------------------------------------------------------------ utils
    def elapsed(self) -> float:
        """Seconds since the search started."""
        return time.monotonic() - self.start

    def best(self) -> CandidateRecord | None:
        """The fastest verified-and-faster record so far."""
        ok = [r for r in self.records if r.faster and r.speedup is not None]
        return max(ok, key=lambda r: r.speedup) if ok else None

    def _emit(self, stage: str, message: str, cand: Candidate | None = None) -> None:
        b = self.best()
        self.progress(ProgressEvent(
            stage=stage, message=message, candidate_id=cand.id if cand else None,
            origin=cand.origin if cand else None, tried=len(self.records), total=self.budget.evaluations,
            best_speedup=b.speedup if b else None, elapsed=self.elapsed(), generation=self.generation))

    def out_of_budget(self) -> str | None:
        """Why the search must stop now (``cancelled``, ``time``, ``evaluations``), or None."""
        if self.cancel.is_set():
            return "cancelled"
        if self.elapsed() >= self.budget.seconds:
            return "time"
        if len(self.records) >= self.budget.evaluations:
            return "evaluations"
        return None

    # ------------------------------------------------------------------- run
    def run(self, candidates: Iterable[Candidate]) -> list[CandidateRecord]:
        """Evaluate ``candidates`` in order until they or the budget run out.

        Returns the records added by this call. Never raises for a candidate's
        failure; a cancellation ends the loop with ``stopped_by='cancelled'``.
        """
        added = []
        for cand in candidates:
            if cand.id in self.seen:
                continue
            why = self.out_of_budget()
            if why:
                self.stopped_by = why
                break
            self.seen.add(cand.id)
            rec = self.cache.get(cand) if self.cache is not None else None
            note = " (from the evaluation cache)"
            try:
                if rec is None:
                    self._prepare()
                    rec = self.evaluate(cand)
                    self.fresh += 1
                    self._store(rec)
                elif self.timings is not None and cand.id in self.timings:
                    rec = rec.with_measurements(self.timings[cand.id])
                elif self.retime and rec.verified:
                    self._prepare()
                    again = self.measure_again(rec, cand)
                    if again is not None:
                        rec = again
                        self.retimed += 1
                        note = " (correctness from the evaluation cache, timed again)"
                        self._store(rec)
            except Cancelled:
                self.seen.discard(cand.id)
                self.stopped_by = "cancelled"
                break
            rec.generation = self.generation
            rec.at_seconds = self.elapsed()
            self.records.append(rec)
            added.append(rec)
            if rec.faster and self.first_verified_at is None:
                self.first_verified_at = rec.at_seconds
            self._emit("candidate", f"{cand.origin}: {rec.reason or 'verified'}" + (note if rec.cached else ""),
                       cand)
        return added

    def _prepare(self) -> None:
        if self.before_evaluate is not None:
            hook, self.before_evaluate = self.before_evaluate, None
            hook()

    def _store(self, rec: CandidateRecord) -> None:
        """Cache a measured record and report its measurement (``on_measured``)."""
        if self.cache is not None:
            self.cache.put(rec)
        if self.on_measured is not None and rec.verified:
            self.on_measured(rec)

    def measure_again(self, rec: CandidateRecord, cand: Candidate) -> CandidateRecord | None:
        """Time and profile a cached verified candidate afresh (its executable from the compile cache).

        Returns the record with the new measurements, or None when the executable cannot be rebuilt
        (the compile cache lost it and the compiler now fails): the caller keeps the cached figures.
        Raises:
            Cancelled: the search was cancelled.
        """
        ev = self.ev
        source = variant_source(ev.site, cand.loop_text, cand.includes, ev.plan, function_text=cand.function_text)
        _verdict, exe = ev.compile_stage(source, f"{cand.origin} {cand.id}")
        if ev.cancel.is_set():
            raise Cancelled("cancelled")
        if exe is None:
            return None
        self._emit("time", f"timing {cand.origin} against the original (verified in an earlier run)", cand)
        stages = [ev.time_stage(exe)]
        if stages[0].passed:
            self._emit("profile", f"profiling {cand.origin}", cand)
            stages.append(ev.profile_stage(exe))
        return rec.with_measurements(stages)

    def evaluate(self, cand: Candidate) -> CandidateRecord:
        """Run one candidate through compile → test → race → time → profile."""
        ev = self.ev
        rec = CandidateRecord(id=cand.id, candidate=cand)
        source = variant_source(ev.site, cand.loop_text, cand.includes, ev.plan, function_text=cand.function_text)
        label = f"{cand.origin} {cand.id}"

        # compile phase: optimized and TSan builds side by side (two cores)
        self._emit("compile", f"compiling {cand.origin}", cand)
        # (the TSan build only warms the compile cache: leaving the block waits for it, and the race
        # stage reports its outcome, failure included, from the cache)
        with ThreadPoolExecutor(max_workers=2) as pool:
            opt_f = pool.submit(ev.compile_stage, source, label)
            pool.submit(ev.build, source, sanitize=True, label=label + " (tsan)")
            verdict, exe = opt_f.result()
        if ev.cancel.is_set():
            raise Cancelled("cancelled")
        rec.stages.append(verdict)
        if not verdict.passed or exe is None:
            return self._reject(rec, verdict)

        # measure phase: nothing else compiles from here on
        self._emit("test", f"testing {cand.origin} against the original", cand)
        verdict = ev.test_stage(exe)
        rec.stages.append(verdict)
        if not verdict.passed:
            return self._reject(rec, verdict)

        self._emit("race", f"ThreadSanitizer on {cand.origin}", cand)
        verdict = ev.race_stage(source, label, code=cand.code)
        rec.stages.append(verdict)
        if not verdict.passed:
            return self._reject(rec, verdict)
        rec.verified = True

        self._emit("time", f"timing {cand.origin} against the original", cand)
        verdict = ev.time_stage(exe)
        rec.stages.append(verdict)
        if verdict.timing is not None:
            rec.speedup = verdict.timing.speedup
        if not verdict.passed:
            return self._reject(rec, verdict)
        rec.faster = True

        self._emit("profile", f"profiling {cand.origin}", cand)
        verdict = ev.profile_stage(exe)
        rec.stages.append(verdict)
        return rec

    @staticmethod
    def _reject(rec: CandidateRecord, verdict) -> CandidateRecord:
        rec.rejected_stage = verdict.stage
        rec.reason = verdict.summary
        return rec
