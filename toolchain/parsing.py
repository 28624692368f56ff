"""Find the selected loop in a C++ file with tree-sitter-cpp and describe its place.

``find_loop`` is the entry point: given the file text and a 0-based line (or a
line range) it returns a :class:`~parevo.toolchain.models.LoopSite` with the
loop, its enclosing function, the function's parameters and locals, the file's
includes and plain structs. Errors are specific and user-facing:
:class:`ParseFailure`, :class:`NoLoopFound`, :class:`NotInFunction`.
"""

from __future__ import annotations

import hashlib

from tree_sitter import Node

from .models import (
    LocalVar,
    LoopSite,
    NoLoopFound,
    NotInFunction,
    Param,
    ParseFailure,
    Span,
    StructDef,
    StructField,
)

from .syntax import LOOP_TYPES, node_text, parse, walk
from .syntax import ancestor as _ancestor

PARALLEL_CALLS = ("parallel_for", "for_each", "tabulate", "blocked_for")

SELECT_MARKER = "parevo: select the loop below"




def span_of(node: Node) -> Span:
    """The :class:`Span` (bytes and 0-based points) of a tree-sitter node."""
    return Span(
        start_byte=node.start_byte,
        end_byte=node.end_byte,
        start_line=node.start_point[0],
        start_col=node.start_point[1],
        end_line=node.end_point[0],
        end_col=node.end_point[1],
    )



def _errors_in(node: Node) -> list[Node]:
    if not node.has_error:
        return []
    return [n for n in walk(node) if n.type == "ERROR" or n.is_missing]



def _loops_in(node: Node) -> list[Node]:
    return [n for n in walk(node) if n.type in LOOP_TYPES]


def _parallel_calls_in(node: Node, src: bytes) -> list[Node]:
    out = []
    for n in walk(node):
        if n.type == "call_expression":
            fn = n.child_by_field_name("function")
            if fn is not None and node_text(fn, src).split("::")[-1].split("<")[0] in PARALLEL_CALLS:
                out.append(n)
    return out


def _pick_loop(root: Node, src: bytes, line: int, end_line: int | None) -> Node | None:
    loops = _loops_in(root)
    if end_line is not None and end_line > line:
        inside = [n for n in loops if n.start_point[0] >= line and n.end_point[0] <= end_line]
        if inside:
            # the outermost loop that starts first
            return min(inside, key=lambda n: (n.start_byte, -n.end_byte))
    starting = [n for n in loops if n.start_point[0] == line]
    if starting:
        return min(starting, key=lambda n: (n.start_byte, -n.end_byte))
    containing = [n for n in loops if n.start_point[0] <= line <= n.end_point[0]]
    if containing:
        return max(containing, key=lambda n: n.start_byte)  # innermost
    return None


def _pick_parallel_call(root: Node, src: bytes, line: int) -> Node | None:
    calls = [n for n in _parallel_calls_in(root, src) if n.start_point[0] <= line <= n.end_point[0]]
    if not calls:
        return None
    return max(calls, key=lambda n: n.start_byte)


def _resolve_marker_line(lines: list[str], line: int) -> int:
    """A line holding only a comment or blank: select the next code line."""
    text = lines[line].strip() if 0 <= line < len(lines) else ""
    if text and not text.startswith("//") and not text.startswith("#pragma"):
        return line
    j = line + 1
    while j < len(lines):
        t = lines[j].strip()
        if t and not t.startswith("//") and not t.startswith("#pragma"):
            return j
        j += 1
    return line


def find_marked_lines(source: str) -> list[int]:
    """0-based lines of every ``// parevo: select the loop below`` comment."""
    return [i for i, ln in enumerate(source.splitlines()) if SELECT_MARKER in ln]


def _declarator_name(decl: Node | None, src: bytes) -> str | None:
    """The declared name inside a (possibly nested) declarator."""
    while decl is not None:
        if decl.type in ("identifier", "field_identifier", "qualified_identifier",
                         "destructor_name", "operator_name", "type_identifier"):
            return node_text(decl, src)
        inner = decl.child_by_field_name("declarator")
        if inner is None:
            for c in decl.named_children:
                if c.type in ("identifier", "field_identifier", "qualified_identifier"):
                    return node_text(c, src)
            return None
        decl = inner
    return None


def _declarator_suffix(decl: Node | None, src: bytes) -> tuple[str, int | None]:
    """Pointer/reference marks and an array length of a declarator."""
    marks = ""
    array_len = None
    while decl is not None and decl.type not in ("identifier", "field_identifier"):
        if decl.type == "pointer_declarator":
            marks += "*"
        elif decl.type == "reference_declarator":
            marks += "&&" if node_text(decl, src).lstrip().startswith("&&") else "&"
        elif decl.type == "array_declarator":
            size = decl.child_by_field_name("size")
            if size is not None:
                try:
                    array_len = int(node_text(size, src), 0)
                except ValueError:
                    array_len = -1
        decl = decl.child_by_field_name("declarator") or next(
            (c for c in decl.named_children if c.type.endswith("declarator") or c.type in ("identifier", "field_identifier")),
            None,
        )
    return marks, array_len


def _type_prefix(node: Node, src: bytes) -> str:
    """The type part of a declaration (qualifiers and type specifier)."""
    parts = []
    for c in node.children:
        if c.type in ("type_qualifier", "storage_class_specifier") or c == node.child_by_field_name("type"):
            parts.append(node_text(c, src))
    return " ".join(parts)


def _param(node: Node, src: bytes) -> Param | None:
    decl = node.child_by_field_name("declarator")
    name = _declarator_name(decl, src) if decl is not None else None
    if name is None:
        return None
    prefix = _type_prefix(node, src)
    marks, _ = _declarator_suffix(decl, src)
    type_text = (prefix + marks).strip()
    base = " ".join(w for w in prefix.split() if w not in ("const", "volatile", "struct", "class"))
    return Param(
        name=name,
        type_text=type_text,
        base_type=base,
        is_const="const" in prefix.split(),
        is_reference="&" in marks,
        is_pointer="*" in marks,
    )


def _function_declarator(fn: Node) -> Node | None:
    d = fn.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return d


def _qualified_name(fn: Node, name: str, src: bytes) -> str:
    scopes = []
    p = fn.parent
    while p is not None:
        if p.type == "namespace_definition":
            n = p.child_by_field_name("name")
            if n is not None:
                scopes.append(node_text(n, src))
        p = p.parent
    return "::".join(list(reversed(scopes)) + [name])


def _locals_before(fn: Node, loop: Node, src: bytes) -> list[LocalVar]:
    out: list[LocalVar] = []
    body = fn.child_by_field_name("body")
    if body is None:
        return out
    for n in walk(body):
        if n.start_byte >= loop.start_byte:
            continue
        if n.type != "declaration":
            continue
        # only declarations whose scope encloses the loop
        scope = n.parent
        if scope is None or not (scope.start_byte <= loop.start_byte and loop.end_byte <= scope.end_byte):
            continue
        prefix = _type_prefix(n, src)
        for d in n.children_by_field_name("declarator"):
            name = _declarator_name(d, src)
            marks, _ = _declarator_suffix(d, src)
            if name:
                out.append(LocalVar(name=name, type_text=(prefix + marks).strip(), line=n.start_point[0]))
    return out


def _structs(root: Node, src: bytes) -> list[StructDef]:
    out = []
    for n in walk(root):
        if n.type not in ("struct_specifier", "class_specifier"):
            continue
        name_node = n.child_by_field_name("name")
        body = n.child_by_field_name("body")
        if name_node is None or body is None:
            continue
        fields = []
        for f in body.named_children:
            if f.type != "field_declaration":
                continue
            prefix = _type_prefix(f, src)
            for d in f.children_by_field_name("declarator"):
                fname = _declarator_name(d, src)
                marks, alen = _declarator_suffix(d, src)
                if fname and d.type != "function_declarator":
                    fields.append(StructField(name=fname, type_text=(prefix + marks).strip(), array_len=alen))
        out.append(StructDef(name=node_text(name_node, src), fields=fields, span=span_of(n)))
    return out


def _main_name(root: Node, src: bytes) -> Span | None:
    for n in root.named_children:
        if n.type == "function_definition":
            d = _function_declarator(n)
            ident = d.child_by_field_name("declarator") if d is not None else None
            if ident is not None and ident.type == "identifier" and node_text(ident, src) == "main":
                return span_of(ident)
    return None


def _includes(root: Node, src: bytes) -> tuple[list[str], int]:
    incs, insert = [], 0
    for n in root.named_children:
        if n.type == "preproc_include":
            path = n.child_by_field_name("path")
            if path is not None:
                incs.append(node_text(path, src))
            insert = n.end_byte
    return incs, insert


def find_loop(source: str, path: str, line: int, end_line: int | None = None) -> LoopSite:
    """Find the loop at 0-based ``line`` (or within ``line..end_line``) of ``source``.

    Selection rules: with a range, the outermost first loop lying wholly inside
    it; otherwise the outermost loop whose header starts on ``line``, else the
    innermost loop containing ``line``. A line holding only a comment (such as
    ``// parevo: select the loop below``) or a ``#pragma`` selects the next code
    line. When no loop statement is there, a ``parallel_for``/``for_each``/
    ``tabulate`` call containing the line is taken (``loop_kind`` ``"call"``),
    so an already-parallel loop can be race-checked.

    Raises:
        ParseFailure: the file has syntax errors inside the enclosing function
            or within 3 lines of the selection (message names the line).
        NoLoopFound: no loop at the selection.
        NotInFunction: the loop is not inside a function definition.
    """
    src = source.encode("utf-8")
    lines = source.splitlines()
    if not lines:
        raise NoLoopFound(f"{path} is empty: there is no loop to parallelize")
    if line < 0 or line >= len(lines):
        raise NoLoopFound(f"line {line + 1} is outside {path} ({len(lines)} lines)")
    line = _resolve_marker_line(lines, line)
    tree = parse(source)
    root = tree.root_node
    lo, hi = line, (end_line if end_line is not None else line)
    loop = _pick_loop(root, src, line, end_line)
    kind = None
    if loop is not None:
        kind = LOOP_TYPES[loop.type]
    else:
        loop = _pick_parallel_call(root, src, line)
        if loop is not None:
            kind = "call"
    fn = _ancestor(loop, {"function_definition"}) if loop is not None else None
    # syntax errors near the selection or in the function make every later step unreliable
    scope = fn if fn is not None else root
    errs = [
        e for e in _errors_in(scope)
        if fn is not None or (lo - 3 <= e.start_point[0] <= hi + 3)
    ]
    if errs:
        e = errs[0]
        what = "missing " + e.type if e.is_missing else "unexpected text"
        near = node_text(e, src).strip().splitlines()[0][:40] if node_text(e, src).strip() else ""
        raise ParseFailure(
            f"{path}:{e.start_point[0] + 1}:{e.start_point[1] + 1}: the file does not parse here "
            f"({what}{': ' + repr(near) if near else ''}); fix the syntax and try again"
        )
    if loop is None:
        raise NoLoopFound(f"no loop at {path}:{line + 1}: put the cursor on a for, range-for or while loop")
    if fn is None:
        raise NotInFunction(
            f"the loop at {path}:{loop.start_point[0] + 1} is not inside a function: "
            "parevo parallelizes loops in function bodies"
        )
    fdecl = _function_declarator(fn)
    name_node = fdecl.child_by_field_name("declarator") if fdecl is not None else None
    name = node_text(name_node, src) if name_node is not None else "<anonymous>"
    params = []
    plist = fdecl.child_by_field_name("parameters") if fdecl is not None else None
    if plist is not None:
        for p in plist.named_children:
            if p.type in ("parameter_declaration", "optional_parameter_declaration"):
                prm = _param(p, src)
                if prm is not None:
                    params.append(prm)
    ret = _type_prefix(fn, src)
    rdecl = fn.child_by_field_name("declarator")
    if rdecl is not None and rdecl.type in ("pointer_declarator", "reference_declarator"):
        ret += "*" if rdecl.type == "pointer_declarator" else "&"
    includes, insert = _includes(root, src)
    line_start = src.rfind(b"\n", 0, loop.start_byte) + 1
    prefix = src[line_start : loop.start_byte].decode("utf-8", errors="replace")
    indent = prefix if prefix.strip() == "" else ""
    ftext = node_text(fn, src)
    return LoopSite(
        path=path,
        source=source,
        loop_kind=kind,
        loop=span_of(loop),
        loop_text=node_text(loop, src),
        function_name=name,
        qualified_name=name if "::" in name else _qualified_name(fn, name, src),
        function=span_of(fn),
        function_text=ftext,
        return_type=ret.strip(),
        params=params,
        locals=_locals_before(fn, loop, src),
        includes=includes,
        include_insert_byte=insert,
        structs=_structs(root, src),
        main_name=_main_name(root, src),
        content_hash=hashlib.sha256(ftext.encode("utf-8")).hexdigest(),
        indent=indent,
    )
