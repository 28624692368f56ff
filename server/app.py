"""The parevo language server class: the pygls server plus its typed services.

Built by :func:`parevo.server.lsp.create_server` (the only way to make one).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

from lsprotocol import types
from pygls.exceptions import FeatureNotificationError
from pygls.lsp.server import LanguageServer

from .protocol import ParevoProtocol, flush_streams
from .reaper import kill_descendants

from .services.analysis import Analysis
from .services.client import Client
from .services.config import Configuration
from .services.documents import Documents
from .services.publisher import Publisher
from .services.searches import Searches
from .services.setup import ParlaySetup
from .services.staleness import Staleness
from .services.stores import Stores
from .services.toolchain import ToolchainService

log = logging.getLogger("parevo.server")

VERSION = "0.1.0"

#: Seconds ``exit`` waits for cancelled searches to stop before the process ends regardless.
EXIT_GRACE_S = 1.5


class ParevoServer(LanguageServer):
    """The parevo language server: the pygls server plus its services.

    Built only by :func:`create_server`, which sets every service below before
    the first message is read. ``io`` runs blocking file and discovery work,
    ``analysis`` reads loops (tree-sitter, facts) on a thread or in its worker process.
    """

    client: Client
    config: Configuration
    documents: Documents
    stores: Stores
    publisher: Publisher
    toolchain: ToolchainService
    staleness: Staleness
    setup: ParlaySetup
    searches: Searches
    io: ThreadPoolExecutor
    analysis: Analysis

    protocol: ParevoProtocol

    def __init__(self) -> None:
        super().__init__("parevo", VERSION, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=ParevoProtocol)
        self.closed = False

    def close(self) -> None:
        """Cancel every search (their subprocesses are killed), stop watching, stop the pools."""
        if self.closed:
            return
        self.closed = True
        self.searches.close()
        self.staleness.stop()
        self.client.cancel_tasks()
        self.io.shutdown(wait=False, cancel_futures=True)
        self.analysis.close()

    def shutdown(self):
        """Server teardown (also on a client that disconnects): cancel searches first."""
        self.searches.cancel_all()
        self.close()
        return super().shutdown()

    def terminate(self, code: int) -> NoReturn:
        """End the process now: nothing more is sent, searches are cancelled and get
        :data:`EXIT_GRACE_S` seconds to kill their subprocesses, any process still below the
        server is killed, logs are flushed, and the process exits with ``code``.

        Used for ``exit`` and when the client disconnects: the interpreter's own exit would wait
        for worker threads (a search winding down, a read blocked on stdin) and print their
        errors.
        """
        self.protocol.closing = True
        try:
            self.close()
            if not self.searches.queue.wait_stopped(EXIT_GRACE_S):
                log.warning("parevo: a search did not stop within %.1f s of exit; killing its processes",
                            EXIT_GRACE_S)
            kill_descendants()
            flush_streams()
        finally:
            os._exit(code)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls's out-of-band errors: one log line; a notification that could not be handled is
        also shown to the user, once per distinct message, as a sentence."""
        log.warning("parevo: %s: %s", getattr(source, "__name__", source), error)
        if self.protocol.closing or source is not FeatureNotificationError:
            return
        self.client.message_once(f"parevo could not handle a notification from the editor ({error}); "
                                 "the server log has the details")
