"""The parevo language server class: the pygls server plus its typed services.

Built by :func:`parevo.server.lsp.create_server` (the only way to make one).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .services.client import Client
from .services.config import Configuration
from .services.documents import Documents
from .services.publisher import Publisher
from .services.searches import Searches
from .services.setup import ParlaySetup
from .services.staleness import Staleness
from .services.stores import Stores
from .services.toolchain import ToolchainService

VERSION = "0.1.0"


class ParevoServer(LanguageServer):
    """The parevo language server: the pygls server plus its services.

    Built only by :func:`create_server`, which sets every service below before
    the first message is read. ``io`` runs blocking file and discovery work,
    ``analysis`` reads loops (tree-sitter, facts).
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
    analysis: ThreadPoolExecutor

    def __init__(self) -> None:
        super().__init__("parevo", VERSION, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.closed = False

    def close(self) -> None:
        """Cancel every search (their subprocesses are killed), stop watching, stop the pools."""
        if self.closed:
            return
        self.closed = True
        self.searches.close()
        self.staleness.stop()
        self.io.shutdown(wait=False, cancel_futures=True)
        self.analysis.shutdown(wait=False, cancel_futures=True)

    def shutdown(self):
        """Server teardown (also on a client that disconnects): cancel searches first."""
        self.searches.cancel_all()
        self.close()
        return super().shutdown()
