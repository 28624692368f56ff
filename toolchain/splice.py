"""Turn a candidate loop text into the user's new file: minimal, exact edits in byte spans.

Pure functions, no I/O. The edit replaces only the loop's span (or, for a
function-level candidate, the enclosing function's span) and inserts the
``#include`` lines the rewrite needs (after the file's last top-level include),
so an editor can apply it as one versioned ``WorkspaceEdit`` and the CLI can
print it as a unified diff.

One position system: a :class:`TextEdit` is a byte span of the text the
:class:`~parevo.toolchain.site.ParsedSite` was read from. The engine computes
the edits once, with the site's :class:`~parevo.toolchain.site.SiteInfo`
(content hash and spans); a front door that holds a later version of the
document calls :func:`rebase_edits` with that version's site (or
:func:`rebase_edits_to_text` with its text) to get the same edits at their
current place, or a :class:`StaleEdits` when the function changed. Conversion to editor positions (LSP lines and UTF-16 columns) is the
front door's business.
"""

from __future__ import annotations

import difflib
from typing import Literal

from pydantic import BaseModel, Field

from .parsing import site_in_text
from .site import ParsedSite, SiteInfo
from .syntax import captures, node_text, parse


class StaleEdits(ValueError):
    """The document no longer holds the function the edits were computed for (user-facing message)."""


class TextEdit(BaseModel):
    """Replace ``source[start_byte:end_byte]`` (UTF-8 bytes) with ``new_text``.

    ``role`` says what the edit changes: ``includes`` (an insertion of the
    ``#include`` lines for ``includes``), ``loop`` or ``function`` (text inside
    the site's loop or enclosing function), ``other`` (anything else: it
    applies to the very text it was computed on only).
    """

    start_byte: int
    end_byte: int
    new_text: str
    role: Literal["includes", "loop", "function", "other"] = "loop"
    includes: list[str] = Field(default_factory=list)


def missing_includes(site: ParsedSite | SiteInfo, includes: list[str]) -> list[str]:
    """The entries of ``includes`` (``<parlay/x.h>`` form) the file lacks, in order."""
    have = {i.strip() for i in site.includes}
    out: list[str] = []
    for inc in includes:
        inc = inc.strip()
        if inc and inc not in have and inc not in out:
            out.append(inc)
    return out


def reindent(loop_text: str, indent: str) -> str:
    """Indent every line after the first of ``loop_text`` by ``indent``.

    The first line lands where the old loop started, after its indentation;
    blank lines stay blank.
    """
    lines = loop_text.strip("\n").split("\n")
    out = [lines[0]]
    for ln in lines[1:]:
        out.append(indent + ln if ln.strip() else "")
    return "\n".join(out)


def include_paths(text: str) -> list[str]:
    """The paths of the ``#include`` directives of C++ ``text`` (``<parlay/primitives.h>``), in order."""
    src = text.encode("utf-8")
    return [node_text(p, src) for p in captures("(preproc_include path: (_) @path)", parse(text).root_node).get("path", [])]


def _include_edit(src: bytes, at: int, includes: list[str]) -> TextEdit:
    text = "".join(f"#include {i}\n" for i in includes)
    if at > 0 and src[at - 1 : at] != b"\n":  # last include ends the file without a newline
        text = "\n" + text
    return TextEdit(start_byte=at, end_byte=at, new_text=text, role="includes", includes=list(includes))


def rewrite_edits(site: ParsedSite, loop_text: str, includes: list[str], *,
                  function_text: str | None = None) -> list[TextEdit]:
    """The edits (at most two, in file order) that put ``loop_text`` in place of ``site``'s loop.

    With ``function_text`` (a function-level candidate: the whole new
    definition of the loop's enclosing function), the second edit replaces the
    function's span instead of the loop's, and ``loop_text`` is ignored.
    Continuation lines of either text are indented to the span's column.
    """
    src = site.src
    edits: list[TextEdit] = []
    new_incs = missing_includes(site, includes)
    if new_incs:
        edits.append(_include_edit(src, site.include_insert_byte, new_incs))
    span = site.function if function_text is not None else site.loop
    text = function_text if function_text is not None else loop_text
    indent = site.indent if function_text is None else _line_indent(src, span.start_byte)
    edits.append(TextEdit(start_byte=span.start_byte, end_byte=span.end_byte, new_text=reindent(text, indent),
                          role="function" if function_text is not None else "loop"))
    return edits


def labelled_edits(site: ParsedSite, edits: list[TextEdit]) -> list[TextEdit]:
    """``edits`` of ``site.source`` (any minimal edits, e.g. a formatted rewrite's) labelled with their
    :attr:`TextEdit.role`: inside the loop, inside the function, an insertion of ``#include`` lines
    outside it (their paths read from the inserted text's parse), or other."""
    out = []
    for e in edits:
        if site.loop.start_byte <= e.start_byte and e.end_byte <= site.loop.end_byte:
            out.append(e.model_copy(update={"role": "loop", "includes": []}))
        elif site.function.start_byte <= e.start_byte and e.end_byte <= site.function.end_byte:
            out.append(e.model_copy(update={"role": "function", "includes": []}))
        else:
            incs = include_paths(e.new_text) if e.start_byte == e.end_byte else []
            out.append(e.model_copy(update={"role": "includes" if incs else "other", "includes": incs}))
    return out


def rebase_edits(edits: list[TextEdit], made_on: SiteInfo, site: ParsedSite) -> list[TextEdit]:
    """``edits`` (computed on the site ``made_on`` describes) at their place in ``site``, a later parse.

    The check is the content hash: ``site``'s function must be the one the edits
    were computed for, its loop at the same place in it. Then the loop or
    function edit moves with the function, and the include edit goes after the
    file's current last include, holding only the headers the file still lacks.
    Identical text (same SHA-256) gets the edits unchanged.

    Raises:
        StaleEdits: the function or the loop changed, or an edit lies outside them.
    """
    if site.content_hash != made_on.content_hash or (
            site.loop.start_byte - site.function.start_byte) != made_on.loop_offset:
        raise StaleEdits("the loop or its function changed since the rewrite was verified; run the search again")
    if site.source_sha256 == made_on.source_sha256:
        return [e.model_copy() for e in edits]
    shift = site.function.start_byte - made_on.function.start_byte
    out: list[TextEdit] = []
    for e in edits:
        if e.role == "includes":
            still = missing_includes(site, e.includes)
            if still:
                out.append(_include_edit(site.src, site.include_insert_byte, still))
        elif e.role in ("loop", "function") and (
                made_on.function.start_byte <= e.start_byte and e.end_byte <= made_on.function.end_byte):
            out.append(e.model_copy(update={"start_byte": e.start_byte + shift, "end_byte": e.end_byte + shift}))
        else:
            raise StaleEdits("the file changed outside the loop's function where this rewrite edits it; "
                             "run the search again")
    return sorted(out, key=lambda e: e.start_byte)


def rebase_edits_to_text(edits: list[TextEdit], made_on: SiteInfo, text: str) -> list[TextEdit]:
    """``edits`` at their place in ``text``, a later version of the document (parsed once, cached):
    the site is found by its content hash (:func:`~parevo.toolchain.parsing.site_in_text`), then
    :func:`rebase_edits`.

    Raises:
        StaleEdits: the function is not in ``text`` unchanged, or its loop moved inside it.
    """
    site = site_in_text(made_on, text)
    if site is None:
        raise StaleEdits("the loop or its function changed since the rewrite was verified; run the search again")
    return rebase_edits(edits, made_on, site)


def _line_indent(src: bytes, offset: int) -> str:
    """The whitespace before ``offset`` on its line (empty when code precedes it)."""
    start = src.rfind(b"\n", 0, offset) + 1
    prefix = src[start:offset].decode("utf-8", errors="replace")
    return prefix if not prefix.strip() else ""


def apply_edits(source: str, edits: list[TextEdit]) -> str:
    """Apply non-overlapping byte-offset ``edits`` to ``source`` and return the text."""
    data = source.encode("utf-8")
    for e in sorted(edits, key=lambda e: e.start_byte, reverse=True):
        data = data[: e.start_byte] + e.new_text.encode("utf-8") + data[e.end_byte :]
    return data.decode("utf-8")


def rewritten_source(site: ParsedSite, loop_text: str, includes: list[str], *,
                     function_text: str | None = None) -> str:
    """The whole new file text with the loop (or, with ``function_text``, the function) replaced
    and includes added."""
    return apply_edits(site.source, rewrite_edits(site, loop_text, includes, function_text=function_text))


def unified_diff(site: ParsedSite, new_source: str, context: int = 3, display_path: str | None = None) -> str:
    """A unified diff (``a/PATH`` → ``b/PATH``) from the site's file to ``new_source``.

    ``display_path`` (default ``site.path``) is the name shown in the headers.
    """
    name = (display_path or site.path).lstrip("/")
    return "".join(
        difflib.unified_diff(
            site.source.splitlines(keepends=True),
            new_source.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
            n=context,
        )
    )
