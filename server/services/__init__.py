"""The language server's services: typed state with explicit dependencies.

Each service is a plain object built by :func:`parevo.server.lsp.create_server`
from the services it depends on (constructor arguments, nothing implicit):

=================  ==========================================================  ==============================
service            owns                                                        depends on
=================  ==========================================================  ==============================
``Client``         capabilities, messages, background tasks                    the pygls server
``Configuration``  settings layers (initializationOptions, configuration)      Client
``Documents``      open documents, paths, workspace roots, prepared loops      the pygls server, analysis pool
``Stores``         result stores, located records, session-only errors         Configuration, Documents
``Publisher``      diagnostics                                                 Client, Documents, Stores
``Toolchain``      compiler and ParlayLib discovery                            Configuration, Documents, Client
``Staleness``      file watcher, stale marking                                 Stores, Publisher, Client
``ParlaySetup``    ParlayLib's first-use install                               Configuration, Client, Toolchain
``Searches``       search, race-check and race-fix jobs, progress, outcomes    all of the above
=================  ==========================================================  ==============================

The LSP handlers (:mod:`parevo.server.features`) are thin: they read the
request, call services, and shape the answer.
"""
