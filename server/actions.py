"""Code actions: the fast list (``textDocument/codeAction``) and the expensive edit (resolve).

Like clangd's tweaks: listing only reads the loop (tree-sitter, no compile);
the rewrite's ``WorkspaceEdit`` is computed in ``codeAction/resolve`` when the
client can resolve ``edit``, else eagerly. The edit is always recomputed
against the document's current text, after checking that the loop's function
still has the content hash the result was verified for, is formatted in the
user's style and kept minimal (:mod:`parevo.toolchain.style`), and is
versioned with the document's current version.

On an already parallel loop whose race check found races, **Fix data race
with ParlayLib** (a quick fix carrying the race diagnostics) starts a search
of the loop's serial meaning (:mod:`parevo.evolution.racefix`); its verified
rewrite is offered as *Apply ParlayLib rewrite (race-free, 1.84x faster)*.
An action that would replace an existing result says ``(run again)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import SiteInfo
from parevo.toolchain.splice import TextEdit

from .convert import to_lsp_edits, workspace_edit
from .store import LoopRecord

TITLE_PARALLELIZE = "Parallelize with ParlayLib"
TITLE_CHECK_RACES = "Check for data races"
TITLE_FIX = "Fix data race with ParlayLib"
TITLE_CANCEL = "Cancel parevo search"
#: Appended to an action that would replace an existing result of the loop.
AGAIN = " (run again)"

CMD_PARALLELIZE = "parevo.parallelize"
CMD_CHECK_RACES = "parevo.checkRaces"
CMD_FIX = "parevo.fixRace"
CMD_CANCEL = "parevo.cancel"

KIND_REWRITE = types.CodeActionKind.RefactorRewrite
KIND_RACES = types.CodeActionKind.Refactor
KIND_FIX = types.CodeActionKind.QuickFix
KINDS = [KIND_REWRITE, KIND_RACES, KIND_FIX]


def apply_title(record: LoopRecord) -> str:
    """``Apply ParlayLib rewrite (1.84x faster)``; a race fix: ``Apply ParlayLib rewrite (race-free, 1.84x faster)``;
    ``(1.76x faster, search continuing)`` for a rewrite published while its search still runs.

    The figure is the winner's timing, the same the diagnostic and the hover show
    (``EvolutionResult.best_timing``)."""
    timing = record.evolution.best_timing if record.evolution else None
    speed = f"{timing.speedup:.2f}x faster" if timing is not None else ""
    going = "search continuing" if record.evolution is not None and record.evolution.continuing else ""
    parts = (["race-free"] if record.race_fix else []) + ([speed] if speed else []) + ([going] if going else [])
    return "Apply ParlayLib rewrite" + (f" ({', '.join(parts)})" if parts else "")


def wanted(kind: str, only: list[str] | None) -> bool:
    """True when ``kind`` passes the client's ``only`` filter (prefix match, as LSP says)."""
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


@dataclass
class Offer:
    """What the code-action handler knows about the loop under the selection."""

    uri: str
    version: int | None
    line: int
    end_line: int | None
    info: SiteInfo  # the loop: spans, names, hashes
    facts: LoopFacts
    record: LoopRecord | None = None
    job_running: str | None = None  # "queued" / "running" when a job exists for this loop
    disabled_reason: str | None = None
    races: LoopRecord | None = None  # the loop's race check, if any
    race_diagnostics: list[types.Diagnostic] | None = None  # its diagnostics (what the fix fixes)

    @property
    def racy(self) -> bool:
        """The loop has a current race check that found races."""
        rc = self.races.race_check if self.races is not None else None
        return rc is not None and rc.status == "races" and self.races.stale is None
    apply_edits: list[TextEdit] | None = None  # the rewrite's edits, for clients that cannot resolve


def rewrite_edit(uri: str, version: int | None, source: str, edits: list[TextEdit],
                 encoding: str) -> types.WorkspaceEdit:
    """The versioned edit of document ``uri`` applying ``edits`` (byte spans of ``source``,
    from :func:`~parevo.server.reading.rewrite_byte_edits`), in the client's position encoding."""
    return workspace_edit(uri, version, to_lsp_edits(source, edits, encoding))


def build_actions(offer: Offer, *, only: list[str] | None, resolve_edit: bool, disabled_support: bool,
                  path: str, source: str, encoding: str) -> list[types.CodeAction]:
    """The code actions for the loop in ``offer`` (in display order)."""
    actions: list[types.CodeAction] = []
    rec = offer.record
    # a verified race fix is the quick fix of the race diagnostics: clients that group actions by kind
    # (VS Code lists Quick Fix before the rest) then still show it first, above "Fix data race (run again)"
    race_fix = rec is not None and rec.race_fix and offer.racy
    apply_kind = KIND_FIX if race_fix else KIND_REWRITE
    if rec is not None and rec.applicable and wanted(apply_kind, only):
        action = types.CodeAction(title=apply_title(rec), kind=apply_kind, is_preferred=True,
                                  diagnostics=(offer.race_diagnostics or None) if race_fix else None,
                                  data={"kind": "apply", "uri": offer.uri, "version": offer.version,
                                        "key": rec.key})
        if not resolve_edit:  # the client cannot resolve: the edit now (None when it does not apply)
            if offer.apply_edits is not None:
                action.edit = rewrite_edit(offer.uri, offer.version, source, offer.apply_edits, encoding)
                action.data = None
            else:
                action = None  # type: ignore[assignment]
        if action is not None:
            actions.append(action)
    args = [offer.uri, offer.line, offer.end_line, offer.version]
    if offer.job_running:
        kind = KIND_RACES if offer.facts.already_parallel else KIND_REWRITE
        if wanted(kind, only):
            actions.append(types.CodeAction(
                title=f"{TITLE_CANCEL} ({offer.job_running})", kind=kind,
                command=types.Command(title=TITLE_CANCEL, command=CMD_CANCEL, arguments=[offer.uri, offer.line,
                                                                                        offer.end_line])))
        return actions
    again = rec is not None and rec.kind == "evolve"
    if offer.facts.already_parallel:
        if offer.racy and wanted(KIND_FIX, only):
            title = TITLE_FIX + (AGAIN if again and rec.race_fix else "")
            actions.append(_with_disabled(types.CodeAction(
                title=title, kind=KIND_FIX, is_preferred=not actions, diagnostics=offer.race_diagnostics or None,
                command=types.Command(title=TITLE_FIX, command=CMD_FIX, arguments=args)),
                offer.disabled_reason, disabled_support))
        if wanted(KIND_RACES, only):
            title = TITLE_CHECK_RACES + (AGAIN if offer.races is not None else "")
            actions.append(_with_disabled(types.CodeAction(
                title=title, kind=KIND_RACES,
                command=types.Command(title=TITLE_CHECK_RACES, command=CMD_CHECK_RACES, arguments=args)),
                offer.disabled_reason, disabled_support))
    elif wanted(KIND_REWRITE, only):
        actions.append(_with_disabled(types.CodeAction(
            title=TITLE_PARALLELIZE + (AGAIN if again else ""), kind=KIND_REWRITE,
            command=types.Command(title=TITLE_PARALLELIZE, command=CMD_PARALLELIZE, arguments=args)),
            offer.disabled_reason, disabled_support))
    return actions


def _with_disabled(action: types.CodeAction, reason: str | None, supported: bool) -> types.CodeAction:
    if reason and supported:
        action.disabled = types.CodeActionDisabled(reason=reason)
        action.command = None
    return action


def parse_failure_action(message: str, disabled_support: bool) -> list[types.CodeAction]:
    """When the file does not parse at the selection: a disabled action saying so (if supported)."""
    if not disabled_support:
        return []
    return [types.CodeAction(title=TITLE_PARALLELIZE, kind=KIND_REWRITE,
                             disabled=types.CodeActionDisabled(reason=message))]
