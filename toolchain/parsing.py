"""From a selection to a :class:`~parevo.toolchain.site.ParsedSite`: find the loop, read its function.

``find_loop`` is the entry point of every request: given the file text and a
0-based line (or a line range) it parses the file once and returns the
:class:`ParsedSite` (the tree, the function and loop nodes, the function's
parameters and locals with their types read from the declaration nodes, the
file's includes and plain structs, spans and the content hash). Errors are
specific and user-facing: :class:`ParseFailure`, :class:`NoLoopFound`,
:class:`NotInFunction`.

``site_at`` makes the site of a loop known by its byte span (a replayed run);
``site_in_text`` finds the site a result was computed on in a document's
current text by its content hash (the function's text unchanged, wherever it
moved).
"""

from __future__ import annotations

import hashlib

from tree_sitter import Node, Tree

from .ctypes import TypeReader, file_aliases
from .models import NoLoopFound, NotInFunction, ParseFailure, Span
from .site import LocalVar, LoopKind, Param, ParsedSite, SiteInfo, StructDef, StructField
from .source_view import View, blank_lines, document_view
from .syntax import (
    LOOP_TYPES,
    algorithm_calls_in,
    algorithm_statement,
    ancestor,
    ancestors,
    captures,
    declarator_name,
    errors,
    find_loop_node,
    function_declarator,
    int_value,
    loops_in,
    node_text,
    parallel_calls_in,
    parse,
    parse_bytes,
    span_of,
)

SELECT_MARKER = "parevo: select the loop below"


def find_marked_lines(source: str) -> list[int]:
    """0-based lines of every ``// parevo: select the loop below`` comment."""
    return [i for i, ln in enumerate(source.splitlines()) if SELECT_MARKER in ln]


# ------------------------------------------------------------------ selection


def _pick_loop(root: Node, line: int, end_line: int | None) -> Node | None:
    loops = loops_in(root)
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


def _pick_algorithm(root: Node, line: int, end_line: int | None) -> Node | None:
    """The statement holding a standard-algorithm call (``std::accumulate(…)``) that starts on ``line`` (or
    lies within ``line..end_line``)."""
    hi = end_line if end_line is not None and end_line > line else line
    got = []
    for call in algorithm_calls_in(root):
        st = next((p for p in ancestors(call) if p.type in ("expression_statement", "declaration",
                                                           "return_statement")), None)
        if st is not None and algorithm_statement(st) is not None and line <= st.start_point[0] <= hi:
            got.append(st)
    return min(got, key=lambda n: n.start_byte) if got else None


def _pick_parallel_call(root: Node, line: int) -> Node | None:
    calls = [n for n in parallel_calls_in(root) if n.start_point[0] <= line <= n.end_point[0]]
    return max(calls, key=lambda n: n.start_byte) if calls else None


def _skippable_lines(root: Node, src: bytes) -> set[int]:
    """Lines that start with a ``//`` comment or a ``#pragma``: a selection there means the next code line."""
    out: set[int] = set()
    got = captures('[(comment) @c ((preproc_call directive: (preproc_directive) @d) @p (#eq? @d "#pragma"))]',
                   root)
    for n in got.get("c", []) + got.get("p", []):
        if n.type == "comment" and not n.text.startswith(b"//"):
            continue
        row, col = n.start_point
        if not src[n.start_byte - col : n.start_byte].strip():
            out.add(row)
    return out


def _resolve_marker_line(lines: list[str], line: int, root: Node, src: bytes) -> int:
    """A line holding only a comment or blank: select the next code line."""
    skip = _skippable_lines(root, src)

    def code(i: int) -> bool:
        return bool(lines[i].strip()) and i not in skip

    if 0 <= line < len(lines) and code(line):
        return line
    j = line + 1
    while j < len(lines):
        if code(j):
            return j
        j += 1
    return line


def find_loop(source: str, path: str, line: int, end_line: int | None = None) -> ParsedSite:
    """The :class:`ParsedSite` of the loop at 0-based ``line`` (or within ``line..end_line``) of ``source``.

    Selection rules: with a range, the outermost first loop lying wholly inside
    it; otherwise the outermost loop whose header starts on ``line``, else the
    innermost loop containing ``line``. A line holding only a comment (such as
    ``// parevo: select the loop below``) or a ``#pragma`` selects the next code
    line. When no loop statement is there, a ``parallel_for``/``for_each``/
    ``tabulate`` call containing the line is taken (``loop_kind`` ``"call"``),
    so an already-parallel loop can be race-checked. The file is parsed once
    (:func:`parevo.toolchain.syntax.parse`, cached by text).

    What is read is the document's :class:`~parevo.toolchain.source_view.View`
    (the site's ``source``; same bytes and lines as ``source``): a CUDA file's host
    code; and when text *before* the loop's function breaks the function's parse
    (a stray line, a struct without its ``;``), that text is blanked so the function
    that parses is read (:func:`_past_broken_text`). Errors elsewhere never block it.

    Raises:
        ParseFailure: the loop's function itself does not parse (or, outside any
            function, the lines within 3 of the selection): the message names the
            line, and the macro when the loop is written through one
            (``FOR(i, n) {``); a CUDA loop in device code or in a function that
            launches a kernel (named).
        NoLoopFound: no loop at the selection.
        NotInFunction: the loop is not inside a function definition.
    """
    lines = source.splitlines()
    if not lines:
        raise NoLoopFound(f"{path} is empty: there is no loop to parallelize")
    if line < 0 or line >= len(lines):
        raise NoLoopFound(f"line {line + 1} is outside {path} ({len(lines)} lines)")
    view = document_view(source, path)
    device = [h for h in view.hidden if h.kind == "device" and h.start_line <= line <= h.end_line]
    if device:
        raise ParseFailure(f"{path}:{line + 1} is in {device[0].what} (line {device[0].start_line + 1}): this is "
                           "CUDA device code, which runs on the GPU; parevo parallelizes host loops for the CPU")
    try:
        site = _find_in(view.text, path, line, end_line)
    except ParseFailure:
        past = _past_broken_text(view, path, line, end_line)
        if past is None:
            raise
        view, site = past
    launches = view.hidden_in(site.function.start_byte, site.function.end_byte, frozenset({"launch"}))
    if launches:
        h = launches[0]
        raise ParseFailure(
            f"the loop at {path}:{site.loop.start_line + 1} is in {site.function_name}(), which makes "
            f"{h.what} (line {h.start_line + 1}): parevo runs host code on the CPU and cannot run a kernel; move "
            "the loop into a host function of its own")
    return site


def _find_in(source: str, path: str, line: int, end_line: int | None) -> ParsedSite:
    """:func:`find_loop` on a view's text."""
    lines = source.splitlines()
    tree = parse(source)
    root = tree.root_node
    src = source.encode("utf-8", errors="surrogatepass")
    line = _resolve_marker_line(lines, line, root, src)
    lo, hi = line, (end_line if end_line is not None else line)
    loop = _pick_loop(root, line, end_line)
    kind: LoopKind | None = None
    algo = _pick_algorithm(root, line, end_line)
    if algo is not None and (loop is None or loop.start_point[0] != line):
        loop, kind = algo, "algorithm"
    elif loop is not None:
        kind = LOOP_TYPES[loop.type]  # type: ignore[assignment]
    else:
        loop = _pick_parallel_call(root, line)
        if loop is not None:
            kind = "call"
    fn = ancestor(loop, {"function_definition"}) if loop is not None else None
    # syntax errors near the selection or in the function make every later step unreliable
    scope = fn if fn is not None else root
    errs = [e for e in errors(scope) if fn is not None or (lo - 3 <= e.start_point[0] <= hi + 3)]
    if errs:
        raise ParseFailure(_parse_failure(errs[0], root, src, path))
    if loop is None or kind is None:
        macro = _macro_loop_at(root, src, line)
        if macro is not None:
            raise ParseFailure(_parse_failure(macro, root, src, path))
        raise NoLoopFound(f"no loop at {path}:{line + 1}: put the cursor on a for, range-for or while loop, or on a "
                          "std::accumulate/transform/count_if/min_element/inclusive_scan call")
    if fn is None:
        raise NotInFunction(
            f"the loop at {path}:{loop.start_point[0] + 1} is not inside a function: "
            "parevo parallelizes loops in function bodies"
        )
    return build_site(source, path, tree, fn, loop, kind)


#: How many lines before a selection :func:`_past_broken_text` tries as the start of the function.
RECOVERY_LINES = 64


def _past_broken_text(view: View, path: str, line: int, end_line: int | None) -> tuple[View, ParsedSite] | None:
    """The view with the text before the loop's function blanked, and the site read from it, when
    blanking lines ``[a, s)`` lets a function around ``line`` parse cleanly; else None.

    ``a`` is the first line of the top-level declaration (or error) that holds the selection: what
    broke the function's parse lies in it, before the function. ``s`` is tried upwards from
    ``a + 1`` over at most :data:`RECOVERY_LINES` lines before the selection; the first ``s`` that
    works blanks the least. A function whose own text does not parse is never read this way.
    """
    tops = parse(view.text).root_node.children
    at = next((i for i, c in enumerate(tops) if c.start_point[0] <= line <= c.end_point[0]), None)
    if at is None:
        return None
    top = tops[at]
    body = top.child_by_field_name("body") if top.type == "function_definition" else None
    if body is not None and not any(e.start_byte < body.start_byte for e in errors(top)):
        return None  # a function whose header parses: the error is in its own body
    first = at
    while first > 0 and _broken_top(tops[first - 1]):
        first -= 1
    if first == at and not _broken_top(top):
        return None
    a = tops[first].start_point[0]
    for s in range(max(a + 1, line - RECOVERY_LINES), line + 1):
        trial = blank_lines(view, a, s, "text that does not parse")
        tree = parse_bytes(trial.text.encode("utf-8", errors="surrogatepass"))
        loop = _pick_loop(tree.root_node, line, end_line) or _pick_parallel_call(tree.root_node, line)
        fn = ancestor(loop, {"function_definition"}) if loop is not None else None
        if fn is None or fn.start_point[0] < s or fn.has_error:
            continue
        try:
            return trial, _find_in(trial.text, path, line, end_line)
        except ParseFailure:
            continue
    return None


def _broken_top(node: Node) -> bool:
    """True for a top-level node that shows a broken parse: it holds an error, or it is a statement
    (C++ has none at file scope: tree-sitter made one of a function's remains)."""
    return node.has_error or node.type.endswith("_statement")


def _parse_failure(e: Node, root: Node, src: bytes, path: str) -> str:
    """The sentence for syntax error ``e``: the macro a loop is written through when that is what
    tree-sitter could not read (``FOR(i, n) {``), else the line and what is wrong there."""
    macro = _macro_loop(e, root, src)
    if macro is not None:
        name, call, defined = macro
        where = f"defined at line {defined + 1}" if defined is not None else "not defined in this file"
        return (f"{path}:{call.start_point[0] + 1}: the loop is written through the macro {name} ({where}): "
                f"parevo reads loops as written and does not expand macros; write it as a for loop "
                f"(what {name} expands to) and try again")
    what = "missing " + e.type if e.is_missing else "unexpected text"
    near = node_text(e, src).strip().splitlines()[0][:40] if node_text(e, src).strip() else ""
    return (f"{path}:{e.start_point[0] + 1}:{e.start_point[1] + 1}: the file does not parse here "
            f"({what}{': ' + repr(near) if near else ''}); fix the syntax and try again")


def _macro_loop_at(root: Node, src: bytes, line: int) -> Node | None:
    """The syntax error of a macro loop (:func:`_macro_loop`) whose header or body holds ``line``."""
    for e in errors(root):
        if _macro_loop(e, root, src) is not None:
            stmt = e.parent
            after = stmt.next_named_sibling
            if stmt.start_point[0] <= line <= after.end_point[0]:
                return e
    return None


def _macro_loop(e: Node, root: Node, src: bytes) -> tuple[str, Node, int | None] | None:
    """``(macro name, its use, 0-based line of its #define or None)`` when error ``e`` is a macro
    used as a loop header: a statement ``NAME(args)`` or ``NAME`` followed by a block, which
    tree-sitter reads as an expression statement lacking its ``;``."""
    stmt = e.parent if e.is_missing else None
    if stmt is None or stmt.type != "expression_statement" or e.type != ";":
        return None
    expr = stmt.named_children[0] if stmt.named_children else None
    callee = expr.child_by_field_name("function") if expr is not None and expr.type == "call_expression" else expr
    if callee is None or callee.type != "identifier":
        return None
    after = stmt.next_named_sibling
    if after is None or after.type not in ("compound_statement", "expression_statement", "for_statement"):
        return None
    name = node_text(callee, src)
    defs = [d for d in captures("[(preproc_function_def name: (identifier) @n) (preproc_def name: (identifier) @n)]",
                                root).get("n", []) if node_text(d, src) == name]
    return name, callee, (defs[0].start_point[0] if defs else None)


def site_at(source: str, path: str, start_byte: int, end_byte: int) -> ParsedSite:
    """The site of the loop spanning exactly ``[start_byte, end_byte)`` of ``source`` (a recorded site).

    Raises:
        NoLoopFound: no loop or parallel call spans those bytes.
        NotInFunction: it is not inside a function.
    """
    source = document_view(source, path).text
    tree = parse(source)
    loop = find_loop_node(tree.root_node, start_byte, end_byte)
    if loop is None:
        raise NoLoopFound(f"no loop at bytes {start_byte}-{end_byte} of {path}")
    fn = ancestor(loop, {"function_definition"})
    if fn is None:
        raise NotInFunction(f"the loop at {path}:{loop.start_point[0] + 1} is not inside a function")
    kind: LoopKind = LOOP_TYPES.get(loop.type, "algorithm" if algorithm_statement(loop) else "call")  # type: ignore
    return build_site(source, path, tree, fn, loop, kind)


def site_in_text(info: SiteInfo, text: str) -> ParsedSite | None:
    """The site ``info`` was read from, found in ``text`` (a later version of the document), or None.

    The function must be there unchanged (its text's SHA-256 is ``info.content_hash``), the
    loop at the same offset in it; the copy nearest to where the function was is taken. ``text``
    is read as :func:`find_loop` reads it (its :class:`~parevo.toolchain.source_view.View`; text
    that breaks the function's parse is passed over when the loop is still on its line).
    """
    view = document_view(text, info.path)
    site = _site_in_view(info, view.text)
    if site is None:
        past = _past_broken_text(view, info.path, info.loop.start_line, None)
        site = _site_in_view(info, past[0].text) if past is not None else None
    return site


def _site_in_view(info: SiteInfo, text: str) -> ParsedSite | None:
    tree = parse(text)
    want = info.content_hash
    fns = [f for f in captures("(function_definition) @f", tree.root_node).get("f", [])
           if hashlib.sha256(f.text).hexdigest() == want]
    for fn in sorted(fns, key=lambda f: abs(f.start_byte - info.function.start_byte)):
        start = fn.start_byte + info.loop_offset
        loop = find_loop_node(fn, start, start + (info.loop.end_byte - info.loop.start_byte))
        if loop is not None:
            return build_site(text, info.path, tree, fn, loop, info.loop_kind)
    return None


# ------------------------------------------------------------------ the function and the file


def build_site(source: str, path: str, tree: Tree, fn: Node, loop: Node, kind: LoopKind) -> ParsedSite:
    """Read the function around ``loop`` and the file's declarations into a :class:`ParsedSite`."""
    src = source.encode("utf-8")
    root = tree.root_node
    reader = TypeReader(src, file_aliases(root))
    fdecl = function_declarator(fn)
    name_node = fdecl.child_by_field_name("declarator") if fdecl is not None else None
    name = node_text(name_node, src) if name_node is not None else "<anonymous>"
    params = []
    plist = fdecl.child_by_field_name("parameters") if fdecl is not None else None
    if plist is not None:
        for p in plist.named_children:
            if p.type in ("parameter_declaration", "optional_parameter_declaration"):
                prm = _param(p, src, reader)
                if prm is not None:
                    params.append(prm)
    returns = reader.decl(fn, fn.child_by_field_name("declarator"))
    includes, insert = _includes(root, src)
    line_start = src.rfind(b"\n", 0, loop.start_byte) + 1
    prefix = src[line_start : loop.start_byte].decode("utf-8", errors="replace")
    structs, struct_nodes = _structs(root, src, reader)
    return ParsedSite(
        path=path, source=source, tree=tree, function_node=fn, loop_node=loop, loop_kind=kind,
        function_name=name, qualified_name=name if "::" in name else _qualified_name(fn, name, src),
        return_type=returns.text, returns=returns, params=params, locals=_locals_before(fn, loop, src, reader),
        structs=structs, struct_nodes=struct_nodes, includes=includes, include_insert_byte=insert,
        main_name=_main_name(root, src), indent=prefix if prefix.strip() == "" else "", reader=reader,
    )


def _param(node: Node, src: bytes, reader: TypeReader) -> Param | None:
    decl = node.child_by_field_name("declarator")
    name = declarator_name(decl)
    if name is None:
        return None
    d = reader.decl(node, decl, parameter=True)
    tnode = node.child_by_field_name("type")
    base = tnode
    if tnode is not None and tnode.type in ("struct_specifier", "class_specifier"):
        base = tnode.child_by_field_name("name") or tnode
    marks = d.text[len(d.text.rstrip("*&")):]
    return Param(
        name=node_text(name, src), type_text=d.text, base_type=" ".join(node_text(base, src).split()), decl=d,
        is_const=any(c.type == "type_qualifier" and c.text == b"const" for c in node.children),
        is_reference="&" in marks, is_pointer="*" in marks,
    )


def _qualified_name(fn: Node, name: str, src: bytes) -> str:
    scopes = [node_text(p.child_by_field_name("name"), src) for p in ancestors(fn)
              if p.type == "namespace_definition" and p.child_by_field_name("name") is not None]
    return "::".join(list(reversed(scopes)) + [name])


def _locals_before(fn: Node, loop: Node, src: bytes, reader: TypeReader) -> list[LocalVar]:
    out: list[LocalVar] = []
    body = fn.child_by_field_name("body")
    if body is None:
        return out
    for n in captures("(declaration) @d", body).get("d", []):
        # only declarations before the loop whose scope encloses it
        scope = n.parent
        if n.start_byte >= loop.start_byte or scope is None or not (
                scope.start_byte <= loop.start_byte and loop.end_byte <= scope.end_byte):
            continue
        for d in n.children_by_field_name("declarator"):
            nm = declarator_name(d)
            if nm is not None:
                decl = reader.decl(n, d)
                out.append(LocalVar(name=node_text(nm, src), type_text=decl.text, line=n.start_point[0], decl=decl))
    return out


def _structs(root: Node, src: bytes, reader: TypeReader) -> tuple[list[StructDef], dict[int, Node]]:
    out, nodes = [], {}
    for n in captures("[(struct_specifier) (class_specifier)] @s", root).get("s", []):
        name_node = n.child_by_field_name("name")
        body = n.child_by_field_name("body")
        if name_node is None or body is None:
            continue
        fields = []
        for f in body.named_children:
            if f.type != "field_declaration":
                continue
            for d in f.children_by_field_name("declarator"):
                fname = declarator_name(d)
                if fname is None or d.type == "function_declarator":
                    continue
                decl = reader.decl(f, d)
                alen = None
                if decl.type.kind == "carray" and decl.type.elem is not None:
                    v = int_value(decl.type.length or "")
                    alen = v if v is not None else -1
                    decl = decl.model_copy(update={"type": decl.type.elem})
                fields.append(StructField(name=node_text(fname, src), type_text=decl.text, decl=decl, array_len=alen))
        scopes = [node_text(p.child_by_field_name("name"), src) for p in ancestors(n)
                  if p.type in ("namespace_definition", "struct_specifier", "class_specifier")
                  and p.child_by_field_name("name") is not None]
        out.append(StructDef(name=node_text(name_node, src), fields=fields, span=span_of(n),
                             scopes=list(reversed(scopes))))
        nodes[n.start_byte] = n
    return out, nodes


def _main_name(root: Node, src: bytes) -> Span | None:
    for n in root.named_children:
        if n.type == "function_definition":
            d = function_declarator(n)
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


__all__ = ["SELECT_MARKER", "build_site", "find_loop", "find_marked_lines", "site_at", "site_in_text"]
