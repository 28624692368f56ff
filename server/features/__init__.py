"""The language server's LSP features, one small module each (pygls-examples style).

Each module holds plain handler functions (first parameter ``ls``: the
:class:`~parevo.server.app.ParevoServer`) wrapped by
:func:`parevo.server.errors.guarded`, and a ``register(server)`` that
attaches them; :func:`register` attaches them all. Handlers only read the
request, call services (``ls.documents``, ``ls.stores``, ``ls.searches``, ...)
and shape the answer.

=================  =====================================================================
module             LSP methods
=================  =====================================================================
``lifecycle``      initialize, initialized, workspace/didChangeConfiguration, shutdown, exit
``sync``           textDocument/didOpen, didChange, didClose
``code_actions``   textDocument/codeAction, codeAction/resolve
``hover``          textDocument/hover
``commands``       workspace/executeCommand (parevo.*), window/workDoneProgress/cancel
=================  =====================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import code_actions, commands, hover, lifecycle, sync

if TYPE_CHECKING:
    from ..app import ParevoServer

MODULES = (lifecycle, sync, code_actions, hover, commands)


def register(server: "ParevoServer") -> None:
    """Attach every feature's handlers to ``server``."""
    for module in MODULES:
        module.register(server)
