"""Run candidates through the evaluation cascade under a budget.

A candidate seen before (same token stream and includes: :attr:`Candidate.id`)
is never evaluated twice.

Fitness is the verified speedup: 0 unless the candidate compiled, matched the
original on every check input and ran ThreadSanitizer-clean. A candidate
wins only when its timing verdict is ``faster`` (its speedup's interval clears
``EvalConfig.min_speedup``); a ``not-faster`` one never wins; an
``inconclusive`` one (machine busy, rounds too noisy) is neither offered nor
called "not faster": it waits in :attr:`CascadeRunner.pending` and is timed
again between generations when the machine is quiet, and at the end.

**Sharing the machine** (:mod:`parevo.evolution.schedule`,
:mod:`parevo.evolution.pipeline`). Compiles and the differential test share
the cores; race, timing and profile runs hold them exclusively, so no
measurement runs while something compiles. For the search's first candidate
the runner works for latency: its optimized and ThreadSanitizer builds side by
side, then its measurement. From the second on it works for throughput:
while one candidate is measured nothing compiles, and otherwise up to
``cores`` candidates ahead of it are built and tested (their ThreadSanitizer
build only after they compiled and passed the test).

**The budget is a wall.** No candidate or stage starts that cannot end before
it (by the stages' observed durations, :class:`StageClock`); a stage still
running at the wall is killed, its candidate dropped, and the search stops
with ``time``.

**The bound.** With a ``bound`` function, each new best verified rewrite is
compared with the loop's bound (:mod:`parevo.toolchain.bound`); within 10 % of
it the search stops with ``bound``. ``on_verified`` is called with each new best
verified record as soon as it is measured (results are published before the
search ends).

With an :class:`~parevo.evolution.evalcache.EvalCache`, a candidate evaluated
in an earlier run (same loop context, same candidate id) is answered from
the cache: no compile, no run, its recorded verdicts reused (``cached=True`` on
the record); a verified hit is timed again. Cached and fresh records count
alike against the evaluation budget, so a replay stops where the recorded run
stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from pydantic import BaseModel

from parevo.toolchain.bound import LoopBound
from parevo.toolchain.evaluate import Cancelled, Evaluator
from parevo.toolchain.harness import variant_source
from parevo.toolchain.verdicts import StageVerdict

from .candidates import Candidate
from .pipeline import BuildPipeline, check_cancel
from .result import CandidateRecord, EvolutionResult
from .schedule import CoreGate, OutOfTime, StageClock, Wall


class ProgressEvent(BaseModel):
    """A progress report: what the search is doing now.

    ``stage`` is one of ``prepare``, ``generation``, ``llm``, ``compile``,
    ``test``, ``race``, ``time``, ``profile``, ``candidate``, ``retime``,
    ``verified``, ``done``; ``tried`` counts candidates whose evaluation ended;
    ``best_speedup`` is the best verified speedup so far (None before one).
    A ``verified`` event carries ``result``: the search's result as it stands,
    with the new best rewrite (its edits, diff and evidence) and
    ``continuing=True``, for a front door to offer at once.
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
    result: EvolutionResult | None = None


ProgressFn = Callable[[ProgressEvent], None]


class Budget(BaseModel):
    """Limits of a search: wall seconds and candidate evaluations."""

    seconds: float = 600.0
    evaluations: int = 64


class CascadeRunner:
    """Evaluate candidates with the cascade, recording every stage (see the module docstring).

    Args:
        evaluator: a prepared :class:`Evaluator` (``prepare()`` already called).
        budget: wall-clock and evaluation limits, counted from ``start``.
        progress: called on the caller's thread with each :class:`ProgressEvent`.
        cancel: when set, the running stage is killed and the search ends.
        start: ``time.monotonic()`` of the search start (for budgets and ``at_seconds``).
        cache: the evaluation cache of this loop (None: evaluate everything).
        before_evaluate: called once before the first candidate that is not
            in the cache (a replay prepares the evaluator only when it must).
        retime: a verified candidate found in the cache is timed (and
            profiled) again instead of reusing the figures of an earlier run:
            a measurement taken under other load must not decide this run.
            Its correctness verdicts and executable come from the caches.
        timings: a replay's per-candidate timing and profile verdicts, as the
            recorded run first measured them (they win over the cache's latest, and over a
            measurement: a candidate the cache lost is compiled, tested and race-checked again,
            then given these figures instead of being timed).
        retimings: a replay's recorded re-timings of inconclusive candidates:
            ``retimings(at_end, generation)`` gives ``(id, stages)`` pairs, applied
            where :meth:`retime_pending` would have measured.
        on_measured: called with each record whose timing this run measured
            (fresh, re-timed cache hit: ``retime`` None; a repeated inconclusive
            timing: ``"generation"`` or ``"end"``), e.g. to write it to the transcript.
        wall: the budget's wall (default: one built from ``cancel`` and
            ``budget.seconds``); ``wall.event`` should be the evaluator's cancel.
        bound: the loop's bound for a record (None: no bound stop).
        on_verified: called with each new best verified-and-faster record.
        cores: compiles at once in throughput mode (default: the evaluator's
            machine's cores).

    ``generation`` is stamped on the records :meth:`run` adds (the search
    loop sets it). ``bound_reached`` is the bound that stopped the search.
    """

    def __init__(self, evaluator: Evaluator | None, budget: Budget, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None, start: float | None = None, cache=None,
                 before_evaluate: Callable[[], None] | None = None, retime: bool = False,
                 timings: dict[str, list[StageVerdict]] | None = None,
                 on_measured: Callable[[CandidateRecord, str | None], None] | None = None, *,
                 retimings: Callable[[bool, int], list[tuple[str, list[StageVerdict]]]] | None = None,
                 wall: Wall | None = None,
                 bound: Callable[[CandidateRecord], LoopBound | None] | None = None,
                 on_verified: Callable[[CandidateRecord], None] | None = None, cores: int | None = None):
        self.ev = evaluator
        self.retime = retime
        self.timings = timings
        self.retimings = retimings
        self.on_measured = on_measured
        self.retimed = 0  # cached candidates timed again
        self.retimed_pending = 0  # inconclusive timings repeated
        self.budget = budget
        self.progress = progress or (lambda e: None)
        self.cancel = cancel or (evaluator.cancel if evaluator is not None else threading.Event())
        self.start = start if start is not None else time.monotonic()
        self._own_wall = wall is None
        self.wall = wall or Wall(self.cancel, self.start + budget.seconds, poll=0.1)
        self.cache = cache
        self.before_evaluate = before_evaluate
        self.bound = bound
        self.on_verified = on_verified
        self.cores = cores or (evaluator.machine.cores if evaluator is not None else 1)
        self.gate = CoreGate(self.wall.event)
        self.clock = StageClock()
        self.records: list[CandidateRecord] = []
        self.seen: set[str] = set()
        self.pending: list[str] = []  # inconclusive timings awaiting a quieter machine
        self.first_verified_at: float | None = None
        self.stopped_by: str | None = None
        self.bound_reached: LoopBound | None = None
        self.generation = 0
        self.fresh = 0  # candidates evaluated for real (not from the cache)
        self._best: CandidateRecord | None = None
        self.builds = BuildPipeline(evaluator, self.gate, self.clock, self.wall, self.cores)

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
        if self.cancel.is_set() or (self.wall.event.is_set() and not self.wall.hit):
            return "cancelled"
        if self.wall.hit or self.elapsed() >= self.budget.seconds:
            return "time"
        if len(self.records) >= self.budget.evaluations:
            return "evaluations"
        return None

    def fits(self, *stages: str) -> bool:
        """True when ``stages`` (by their observed durations) can end before the budget's wall."""
        return self.elapsed() + sum(self.clock.estimate(s) for s in stages) <= self.budget.seconds

    def _stop_reason(self) -> str:
        return "time" if self.wall.hit and not self.cancel.is_set() else "cancelled"

    def close(self) -> None:
        """Stop the builds ahead and the wall this runner made for itself."""
        self.builds.drop()
        if self._own_wall:
            self.wall.close()

    # ------------------------------------------------------------------- run
    def run(self, candidates: Iterable[Candidate]) -> list[CandidateRecord]:
        """Evaluate ``candidates`` in order until they or the budget run out.

        Returns the records added by this call. Never raises for a candidate's
        failure; a cancellation ends the loop with ``stopped_by='cancelled'``,
        the budget's wall with ``time``, the loop's bound with ``bound``.
        """
        added: list[CandidateRecord] = []
        queue = list({c.id: c for c in candidates if c.id not in self.seen}.values())
        try:
            for k, cand in enumerate(queue):
                if cand.id in self.seen:
                    continue
                why = self.out_of_budget()
                if why:
                    self.stopped_by = why
                    break
                rec = self._one(cand, queue[k + 1:])
                if rec is None:
                    break
                added.append(rec)
                if self.stopped_by == "bound":
                    break
        finally:
            self.builds.drop()
        return added

    def _one(self, cand: Candidate, upcoming: list[Candidate]) -> CandidateRecord | None:
        """Evaluate one candidate and record it; None when the search must stop (``stopped_by`` set)."""
        self.seen.add(cand.id)
        rec = self.cache.get(cand) if self.cache is not None else None
        note = " (from the evaluation cache)"
        try:
            if rec is None:
                if not self.fits("compile", "test", "race", "time", "profile"):
                    self.seen.discard(cand.id)
                    self.stopped_by = "time"
                    return None
                self._prepare()
                self.builds.upcoming = upcoming
                rec = self.evaluate(cand)
                self.fresh += 1
                self._store(rec)
            elif self.timings is not None and cand.id in self.timings:
                rec = rec.with_measurements(self.timings[cand.id])
            elif self.retime and rec.verified:
                if not self.fits("retime"):
                    self.seen.discard(cand.id)
                    self.stopped_by = "time"
                    return None
                self._prepare()
                again = self.measure_again(rec, cand)
                if again is not None:
                    rec = again
                    self.retimed += 1
                    note = " (correctness from the evaluation cache, timed again)"
                    self._store(rec)
        except OutOfTime:
            self.seen.discard(cand.id)
            self.stopped_by = "time"
            return None
        except Cancelled:
            self.seen.discard(cand.id)
            self.stopped_by = self._stop_reason()
            return None
        rec.generation = self.generation
        rec.at_seconds = self.elapsed()
        self.records.append(rec)
        self._after(rec)
        # the provenance first: a progress line may be cut after its first few hundred characters
        self._emit("candidate", f"{cand.origin}{note if rec.cached else ''}: {rec.reason or 'verified'}", cand)
        return rec

    def checkable(self, cand: Candidate) -> bool:
        """False when the race stage could not check ``cand`` at any affordable size
        (:meth:`~parevo.toolchain.evaluate.Evaluator.race_refusal`): such a candidate can never be
        verified, so proposing it spends a slot of the generation. True before the original is prepared."""
        ev = self.ev
        return ev is None or ev.baseline is None or ev.race_refusal(cand.code) is None

    def _after(self, rec: CandidateRecord) -> None:
        """Bookkeeping of a new or re-timed record: pending re-times, first and best verified, bound."""
        t = rec.stage("time")
        if t is not None and t.timing is not None and t.timing.outcome == "inconclusive":
            if rec.id not in self.pending:
                self.pending.append(rec.id)
        elif rec.id in self.pending:
            self.pending.remove(rec.id)
        if not rec.faster:
            return
        if self.first_verified_at is None:
            self.first_verified_at = rec.at_seconds
        if self._best is None or (rec.speedup or 0) > (self._best.speedup or 0):
            self._best = rec
            if self.on_verified is not None:
                self.on_verified(rec)
            b = self.bound(rec) if self.bound is not None else None
            if b is not None and b.reached(rec.speedup or 0):
                self.bound_reached = b
                self.stopped_by = "bound"

    def _prepare(self) -> None:
        if self.before_evaluate is not None:
            hook, self.before_evaluate = self.before_evaluate, None
            hook()

    def _store(self, rec: CandidateRecord, retime: str | None = None) -> None:
        """Cache a measured record and report its measurement (``on_measured``). A record rejected as not
        faster before its race check is not cached: a later run's cache hit would be an old timing that
        decides, with no verified correctness to keep (the candidate is evaluated again instead)."""
        if self.cache is not None and not (rec.rejected_stage == "time" and not rec.verified):
            self.cache.put(rec)
        if self.on_measured is not None and rec.verified:
            self.on_measured(rec, retime)

    # -------------------------------------------------------------- re-timing
    def measure_again(self, rec: CandidateRecord, cand: Candidate) -> CandidateRecord | None:
        """Time and profile a verified candidate afresh (its executable from the compile cache).

        Returns the record with the new measurements, or None when the executable cannot be rebuilt
        (the compile cache lost it and the compiler now fails): the caller keeps the old figures.
        Raises:
            Cancelled: the search was cancelled or reached its wall.
        """
        ev = self.ev
        source = variant_source(ev.site, cand.loop_text, cand.includes, ev.plan, function_text=cand.function_text)
        with self.gate.shared():
            _verdict, exe = ev.compile_stage(source, f"{cand.origin} {cand.id}")
        if ev.cancel.is_set():
            raise Cancelled("cancelled")
        if exe is None:
            return None
        with self.gate.exclusive():
            why = "its last timing was inconclusive" if rec.id in self.pending else "verified in an earlier run"
            self._emit("time", f"timing {cand.origin} against the original ({why})", cand)
            stages = [self._timed("retime", ev.time_stage, exe)]
            check_cancel(ev)
            if stages[0].passed:
                self._emit("profile", f"profiling {cand.origin}", cand)
                stages.append(self._timed("profile", ev.profile_stage, exe))
                check_cancel(ev)
        return rec.with_measurements(stages)

    def retime_pending(self, *, at_end: bool = False) -> int:
        """Time the inconclusive candidates again; returns how many were.

        Between generations (``at_end`` False) only when the machine is quiet
        now (enough idle cores for the threads); at the end of the search
        whatever the machine. Candidates whose interval cannot reach the best
        verified speedup are left alone, and none starts that cannot end inside
        the budget.
        """
        if not self.pending:
            return 0
        if self.retimings is not None:  # a replay: the recorded run's re-timings, at the same points
            return self._replay_retimes(at_end)
        if not self.retime or self.ev is None:
            return 0
        if not at_end:
            idle = self.ev.machine.idle_cores(0.3)
            if idle is not None and idle < min(self.ev.config.threads, self.ev.machine.cores) - 0.3:
                return 0
        done = 0
        best = self.best()
        for rid in list(self.pending):
            rec = next((r for r in self.records if r.id == rid), None)
            if rec is None:
                self.pending.remove(rid)
                continue
            t = rec.stage("time").timing
            if best is not None and t is not None and t.speedup_high <= (best.speedup or 0):
                continue  # cannot win: no need to decide it
            if self.out_of_budget() in ("cancelled", "time") or not self.fits("retime"):
                break  # (a search that used all its evaluations still decides its pending timings)
            self._emit("retime", f"timing {rec.candidate.origin} again (its last timing was inconclusive"
                                 + (": end of the search)" if at_end else ": the machine is quieter now)"),
                       rec.candidate)
            try:
                again = self.measure_again(rec, rec.candidate)
            except Cancelled:
                self.stopped_by = self._stop_reason()
                break
            if again is None:
                continue
            self._apply(rec, [s for s in again.stages if s.stage in ("time", "profile")])
            self._store(rec, "end" if at_end else "generation")
            done += 1
            if self.stopped_by == "bound":
                break
        return done

    def _apply(self, rec: CandidateRecord, stages: list[StageVerdict]) -> None:
        """Give ``rec`` (in place: the population holds it) new timing and profile verdicts."""
        again = rec.with_measurements(stages)
        for f in ("stages", "faster", "speedup", "rejected_stage", "reason"):
            setattr(rec, f, getattr(again, f))
        rec.at_seconds = self.elapsed()
        self.retimed_pending += 1
        self._after(rec)
        self._emit("candidate", f"{rec.candidate.origin} (timed again): {rec.reason or 'verified'}", rec.candidate)

    def _replay_retimes(self, at_end: bool) -> int:
        done = 0
        for rid, stages in self.retimings(at_end, self.generation):
            rec = next((r for r in self.records if r.id == rid), None)
            if rec is not None:
                self._apply(rec, stages)
                done += 1
        return done

    # ------------------------------------------------------------- the stages
    def _timed(self, stage: str, fn, *args):
        return self.clock.timed(stage, fn, *args)

    def evaluate(self, cand: Candidate) -> CandidateRecord:
        """Run one candidate through compile → test → race → time → profile (time before race when the race
        check would run beyond the timing size: :meth:`~parevo.toolchain.evaluate.Evaluator.race_beyond_timing`).

        Raises:
            Cancelled: cancelled, or a stage reached the budget's wall.
        """
        ev = self.ev
        rec = CandidateRecord(id=cand.id, candidate=cand)
        refusal = ev.race_refusal(cand.code)
        if refusal is not None:  # decided from its text: nothing to build (a compile, a test, a TSan build)
            rec.stages.append(refusal)
            return self._reject(rec, refusal)
        self._emit("compile", f"compiling {cand.origin}", cand)
        first = self.fresh == 0 and self.first_verified_at is None
        built = self.builds.take(cand)
        if built is None:
            # nothing was built ahead for it (the search's first candidate, a generation's first child): no
            # other build holds the cores, so its ThreadSanitizer build runs beside its optimized one
            built = self.builds.build(cand, speculative=True)
        if not first:  # throughput: build the next candidates meanwhile
            self.builds.ahead(self.seen, self.cache)
        rec.stages.append(built.compile)
        if not built.compile.passed or built.exe is None:
            return self._reject(rec, built.compile)
        self._emit("test", f"tested {cand.origin} against the original", cand)
        rec.stages.append(built.test)
        if not built.test.passed:
            return self._reject(rec, built.test)

        with self.gate.exclusive():  # measure phase: nothing compiles or runs beside it
            for stage in ("race", "time", "profile"):
                if not self.fits(stage):
                    raise OutOfTime(f"the budget ends before the {stage} stage could")
            timed = None
            beyond = ev.race_beyond_timing(cand.code) if self.timings is None else None
            if beyond is not None:
                # its race check runs beyond the timing size: timed first, and a definite "not faster" is not
                # worth that check (it can never be offered); "faster" or "inconclusive" goes on to it
                self._emit("time", f"timing {cand.origin} against the original (before its ThreadSanitizer "
                                   f"check, which runs at n up to {beyond:,})", cand)
                timed = self._timed("time", ev.time_stage, built.exe)
                check_cancel(ev)
                if timed.timing is not None and timed.timing.outcome == "not-faster":
                    timed = timed.model_copy(update={"summary": f"{timed.summary}; its ThreadSanitizer check (n up "
                                                                f"to {beyond:,}) was not run"})
                    rec.stages.append(timed)
                    rec.speedup = timed.timing.speedup
                    return self._reject(rec, timed)
            self._emit("race", f"ThreadSanitizer on {cand.origin}", cand)
            verdict = self.clock.timed("race", lambda: ev.race_stage(built.source, built.label, code=cand.code))
            check_cancel(ev)
            rec.stages.append(verdict)
            if not verdict.passed:
                return self._reject(rec, verdict)
            rec.verified = True
            if self.timings is not None and cand.id in self.timings:
                # a replay whose cache lost this candidate: its correctness was checked again just now,
                # its figures are the ones the recorded run measured (a replay never re-times)
                return rec.with_measurements(self.timings[cand.id])

            if timed is None:
                self._emit("time", f"timing {cand.origin} against the original", cand)
                timed = self._timed("time", ev.time_stage, built.exe)
                check_cancel(ev)
            verdict = timed
            rec.stages.append(verdict)
            if verdict.timing is not None:
                rec.speedup = verdict.timing.speedup
            if not verdict.passed:
                return self._reject(rec, verdict)
            rec.faster = True

            self._emit("profile", f"profiling {cand.origin}", cand)
            verdict = self._timed("profile", ev.profile_stage, built.exe)
            check_cancel(ev)
            rec.stages.append(verdict)
        return rec

    @staticmethod
    def _reject(rec: CandidateRecord, verdict) -> CandidateRecord:
        rec.rejected_stage = verdict.stage
        rec.reason = verdict.summary
        return rec
