"""The search queue: one search per loop, a bounded queue across loops, race checks in their own lane.

Race checks (``races``) and searches (``evolve``, ``fix``) run in separate lanes
(:func:`lane_of`), each with ``max_running`` slots and its own worker threads,
so a short race check never waits behind a ten-minute search.

A :class:`Job` wraps a blocking callable (``evolve`` or ``check_races``) that
runs on a worker thread via ``run_in_executor``; the event loop never waits
on it. Progress events from the worker are marshalled back to the loop with
``call_soon_threadsafe`` so that every LSP message is sent from the loop.
Cancelling a job sets its ``threading.Event``: the engine kills its
subprocesses and returns. No LSP here: the server passes callbacks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done"]


class QueueFull(Exception):
    """The queue already holds its maximum of waiting searches."""


class AlreadyRunning(Exception):
    """A search for this loop is queued or running (``job`` is that search)."""

    def __init__(self, job: "Job"):
        super().__init__(f"a parevo search is already {job.state} for this loop")
        self.job = job


_ids = itertools.count(1)

#: The type of what the front door keeps with each job (the server's ``JobContext``).
C = TypeVar("C")


def lane_of(kind: str) -> str:
    """The lane a job kind runs in: ``checks`` for race checks, ``searches`` for everything else."""
    return "checks" if kind == "races" else "searches"


@dataclass(eq=False)
class Job(Generic[C]):
    """One search or race check of one loop.

    ``run(progress, cancel)`` is the blocking work; ``context`` holds what the
    front door needs while the job runs and when it ends (a typed object of
    its own: the language server's :class:`~parevo.server.services.searches.JobContext`).
    ``token`` is the work-done progress token, if the client has one.
    """

    key: str
    kind: str
    title: str
    run: Callable[[Callable[[Any], None], threading.Event], Any]
    context: C
    id: int = field(default_factory=lambda: next(_ids))
    cancel: threading.Event = field(default_factory=threading.Event)
    state: JobState = "queued"
    token: str | None = None
    last_event: Any = None
    result: Any = None
    error: BaseException | None = None
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    ended: float | None = None
    done: asyncio.Future | None = None
    future: concurrent.futures.Future | None = None  # the worker thread's run

    @property
    def cancelled(self) -> bool:
        """True when someone asked this job to stop."""
        return self.cancel.is_set()


class JobQueue:
    """Run jobs ``max_running`` at a time per lane (:func:`lane_of`), with at most ``max_queued`` waiting.

    Callbacks, all called on the event loop: ``on_start(job)`` when a job
    leaves the queue, ``on_progress(job, event)`` for each progress event,
    ``on_done(job)`` when it ended (``job.result`` or ``job.error`` set,
    ``job.cancelled`` when it was cancelled).
    """

    def __init__(self, *, max_running: int = 1, max_queued: int = 4,
                 on_start: Callable[[Job], Any] | None = None,
                 on_progress: Callable[[Job, Any], Any] | None = None,
                 on_done: Callable[[Job], Any] | None = None):
        self.max_running = max_running
        self.max_queued = max_queued
        self.on_start = on_start or (lambda job: None)
        self.on_progress = on_progress or (lambda job, ev: None)
        self.on_done = on_done or (lambda job: None)
        self.queued: deque[Job] = deque()
        self.running: dict[int, Job] = {}
        self.executors: dict[str, ThreadPoolExecutor] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    # ------------------------------------------------------------ queries
    def jobs(self) -> list[Job]:
        """Running jobs then queued ones."""
        return list(self.running.values()) + list(self.queued)

    def find(self, key: str) -> Job | None:
        """The queued or running job of loop ``key``."""
        return next((j for j in self.jobs() if j.key == key), None)

    def by_token(self, token: Any) -> Job | None:
        """The job whose progress token is ``token``."""
        return next((j for j in self.jobs() if j.token == token), None)

    def position(self, job: Job) -> int:
        """1-based place of a queued job in its lane's queue (0 when not queued)."""
        for i, j in enumerate((q for q in self.queued if lane_of(q.kind) == lane_of(job.kind)), start=1):
            if j is job:
                return i
        return 0

    def running_in(self, lane: str) -> int:
        """Jobs running in lane ``lane`` (see :func:`lane_of`)."""
        return sum(1 for j in self.running.values() if lane_of(j.kind) == lane)

    # ------------------------------------------------------------ control
    def submit(self, job: Job) -> Job:
        """Queue ``job`` and start it when a slot is free.

        Raises:
            AlreadyRunning: a job for the same loop is queued or running.
            QueueFull: ``max_queued`` jobs already wait.
        """
        if self._closed:
            raise QueueFull("the server is shutting down")
        existing = self.find(job.key)
        if existing is not None:
            raise AlreadyRunning(existing)
        if self.running_in(lane_of(job.kind)) >= self.max_running and len(self.queued) >= self.max_queued:
            raise QueueFull(f"{len(self.queued)} parevo searches are already waiting; cancel one or wait")
        job.done = asyncio.get_running_loop().create_future()
        self.queued.append(job)
        self._pump()
        return job

    def cancel(self, job: Job) -> None:
        """Stop ``job``: a queued job ends at once, a running one as soon as its subprocesses are killed."""
        job.cancel.set()
        if job.state == "queued" and job in self.queued:
            self.queued.remove(job)
            self._finish(job)

    def cancel_all(self) -> None:
        """Cancel every queued and running job (shutdown, exit, disconnect)."""
        for job in list(self.queued):
            self.cancel(job)
        for job in list(self.running.values()):
            job.cancel.set()

    def close(self) -> None:
        """Cancel everything and refuse new jobs; worker threads end when their engines return."""
        self._closed = True
        self.cancel_all()
        for ex in self.executors.values():
            ex.shutdown(wait=False, cancel_futures=True)

    def wait_stopped(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until every running job's worker has returned (any thread,
        with or without a running event loop); True when none is left running."""
        futures = [j.future for j in list(self.running.values()) if j.future is not None]
        if not futures:
            return True
        _, pending = concurrent.futures.wait(futures, timeout=timeout)
        return not pending

    # ------------------------------------------------------------ internals
    def _pump(self) -> None:
        for job in list(self.queued):
            if self._closed:
                return
            if self.running_in(lane_of(job.kind)) >= self.max_running:
                continue
            self.queued.remove(job)
            job.state = "running"
            job.started = time.monotonic()
            self.running[job.id] = job
            task = asyncio.get_running_loop().create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()

        def progress(event: Any) -> None:  # called on the worker thread
            try:
                loop.call_soon_threadsafe(self._progress, job, event)
            except RuntimeError:  # the loop is closed: the server is going away
                job.cancel.set()

        try:
            self._safe(self.on_start, job)
            job.future = self._executor(lane_of(job.kind)).submit(job.run, progress, job.cancel)
            job.result = await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            job.cancel.set()
            raise
        except BaseException as e:  # noqa: BLE001 - a crashing search must not take the server down
            job.error = e
        finally:
            self.running.pop(job.id, None)
            self._finish(job)
            self._pump()

    def _executor(self, lane: str) -> ThreadPoolExecutor:
        if lane not in self.executors:
            self.executors[lane] = ThreadPoolExecutor(max_workers=self.max_running,
                                                      thread_name_prefix=f"parevo-{lane}")
        return self.executors[lane]

    def _progress(self, job: Job, event: Any) -> None:
        if job.state != "running":
            return
        job.last_event = event
        self._safe(self.on_progress, job, event)

    def _finish(self, job: Job) -> None:
        job.state = "done"
        job.ended = time.monotonic()
        self._safe(self.on_done, job)
        if job.done is not None and not job.done.done():
            job.done.set_result(job)

    @staticmethod
    def _safe(fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            log.exception("parevo job callback failed")
