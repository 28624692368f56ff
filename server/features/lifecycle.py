"""Lifecycle: ``initialize``, ``initialized``, configuration changes, ``shutdown``, ``exit``."""

from __future__ import annotations

from lsprotocol import types

from ..errors import guarded
from ..app import EXIT_GRACE_S, ParevoServer
from ..settings import Settings


@guarded("initialize", fallback=None)
def initialize(ls: ParevoServer, params: types.InitializeParams) -> None:
    """Keep ``initializationOptions`` (the first settings layer)."""
    ls.config.initialize(params.initialization_options)
    ls.searches.settings_changed(Settings(), ls.config.settings)


@guarded("initialized", fallback=None)
async def initialized(ls: ParevoServer, params: types.InitializedParams) -> None:
    """Start the file watcher, read the client's configuration, discover the toolchain."""
    ls.staleness.start()
    await ls.config.start()


@guarded("configuration change", fallback=None)
async def did_change_configuration(ls: ParevoServer, params: types.DidChangeConfigurationParams) -> None:
    """Re-read the settings (from the notification when it carries them, else by asking)."""
    s = params.settings
    if isinstance(s, dict) and isinstance(s.get("parevo"), dict):
        await ls.config.reload(s["parevo"])
    else:
        await ls.config.reload(pull=True)


@guarded("shutdown", fallback=None)
async def on_shutdown(ls: ParevoServer, *args) -> None:
    """Cancel every search and wait (at most :data:`~parevo.server.app.EXIT_GRACE_S` seconds) until
    they have stopped, so their subprocesses are gone before the client sends ``exit``."""
    ls.searches.cancel_all()
    await ls.searches.stopped(EXIT_GRACE_S)


@guarded("exit", fallback=None)
def on_exit(ls: ParevoServer, *args) -> None:
    """Cancel every search (again: a client may send ``exit`` without ``shutdown``)."""
    ls.close()


def register(server: ParevoServer) -> None:
    """Attach the lifecycle handlers."""
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    server.feature(types.SHUTDOWN)(on_shutdown)
    server.feature(types.EXIT)(on_exit)
