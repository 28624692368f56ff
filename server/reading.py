"""Reading loops in a document's text: the heavy part of a request.

These functions run on the analysis thread or in the analysis worker process
(:mod:`parevo.server.services.analysis`), never on the event loop: they are
module-level, take and return picklable values, and import only the toolchain
and the result models (no LSP).
"""

from __future__ import annotations

from dataclasses import dataclass

from parevo.evolution.racefix import FixChanged, fix_source
from parevo.toolchain.facts import analyze
from parevo.toolchain.models import LoopFacts, ParevoError
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.splice import StaleEdits, TextEdit
from parevo.toolchain.style import edits_between, styled_edits, styled_source

from .store import LoopRecord, locate


class StaleResult(ParevoError):
    """The result no longer matches the document: it must not be applied (the message says what to do)."""


@dataclass(frozen=True)
class Selection:
    """A 0-based line selection: ``line`` alone (a cursor) or ``line`` to ``end_line``."""

    line: int
    end_line: int | None = None


@dataclass(frozen=True)
class Prepared:
    """The loop at a selection of one document version, read and analyzed (no compile)."""

    uri: str
    version: int | None
    selection: Selection
    site: ParsedSite
    facts: LoopFacts


def read_loop(uri: str, version: int | None, selection: Selection, source: str, path: str) -> Prepared | ParevoError:
    """Find and analyze the loop at ``selection`` of ``source``; a user-facing error is returned, not raised."""
    try:
        site = find_loop(source, path, selection.line, selection.end_line)
        return Prepared(uri=uri, version=version, selection=selection, site=site, facts=analyze(site))
    except ParevoError as e:
        return e


def rewrite_byte_edits(record: LoopRecord, path: str, source: str) -> list[TextEdit]:
    """The minimal edits (byte spans of ``source``) applying ``record``'s verified rewrite: exactly the
    edits the engine computed (:meth:`~parevo.evolution.result.EvolutionResult.edits_for`), moved to where
    the loop's function is now after checking its content hash, laid out in the project's current style
    (:mod:`parevo.toolchain.style`: the same tokens); a race fix replaces the parallel loop by the rewrite
    of its serial meaning.

    Raises:
        StaleResult: the record is stale, not verified, or its loop's function
            changed (content hash) in ``source``.
    """
    if not record.applicable:
        raise StaleResult("this parevo result is stale or holds no verified rewrite; run the search again")
    loc = locate(record.anchor, source)
    if loc is None:
        raise StaleResult("the loop or its function changed since the rewrite was verified; run the search again")
    try:
        site = find_loop(source, path, loc.start_line)
    except ParevoError as e:  # a loop that cannot be read again is not applied
        raise StaleResult(f"cannot read the loop again: {e}") from None
    if site.content_hash != record.anchor.content_hash or site.loop_text != source[loc.start:loc.end]:
        raise StaleResult("the loop or its function changed since the rewrite was verified; run the search again")
    try:
        if record.race_fix:  # the fix was verified on the loop's serial meaning: put it in its place
            new = fix_source(site, record.evolution)  # type: ignore[arg-type]
            return edits_between(source, styled_source(source, new, path))
        # exactly the engine's edits, moved to where the function is now, laid out in the current style
        return styled_edits(source, record.evolution.edits_for(site), path)  # type: ignore[union-attr]
    except StaleEdits as e:
        raise StaleResult(str(e)) from None
    except (FixChanged, ParevoError, ValueError) as e:
        raise StaleResult(f"the rewrite no longer applies: {e}") from None
