"""Where a data race happens in the user's code: each access's expression, and the memory's name.

ThreadSanitizer says *which line* each access of a race ran on (GCC's
symbolizer prints no column; clang's does) and, for a global, the
variable's name. A developer wants more: the expression that read and the
one that wrote (``total`` in ``total += a[i];``, ``out[idx[i]]`` in
``out[idx[i]] = v;``), and what the memory is called. :func:`race_sites`
maps a :class:`~parevo.toolchain.tsan.RaceReport` onto the syntax tree of
the loop's function:

1. on each access's line, the *memory expressions* the access can be:
   a write is the target of an assignment or of ``++``/``--``; a read is
   any identifier, subscript, field or dereference read there (the target of
   a compound assignment or ``++``/``--`` is read too);
2. expressions rooted in a name private to one iteration (the loop index,
   a local of the loop body or of the parallel lambda, the lambda's
   parameters) are dropped: they cannot race;
3. the memory is the expression both accesses touch (same text), or the one
   whose root is the variable TSan names (``global 'total'``); a clang
   column, when present, picks the expression under it.

Pure: no I/O. Offsets are *characters* from the start of the enclosing
function (so a result still applies after the function moved in the file),
lines 0-based in the checked text.
"""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, Field
from tree_sitter import Node

from .loop_body import norm
from .site import ParsedSite
from .syntax import declared_name, node_text, strip_parens, walk
from .tsan import Frame, RaceReport

#: Node types that denote memory a thread can read or write.
MEMORY_TYPES = frozenset({"identifier", "subscript_expression", "field_expression", "pointer_expression"})


class AccessSite(BaseModel):
    """The expression one access of a race ran: ``text`` as written in the source.

    ``start``/``end`` are character offsets from the start of the enclosing
    function; ``line`` is the 0-based line of ``start`` in the checked text.
    """

    text: str
    start: int
    end: int
    line: int


class RaceSites(BaseModel):
    """A race mapped onto the source: ``memory`` names what both accesses touch
    (``total``, ``out[idx[i]]``; ``None`` when unknown); ``accesses[i]`` is the
    site of ``report.accesses[i]`` (``None`` when its frame is not in the
    loop's function, e.g. in a header or a library)."""

    memory: str | None = None
    accesses: list[AccessSite | None] = Field(default_factory=list)


def _root_name(node: Node, src: bytes) -> str | None:
    """The variable a memory expression is rooted in (``out`` for ``out[idx[i]]``, ``p`` for ``*p``, ``s`` for
    ``s.x``); ``None`` for ``this->x`` or a call result."""
    n: Node | None = strip_parens(node)
    while n is not None:
        if n.type == "identifier":
            return node_text(n, src)
        if n.type == "subscript_expression":
            n = strip_parens(n.child_by_field_name("argument"))
        elif n.type == "field_expression":
            n = strip_parens(n.child_by_field_name("argument"))
        elif n.type == "pointer_expression":
            n = strip_parens(n.child_by_field_name("argument"))
        else:
            return None
    return None


def _private_names(region: Node, src: bytes) -> set[str]:
    """Names declared inside ``region`` (the loop or parallel call): locals, the loop index, lambda parameters."""
    names: set[str] = set()
    for n in walk(region):
        if n.type in ("declaration", "condition_clause", "for_range_loop"):
            for d in n.children_by_field_name("declarator"):
                name = declared_name(d, src)
                if name:
                    names.add(name)
        elif n.type in ("parameter_declaration", "optional_parameter_declaration"):
            name = declared_name(n.child_by_field_name("declarator"), src)
            if name:
                names.add(name)
    return names


def _is_read(node: Node) -> bool:
    """False for an identifier that is not a read of memory: a called function's name, a field's name,
    a declared name."""
    p = node.parent
    if p is None:
        return False
    if p.type == "call_expression" and p.child_by_field_name("function") == node:
        return False
    if p.type == "field_expression" and p.child_by_field_name("field") == node:
        return False
    if p.type == "init_declarator" and p.child_by_field_name("value") == node:
        return True  # `double t = total;` reads `total`
    if p.type in ("init_declarator", "declaration", "reference_declarator", "pointer_declarator",
                  "array_declarator", "parameter_declaration", "qualified_identifier", "template_function",
                  "lambda_capture_specifier"):
        return False
    return True


def _accesses_on(fn: Node, src: bytes, line: int, private: set[str]) -> tuple[list[Node], list[Node]]:
    """(writes, reads): the shared memory expressions written and read on 0-based ``line`` of ``fn``."""
    writes: list[Node] = []
    reads: list[Node] = []
    for n in walk(fn):
        if n.start_point[0] > line or n.end_point[0] < line:
            continue
        if n.type == "assignment_expression":
            left = strip_parens(n.child_by_field_name("left"))
            if left is not None and left.start_point[0] == line:
                writes.append(left)
                if node_text(n.child_by_field_name("operator"), src) != "=":
                    reads.append(left)
        elif n.type == "update_expression":
            arg = strip_parens(n.child_by_field_name("argument"))
            if arg is not None and arg.start_point[0] == line:
                writes.append(arg)
                reads.append(arg)
        elif n.type in MEMORY_TYPES and n.start_point[0] == line:
            p = n.parent
            if p is not None and p.type == "assignment_expression" and p.child_by_field_name("left") == n:
                continue  # the target: listed above
            if n.type == "identifier" and not _is_read(n):
                continue
            reads.append(n)
    def keep(ns: list[Node]) -> list[Node]:
        out, seen = [], set()
        for x in ns:
            root = _root_name(x, src)
            if root is None or root in private or (x.start_byte, x.end_byte) in seen:
                continue
            seen.add((x.start_byte, x.end_byte))
            out.append(x)
        return out

    return keep(writes), keep(reads)


_LOCATION_NAME = re.compile(r"'([^']+)'")


def location_name(report: RaceReport) -> str | None:
    """The variable TSan names in the report's location (``'total'`` in ``global 'total' of size 8``)."""
    if report.location:
        m = _LOCATION_NAME.search(report.location)
        if m:
            return m.group(1)
    return None


def _specificity(node: Node) -> int:
    """Prefer element and field expressions (the memory) over bare names."""
    return {"subscript_expression": 3, "field_expression": 3, "pointer_expression": 2}.get(node.type, 1)


def race_sites(site: ParsedSite, report: RaceReport) -> RaceSites:
    """Map ``report``'s accesses onto expressions of ``site``'s function (see the module docstring).

    Frames outside ``site.path`` or outside the function's lines map to ``None``.
    Never raises on odd reports.
    """
    src = site.src
    fn = site.function_node
    region = site.loop_node
    private = _private_names(region, src) if region is not None else set()
    fstart_chars = len(src[: fn.start_byte].decode("utf-8", errors="ignore"))

    def on_line(frame: Frame | None) -> int | None:
        if frame is None or not frame.line or not frame.file or not same_file(frame.file, site.path):
            return None
        line = frame.line - 1
        return line if fn.start_point[0] <= line <= fn.end_point[0] else None

    options: list[list[Node]] = []
    lines: list[int | None] = []
    frames = list(report.user_frames) + [None] * (len(report.accesses) - len(report.user_frames))
    for acc, frame in zip(report.accesses, frames):
        line = on_line(frame)
        lines.append(line)
        if line is None:
            options.append([])
            continue
        writes, reads = _accesses_on(fn, src, line, private)
        opts = writes if acc.op == "write" else reads
        if frame is not None and frame.col:  # clang: the expression under the column, innermost first
            col = frame.col - 1
            under = [n for n in opts if n.start_point[1] <= col < n.end_point[1] or
                     (n.start_point[0] < line < n.end_point[0])]
            if under:
                opts = sorted(under, key=lambda n: n.end_byte - n.start_byte)
        options.append(opts)

    named = location_name(report)
    texts = [{norm(node_text(n, src)) for n in opts} for opts in options if opts]
    common = set.intersection(*texts) if len(texts) >= 2 else set()
    memory: str | None = None
    pick_root: str | None = None
    if named:
        pick_root = named
    if common:
        best = None
        for opts in options:
            for n in opts:
                t = norm(node_text(n, src))
                if t in common and (named is None or _root_name(n, src) == named):
                    if best is None or _specificity(n) > _specificity(best):
                        best = n
        if best is not None:
            memory = node_text(best, src).strip()
    chosen: list[Node | None] = []
    for opts in options:
        pick = None
        if memory is not None:
            pick = next((n for n in opts if norm(node_text(n, src)) == norm(memory)), None)
        if pick is None and pick_root is not None:
            rooted = [n for n in opts if _root_name(n, src) == pick_root]
            if rooted:
                pick = max(rooted, key=_specificity)
        if pick is None and opts:
            pick = max(opts, key=_specificity) if len({_root_name(n, src) for n in opts}) == 1 else opts[0]
        chosen.append(pick)
    if memory is None:
        picked = [c for c in chosen if c is not None]
        if picked and len({norm(node_text(c, src)) for c in picked}) == 1:
            memory = node_text(picked[0], src).strip()
        elif picked and len({_root_name(c, src) for c in picked}) == 1:
            memory = _root_name(picked[0], src)
        elif named:
            memory = named
    out: list[AccessSite | None] = []
    for node in chosen:
        if node is None:
            out.append(None)
            continue
        start = len(src[: node.start_byte].decode("utf-8", errors="ignore")) - fstart_chars
        end = len(src[: node.end_byte].decode("utf-8", errors="ignore")) - fstart_chars
        out.append(AccessSite(text=" ".join(node_text(node, src).split()), start=start, end=end,
                              line=node.start_point[0]))
    return RaceSites(memory=" ".join(memory.split()) if memory else None, accesses=out)


def same_file(a: str | None, b: str) -> bool:
    """True when paths ``a`` and ``b`` name the same file (normalized, else resolved)."""
    if not a:
        return False
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False
