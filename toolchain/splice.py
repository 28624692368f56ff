"""Turn a candidate loop text into the user's new file: minimal, exact text edits.

Pure functions, no I/O. The edit replaces only the loop's span (or, for a
function-level candidate, the enclosing function's span) and inserts the
``#include`` lines the rewrite needs (after the file's last top-level include),
so an editor can apply it as one versioned ``WorkspaceEdit`` and the CLI can
print it as a unified diff.
"""

from __future__ import annotations

import difflib

from pydantic import BaseModel

from .models import LoopSite


class TextEdit(BaseModel):
    """Replace ``source[start_byte:end_byte]`` with ``new_text``.

    ``start_line``/``start_col``/``end_line``/``end_col`` are 0-based and count
    columns in UTF-16 code units, as LSP requires by default.
    """

    start_byte: int
    end_byte: int
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    new_text: str


def _utf16_point(source_bytes: bytes, offset: int) -> tuple[int, int]:
    before = source_bytes[:offset]
    line = before.count(b"\n")
    line_start = before.rfind(b"\n") + 1
    col = len(before[line_start:].decode("utf-8", errors="replace").encode("utf-16-le")) // 2
    return line, col


def missing_includes(site: LoopSite, includes: list[str]) -> list[str]:
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


def rewrite_edits(site: LoopSite, loop_text: str, includes: list[str], *,
                  function_text: str | None = None) -> list[TextEdit]:
    """The edits (at most two, in file order) that put ``loop_text`` in place.

    With ``function_text`` (a function-level candidate: the whole new
    definition of the loop's enclosing function), the second edit replaces the
    function's span instead of the loop's, and ``loop_text`` is ignored.
    Continuation lines of either text are indented to the span's column.

    Raises:
        ValueError: ``site.loop`` (or ``site.function``) does not index
            ``site.source`` (stale site).
    """
    src = site.source.encode("utf-8")
    if site.loop.end_byte > len(src) or src[site.loop.start_byte : site.loop.end_byte].decode(
        "utf-8", errors="replace"
    ) != site.loop_text:
        raise ValueError("the loop site is stale: the file changed since the loop was read")
    if function_text is not None and src[site.function.start_byte : site.function.end_byte].decode(
        "utf-8", errors="replace"
    ) != site.function_text:
        raise ValueError("the loop site is stale: the function changed since the loop was read")
    edits: list[TextEdit] = []
    new_incs = missing_includes(site, includes)
    if new_incs:
        at = site.include_insert_byte
        text = "".join(f"#include {i}\n" for i in new_incs)
        if at > 0 and src[at - 1 : at] != b"\n":  # last include ends the file without a newline
            text = "\n" + text
        line, col = _utf16_point(src, at)
        edits.append(TextEdit(start_byte=at, end_byte=at, start_line=line, start_col=col, end_line=line,
                              end_col=col, new_text=text))
    span = site.function if function_text is not None else site.loop
    text = function_text if function_text is not None else loop_text
    indent = site.indent if function_text is None else _line_indent(src, span.start_byte)
    sl, sc = _utf16_point(src, span.start_byte)
    el, ec = _utf16_point(src, span.end_byte)
    edits.append(TextEdit(start_byte=span.start_byte, end_byte=span.end_byte, start_line=sl,
                          start_col=sc, end_line=el, end_col=ec, new_text=reindent(text, indent)))
    return edits


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


def rewritten_source(site: LoopSite, loop_text: str, includes: list[str], *,
                     function_text: str | None = None) -> str:
    """The whole new file text with the loop (or, with ``function_text``, the function) replaced
    and includes added."""
    return apply_edits(site.source, rewrite_edits(site, loop_text, includes, function_text=function_text))


def unified_diff(site: LoopSite, new_source: str, context: int = 3, display_path: str | None = None) -> str:
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
