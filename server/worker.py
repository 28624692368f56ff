"""The analysis worker process: ``python -m parevo.server.worker READ_FD WRITE_FD``.

Started by :class:`parevo.server.services.analysis.WorkerProcess`. Reads
``(function, args)`` jobs from file descriptor ``READ_FD`` and writes
``("ok", value)`` or ``("error", exception)`` to ``WRITE_FD``
(:class:`multiprocessing.connection.Connection` framing: pickles). Functions
are module-level functions of parevo (:mod:`parevo.server.reading`). The
worker ends when its pipe closes.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection
from typing import Any

from . import reading

#: Imported once at start, before the first job (not during it).
PRELOADED = (reading.__name__,)


def serve(conn_in: Connection, conn_out: Connection) -> None:
    """Run jobs from ``conn_in`` until it closes, answering on ``conn_out``."""
    while True:
        try:
            fn, args = conn_in.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except Exception as e:  # noqa: BLE001 - handed back to the server, which decides
            reply = ("error", e)
        try:
            conn_out.send(reply)
        except (BrokenPipeError, OSError):
            return
        except Exception as e:  # noqa: BLE001 - e.g. an unpicklable value: say so instead
            conn_out.send(("error", RuntimeError(f"the analysis result could not be sent back: {e}")))


def main(argv: list[str]) -> int:
    """Entry point: ``argv`` = [READ_FD, WRITE_FD]."""
    serve(Connection(int(argv[0]), writable=False), Connection(int(argv[1]), readable=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
