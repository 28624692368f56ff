"""The JSON-RPC edge: every request gets an answer, no answer carries a traceback, exit is prompt.

:class:`ParevoProtocol` is pygls's :class:`~pygls.protocol.LanguageServerProtocol`
with three changes:

* A request whose params do not match the LSP types (a negative position,
  ``params`` that are a string, a version that is not a number) is answered
  with ``InvalidParams`` and a sentence naming the field; pygls would log the
  error and never answer. A malformed notification is dropped with one log line.
* An unexpected exception in any handler (pygls's built-in ones included) is
  answered with a one-sentence ``InternalError``; the traceback goes to the log,
  never into ``error.data``.
* ``exit`` (with or without ``shutdown``) stops the searches and ends the
  process within :data:`EXIT_GRACE_S` seconds (see :meth:`ParevoServer.terminate`),
  and nothing is written to the client once it is closing.
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
from cattrs.errors import BaseValidationError
from lsprotocol import types
from lsprotocol.types import ResponseErrorMessage
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage, MsgId
from pygls.protocol.language_server import lsp_method

if TYPE_CHECKING:
    from .app import ParevoServer

log = logging.getLogger("parevo.server")

QUOTE = "'"

#: Method name given to a message that could not be read and is dropped.
DROPPED = "$/parevo/dropped"


@attrs.define
class UnreadableRequest:
    """A request whose params could not be read as its LSP type: answered with ``InvalidParams``."""

    id: MsgId
    method: str
    reason: str
    jsonrpc: str = "2.0"


def _first_problem(exc: BaseException, where: str = "params") -> str:
    """The first leaf error of a cattrs validation error, with where it happened (``params.position.line``)."""
    if isinstance(exc, BaseValidationError):
        for sub in exc.exceptions:
            note = next((n for n in getattr(sub, "__notes__", []) if "@ attribute " in n), None)
            here = where
            if note is not None:
                attr = note.rsplit("@ attribute ", 1)[1].strip()
                here = where if attr == "params" else f"{where}.{attr}"
            return _first_problem(sub, here)
        return f"invalid value at {where}"
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing field {_camel(text.strip(QUOTE))}"
        where = where.rsplit(".", 1)[0] if "." in where else where
    elif isinstance(exc, TypeError):
        text = "expected an object"
    return f"{text} (at {'.'.join(_camel(part) for part in where.split('.'))})"


def _camel(name: str) -> str:
    """``text_document`` → ``textDocument`` (LSP's field names)."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class ParevoProtocol(LanguageServerProtocol):
    """pygls's LSP protocol with parevo's edge policy (see the module doc)."""

    _server: "ParevoServer"

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self.closing = False

    # ------------------------------------------------------------------ reading
    def structure_message(self, data: dict[str, Any]):
        """Structure one incoming message (pygls's rules); a request whose params do not read as its
        LSP type becomes an :class:`UnreadableRequest`, an unreadable notification or response is
        dropped with one log line (no traceback)."""
        if "jsonrpc" not in data:
            return data
        method = data.get("method")
        try:
            if "id" in data:
                if "error" in data:
                    return self._converter.structure(data, ResponseErrorMessage)
                if "method" in data:
                    return self._converter.structure(data, self.get_message_type(method) or JsonRPCRequestMessage)
                return self._converter.structure(
                    data, self._result_types.pop(data["id"], None) or JsonRPCResponseMessage)
            return self._converter.structure(data, self.get_message_type(method or "") or JsonRPCNotification)
        except Exception as exc:  # noqa: BLE001 - any structuring failure is the sender's malformed message
            reason = _first_problem(exc)
            msg_id = data.get("id")
            if "id" in data and isinstance(method, str) and "error" not in data:
                log.warning("parevo: invalid params for %s: %s", method, reason)
                return UnreadableRequest(id=msg_id if isinstance(msg_id, (str, int)) else None, method=method,
                                         reason=reason)
            log.warning("parevo: dropped an unreadable message (%s): %s", method or "a response", reason)
            return JsonRPCNotification(method=DROPPED, jsonrpc="2.0", params=None)

    def handle_message(self, message):
        """Answer an :class:`UnreadableRequest` with ``InvalidParams``; hand everything else to pygls."""
        if isinstance(message, UnreadableRequest):
            self._send_response(message.id, error=JsonRpcInvalidParams(
                f"invalid params for {message.method}: {message.reason}").to_response_error())
            return
        if isinstance(message, JsonRPCNotification) and message.method == DROPPED:
            return
        super().handle_message(message)

    # ------------------------------------------------------------------ answering
    def _send_handler_result(self, future: Future[Any], *, msg_id: MsgId):
        """Send a handler's result; an unexpected exception becomes a sentence, its traceback goes to the log."""
        self._request_futures.pop(msg_id, None)
        if future.cancelled():
            self._send_response(msg_id, error=JsonRpcRequestCancelled(
                f'Request with id "{msg_id}" is canceled').to_response_error())
            return
        exc = future.exception()
        if exc is None:
            self._send_response(msg_id, result=future.result())
            return
        self._send_response(msg_id, error=_response_error(exc, msg_id))

    def _handle_request(self, msg_id: MsgId, method_name: str, params: Any):
        """Run a request's handler; an unknown method or a failure to start it is answered too."""
        try:
            handler = self._get_handler(method_name)
            self._ctx_msg_id.set(msg_id)
            self._execute_handler(msg_id=msg_id, handler=handler, args=(params,),
                                  callback=partial(self._send_handler_result, msg_id=msg_id))
        except Exception as exc:  # noqa: BLE001 - every request gets an answer
            self._send_response(msg_id, error=_response_error(exc, msg_id))

    def _send_data(self, data: Any):
        """Write to the client, unless it is closing (then drop silently: nobody reads any more)."""
        if self.closing:
            return
        super()._send_data(data)

    # ------------------------------------------------------------------ exit
    @lsp_method(types.EXIT)
    def lsp_exit(self, *args):
        """``exit``: stop every search and end the process (0 after ``shutdown``, 1 without)."""
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        self._server.terminate(0 if self._shutdown else 1)


def _response_error(exc: BaseException, msg_id: MsgId) -> types.ResponseError:
    """The response error for an exception escaping a handler (never with a traceback)."""
    if isinstance(exc, JsonRpcException):
        if isinstance(exc.data, dict) and "traceback" in exc.data:
            exc.data = None
        if isinstance(exc, JsonRpcInternalError):
            log.error("parevo: request %s failed: %s", msg_id, exc.message)
        return exc.to_response_error()
    log.error("parevo: request %s failed", msg_id, exc_info=exc)
    return JsonRpcInternalError(f"parevo hit an internal error ({type(exc).__name__}: {exc}); "
                                "the server log has the details").to_response_error()


def flush_streams() -> None:
    """Flush logging and stderr before a hard exit."""
    logging.shutdown()
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
