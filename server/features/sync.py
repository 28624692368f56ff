"""Document sync: opening shows stored results, editing moves or drops them, closing clears them."""

from __future__ import annotations

from lsprotocol import types

from ..errors import guarded
from ..app import ParevoServer


@guarded("opening a document", fallback=None)
async def did_open(ls: ParevoServer, params: types.DidOpenTextDocumentParams) -> None:
    """Show stored results of this file's loops (checking their dependencies first)."""
    path = ls.documents.path_of(params.text_document.uri)
    if path is not None:
        await ls.staleness.check_stored(path, ls.toolchain.current)


@guarded("a document change", fallback=None)
def did_change(ls: ParevoServer, params: types.DidChangeTextDocumentParams) -> None:
    """Re-publish: results whose loop or function changed disappear, the others move along."""
    ls.stores.forget(params.text_document.uri)
    ls.publisher.publish(params.text_document.uri)


@guarded("closing a document", fallback=None)
def did_close(ls: ParevoServer, params: types.DidCloseTextDocumentParams) -> None:
    """Clear the closed document's diagnostics."""
    ls.stores.forget(params.text_document.uri)
    ls.publisher.clear(params.text_document.uri)


def register(server: ParevoServer) -> None:
    """Attach the document sync handlers."""
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
