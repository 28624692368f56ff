"""Open documents: which are C/C++ files, where they live, and the loop at a selection.

Reading a loop (tree-sitter parse, loop facts) is the only heavy work a
request does; :meth:`Documents.prepare` runs it through
:class:`~.analysis.Analysis` (a thread for small documents, a worker process
for large ones), never on the event loop, and keeps the answer per document
version and selection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from parevo.toolchain.models import ParevoError
from parevo.toolchain.site import ParsedSite

from ..errors import UserError
from ..reading import Prepared, Selection, read_loop, site_of
from .analysis import Analysis

log = logging.getLogger("parevo.server")

CPP_SUFFIXES = {".c", ".cc", ".cpp", ".cxx", ".c++", ".h", ".hh", ".hpp", ".hxx", ".h++", ".ipp", ".inl", ".cu", ".cuh"}
CPP_LANGUAGES = {"c", "cpp", "cuda", "cuda-cpp", "objective-c", "objective-cpp"}

T = TypeVar("T")

#: A surrogate code point in a Python string is always a lone one (JSON pairs decode to one code point).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

#: Prepared loops kept (LRU), across documents.
PREPARED_CACHE = 64


def readable(text: str) -> str:
    """``text`` with each lone surrogate (a client passing invalid UTF-16 or UTF-8 through) replaced
    by U+FFFD, so it encodes as UTF-8; one code point and one UTF-16 unit each way, so every
    position in the document stays exact."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return LONE_SURROGATE.sub("\ufffd", text)


class Documents:
    """The workspace's documents, seen as C/C++ files on disk.

    ``analysis`` is the executor that reads loops (so a large file never
    blocks the event loop).
    """

    def __init__(self, lsp: LanguageServer, analysis: Analysis) -> None:
        self.lsp = lsp
        self.analysis = analysis
        self._prepared: OrderedDict[tuple, Prepared | ParevoError] = OrderedDict()

    # ------------------------------------------------------------------ documents
    def get(self, uri: str) -> TextDocument:
        """The open (or on-disk) document ``uri``."""
        return self.lsp.workspace.get_text_document(uri)

    def text(self, uri: str) -> tuple[str, int | None]:
        """The current text and version of document ``uri`` (read from disk when it is not open),
        made :func:`readable`: every reader in the server uses this text.

        Raises:
            UserError: the document is not open and its file cannot be read.
        """
        doc = self.get(uri)
        try:
            return readable(doc.source), doc.version
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise UserError(f"{doc.path} is not open in the editor and cannot be read ({why})") from None

    def uris(self) -> list[str]:
        """URIs of the open documents."""
        try:
            return list(self.lsp.workspace.text_documents)
        except RuntimeError:  # not initialized
            return []

    @property
    def encoding(self) -> str:
        """The negotiated position encoding (UTF-16 unless the client chose another)."""
        try:
            return self.lsp.workspace.position_encoding or types.PositionEncodingKind.Utf16
        except RuntimeError:
            return types.PositionEncodingKind.Utf16

    def path_of(self, uri: str) -> str | None:
        """The file system path of a ``file:`` document that looks like C or C++; else ``None``."""
        if not uri.startswith("file:"):
            return None
        path = to_fs_path(uri)
        if not path:
            return None
        try:
            lang = self.get(uri).language_id
        except Exception:  # noqa: BLE001 - a URI pygls cannot turn into a document
            lang = None
        if lang in CPP_LANGUAGES or Path(path).suffix.lower() in CPP_SUFFIXES:
            return path
        return None

    def uris_of(self, path: str) -> list[str]:
        """The open documents of file ``path``."""
        norm = os.path.normpath(path)
        out = []
        for uri in self.uris():
            p = to_fs_path(uri)
            if p and os.path.normpath(p) == norm:
                out.append(uri)
        return out

    def workspace_root(self, path: str | None = None) -> str | None:
        """The workspace folder holding ``path`` (longest match), the root path, or ``path``'s folder."""
        folders: list[str] = []
        try:
            ws = self.lsp.workspace
            for f in (ws.folders or {}).values():
                p = to_fs_path(f.uri)
                if p:
                    folders.append(os.path.abspath(p))
            if ws.root_path:
                folders.append(os.path.abspath(ws.root_path))
        except RuntimeError:
            pass
        if path:
            ap = os.path.abspath(path)
            inside = [f for f in folders if ap == f or ap.startswith(f.rstrip(os.sep) + os.sep)]
            if inside:
                return max(inside, key=len)
            return os.path.dirname(ap)
        return folders[0] if folders else None

    # ------------------------------------------------------------------ loops
    async def prepare(self, uri: str, selection: Selection) -> Prepared:
        """Find and analyze the loop at ``selection`` in the document's current text (no compile).

        Runs on the analysis pool; the answer (or the error) is kept per
        document version and selection.

        Raises:
            ParseFailure, NoLoopFound, NotInFunction: as ``find_loop``.
            UserError: the document cannot be read (:class:`~.analysis.TooLarge`: it is over the size limit).
        """
        source, version = self.text(uri)
        key = (uri, version, selection, hash(source))
        hit = self._prepared.get(key)
        if hit is None:
            path = os.path.abspath(self.path_of(uri) or to_fs_path(uri) or uri)
            hit = await self.run(uri, source, read_loop, uri, version, selection, source, path)
            self._prepared[key] = hit
            while len(self._prepared) > PREPARED_CACHE:
                self._prepared.popitem(last=False)
        else:
            self._prepared.move_to_end(key)
        if isinstance(hit, ParevoError):
            raise hit
        return hit

    async def site(self, prepared: Prepared) -> ParsedSite:
        """The parsed site of ``prepared`` for a job of this process (a search, a race check), read
        again on the analysis thread when the loop was read in the worker process (a large document).

        Raises:
            NoLoopFound, NotInFunction: as ``site_at`` (not for an unchanged text).
        """
        if prepared.site_here is not None:
            return prepared.site_here
        return await asyncio.get_running_loop().run_in_executor(self.analysis.thread, site_of, prepared)

    async def run(self, uri: str, source: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` (reading document ``uri``, text ``source``) where it cannot stall the
        server: a thread for a small document, the worker process for a large one.

        Raises:
            TooLarge: the document is over the size limit.
            Superseded: a newer version of the document was asked for meanwhile.
        """
        return await self.analysis.run(uri, len(source.encode("utf-8")), fn, *args)
