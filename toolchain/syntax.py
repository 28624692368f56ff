"""The one place that knows tree-sitter-cpp: parsing, node helpers and queries.

Everything in parevo that reads or changes C++ goes through this module:
the language object, the parser, iterative walks (no recursion, so no input
depth can raise ``RecursionError``), node text and spans, literal values, and
compiled tree-sitter queries (:func:`query`, :func:`captures`,
:func:`matches`). Other modules hold what they *mean* by a pattern (a loop, a
reduction, a ``parlay::parallel_for`` call); the walking and matching is here.

Conventions: byte offsets index the UTF-8 encoded text; points are 0-based
``(row, column-in-bytes)`` as tree-sitter gives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import tree_sitter_cpp
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

CPP = Language(tree_sitter_cpp.language())

#: tree-sitter node types of the four loop statements, with parevo's names for them.
LOOP_TYPES: dict[str, str] = {
    "for_statement": "for",
    "for_range_loop": "range_for",
    "while_statement": "while",
    "do_statement": "do",
}


@lru_cache(maxsize=32)
def _parse_cached(source: str) -> Tree:
    return Parser(CPP).parse(source.encode("utf-8", errors="surrogatepass"))


def parse(source: str) -> Tree:
    """Parse C++ ``source`` (str) into a tree-sitter tree (cached by text, 32 entries)."""
    return _parse_cached(source)


def parse_bytes(src: bytes) -> Tree:
    """Parse UTF-8 encoded C++ ``src`` (not cached)."""
    return Parser(CPP).parse(src)


def node_text(node: Node, src: bytes) -> str:
    """The text of ``node`` in the encoded source ``src`` (invalid UTF-8 replaced)."""
    return src[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def walk(node: Node) -> Iterator[Node]:
    """Pre-order iterator over ``node`` and all its descendants, in source order (iterative)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def ancestor(node: Node, types: set[str] | frozenset[str]) -> Node | None:
    """The nearest proper ancestor of ``node`` whose type is in ``types``, else None."""
    p = node.parent
    while p is not None:
        if p.type in types:
            return p
        p = p.parent
    return None


def strip_parens(node: Node | None) -> Node | None:
    """The node inside any number of redundant parentheses (``((x))`` → ``x``)."""
    while node is not None and node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def int_literal(node: Node | None, src: bytes) -> int | None:
    """The value of an integer literal node (``42``, ``0x2A``, ``1'000``, ``64u``, ``-3``), else None.

    Parentheses are skipped; digit separators and integer suffixes are understood; a
    floating-point literal is not an integer.
    """
    node = strip_parens(node)
    if node is None:
        return None
    if node.type == "unary_expression" and node.child_count == 2 and node.children[0].type in ("-", "+"):
        v = int_literal(node.children[1], src)
        if v is None:
            return None
        return -v if node.children[0].type == "-" else v
    if node.type != "number_literal":
        return None
    return int_value(node_text(node, src))


def int_value(text: str) -> int | None:
    """The value of the integer literal spelled ``text`` (separators, suffixes, bases), else None."""
    t = text.strip().replace("'", "")
    while t and t[-1] in "uUlLzZ":
        t = t[:-1]
    if not t:
        return None
    try:
        if len(t) > 1 and t[0] == "0" and t[1] not in "xXbBoO":
            return int(t, 8)  # C++ octal
        return int(t, 0)
    except ValueError:
        return None


@lru_cache(maxsize=None)
def query(pattern: str) -> Query:
    """The compiled tree-sitter query for ``pattern`` (S-expression query syntax), cached.

    Raises:
        tree_sitter.QueryError: ``pattern`` is not a valid query for tree-sitter-cpp.
    """
    return Query(CPP, pattern)


def captures(pattern: str, node: Node) -> dict[str, list[Node]]:
    """Every capture of query ``pattern`` under ``node``: ``{capture name: [nodes in source order]}``."""
    got = QueryCursor(query(pattern)).captures(node)
    return {k: sorted(v, key=lambda n: (n.start_byte, -n.end_byte)) for k, v in got.items()}


def matches(pattern: str, node: Node) -> list[dict[str, list[Node]]]:
    """The matches of query ``pattern`` under ``node``, each ``{capture name: [nodes]}``, in source order."""
    out = [m for _, m in QueryCursor(query(pattern)).matches(node)]

    def first(m: dict[str, list[Node]]) -> int:
        return min((n.start_byte for ns in m.values() for n in ns), default=0)

    return sorted(out, key=first)


# ------------------------------------------------------------------ tokens

#: node types that are one token each, spelled exactly as written (their inner
#: structure, e.g. a string's escape sequences or a raw string's delimiter, is not split).
ATOMIC_TOKENS = frozenset({
    "string_literal", "raw_string_literal", "char_literal", "number_literal", "user_defined_literal",
    "system_lib_string", "preproc_arg",
})


def token_nodes(node: Node) -> Iterator[Node]:
    """The leaves of ``node`` in source order, comments included, an :data:`ATOMIC_TOKENS` node
    counting as one leaf (iterative)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.child_count == 0 or n.type in ATOMIC_TOKENS:
            yield n
        else:
            stack.extend(reversed(n.children))


def _directive_token(leaf: Node) -> bool:
    """True when ``leaf`` belongs to a preprocessor directive's own line (``#define A 1``), where
    the end of the line ends the directive."""
    return leaf.parent is not None and leaf.parent.type.startswith("preproc_")


def tokens(node: Node, src: bytes) -> list[str]:
    """The token stream of ``node``: every token's spelling in source order, comments dropped.

    Literals are kept exactly as written (``1'000``, ``R"(a,b)"``, ``"http://x"`` are one
    token each); whitespace between tokens does not appear, except that the end of a
    preprocessor directive's line is a ``"\\n"`` token (``#define A 1`` then ``x`` is not
    ``#define A 1 x``). Text that tree-sitter's error recovery left outside every token is kept
    as whitespace-separated tokens, so two texts with equal streams differ only in layout and
    comments, whether or not they parse. Shape: ``list[str]``, no empty strings.
    """
    out: list[str] = []
    pos = node.start_byte
    last: Node | None = None  # the last token that is not a comment

    def gap(end: int) -> None:
        if end <= pos:
            return
        skipped = src[pos:end]
        out.extend(t.decode("utf-8", errors="replace") for t in skipped.split())

    for leaf in token_nodes(node):
        gap(leaf.start_byte)
        pos = max(pos, leaf.end_byte)
        if leaf.type == "comment" or leaf.end_byte <= leaf.start_byte:
            continue
        if (last is not None and _directive_token(last) and last.type != "\n"
                and b"\n" in src[last.end_byte:leaf.start_byte]):
            out.append("\n")
        text = node_text(leaf, src)
        out.append("\n" if leaf.type == "\n" else text)
        last = leaf
    gap(node.end_byte)
    if last is not None and _directive_token(last) and last.type != "\n" and out and out[-1] != "\n":
        out.append("\n")
    return out


def errors(node: Node) -> list[Node]:
    """The syntax errors under ``node``: the outermost ``ERROR`` nodes and the missing nodes outside
    them (tree-sitter's error recovery), in source order."""
    if not node.has_error:
        return []
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            out.append(n)
        elif n.has_error:
            stack.extend(reversed(n.children))
    return out


# ------------------------------------------------------------------- calls

#: every call: the callee expression and its argument list.
CALLS = "(call_expression function: (_) @callee arguments: (argument_list) @args) @call"

#: every declarator initialized by a number literal: ``const size_t block = 2048;``.
LITERAL_INITS = "(init_declarator declarator: (identifier) @name value: (number_literal) @value) @init"

_NAMES = frozenset({"identifier", "qualified_identifier", "template_function", "field_expression",
                    "namespace_identifier", "field_identifier", "type_identifier", "template_type",
                    "qualified_type_identifier", "destructor_name", "operator_name"})


def qualified_name(node: Node, src: bytes) -> str | None:
    """The name ``node`` spells, without template arguments or whitespace
    (``parlay :: tabulate<double>`` → ``"parlay::tabulate"``, ``v.size`` → ``"v.size"``);
    None when ``node`` is not a name (a lambda, a parenthesized expression...)."""
    if node.type not in _NAMES:
        return None
    return "".join(node_text(n, src) for n in _name_leaves(node))


def _name_leaves(node: Node) -> Iterator[Node]:
    """The leaves of ``node`` in source order, skipping template argument lists and comments."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in ("template_argument_list", "comment"):
            continue
        if n.child_count == 0:
            yield n
        else:
            stack.extend(reversed(n.children))


def last_name(name: str) -> str:
    """The unqualified last component of a :func:`qualified_name` (``parlay::delayed::map`` → ``map``)."""
    for sep in ("::", "->", "."):
        name = name.rsplit(sep, 1)[-1]
    return name


@dataclass(frozen=True)
class Call:
    """One call expression: ``node`` (the ``call_expression``), ``name`` (the callee's
    :func:`qualified_name`, ``""`` when the callee is not a name), ``callee`` (its node) and
    ``args`` (the argument nodes in order, comments excluded)."""

    node: Node
    name: str
    callee: Node
    args: tuple[Node, ...]

    @property
    def short(self) -> str:
        """The callee's unqualified name (``parallel_for``)."""
        return last_name(self.name)


def calls(node: Node, src: bytes, names: Iterable[str] | None = None) -> list[Call]:
    """The calls under ``node`` in source order (an enclosing call before the calls in its
    arguments), by tree-sitter query; with ``names``, only calls whose callee's
    :func:`qualified_name` is one of them (``{"parlay::parallel_for"}``)."""
    want = set(names) if names is not None else None
    out = []
    for m in matches(CALLS, node):
        call, callee, args = m["call"][0], m["callee"][0], m["args"][0]
        name = qualified_name(callee, src) or ""
        if want is not None and name not in want:
            continue
        out.append(Call(node=call, name=name, callee=callee,
                        args=tuple(a for a in args.named_children if a.type != "comment")))
    out.sort(key=lambda c: (c.node.start_byte, -c.node.end_byte))
    return out


def literal_inits(node: Node, src: bytes, name: str) -> list[Node]:
    """The number-literal initializers of the declarators named ``name`` under ``node``
    (``const size_t block = 2048;`` → the ``2048`` node), in source order."""
    return [m["value"][0] for m in matches(LITERAL_INITS, node) if node_text(m["name"][0], src) == name]


def replace_spans(src: bytes, edits: Iterable[tuple[int, int, str]]) -> bytes:
    """``src`` with each ``(start_byte, end_byte, new_text)`` applied; edits must not overlap.

    Raises:
        ValueError: two edits overlap.
    """
    out = src
    prev_start = None
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        if prev_start is not None and end > prev_start:
            raise ValueError(f"overlapping edits at bytes {start}-{end}")
        out = out[:start] + new.encode("utf-8") + out[end:]
        prev_start = start
    return out


def name_end(node: Node) -> int:
    """The end byte of the name ``node`` spells, before any trailing template arguments
    (``parlay::tabulate<double>`` → the end of ``tabulate``), so a name can be replaced and its
    template arguments kept."""
    return max((n.end_byte for n in _name_leaves(node)), default=node.start_byte)
