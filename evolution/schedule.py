"""How a search shares the machine and its budget: the cores gate, the wall and stage estimates.

* :class:`CoreGate`: compiles share the cores (as many at once as the pool
  allows); timing, race and profile runs take the machine exclusively: while
  one waits or runs, no compile starts, and it starts only when the running
  compiles have ended.
* :class:`Wall`: the budget is a hard wall. One event (``event``) stops
  everything that runs (compiles and candidate runs are killed, LLM calls
  abandoned) when the user cancels or the wall-clock budget ends; ``hit`` says
  which.
* :class:`StageClock`: how long each stage took so far, so no stage starts that
  could not end inside the budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from parevo.toolchain.evaluate import Cancelled

#: First guesses (seconds) before a stage has been seen; toolchain.md: a ParlayLib candidate compiles
#: in 5-15 s (TSan 2-9 s), race checks take a few seconds, timing 5 rounds of two processes.
DEFAULT_STAGE_SECONDS = {"compile": 12.0, "test": 3.0, "race": 8.0, "time": 6.0, "profile": 2.0,
                         "retime": 8.0}


class OutOfTime(Cancelled):
    """A stage would not end before the budget's wall, so it does not start."""


class CoreGate:
    """Shared use for compiles, exclusive use for measurements (writer preference: a waiting
    measurement keeps new compiles from starting). ``cancel`` ends a wait with :class:`Cancelled`."""

    def __init__(self, cancel: threading.Event | None = None):
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0
        self.cancel = cancel or threading.Event()

    def _wait(self) -> None:
        self._cond.wait(timeout=0.1)
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold a share of the cores (a compile)."""
        with self._cond:
            while self._exclusive or self._waiting:
                self._wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold every core (a timing, race or profile run)."""
        with self._cond:
            self._waiting += 1
            try:
                while self._exclusive or self._shared:
                    self._wait()
            finally:
                self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()

    @property
    def compiling(self) -> int:
        """Compiles holding a share now."""
        return self._shared


class Wall:
    """The budget's wall and the user's cancel, as one event (see the module docstring).

    Args:
        cancel: the user's cancel event (watched every ``poll`` seconds).
        deadline: ``time.monotonic()`` at which the budget ends (``math.inf``: never).
    """

    def __init__(self, cancel: threading.Event, deadline: float, poll: float = 0.05):
        self.user = cancel
        self.deadline = deadline
        self.event = threading.Event()
        self.hit = False
        self._linked: list[threading.Event] = []
        self._done = threading.Event()
        self._poll = poll
        self._thread = threading.Thread(target=self._watch, name="parevo-wall", daemon=True)
        self._thread.start()

    def _fire(self) -> None:
        self.event.set()
        for e in list(self._linked):
            e.set()

    def _watch(self) -> None:
        while not self._done.is_set():
            if self.user.is_set():
                self._fire()
                return
            if time.monotonic() >= self.deadline:
                self.hit = True
                self._fire()
                return
            self._done.wait(self._poll if math.isinf(self.deadline)
                            else min(self._poll, max(0.0, self.deadline - time.monotonic())))

    def link(self, event: threading.Event) -> threading.Event:
        """Set ``event`` too when the wall fires (at once if it has); returns it."""
        self._linked.append(event)
        if self.event.is_set():
            event.set()
        return event

    def left(self) -> float:
        """Seconds until the wall (``math.inf`` without a budget)."""
        return self.deadline - time.monotonic()

    def reason(self) -> str:
        """``time`` when the budget ended, ``cancelled`` when the user cancelled."""
        return "time" if self.hit and not self.user.is_set() else "cancelled"

    def close(self) -> None:
        """Stop watching (the event keeps its state)."""
        self._done.set()


class StageClock:
    """Observed stage durations (seconds) and the estimate of the next one (the mean of the last
    five, never below the first guess's half)."""

    def __init__(self):
        self.seen: dict[str, list[float]] = {}

    def add(self, stage: str, seconds: float) -> None:
        """Record one run of ``stage``."""
        self.seen.setdefault(stage, []).append(max(0.0, seconds))

    def timed(self, stage: str, fn, *args):
        """``fn(*args)``, its duration recorded as one run of ``stage``."""
        t0 = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.add(stage, time.monotonic() - t0)

    def estimate(self, stage: str) -> float:
        """Expected seconds of the next ``stage``."""
        runs = self.seen.get(stage, [])[-5:]
        guess = DEFAULT_STAGE_SECONDS.get(stage, 5.0)
        if not runs:
            return guess
        return max(sum(runs) / len(runs), guess / 2)
