"""The client as the server sees it: its capabilities, messages to the user, background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

log = logging.getLogger("parevo.server")


class Client:
    """Outgoing side of the connection (every method runs on the event loop).

    ``message`` shows a ``window/showMessage``; ``logmsg`` writes to the
    client's output (``window/logMessage``); both survive a client that is
    gone. ``spawn`` runs a coroutine as a background task whose failure is
    logged, never raised; :meth:`cancel_tasks` cancels the ones still running.
    """

    def __init__(self, lsp: LanguageServer) -> None:
        self.lsp = lsp
        self.tasks: set[asyncio.Task[Any]] = set()
        self.shown: set[str] = set()

    # ------------------------------------------------------------------ capabilities
    def _caps(self) -> types.ClientCapabilities:
        try:
            return self.lsp.client_capabilities or types.ClientCapabilities()
        except AttributeError:  # before initialize
            return types.ClientCapabilities()

    @property
    def supports_progress(self) -> bool:
        """The client shows server-initiated work-done progress."""
        w = self._caps().window
        return bool(w and w.work_done_progress)

    @property
    def supports_configuration(self) -> bool:
        """The client answers ``workspace/configuration``."""
        w = self._caps().workspace
        return bool(w and w.configuration)

    @property
    def resolve_edit(self) -> bool:
        """The client can resolve a code action's ``edit`` lazily."""
        td = self._caps().text_document
        ca = td.code_action if td else None
        rs = ca.resolve_support if ca else None
        return bool(rs and "edit" in (rs.properties or []))

    @property
    def disabled_support(self) -> bool:
        """The client displays ``CodeAction.disabled``."""
        td = self._caps().text_document
        ca = td.code_action if td else None
        return bool(ca and ca.disabled_support)

    # ------------------------------------------------------------------ messages
    def message(self, text: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """Show ``text`` to the user (``window/showMessage``) and log it."""
        log.info("%s", text)
        try:
            self.lsp.window_show_message(types.ShowMessageParams(type=kind, message=text))
        except Exception:  # noqa: BLE001 - the client may be gone
            log.debug("parevo: showMessage failed", exc_info=True)

    def message_once(self, text: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """Like :meth:`message`, but each distinct ``text`` is shown once per session."""
        if text in self.shown:
            log.info("%s", text)
            return
        self.shown.add(text)
        self.message(text, kind)

    def logmsg(self, text: str) -> None:
        """Log ``text`` to the client's output (``window/logMessage``)."""
        try:
            self.lsp.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=text))
        except Exception:  # noqa: BLE001 - the client may be gone
            log.debug("parevo: logMessage failed", exc_info=True)

    def publish(self, uri: str, diagnostics: list[types.Diagnostic], version: int | None = None) -> None:
        """Push ``diagnostics`` for document ``uri``."""
        self.lsp.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    # ------------------------------------------------------------------ tasks
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a background task whose failure is logged, never raised."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("parevo task failed", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    def cancel_tasks(self) -> None:
        """Cancel every background task still running (shutdown)."""
        for task in list(self.tasks):
            task.cancel()
