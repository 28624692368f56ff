"""Waiting for a quiet machine, then searching again: the re-timing an inconclusive timing promises.

A timing taken while other processes held the cores is *inconclusive*
(:func:`parevo.toolchain.timing.decide`): never offered, never called "not
faster", and its message says it will be timed again when the machine is
idle (a rewrite faster even beside the load is offered, its figure labelled
with that load, and may be understated). Inside a search, inconclusive
candidates are timed again between generations when the machine is quiet and
once at the end
(:meth:`~parevo.evolution.search.CascadeRunner.retime_pending`). When the load
outlasts the search, :func:`search_when_quiet` keeps that promise after it:
it waits, up to a time the user gave, for enough idle cores
(:func:`wait_for_quiet`), then runs the search again. The evaluation cache
answers each candidate's compile, test and ThreadSanitizer verdicts, so the
second search times them (and, on a quiet machine, may go on to mutations).

Why waiting, not measuring through the load: with session autogroups a busy
process in another session takes its fair share whatever the timing's
``nice``. Measured 2026-12-02 on 2 cores, one held by such a process:
ParlayLib reductions and maps ran 0.80-1.03x against the serial loop at 1 M,
4 M and 8 M elements (quiet: 1.97-2.2x), in every form tried
(``parlay::reduce``, partial sums of 2 or 32 blocks in a ``parallel_for``, a
plain ``parallel_for`` map), and an autogroup ``nice`` of -5 to -20 (root
only) won back 1.03-1.14x at 8 M (1.4-1.7x only at 64 M). A speedup that
needs both cores can only be measured when both are free.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from parevo.toolchain.machine import describe_load
from parevo.toolchain.models import ParevoError
from parevo.toolchain.timing import TimingResult

from .result import CandidateRecord, EvolutionResult, QuietRetime
from .search import ProgressEvent, ProgressFn

#: cores of slack: "idle" means at least the timing's threads minus this many cores idle
IDLE_MARGIN = 0.3
#: seconds the machine must stay idle before the search runs again (a short lull is not quiet)
QUIET_WINDOW_S = 3.0
#: seconds between two readings of the machine while waiting
POLL_S = 1.0
#: seconds between two progress events while waiting
PROGRESS_EVERY_S = 10.0


class IdleReader(Protocol):
    """What :func:`wait_for_quiet` reads: :class:`parevo.toolchain.machine.MachineReader`."""

    cores: int

    def idle_cores(self, seconds: float = 0.5) -> float | None: ...


def needed_cores(threads: int, cores: int) -> float:
    """Idle cores a timing on ``threads`` threads needs on a machine of ``cores`` cores."""
    return max(0.0, min(threads, cores) - IDLE_MARGIN)


def awaiting_quiet(result: EvolutionResult) -> list[CandidateRecord]:
    """The candidates of ``result`` whose last timing was taken while the machine was busy and that a
    timing on a quiet machine could still make (or keep) the best: inconclusive ones whose interval
    reaches above the best verified speedup, and the best itself when it was verified beside the load
    (its figure may be understated, and its mutations could not be compared); every timed candidate
    when the load ended the search (``stopped_by == "busy"``: no mutation was tried, even if the
    re-timing at its end found the machine quiet). [] when the search was cancelled or is a replay."""
    if result.status == "cancelled" or result.search.replay_of is not None:
        return []
    timed = [(rec, _timing(rec)) for rec in result.candidates if _timing(rec) is not None]
    if result.search.stopped_by == "busy":  # the load cut the search short: its mutations were never tried
        return [rec for rec, _ in timed]
    best = result.best
    floor = (best.speedup or 0.0) if best is not None else 0.0
    return [rec for rec, t in timed if t.busy and ((t.outcome == "inconclusive" and t.speedup_high > floor)
                                                   or (best is not None and rec.id == best.id))]


def _timing(rec: CandidateRecord) -> TimingResult | None:
    t = rec.stage("time")
    return t.timing if t is not None else None


@dataclass(frozen=True)
class QuietWait:
    """The outcome of :func:`wait_for_quiet`: ``quiet`` (the machine was idle for the window),
    ``waited_s`` (seconds), ``idle_cores`` at the last reading (None where ``/proc/stat`` is not
    exposed), ``why`` when it was not quiet (``timeout``, ``cancelled``, ``yielded``, ``unknown``)."""

    quiet: bool
    waited_s: float
    idle_cores: float | None
    why: str = ""


def wait_for_quiet(reader: IdleReader, needed: float, *, timeout_s: float, window_s: float = QUIET_WINDOW_S,
                   poll_s: float = POLL_S, cancel: threading.Event | None = None,
                   yield_to: Callable[[], bool] | None = None,
                   on_wait: Callable[[float, float | None], None] | None = None,
                   clock: Callable[[], float] = time.monotonic) -> QuietWait:
    """Wait until at least ``needed`` cores have been idle for ``window_s`` seconds in a row, reading
    the machine every ``poll_s`` seconds (each reading spans ``poll_s``), for at most ``timeout_s``.

    ``cancel`` set, or ``yield_to()`` true (other work is waiting for the machine), ends the wait
    early; so does a ``KeyboardInterrupt`` (Ctrl-C at a terminal: stop waiting, keep what the search
    found), reported as ``cancelled``. ``on_wait(waited_s, idle_cores)`` is called after every reading.
    Never raises.
    """
    start = clock()
    since: float | None = None
    idle: float | None = None
    while True:
        waited = clock() - start
        if cancel is not None and cancel.is_set():
            return QuietWait(False, waited, idle, "cancelled")
        if yield_to is not None and yield_to():
            return QuietWait(False, waited, idle, "yielded")
        if waited >= timeout_s:
            return QuietWait(False, waited, idle, "timeout")
        try:
            idle = reader.idle_cores(poll_s)
        except KeyboardInterrupt:
            return QuietWait(False, clock() - start, idle, "cancelled")
        now = clock()
        if idle is None:  # nothing to judge by: the timings could not have called the machine busy either
            return QuietWait(False, now - start, None, "unknown")
        if idle >= needed:
            since = now - poll_s if since is None else since
            if now - since >= window_s:
                return QuietWait(True, now - start, idle)
        else:
            since = None
        if on_wait is not None:
            on_wait(now - start, idle)


def _load_of(pending: list[CandidateRecord]) -> str:
    """The machine during the pending candidates' timings (as each timing's ``machine`` is made)."""
    return describe_load([c for rec in pending for t in [_timing(rec)]
                          for c in (*t.original_conditions, *t.candidate_conditions)])


def search_when_quiet(first: EvolutionResult, again: Callable[[], EvolutionResult], *, reader: IdleReader,
                      wait_s: float, progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                      yield_to: Callable[[], bool] | None = None,
                      clock: Callable[[], float] = time.monotonic) -> EvolutionResult:
    """``first``, or the search ``again()`` run once the machine is quiet (see the module docstring).

    When ``first`` has candidates :func:`awaiting_quiet` and ``wait_s`` > 0, waits up to ``wait_s``
    seconds for :func:`needed_cores` idle cores, then calls ``again`` (a search of the same loop whose
    evaluation cache holds ``first``'s verdicts) and returns its result; ``first`` when the machine
    stayed busy, the wait was cancelled or yielded, the second search verified nothing where the
    first had, or it failed or was interrupted (a :class:`~parevo.toolchain.models.ParevoError` or
    ``OSError``: the compiler or the cache went away meanwhile; Ctrl-C at a terminal; its sentence is
    kept in ``second_error``). Either way the returned result's ``search.quiet`` (:class:`QuietRetime`)
    says what happened (its ``describe()`` in words, for the report and the hover).
    """
    pending = awaiting_quiet(first)
    if wait_s <= 0 or not pending:
        return first
    emit = progress or (lambda e: None)
    needed = needed_cores(first.threads, reader.cores)
    load = _load_of(pending)
    what = f"{len(pending)} candidate{'s' if len(pending) != 1 else ''}"
    best = first.best.speedup if first.best is not None else None
    emit(ProgressEvent(stage="wait", best_speedup=best, tried=len(first.candidates),
                       message=f"machine busy ({load or 'other processes held the cores'}): waiting up to "
                               f"{wait_s:.0f} s for {needed:.1f} idle cores to time {what} again"))
    shown = [clock()]

    def on_wait(waited: float, idle: float | None) -> None:
        if clock() - shown[0] >= PROGRESS_EVERY_S:
            shown[0] = clock()
            emit(ProgressEvent(stage="wait", best_speedup=best, tried=len(first.candidates), elapsed=waited,
                               message=f"waiting for a quiet machine: {waited:.0f} of {wait_s:.0f} s, "
                                       f"{idle if idle is not None else 0:.1f} of {needed:.1f} cores idle"))

    w = wait_for_quiet(reader, needed, timeout_s=wait_s, window_s=QUIET_WINDOW_S, poll_s=POLL_S, cancel=cancel,
                       yield_to=yield_to, on_wait=on_wait, clock=clock)
    info = QuietRetime(waited_s=round(w.waited_s, 1), quiet=w.quiet, why=w.why, idle_cores=w.idle_cores,
                       needed_cores=needed, pending=len(pending), load=load, first_run_id=first.run_id,
                       first_status=first.status, first_best_speedup=best,
                       first_seconds=round(first.seconds_total, 1))
    if not w.quiet:
        first.search.quiet = info
        return first
    emit(ProgressEvent(stage="wait", best_speedup=best, tried=len(first.candidates), elapsed=w.waited_s,
                       message=f"the machine is quiet ({w.idle_cores:.1f} cores idle): searching again, "
                               f"correctness verdicts from the evaluation cache"))
    try:
        second = again()
    except (ParevoError, OSError, KeyboardInterrupt) as e:  # the first result is not lost to the second's end
        if isinstance(e, KeyboardInterrupt):
            if cancel is not None:
                cancel.set()
            info.second_error = "interrupted"
        elif isinstance(e, OSError) and e.strerror:
            info.second_error = f"{e.filename}: {e.strerror}" if e.filename else e.strerror
        else:
            info.second_error = str(e) or type(e).__name__
        first.search.quiet = info
        return first
    info.second_status = second.status
    kept = first if second.best is None and first.best is not None else second
    info.kept_first = kept is first
    kept.search.quiet = info
    return kept
