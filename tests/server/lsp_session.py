"""Helpers for the language-server tests: start ``parevo serve`` under a pytest-lsp client.

Servers are started by :func:`start` (not by ``pytest_lsp.fixture``) so a test
can restart one on the same workspace, pick the client's capabilities and
the server's environment (``PAREVO_CACHE_DIR`` points at the session's shared
compile cache, so ParlayLib translation units compile once per machine).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = ROOT / "examples"
SERVER_COMMAND = [sys.executable, "-m", "parevo.server.lsp"]

#: A small, fast cascade for tests (fewer sizes, seeds and runs than the defaults).
#: ``min_speedup`` 1.0 relaxes the default 1.05; the engine still requires the
#: speedup's quartile range to lie above 1, so a slower rewrite is never offered.
FAST_EVAL = {
    "rounds": 3,
    "repeats": 2,
    "target_seconds": 0.02,
    "check_sizes": [0, 1, 5, 100],
    "check_seeds": [1],
    "min_speedup": 1.0,
}
FAST_SETTINGS = {"budget": {"seconds": 900, "candidates": 1}, "eval": FAST_EVAL}

#: A compute-bound reduction (tests/server/data/heavy_sum.cpp) and its loop line (0-based):
#: two threads beat one clearly, even on a busy 2-core machine.
HEAVY = "heavy_sum.cpp"
HEAVY_LOOP = 8
#: How often a test re-runs a search whose rewrite was correct but, on a loaded
#: machine, not measurably faster (parevo then rightly offers nothing), and the
#: pause between attempts (other jobs' compiles come and go).
SEARCH_ATTEMPTS = 6
RETRY_PAUSE_S = 20.0


class MachineBusy(AssertionError):
    """Every search produced a correct rewrite that was not measurably faster; ``token`` is the progress
    token of the last search (its progress is complete, only its verdict is "not faster")."""

    def __init__(self, message: str, token: Any = None):
        super().__init__(message)
        self.token = token


def server_env(cache_dir: Path | str, **extra: str) -> dict[str, str]:
    """The server's environment: ours plus the shared compile cache and test mode."""
    env = dict(os.environ)
    env["PAREVO_CACHE_DIR"] = str(cache_dir)
    env["PAREVO_TESTING"] = "1"
    env.update(extra)
    return env


def _code_action_hook(obj: Any, _type: Any) -> Any:
    """Structure ``Command | CodeAction`` by shape: a Command's ``command`` is a string.

    lsprotocol's default hook picks Command whenever a ``command`` key exists
    (lsp.md pitfall 2), which would misread a CodeAction carrying a command.
    """
    if isinstance(obj, dict) and isinstance(obj.get("command"), str):
        return CONVERTER.structure(obj, types.Command)
    return CONVERTER.structure(obj, types.CodeAction)


CONVERTER: Any = None


class Session:
    """A started client with helpers for parevo's features."""

    def __init__(self, client: LanguageClient, root: Path, settings: dict | None = None):
        self.client = client
        self.root = root
        self.settings = dict(settings or {})
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.applied: list[types.ApplyWorkspaceEditParams] = []

    # documents
    def open(self, path: Path, text: str | None = None, language: str = "cpp") -> str:
        """Open ``path`` (its file text unless ``text``) and return its URI."""
        uri = path.resolve().as_uri()
        text = path.read_text() if text is None else text
        self.versions[uri] = 1
        self.texts[uri] = text
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
        return uri

    def change(self, uri: str, text: str) -> int:
        """Replace the whole text of ``uri`` (one full-content change); returns the new version."""
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
        return self.versions[uri]

    def close(self, uri: str) -> None:
        """Close document ``uri``."""
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    # requests
    async def actions(self, uri: str, line: int, end_line: int | None = None, *, col: int = 2,
                      only: list[str] | None = None) -> list[types.CodeAction]:
        """Code actions for a cursor (or a line selection) in ``uri``."""
        end = types.Position(line=end_line if end_line is not None else line, character=col)
        res = await self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=line, character=col), end=end),
            context=types.CodeActionContext(diagnostics=[], only=only)))
        return list(res or [])

    async def action(self, uri: str, line: int, title_prefix: str, **kw) -> types.CodeAction:
        """The code action whose title starts with ``title_prefix`` (fails if absent)."""
        acts = await self.actions(uri, line, **kw)
        for a in acts:
            if a.title.startswith(title_prefix):
                return a
        raise AssertionError(f"no action {title_prefix!r} among {[a.title for a in acts]}")

    async def execute(self, command: types.Command) -> Any:
        """Run a command the way an editor does."""
        return await self.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=command.command, arguments=command.arguments))

    async def status(self) -> dict:
        """``parevo.status``."""
        return await self.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="parevo.status", arguments=[]))

    async def wait_toolchain(self, timeout: float = 120) -> dict:
        """Wait until toolchain discovery has finished; return the status."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = await self.status()
            if st.get("toolchainReady"):
                return st
            await asyncio.sleep(0.1)
        raise AssertionError("toolchain discovery did not finish")

    async def hover(self, uri: str, line: int, col: int = 4) -> types.Hover | None:
        """Hover at (line, col)."""
        return await self.client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=col)))

    # waiting
    def diags(self, uri: str, code: str | None = None) -> list[types.Diagnostic]:
        """The latest diagnostics of ``uri`` (with ``code``, if given)."""
        ds = list(self.client.diagnostics.get(uri, []))
        return [d for d in ds if code is None or d.code == code]

    async def wait_diags(self, uri: str, code: str, timeout: float = 900, present: bool = True
                         ) -> list[types.Diagnostic]:
        """Wait until a diagnostic with ``code`` is (or, ``present=False``, is no longer) published."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ds = self.diags(uri, code)
            if bool(ds) == present:
                return ds
            if self.client.error is not None:
                raise AssertionError(f"client error: {self.client.error}")
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {code} ({'present' if present else 'absent'}); "
                             f"have {[(d.code, d.message) for d in self.diags(uri)]}")

    def progress(self, token: Any = None) -> list[Any]:
        """Progress values of ``token`` (the newest token when omitted)."""
        reports = self.client.progress_reports
        if token is None:
            if not reports:
                return []
            token = list(reports)[-1]
        return list(reports.get(token, []))

    async def wait_progress(self, predicate, timeout: float = 900, exclude=()) -> tuple[Any, list[Any]]:
        """Wait until some token's progress values satisfy ``predicate``; return (token, values).

        Tokens in ``exclude`` (e.g. those seen before a command) are ignored."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for token, values in list(self.client.progress_reports.items()):
                if token not in exclude and predicate(values):
                    return token, values
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for progress; have {self.client.progress_reports}")

    async def search_until_verified(self, uri: str, line: int, attempts: int = SEARCH_ATTEMPTS,
                                    timeout: float = 900) -> tuple[Any, list[types.Diagnostic]]:
        """Run "Parallelize with ParlayLib" until the speedup diagnostic appears.

        A search whose candidates were all correct but not measurably faster (a
        busy machine) is re-run, up to ``attempts`` times; anything else fails.
        Returns the progress token of the successful run and its diagnostics.
        """
        notes = []
        token = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(RETRY_PAUSE_S)
                # another seed: the engine caches every verdict (timings too) per seed and settings
                self.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                    settings={"parevo": {**self.settings, "seed": 100 + attempt}}))
                for _ in range(100):
                    if (await self.status())["settings"]["seed"] == 100 + attempt:
                        break
                    await asyncio.sleep(0.05)
            act = await self.action(uri, line, "Parallelize with ParlayLib")
            before = set(self.client.progress_reports)
            t0 = time.monotonic()
            res = await self.execute(act.command)
            assert time.monotonic() - t0 < 5, "the command must return at once"
            assert res["started"] is True, res
            token, _ = await self.wait_progress(
                lambda v: bool(v) and v[-1].kind == "end", timeout=timeout, exclude=before)
            for _ in range(50):  # diagnostics follow the progress end
                ds = self.diags(uri, "parevo.speedup")
                if ds:
                    return token, ds
                if self.diags(uri, "parevo.none-verified"):
                    break
                await asyncio.sleep(0.1)
            others = [(d.code, d.message) for d in self.diags(uri)]
            notes.append(others)
            if not all(code == "parevo.none-verified" and ("not faster" in msg or "timing inconclusive" in msg)
                       for code, msg in others):
                raise AssertionError(f"the search failed: {others}")
        raise MachineBusy(f"no speedup could be verified in {attempts} searches: {notes}", token)

    async def stop(self) -> None:
        """Shut the server down cleanly and stop the client."""
        try:
            await asyncio.wait_for(self.client.shutdown_session(), timeout=60)
        finally:
            await self.client.stop()


async def start(root: Path, cache_dir: Path, *, caps: str | types.ClientCapabilities = "visual-studio-code",
                init: Any = None, config: dict | None = None, env: dict[str, str] | None = None,
                command: list[str] | None = None) -> Session:
    """Start ``parevo serve`` (or ``command``) for workspace ``root`` and initialize it."""
    global CONVERTER
    cfg = ClientServerConfig(server_command=command or SERVER_COMMAND, server_env=env or server_env(cache_dir))
    client = await cfg.start()
    CONVERTER = client.protocol._converter
    CONVERTER.register_structure_hook(Union[types.Command, types.CodeAction], _code_action_hook)
    session = Session(client, root, config if config is not None else (init or {}).get("parevo", init or {}))

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: LanguageClient, params: types.ApplyWorkspaceEditParams):
        session.applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    if config is not None:
        client.set_configuration({"parevo": config})
    capabilities = client_capabilities(caps) if isinstance(caps, str) else caps
    await client.initialize_session(types.InitializeParams(
        capabilities=capabilities, root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        initialization_options=init))
    return session


def apply_lsp_edits(text: str, edits: list[types.TextEdit]) -> str:
    """``text`` with LSP ``edits`` applied (ASCII text: characters are UTF-16 units)."""
    lines = text.split("\n")
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln) + 1)
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        a = starts[e.range.start.line] + e.range.start.character
        b = starts[e.range.end.line] + e.range.end.character
        text = text[:a] + e.new_text + text[b:]
    return text


def workspace_with(tmp: Path, *files: Path) -> Path:
    """A workspace folder in ``tmp`` holding copies of ``files``."""
    tmp.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, tmp / f.name)
    return tmp


#: A verified search result of heavy_sum.cpp's loop recorded on the development
#: machine (real evidence), with ``@FILE@`` for the file's path.
VERIFIED_RECORD = DATA / "heavy_sum.verified.json"


def seed_record(ws: Path, record_file: Path, target: str, *, compiler_version: str | None = None,
                config_home: Path | None = None) -> Path:
    """Put a recorded result (``record_file``, a LoopRecord with ``@FILE@`` for the path) into ``ws``'s
    result store, for the file ``ws / target``.

    Records were measured on the development machine; their toolchain provenance is
    stamped with this machine's compiler and ParlayLib (so the server does not mark them
    stale for another toolchain), or with ``compiler_version`` when a test wants a
    record measured with another compiler. They are written through the server's
    :class:`~parevo.server.store.ResultStore`, as the server writes what it stores.
    """
    text = record_file.read_text().replace("@FILE@", str((ws / target).resolve()))
    from parevo.server.store import LoopRecord, ResultStore
    from parevo.toolchain.discovery import DiscoverySettings, discover

    rec = LoopRecord.model_validate_json(text)
    if not rec.deps:  # what the server records with a result: the files it depends on, as they are now
        from parevo.server.store import file_digest
        from parevo.server.watch import dependencies
        from parevo.toolchain.parsing import find_loop

        path = ws / target
        site = find_loop(path.read_text(), str(path), rec.anchor.loop_start_line)
        rec.deps = {p: file_digest(p) for p in dependencies(str(path), site.includes, str(ws))}
    tc = discover(DiscoverySettings())
    result = rec.evolution or rec.race_check
    info = result.toolchain
    info.compiler_version = compiler_version or tc.cxx_version or info.compiler_version
    info.parlay_version = tc.parlay_version or info.parlay_version
    # written as the server writes what it stores (ResultStore.put: atomically, signed with the key of the user
    # whose configuration folder is ``config_home``, the server's XDG_CONFIG_HOME; default: ours)
    saved = os.environ.get("XDG_CONFIG_HOME")
    if config_home is not None:
        os.environ["XDG_CONFIG_HOME"] = str(config_home)
    try:
        ResultStore(ws / ".parevo" / "results").put(rec)
    finally:
        if config_home is not None:
            if saved is None:
                os.environ.pop("XDG_CONFIG_HOME", None)
            else:
                os.environ["XDG_CONFIG_HOME"] = saved
    return ws / ".parevo" / "results" / f"{rec.key}.json"


def seed_verified_result(ws: Path, *, compiler_version: str | None = None, config_home: Path | None = None) -> Path:
    """Put the recorded verified result of heavy_sum.cpp into ``ws``'s result store (see :func:`seed_record`)."""
    return seed_record(ws, VERIFIED_RECORD, HEAVY, compiler_version=compiler_version, config_home=config_home)
