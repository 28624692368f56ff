"""``parevo serve``: the pygls language server for C and C++ files.

:func:`create_server` builds a :class:`~.app.ParevoServer` from its services
(:mod:`parevo.server.services`: client, configuration, documents, stores,
publisher, toolchain, staleness, searches; each with declared, typed state
and its dependencies passed in) and registers the LSP features
(:mod:`parevo.server.features`, one small module per feature, each handler
wrapped by :func:`parevo.server.errors.guarded`). There is no module-level
server: ``parevo serve``, ``python -m parevo.server.lsp`` and the tests all
call the factory.

Following one request: ``textDocument/codeAction``
(:mod:`.features.code_actions`) asks :class:`~.services.documents.Documents`
to read the loop at the selection (tree-sitter, on the analysis pool, cached
per document version), looks up its stored result
(:class:`~.services.stores.Stores`) and running job
(:class:`~.services.searches.Searches`), and lists the actions
(:mod:`.actions`). Choosing **Parallelize with ParlayLib** runs the
``parevo.parallelize`` command (:mod:`.features.commands`), which starts a job
carrying the prepared loop; its result is stored, published as diagnostics
(:class:`~.services.publisher.Publisher`), shown on hover, and applied by the
**Apply** action after the content hash is checked.

Rules kept:

* Listing code actions only reads the loop: no compile, and never on the event loop.
* A search runs on a worker thread (:class:`.jobs.JobQueue`); compiles and
  runs are subprocesses of the engine. Progress is marshalled back with
  ``call_soon_threadsafe`` and every LSP message is sent from the loop.
* Results are stored per loop content hash (:mod:`.store`); a result applies
  only while the loop's function text is unchanged, and is never applied stale.
* Errors never kill the server and never reach the client as a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from parevo.toolchain.isolation import MODE_ENV, MODES, SandboxMode, parse_mode

from . import features
from .app import ParevoServer
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


def create_server(sandbox: SandboxMode | None = None) -> ParevoServer:
    """A new, unstarted parevo language server with its services wired and its features registered.

    Dependencies, in construction order: ``client`` (the pygls server),
    ``config`` (client), ``documents`` (pygls server, analysis pool),
    ``stores`` (config, documents), ``publisher`` (client, documents, stores),
    ``staleness`` (stores, publisher, client, I/O pool), ``toolchain``
    (config, documents, client, I/O pool; each discovery marks results of
    another toolchain stale), ``setup`` (ParlayLib's first-use install: config, client, toolchain,
    I/O pool), ``searches`` (all of them). Settings changes
    reach stores, searches and toolchain, in that order. ``sandbox`` is the isolation mode the
    server starts with (``parevo serve --sandbox``; default ``$PAREVO_SANDBOX``, else ``auto``).
    """
    server = ParevoServer()
    server.io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="parevo-io")
    server.analysis = Analysis(ThreadPoolExecutor(max_workers=1, thread_name_prefix="parevo-analysis"))
    client = server.client = Client(server)
    config = server.config = Configuration(client)
    documents = server.documents = Documents(server, server.analysis)
    stores = server.stores = Stores(config, documents)
    publisher = server.publisher = Publisher(client, documents, stores)
    staleness = server.staleness = Staleness(stores, publisher, client, server.io)
    toolchain = server.toolchain = ToolchainService(config, documents, client, server.io,
                                                    on_discovered=staleness.mark_toolchain_stale)
    if sandbox is not None:
        toolchain.start_sandbox = sandbox
    setup = server.setup = ParlaySetup(config, client, toolchain, server.io)
    searches = server.searches = Searches(client, config, documents, stores, publisher, toolchain, setup, staleness,
                                          server.io)

    def settings_changed(old, new) -> None:
        if stores.settings_changed(old, new):
            publisher.publish_all()
        searches.settings_changed(old, new)
        toolchain.settings_changed(old, new)

    config.listeners.append(settings_changed)
    features.register(server)
    return server


# ====================================================================== entry point
def main(argv: list[str] | None = None) -> int:
    """Run the server on stdio (``--stdio`` accepted and ignored; ``--tcp``/``--ws`` for debugging)."""
    import argparse

    p = argparse.ArgumentParser(prog="parevo serve", description="parevo language server")
    p.add_argument("--stdio", action="store_true", help="use stdio (the default)")
    p.add_argument("--tcp", action="store_true", help="listen on TCP instead (debugging)")
    p.add_argument("--ws", action="store_true", help="listen on a WebSocket instead (debugging)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2087)
    p.add_argument("--log-file", default=os.environ.get("PAREVO_LOG_FILE"),
                   help="write the server log here (default: $PAREVO_LOG_FILE, else stderr)")
    p.add_argument("--log-level", default=os.environ.get("PAREVO_LOG_LEVEL", "WARNING"),
                   help="log level (default: $PAREVO_LOG_LEVEL, else WARNING)")
    p.add_argument("--sandbox", choices=MODES, default=None,
                   help=f"isolation of compilers and candidates: auto, strict, process-group (default: ${MODE_ENV}, "
                        "else auto); the parevo.sandbox setting can make it strict, never weaker")
    args = p.parse_args(list(argv) if argv is not None else sys.argv[1:])
    handler = logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler(sys.stderr)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO), handlers=[handler],
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = create_server(parse_mode(args.sandbox) if args.sandbox else None)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    elif args.ws:
        server.start_ws(args.host, args.port)
    else:
        server.start_io()
    # the client went away without `exit` (or the transport ended): stop like `exit` does
    server.terminate(0 if server.protocol._shutdown else 1)


if __name__ == "__main__":
    sys.exit(main())
