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

from collections.abc import Iterator
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
