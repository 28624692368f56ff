"""One error policy for every LSP handler: :func:`guarded`.

A handler wrapped with :func:`guarded` never lets a Python exception reach the
client as a traceback:

* :class:`~pygls.exceptions.JsonRpcException` (raised on purpose, e.g.
  :class:`InvalidParams`) passes through: the client gets that error code and
  its one-sentence message.
* :class:`UserError` and :class:`~parevo.toolchain.models.ParevoError` (bad
  input, written for the user) become the handler's ``fallback`` when it has
  one, else a :class:`RequestFailed` response carrying the message.
* Anything else is a bug: it is logged with its traceback (server log only),
  and the client gets the ``fallback`` or a :class:`RequestFailed` saying that
  parevo hit an internal error and where the details are, never the traceback.

``fallback`` may be a value, or a callable ``fallback(ls, message)`` that
builds the answer from the error's sentence (commands return
``{"started": False, "reason": ...}`` this way).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from parevo.toolchain.models import ParevoError

log = logging.getLogger("parevo.server")

F = TypeVar("F", bound=Callable[..., Any])

#: Marker: no fallback, errors become a response error.
RAISE: Any = object()


class UserError(Exception):
    """A request that cannot be served as asked; the message says why and what to do."""


class RequestFailed(JsonRpcException):
    """LSP ``RequestFailed`` (-32803): the request was valid but could not be served."""

    CODE = -32803
    MESSAGE = "Request failed"


class InvalidParams(JsonRpcInvalidParams):
    """JSON-RPC ``InvalidParams`` (-32602) with a sentence naming the bad parameter."""


def describe(exc: BaseException) -> str:
    """The one-sentence message of an expected error (its own text, else its type)."""
    text = str(exc).strip()
    return text or type(exc).__name__


def _answer(fallback: Any, ls: Any, message: str) -> Any:
    if fallback is RAISE:
        raise RequestFailed(message)
    if callable(fallback):
        return fallback(ls, message)
    return fallback


def _handle(name: str, fallback: Any, ls: Any, exc: Exception) -> Any:
    if isinstance(exc, JsonRpcException):
        raise exc
    if isinstance(exc, (UserError, ParevoError)):
        log.info("parevo: %s: %s", name, describe(exc))
        return _answer(fallback, ls, describe(exc))
    log.error("parevo: %s failed", name, exc_info=exc)
    return _answer(fallback, ls, f"parevo hit an internal error in {name} ({type(exc).__name__}); "
                                 "the server log has the details")


def guarded(name: str, *, fallback: Any = RAISE) -> Callable[[F], F]:
    """Wrap an LSP handler (plain or ``async``) with parevo's error policy (see the module doc).

    ``name`` names the handler in logs and messages (``"code actions"``). The
    wrapper keeps the handler's signature (pygls passes the server to a first
    parameter named ``ls`` and structures command arguments from annotations).
    """

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the one place handler errors are turned into answers
                    return _handle(name, fallback, args[0] if args else None, exc)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the one place handler errors are turned into answers
                return _handle(name, fallback, args[0] if args else None, exc)

        return run  # type: ignore[return-value]

    return decorate
