"""Code actions: the fast list (``textDocument/codeAction``) and the expensive edit (``codeAction/resolve``).

Like clangd's tweaks: listing only reads the loop (tree-sitter on the
analysis pool, no compile); the rewrite's edit is computed in resolve when the
client can resolve ``edit``, else eagerly (:mod:`parevo.server.actions`).
"""

from __future__ import annotations

from lsprotocol import types

from parevo.toolchain.models import NoLoopFound, NotInFunction, ParseFailure

from .. import actions
from ..errors import UserError, guarded
from ..app import ParevoServer
from ..diagnostics import diagnostics_for
from ..reading import Selection, StaleResult, refusal_of, rewrite_byte_edits
from ..services.analysis import Superseded, TooLarge
from ..store import locate, record_key


@guarded("code actions", fallback=None)
async def code_action(ls: ParevoServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    """The loop's actions: Apply (verified result), Parallelize / Check for data races / Fix data race,
    or Cancel."""
    uri = params.text_document.uri
    path = ls.documents.path_of(uri)
    if path is None:
        return None
    only = params.context.only if params.context else None
    if only and not any(actions.wanted(k, only) for k in actions.KINDS):
        return None
    selection = selection_of(params.range)
    try:
        prepared = await ls.documents.prepare(uri, selection)
    except (ParseFailure, TooLarge) as e:
        return actions.parse_failure_action(str(e), ls.client.disabled_support) or None
    except (NoLoopFound, NotInFunction, Superseded):
        return None
    source = prepared.source  # the text the loop was read from (a .cu file's host view)
    key = prepared.anchor.key
    job = ls.searches.find(key)
    store = ls.stores.store_for(path)
    races = store.get(record_key(key, "races")) if prepared.facts.already_parallel else None
    race_diags = None
    if races is not None:  # what a race fix fixes: the race check's diagnostics
        loc = locate(races.anchor, source)
        race_diags = diagnostics_for(races, loc, uri, path, source, ls.documents.encoding,
                                     ls.documents.workspace_root(path)) if loc is not None else None
    disabled = ls.toolchain.reason() or await ls.documents.run(uri, source, refusal_of, prepared,
                                                               ls.config.settings.input_spec)
    offer = actions.Offer(uri=uri, version=prepared.version, line=selection.line, end_line=selection.end_line,
                          info=prepared.info, facts=prepared.facts, record=ls.stores.record(path, key),
                          job_running=job.state if job else None, disabled_reason=disabled,
                          races=races, race_diagnostics=race_diags)
    if offer.record is not None and offer.record.applicable and not ls.client.resolve_edit:
        try:  # a client that cannot resolve gets the edit now
            offer.apply_edits = await ls.documents.run(uri, source, rewrite_byte_edits, offer.record, path,
                                                       source)
        except StaleResult:
            offer.apply_edits = None
    return actions.build_actions(offer, only=only, resolve_edit=ls.client.resolve_edit,
                                 disabled_support=ls.client.disabled_support, path=path, source=source,
                                 encoding=ls.documents.encoding) or None


def selection_of(rng: types.Range) -> Selection:
    """The lines an LSP range selects (a whole-line selection ends at column 0 of the next line)."""
    start, end = rng.start.line, rng.end.line
    if end > start and rng.end.character == 0:
        end -= 1
    return Selection(start, end if end > start else None)


@guarded("resolving a code action")
async def code_action_resolve(ls: ParevoServer, action: types.CodeAction) -> types.CodeAction:
    """Compute the rewrite's edit against the document's current version (after checking the content hash)."""
    data = action.data
    if not isinstance(data, dict) or data.get("kind") != "apply":
        return action  # Neovim 0.7 resolves every chosen action, command-only ones too
    uri, key = data.get("uri"), data.get("key")
    path = ls.documents.path_of(uri) if isinstance(uri, str) else None
    if path is None:
        return action
    record = ls.stores.record(path, key) if isinstance(key, str) else None
    if record is None:
        raise UserError("this parevo result is gone; run the search again")
    source, version = ls.documents.text(uri)
    edits = await ls.documents.run(uri, source, rewrite_byte_edits, record, path, source)
    action.edit = actions.rewrite_edit(uri, version, source, edits, ls.documents.encoding)
    return action


def register(server: ParevoServer) -> None:
    """Attach the code action handlers."""
    server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                   types.CodeActionOptions(code_action_kinds=actions.KINDS, resolve_provider=True))(code_action)
    server.feature(types.CODE_ACTION_RESOLVE)(code_action_resolve)
