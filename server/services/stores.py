"""Result stores as the server uses them: which store holds a file's results, which records
apply to a document's current text, and session-only error records."""

from __future__ import annotations

import os

from pygls.uris import to_fs_path

from parevo.evolution.result import EvolutionResult
from parevo.toolchain.discovery import default_cache_dir

from ..settings import Settings
from ..store import Anchor, Located, LoopRecord, ResultStore, locate
from .config import Configuration
from .documents import Documents


class Stores:
    """Result stores by directory, and what they say about open documents.

    ``errors`` are session-only records (a search that could not run, or a
    rewrite verified while its search still runs), by loop key; such a
    record hides an older stored result of the same loop.
    ``located`` caches, per document, the records found in its text and the
    version they were found in.
    """

    def __init__(self, config: Configuration, documents: Documents) -> None:
        self.config = config
        self.documents = documents
        self.stores: dict[str, ResultStore] = {}
        self.errors: dict[str, LoopRecord] = {}
        self.located: dict[str, tuple[int | None, list[tuple[LoopRecord, Located]]]] = {}

    def store_for(self, path: str) -> ResultStore:
        """The result store configured for ``path`` (workspace ``.parevo``, user cache, or a directory)."""
        settings = self.config.settings
        where = settings.result_store
        if where == "workspace":
            directory = os.path.join(self.documents.workspace_root(path) or os.path.dirname(path), ".parevo",
                                     "results")
        elif where == "user":
            directory = os.path.join(settings.cache_dir or str(default_cache_dir()), "results")
        else:
            directory = where
        directory = os.path.abspath(directory)
        store = self.stores.get(directory)
        if store is None:
            store = self.stores[directory] = ResultStore(directory)
        return store

    def records_for(self, uri: str) -> list[tuple[LoopRecord, Located]]:
        """Records whose loop is present in the document's current text, with where it is now."""
        path = self.documents.path_of(uri)
        if path is None:
            return []
        source, version = self.documents.text(uri)
        cached = self.located.get(uri)
        if cached is not None and cached[0] == version and version is not None:
            return cached[1]
        records = {r.key: r for r in self.store_for(path).for_path(path)}
        for key, err in self.errors.items():
            if os.path.normpath(err.path) == os.path.normpath(path):
                records[key] = err  # a newer error hides an older stored result of the same loop
        found: list[tuple[LoopRecord, Located]] = []
        for rec in records.values():
            loc = locate(rec.anchor, source)
            if loc is not None:
                found.append((rec, loc))
        self.located[uri] = (version, found)
        return found

    def loaded(self) -> list[tuple[ResultStore, LoopRecord]]:
        """Every loaded record of every store, with its store."""
        out = []
        for store in list(self.stores.values()):
            out += [(store, rec) for rec in store.loaded()]
        return out

    def invalidate(self, path: str | None = None) -> None:
        """Forget located-record caches (of documents of ``path``, or all)."""
        if path is None:
            self.located.clear()
            return
        norm = os.path.normpath(path)
        for uri in list(self.located):
            p = to_fs_path(uri)
            if p and os.path.normpath(p) == norm:
                self.located.pop(uri, None)

    def forget(self, uri: str) -> None:
        """Forget the located records of document ``uri`` (it changed or closed)."""
        self.located.pop(uri, None)

    def set_error(self, anchor: Anchor, message: str) -> None:
        """Record ``message`` as the loop's session-only error (the caller publishes)."""
        self.errors[anchor.key] = LoopRecord(kind="error", anchor=anchor, error=message)
        self.invalidate(anchor.path)

    def record(self, path: str, key: str) -> LoopRecord | None:
        """The loop's result as actions see it: a rewrite published while its search runs, else the stored one."""
        early = self.errors.get(key)
        if early is not None and early.kind == "evolve":
            return early
        return self.store_for(path).get(key)

    def set_early(self, anchor: Anchor, result: EvolutionResult, race_fix: bool) -> None:
        """Show ``result``, a rewrite verified while its search still runs, as the loop's session-only
        record (the caller publishes); the search's final result replaces it (:meth:`clear_error`)."""
        self.errors[anchor.key] = LoopRecord(kind="evolve", anchor=anchor, evolution=result, race_fix=race_fix)
        self.invalidate(anchor.path)

    def clear_error(self, key: str) -> None:
        """Forget the session-only error of loop ``key``."""
        self.errors.pop(key, None)

    def settings_changed(self, old: Settings, new: Settings) -> bool:
        """Apply a settings change; True when every document must be published again."""
        again = False
        if self.errors and new != old:  # e.g. a toolchain setting fixed: let the user run again
            self.errors.clear()
            again = True
        if old.result_store != new.result_store or old.cache_dir != new.cache_dir:
            again = True
        if again:
            self.invalidate()
        return again
