"""Where loops are read: a thread for small documents, a worker process for large ones.

tree-sitter's parser and parevo's analysis hold Python's GIL: reading a
5 MB file on a thread of the server's process stalls the event loop for
seconds. :class:`Analysis` therefore reads documents of at least
:data:`PROCESS_BYTES` in a worker process (:class:`WorkerProcess`) and smaller
ones on a thread, where they take milliseconds. Documents over
:data:`LIMIT_BYTES` are refused with :class:`TooLarge`.

A job in the worker that nobody waits for any more (the request was
cancelled, or a newer version of the same document was asked for) is stopped
by ending the worker (:mod:`parevo.server.worker`), which the next job starts again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from ..errors import UserError

log = logging.getLogger("parevo.server")

T = TypeVar("T")

#: Documents of at least this many bytes are read in the worker process.
PROCESS_BYTES = 64 * 1024
#: Documents over this many bytes are not read at all (8 MiB).
LIMIT_BYTES = 8 * 1024 * 1024


class TooLarge(UserError):
    """The document is over :data:`LIMIT_BYTES`."""

    def __init__(self, size: int, limit: int = LIMIT_BYTES):
        super().__init__(f"too large for parevo ({size / 2**20:.1f} MB; limit {limit / 2**20:.0f} MB)")
        self.size = size


class Superseded(UserError):
    """A newer version of the document was asked for while this one was being read."""


class WorkerProcess:
    """One worker process (``python -m parevo.server.worker``) running one job at a time.

    ``run(owner, fn, *args)`` runs ``fn(*args)`` in the worker; a call from
    another ``owner`` waits for the one before it, a call from the same owner
    (a newer version of the same document) supersedes it.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None
        self._lock = asyncio.Lock()
        self._owner: str | None = None
        self._waiting: dict[str, int] = {}
        self._pending: tuple[asyncio.Future[tuple[str, Any]], int, asyncio.AbstractEventLoop] | None = None

    @property
    def pid(self) -> int | None:
        """The worker's process id, while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _start(self) -> tuple[Connection, Connection]:
        if self._proc is None or self._proc.poll() is not None:
            self.stop()
            to_child_r, to_child_w = os.pipe()
            from_child_r, from_child_w = os.pipe()
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "parevo.server.worker", str(to_child_r), str(from_child_w)],
                    pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    close_fds=True)
            finally:
                os.close(to_child_r)
                os.close(from_child_w)
            self._send = Connection(to_child_w, readable=False)
            self._recv = Connection(from_child_r, writable=False)
        assert self._send is not None and self._recv is not None
        return self._send, self._recv

    def stop(self) -> None:
        """End the worker (a running job is abandoned: its caller gets EOFError); the next job starts a new one."""
        pending, self._pending = self._pending, None
        if pending is not None:  # first wake the job's caller: closing the pipe silently drops its reader
            done, fd, loop = pending
            try:
                loop.remove_reader(fd)
            except (ValueError, OSError):
                pass
            if not done.done():
                done.set_exception(EOFError("the analysis worker was stopped"))
        proc, self._proc = self._proc, None
        for conn in (self._send, self._recv):
            if conn is not None:
                try:
                    conn.close()
                except OSError:
                    pass
        self._send = self._recv = None
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                log.warning("parevo: the analysis worker %s did not end", proc.pid)

    async def run(self, owner: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the worker (``fn`` a module-level function, arguments and result picklable).

        Raises:
            Superseded: a newer call for ``owner`` came while this one waited or ran.
            asyncio.CancelledError: the caller was cancelled (the worker's job is stopped).
            Exception: what ``fn`` raised.
        """
        ticket = self._waiting.get(owner, 0) + 1
        self._waiting[owner] = ticket
        if self._owner == owner:
            self.stop()  # the running job reads an older version of this document
        async with self._lock:
            if self._waiting.get(owner) != ticket:
                raise Superseded("the document changed while parevo was reading it")
            loop = asyncio.get_running_loop()
            # starting the worker (a Python process importing the toolchain) never on the event loop
            send, recv = await loop.run_in_executor(None, self._start)
            self._owner = owner
            done: asyncio.Future[tuple[str, Any]] = loop.create_future()
            fd = recv.fileno()

            def received(f: asyncio.Future) -> None:
                if done.done():
                    return
                if f.cancelled():
                    done.set_exception(EOFError("the reply was not read"))
                elif f.exception() is not None:
                    done.set_exception(f.exception())  # type: ignore[arg-type]
                else:
                    done.set_result(f.result())

            def readable() -> None:
                loop.remove_reader(fd)
                # unpickling runs on a thread: a site crossing back is parsed again (ParsedSite.__reduce__)
                loop.run_in_executor(None, recv.recv).add_done_callback(received)

            loop.add_reader(fd, readable)
            self._pending = (done, fd, loop)
            try:
                # the text can be megabytes: written on a thread (the pipe takes 64 KiB at a time)
                await loop.run_in_executor(None, send.send, (fn, args))
                status, value = await done
            except asyncio.CancelledError:
                self.stop()
                raise
            except (EOFError, OSError):
                self.stop()
                if self._waiting.get(owner) != ticket:
                    raise Superseded("the document changed while parevo was reading it") from None
                raise RuntimeError("the analysis worker ended unexpectedly") from None
            finally:
                if self._pending is not None and self._pending[0] is done:
                    self._pending = None
                    try:
                        loop.remove_reader(fd)
                    except (ValueError, OSError):
                        pass
                self._owner = None
            if status == "error":
                raise value
            return value


class Analysis:
    """Runs loop reading where it does not stall the server (see the module doc).

    ``thread`` is the pool for small documents; the worker process starts on
    the first large document.
    """

    def __init__(self, thread: Executor, *, process_bytes: int = PROCESS_BYTES, limit_bytes: int = LIMIT_BYTES):
        self.thread = thread
        self.process_bytes = process_bytes
        self.limit_bytes = limit_bytes
        self.worker = WorkerProcess()

    def check_size(self, size: int) -> None:
        """Raise :class:`TooLarge` for a document of ``size`` bytes over the limit."""
        if size > self.limit_bytes:
            raise TooLarge(size, self.limit_bytes)

    async def run(self, owner: str, size: int, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` for document ``owner`` of ``size`` bytes: on the thread or in the worker.

        Raises:
            TooLarge: the document is over the limit.
            Superseded: see :meth:`WorkerProcess.run`.
        """
        self.check_size(size)
        if size < self.process_bytes:
            return await asyncio.get_running_loop().run_in_executor(self.thread, fn, *args)
        return await self.worker.run(owner, fn, *args)

    def close(self) -> None:
        """Stop the worker process and the thread pool."""
        self.worker.stop()
        self.thread.shutdown(wait=False, cancel_futures=True)

