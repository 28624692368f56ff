"""Compile and test candidates while sharing the cores: :class:`BuildPipeline`.

A candidate's compile phase is its optimized build, its differential test and
its ThreadSanitizer build (the race stage then finds that build in the compile
cache). Every part holds a share of the :class:`~parevo.evolution.schedule.CoreGate`,
so none runs while a race, timing or profile run holds the machine.

Two ways to build (the runner picks):

* **latency** (``speculative=True``, a candidate nothing was built ahead for:
  the search's first, a generation's first child): the optimized and
  ThreadSanitizer builds side by side, on the caller's thread, then the test:
  no other build holds the cores then, and the candidate is measured as early
  as possible (a generation's first child waited about 3.5 s longer for its
  sanitizer build after its test);
* **throughput**: :meth:`BuildPipeline.ahead` starts the next candidates'
  builds on a pool of ``cores`` threads while the current one is measured or
  waits, and the ThreadSanitizer build runs only after the test passed (about
  a third of candidates fail earlier, and their sanitizer build is not paid).
  :meth:`BuildPipeline.take` hands a finished build to the runner;
  :meth:`BuildPipeline.drop` kills builds no longer wanted (a stop) and waits
  for their threads, so no compile outlives the search.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from parevo.toolchain.evaluate import Cancelled
from parevo.toolchain.harness import variant_source
from parevo.toolchain.verdicts import StageVerdict

from .candidates import Candidate
from .schedule import CoreGate, StageClock, Wall


def check_cancel(ev) -> None:
    """A stage killed by a cancel or the wall reports a failed run: raise :class:`Cancelled` instead."""
    if ev.cancel.is_set():
        raise Cancelled("cancelled")


@dataclass
class Built:
    """A candidate's compile and test, done before its measurement: the variant's source and label,
    the compile verdict and executable (None when it failed), and the test verdict (None when the
    compile failed)."""

    source: str
    label: str
    compile: StageVerdict
    exe: str | None
    test: StageVerdict | None = None


class BuildPipeline:
    """Builds and tests candidates for a :class:`~parevo.evolution.search.CascadeRunner` (see the
    module docstring). ``upcoming`` is the list of candidates the runner will evaluate next."""

    def __init__(self, evaluator, gate: CoreGate, clock: StageClock, wall: Wall, cores: int):
        self.ev = evaluator
        self.gate = gate
        self.clock = clock
        self.wall = wall
        self.cores = max(1, cores)
        self.upcoming: list[Candidate] = []
        self._futures: dict[str, Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()

    def build(self, cand: Candidate, *, speculative: bool, cancel: threading.Event | None = None) -> Built:
        """Compile and test ``cand`` now (see the module docstring for the two ways).

        Raises:
            Cancelled: cancelled, at the wall, or ``cancel`` set.
        """
        ev = self.ev
        source = variant_source(ev.site, cand.loop_text, cand.includes, ev.plan, function_text=cand.function_text)
        label = f"{cand.origin} {cand.id}"
        t0 = time.monotonic()
        if speculative:
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(self._tsan, source, label, cancel)
                with self.gate.shared():
                    verdict, exe = ev.compile_stage(source, label, cancel=cancel)
        else:
            with self.gate.shared():
                verdict, exe = ev.compile_stage(source, label, cancel=cancel)
        self._check(cancel)
        self.clock.add("compile", time.monotonic() - t0)
        built = Built(source=source, label=label, compile=verdict, exe=exe)
        if not verdict.passed or exe is None:
            return built
        with self.gate.shared():
            built.test = self.clock.timed("test", ev.test_stage, exe, cancel) if cancel is not None else \
                self.clock.timed("test", ev.test_stage, exe)
        self._check(cancel)
        if built.test.passed and not speculative:
            self._tsan(source, label, cancel)
            self._check(cancel)
        return built

    def _tsan(self, source: str, label: str, cancel: threading.Event | None) -> None:
        """The ThreadSanitizer build (it warms the compile cache: the race stage finds it there)."""
        with self.gate.shared():
            self.ev.build(source, sanitize=True, label=label + " (tsan)", cancel=cancel)

    def _check(self, cancel: threading.Event | None) -> None:
        check_cancel(self.ev)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")

    def ahead(self, seen: set[str], cache=None) -> None:
        """Start building the next candidates of :attr:`upcoming` not seen and not in ``cache``
        (at most ``cores`` at a time)."""
        if self.cores < 2:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.cores, thread_name_prefix="parevo-build")
            self._stop = self.wall.link(threading.Event())
        for c in self.upcoming:
            if len(self._futures) >= self.cores:
                break
            if c.id in self._futures or c.id in seen or (cache is not None and cache.peek(c) is not None):
                continue
            if self.ev.race_refusal(c.code) is not None:  # rejected before any build when its turn comes
                continue
            self._futures[c.id] = self._pool.submit(self.build, c, speculative=False, cancel=self._stop)

    def take(self, cand: Candidate) -> Built | None:
        """The build started ahead for ``cand`` (waiting for it), or None when there is none or it
        was stopped without the search being cancelled.

        Raises:
            Cancelled: the search was cancelled or reached its wall.
        """
        fut = self._futures.pop(cand.id, None)
        if fut is None:
            return None
        try:
            return fut.result()
        except Cancelled:
            check_cancel(self.ev)
            return None

    def drop(self) -> None:
        """Stop the builds ahead (kill their compiles) and wait for their threads."""
        if self._pool is None:
            return
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        self._futures.clear()
