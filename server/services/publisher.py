"""Diagnostics: what the stores say about each open document, pushed to the client."""

from __future__ import annotations

import logging

from lsprotocol import types

from ..diagnostics import diagnostics_for
from .client import Client
from .documents import Documents
from .stores import Stores

log = logging.getLogger("parevo.server")


class Publisher:
    """Pushes ``textDocument/publishDiagnostics`` for documents, files, or everything."""

    def __init__(self, client: Client, documents: Documents, stores: Stores) -> None:
        self.client = client
        self.documents = documents
        self.stores = stores

    def publish(self, uri: str) -> None:
        """Push the diagnostics of document ``uri`` (its current version)."""
        path = self.documents.path_of(uri)
        if path is None:
            return
        source, version = self.documents.text(uri)
        root = self.documents.workspace_root(path)
        diags: list[types.Diagnostic] = []
        for rec, loc in self.stores.records_for(uri):
            try:
                diags += diagnostics_for(rec, loc, uri, path, source, self.documents.encoding, root)
            except Exception:  # noqa: BLE001 - one bad record must not hide the others
                log.exception("parevo: diagnostics of %s failed", rec.key)
        self.client.publish(uri, diags, version)

    def clear(self, uri: str) -> None:
        """Remove every diagnostic of document ``uri`` (it closed)."""
        if self.documents.path_of(uri) is not None:
            self.client.publish(uri, [])

    def publish_path(self, path: str) -> None:
        """Re-publish every open document of file ``path``."""
        self.stores.invalidate(path)
        for uri in self.documents.uris_of(path):
            self.publish(uri)

    def publish_all(self) -> None:
        """Re-publish every open document."""
        self.stores.invalidate()
        for uri in self.documents.uris():
            self.publish(uri)
