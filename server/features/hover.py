"""Hover on a loop with a result: the evidence behind it (:mod:`parevo.server.hover`)."""

from __future__ import annotations

from lsprotocol import types

from ..convert import line_range
from ..errors import guarded
from ..hover import hover_for
from ..app import ParevoServer
from ..services.searches import progress_text


@guarded("hover", fallback=None)
def hover(ls: ParevoServer, params: types.HoverParams) -> types.Hover | None:
    """On a loop with a result: the evidence (speedup, n, runs, spread, compiler, candidates, rewrite)."""
    uri = params.text_document.uri
    line = params.position.line
    hits = [(rec, loc) for rec, loc in ls.stores.records_for(uri) if loc.contains_line(line)]
    if not hits:
        return None
    rec, loc = max(hits, key=lambda h: h[1].start_line)  # innermost
    same = [r for r, lc in hits if (lc.start, lc.end) == (loc.start, loc.end)]  # its race check and search
    source, _ = ls.documents.text(uri)
    encoding = ls.documents.encoding
    rng = types.Range(start=line_range(source, loc.start_line, encoding).start,
                      end=line_range(source, loc.end_line, encoding).end)
    h = hover_for(same, rng, ls.documents.workspace_root(ls.documents.path_of(uri)))
    job = ls.searches.find(rec.anchor.key)
    if job is not None:
        note = f"*A new parevo search of this loop is {job.state}"
        if job.last_event is not None:
            note += f": {progress_text(job.last_event)[0]}"
        h.contents.value = note + "*\n\n" + h.contents.value  # type: ignore[union-attr]
    return h


def register(server: ParevoServer) -> None:
    """Attach the hover handler."""
    server.feature(types.TEXT_DOCUMENT_HOVER)(hover)
