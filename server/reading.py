"""Reading loops in a document's text: the heavy part of a request.

These functions run on the analysis thread or in the analysis worker process
(:mod:`parevo.server.services.analysis`), never on the event loop: they are
module-level, take and return picklable values, and import only the toolchain
and the result models (no LSP).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from parevo.evolution.racefix import FixChanged, fix_source
from parevo.toolchain.facts import analyze
from parevo.toolchain.models import LoopFacts, ParevoError
from parevo.toolchain.parsing import find_loop, site_at
from parevo.toolchain.refusal import refusal_for
from parevo.toolchain.site import ParsedSite, SiteInfo
from parevo.toolchain.splice import StaleEdits, TextEdit
from parevo.toolchain.style import edits_between, styled_edits, styled_source

from .store import Anchor, LoopRecord, anchor_of, locate


class StaleResult(ParevoError):
    """The result no longer matches the document: it must not be applied (the message says what to do)."""


@dataclass(frozen=True)
class Selection:
    """A 0-based line selection: ``line`` alone (a cursor) or ``line`` to ``end_line``."""

    line: int
    end_line: int | None = None


#: Sites read in this process, by (file SHA-256, loop start byte, loop end byte): the worker keeps the trees
#: of the large documents it read, so a later job on the same version (the refusal) does not parse again.
_SITES: OrderedDict[tuple[str, int, int], ParsedSite] = OrderedDict()
_SITES_SIZE = 8
_SITES_LOCK = threading.Lock()


def _remember(site: ParsedSite) -> None:
    key = (site.source_sha256, site.loop.start_byte, site.loop.end_byte)
    with _SITES_LOCK:
        _SITES[key] = site
        _SITES.move_to_end(key)
        while len(_SITES) > _SITES_SIZE:
            _SITES.popitem(last=False)


@dataclass(frozen=True)
class Prepared:
    """The loop at a selection of one document version, read and analyzed (no compile).

    Everything the server's handlers read is plain data: ``info`` (spans, hashes, names), ``anchor``
    (the store key), ``source`` (the text the spans index: the document, or a ``.cu`` file's host
    view), ``facts``. The parsed tree (``site``) stays in the process that read the loop: a
    ``Prepared`` crossing from the analysis worker arrives without it (tree-sitter trees cannot be
    pickled, and parsing a large document again in the server process holds the GIL for seconds,
    which stalls every other request); :func:`site_of` reads it again where a job needs it.
    """

    uri: str
    version: int | None
    selection: Selection
    info: SiteInfo
    anchor: Anchor
    source: str
    facts: LoopFacts
    site_here: ParsedSite | None = field(default=None, compare=False, repr=False)

    def __reduce__(self):
        """Pickled without the tree (see the class docstring)."""
        return (Prepared, (self.uri, self.version, self.selection, self.info, self.anchor, self.source,
                           self.facts, None))


def site_of(prepared: Prepared) -> ParsedSite:
    """The parsed site of ``prepared``: its own, the one this process read last for the same text and
    loop, or (a ``Prepared`` from another process) the file parsed again here.

    Raises:
        NoLoopFound, NotInFunction: the loop is no longer where ``info`` says (cannot happen for the same text).
    """
    if prepared.site_here is not None:
        return prepared.site_here
    info = prepared.info
    key = (info.source_sha256, info.loop.start_byte, info.loop.end_byte)
    with _SITES_LOCK:
        site = _SITES.get(key)
    if site is None:
        site = site_at(prepared.source, info.path, info.loop.start_byte, info.loop.end_byte)
        _remember(site)
    return site


def read_loop(uri: str, version: int | None, selection: Selection, source: str, path: str) -> Prepared | ParevoError:
    """Find and analyze the loop at ``selection`` of ``source``; a user-facing error is returned, not raised."""
    try:
        site = find_loop(source, path, selection.line, selection.end_line)
        facts = analyze(site)
    except ParevoError as e:
        return e
    _remember(site)
    return Prepared(uri=uri, version=version, selection=selection, info=site.info(), anchor=anchor_of(site),
                    source=site.source, facts=facts, site_here=site)


def refusal_of(prepared: Prepared, spec_path: str | None) -> str | None:
    """Why the loop of ``prepared`` cannot be harnessed (:func:`~parevo.toolchain.refusal.refusal_for`),
    or None; run where the loop was read, so the tree is not parsed again."""
    return refusal_for(site_of(prepared), spec_path)


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
