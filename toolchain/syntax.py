"""The one place that knows tree-sitter-cpp: parsing, node helpers and queries.

Everything in parevo that reads or changes C++ goes through this module:
the language object, the parser (with a parse counter tests can read), node
text and spans, iterative walks (no recursion, so no input depth can raise
``RecursionError``), declarators, the enclosing ``if`` guards and loops of a
node, literal values, and compiled tree-sitter queries (:func:`query`,
:func:`captures`, :func:`matches`). Other modules hold what they *mean* by a
pattern (a loop, a reduction, a ``parlay::parallel_for`` call); the walking
and matching is here.

Conventions: byte offsets index the UTF-8 encoded text; points are 0-based
``(row, column-in-bytes)`` as tree-sitter gives them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import tree_sitter_cpp
import tree_sitter_cuda
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

from .models import Span

CPP = Language(tree_sitter_cpp.language())

#: tree-sitter-cuda (tree-sitter-cpp extended with CUDA's qualifiers and ``<<<...>>>`` launches): read
#: only to find the CUDA-only syntax of a ``.cu`` file (:mod:`parevo.toolchain.source_view`).
CUDA = Language(tree_sitter_cuda.language())

#: CUDA-only tokens of tree-sitter-cuda that mark a declaration as device code (blanked whole in the
#: host view), and those that are mere annotations of host-callable code (blanked alone).
CUDA_DEVICE_MARKS = frozenset({"__global__", "__device__", "__constant__", "__shared__", "__tile_global__",
                               "__tile__"})
CUDA_ANNOTATIONS = frozenset({"__host__", "__forceinline__", "__noinline__", "__managed__", "__grid_constant__",
                              "__local__", "launch_bounds"})
#: a kernel launch's execution configuration: ``<<<grid, block>>>``.
CUDA_LAUNCH = "kernel_call_syntax"

#: tree-sitter node types of the four loop statements, with parevo's names for them.
LOOP_TYPES: dict[str, str] = {
    "for_statement": "for",
    "for_range_loop": "range_for",
    "while_statement": "while",
    "do_statement": "do",
}

#: Calls whose lambda runs the iterations of an already-parallel loop (the bare callee name).
PARALLEL_CALLS = frozenset({"parallel_for", "for_each", "tabulate", "blocked_for"})

#: Standard algorithms a selection may point at instead of a loop (``std::`` qualified calls): each is
#: a loop the rule rung rewrites with its ParlayLib counterpart.
ALGORITHMS = frozenset({"accumulate", "reduce", "transform", "count", "count_if", "min_element", "max_element",
                        "inclusive_scan", "partial_sum"})

#: Statements that can hold a selected algorithm call.
_ALGORITHM_STATEMENTS = frozenset({"expression_statement", "declaration", "return_statement"})

#: Node types that name what a declarator declares.
_NAME_TYPES = frozenset({"identifier", "field_identifier", "qualified_identifier", "destructor_name",
                         "operator_name", "type_identifier"})

_parses = 0
_parses_lock = threading.Lock()


def parse_count() -> int:
    """How many times a document was actually parsed (cache misses of :func:`parse`) in this process.

    Tests read it to check that a request parses its document once (candidates' code, parsed
    with :func:`parse_bytes`, is not counted).
    """
    return _parses


#: Texts of at least this many bytes are handed to the parser in chunks of :data:`PARSE_CHUNK` bytes.
CHUNKED_BYTES = 64 * 1024
PARSE_CHUNK = 1024


def _parse_yielding(src: bytes) -> Tree:
    """Parse ``src``, handing it to tree-sitter in :data:`PARSE_CHUNK`-byte chunks through a read callback.

    tree-sitter holds Python's GIL for a whole ``parse(bytes)`` call: 4.5 s for a 2.6 MB file on this
    busy 2-core machine, during which every other thread of the process (the language server's event
    loop) stands still. Each call of the read callback is Python code, where the interpreter hands the
    GIL to a waiting thread: measured on the same file, the longest stall of a thread ticking every
    millisecond fell from 4,489 ms to 405 ms (p99 89 ms) at the same total time. The tree is the same.
    """
    def read(byte: int, _point) -> bytes:
        return src[byte:byte + PARSE_CHUNK]

    return Parser(CPP).parse(read)


@lru_cache(maxsize=32)
def _parse_cached(source: str) -> Tree:
    global _parses
    with _parses_lock:
        _parses += 1
    src = source.encode("utf-8", errors="surrogatepass")
    return _parse_yielding(src) if len(src) >= CHUNKED_BYTES else Parser(CPP).parse(src)


def parse(source: str) -> Tree:
    """Parse C++ ``source`` (str) into a tree-sitter tree (cached by text, 32 entries; counted by
    :func:`parse_count`)."""
    return _parse_cached(source)


def parse_bytes(src: bytes) -> Tree:
    """Parse UTF-8 encoded C++ ``src`` (not cached, not counted: candidates' code, not documents)."""
    return Parser(CPP).parse(src)


def parse_cuda(src: bytes) -> Tree:
    """Parse UTF-8 encoded CUDA ``src`` with tree-sitter-cuda (not cached, not counted). Its nodes are
    tree-sitter-cpp's plus CUDA's: query them by type (:data:`CUDA_DEVICE_MARKS`, ...), never with
    :func:`query`, whose patterns are compiled for tree-sitter-cpp."""
    return Parser(CUDA).parse(src)


def node_text(node: Node | None, src: bytes) -> str:
    """The text of ``node`` in the encoded source ``src`` (invalid UTF-8 replaced; ``""`` for None)."""
    if node is None:
        return ""
    return src[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def span_of(node: Node) -> Span:
    """The :class:`~parevo.toolchain.models.Span` (bytes and 0-based points) of ``node``."""
    return Span(start_byte=node.start_byte, end_byte=node.end_byte, start_line=node.start_point[0],
                start_col=node.start_point[1], end_line=node.end_point[0], end_col=node.end_point[1])


def line_of(node: Node) -> int:
    """0-based first line of ``node``."""
    return node.start_point[0]


# ------------------------------------------------------------------ walks


def walk(node: Node) -> Iterator[Node]:
    """Pre-order iterator over ``node`` and all its descendants, in source order (iterative)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


S = TypeVar("S")


def visit(node: Node, state: S, step: Callable[[Node, S], list[tuple[Node, S]] | None]) -> None:
    """Pre-order traversal that carries a per-branch ``state`` (iterative).

    ``step(node, state)`` handles ``node`` and returns the ``(child, child_state)`` pairs to
    visit next, in order, or None to visit every child with the same state. Used for
    analyses whose facts depend on what encloses a node (the loop variables in scope).
    """
    stack: list[tuple[Node, S]] = [(node, state)]
    while stack:
        n, st = stack.pop()
        nxt = step(n, st)
        if nxt is None:
            nxt = [(c, st) for c in n.children]
        stack.extend(reversed(nxt))


def ancestors(node: Node, stop: Node | None = None) -> Iterator[Node]:
    """The proper ancestors of ``node``, innermost first, up to (not including) ``stop``."""
    p = node.parent
    while p is not None and (stop is None or p.id != stop.id):
        yield p
        p = p.parent


def ancestor(node: Node, types: set[str] | frozenset[str]) -> Node | None:
    """The nearest proper ancestor of ``node`` whose type is in ``types``, else None."""
    return next((p for p in ancestors(node) if p.type in types), None)


def inside(node: Node, outer: Node) -> bool:
    """True when ``node`` lies within ``outer``'s bytes."""
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


# ------------------------------------------------------------------ expressions


def strip_parens(node: Node | None) -> Node | None:
    """The node inside any number of redundant parentheses (``((x))`` → ``x``)."""
    while node is not None and node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


_INT_CAST_NAMES = frozenset({"size_t", "int64_t", "uint64_t", "ptrdiff_t", "int32_t", "uint32_t"})


def conversion_operand(node: Node | None, names: frozenset[str] | None = None) -> Node | None:
    """The operand of a cast or conversion of one value: ``(T)x``, ``static_cast<T>(x)``,
    ``reinterpret_cast<T>(x)``, ``long(x)``, ``T(x)`` (with ``names``: only a ``T`` so named, or a
    builtin type); else None."""
    if node is None:
        return None
    if node.type == "cast_expression":
        return node.child_by_field_name("value")
    if node.type != "call_expression":
        return None
    fn = node.child_by_field_name("function")
    args = node.child_by_field_name("arguments")
    if fn is None or args is None or args.named_child_count != 1:
        return None
    if fn.type == "template_function":
        name = fn.child_by_field_name("name")
        ok = name is not None and name.text in (b"static_cast", b"reinterpret_cast")
    elif fn.type == "primitive_type":
        ok = True
    elif fn.type in ("identifier", "qualified_identifier", "type_identifier"):
        ok = names is None or callee_name(node) in names
    else:
        ok = False
    return args.named_children[0] if ok else None


def strip_casts(node: Node | None) -> Node | None:
    """Skip parentheses and casts: ``(int)x``, ``static_cast<long>(x)``, ``size_t(x)``."""
    while node is not None:
        if node.type == "parenthesized_expression" and node.named_child_count == 1:
            node = node.named_children[0]
            continue
        inner = conversion_operand(node, _INT_CAST_NAMES)
        if inner is None:
            return node
        node = inner
    return node


def int_literal(node: Node | None, src: bytes) -> int | None:
    """The value of an integer literal node (``42``, ``0x2A``, ``1'000``, ``64u``, ``-3``), else None.

    Parentheses are skipped; digit separators and integer suffixes are understood; a
    floating-point literal is not an integer.
    """
    node = strip_parens(node)
    sign = 1
    while node is not None and node.type == "unary_expression" and node.child_count == 2 \
            and node.children[0].type in ("-", "+"):
        sign = -sign if node.children[0].type == "-" else sign
        node = strip_parens(node.children[1])
    if node is None or node.type != "number_literal":
        return None
    v = int_value(node_text(node, src))
    return None if v is None else sign * v


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


def operator_of(node: Node, src: bytes) -> str:
    """The operator of an assignment/binary (``+=``, ``<``) or update (``++``/``--``) expression."""
    o = node.child_by_field_name("operator")
    if o is not None:
        return node_text(o, src)
    if node.type == "update_expression":
        return next((c.type for c in node.children if c.type in ("++", "--")), "")
    return ""


def callee_name(call: Node) -> str | None:
    """The bare name a call expression calls: ``f``, ``parallel_for`` of ``parlay::parallel_for<T>``,
    ``push_back`` of ``v.push_back``; None for a call through an expression."""
    fn = call.child_by_field_name("function")
    while fn is not None:
        if fn.type in ("identifier", "field_identifier", "primitive_type", "type_identifier"):
            return fn.text.decode("utf-8", errors="replace")
        if fn.type in ("qualified_identifier", "template_function"):
            fn = fn.child_by_field_name("name")
        elif fn.type == "field_expression":
            fn = fn.child_by_field_name("field")
        else:
            return None
    return None


_IDENTIFIERS = """
(identifier) @id
(qualified_identifier (identifier) @part)
(template_function name: (identifier) @part)
(call_expression function: (identifier) @part)
"""


def identifiers(node: Node | None) -> list[Node]:
    """Identifier nodes used as variables under ``node`` (not a called function's name, not a
    qualified name's part), in source order."""
    if node is None:
        return []
    got = captures(_IDENTIFIERS, node)
    parts = {n.id for n in got.get("part", [])}
    return [n for n in got.get("id", []) if n.id not in parts]


def mentions(node: Node | None, name: str) -> bool:
    """True when ``node`` uses the variable ``name``."""
    key = name.encode("utf-8")
    return node is not None and any(n.text == key for n in identifiers(node))


def words(node: Node) -> set[str]:
    """Every identifier-like token under ``node`` (variables, types, fields, namespaces)."""
    pattern = "[(identifier) (field_identifier) (type_identifier) (namespace_identifier)] @w"
    return {n.text.decode("utf-8", errors="replace") for n in captures(pattern, node).get("w", [])}


def pragmas(node: Node) -> list[Node]:
    """The arguments of the ``#pragma`` directives under ``node`` (``omp parallel for``), in source order."""
    got = captures('(preproc_call directive: (preproc_directive) @d argument: (preproc_arg) @a (#eq? @d "#pragma"))',
                   node)
    return got.get("a", [])


# ------------------------------------------------------------------ statements and control


def statement_of(node: Node, stop: Node) -> Node:
    """The statement containing expression ``node`` (never above ``stop``)."""
    n = node
    while n.type != "expression_statement" and n.id != stop.id:
        if n.parent is None or n.parent.type == "compound_statement":
            break
        n = n.parent
    return n


def block_statements(node: Node) -> list[Node]:
    """The statements of a block ``{ … }`` (comments dropped), or ``[node]`` for a single statement."""
    if node.type == "compound_statement":
        return [c for c in node.named_children if c.type != "comment"]
    return [node]


def if_guards(node: Node, stop: Node) -> list[tuple[Node, bool]]:
    """The ``if`` statements between ``stop`` and ``node`` whose branch holds ``node``, outermost
    first, each with True when ``node`` is in its ``else`` branch."""
    out = []
    n = node
    while n is not None and n.id != stop.id:
        p = n.parent
        if p is not None and p.type == "if_statement":
            if p.child_by_field_name("consequence") == n:
                out.append((p, False))
            elif p.child_by_field_name("alternative") == n:
                out.append((p, True))
        if p is not None and p.type == "else_clause" and p.parent is not None and p.parent.type == "if_statement":
            out.append((p.parent, True))
            n = p.parent
            continue
        n = p
    out.reverse()
    return out


def value_used(node: Node) -> bool:
    """True when the value of expression ``node`` is used (``x = h[k]++``, ``out[c++]``).

    Unused: a whole expression statement, the left operand of a comma, a
    ``for`` header's update.
    """
    n = node
    while True:
        while n.parent is not None and n.parent.type == "parenthesized_expression":
            n = n.parent
        p = n.parent
        if p is None or p.type == "expression_statement":
            return False
        if p.type == "comma_expression":
            if p.child_by_field_name("left") == n:
                return False
            n = p
            continue
        if p.type == "for_statement" and p.child_by_field_name("update") == n:
            return False
        return True


def conjuncts(cond: Node) -> list[Node]:
    """The ``&&`` operands of ``cond`` (parentheses skipped), left to right; ``[cond]`` otherwise."""
    out, todo = [], [cond]
    while todo:
        c = strip_parens(todo.pop())
        op = c.child_by_field_name("operator") if c is not None and c.type == "binary_expression" else None
        if op is not None and op.type == "&&":
            todo += [c.child_by_field_name("right"), c.child_by_field_name("left")]
        elif c is not None:
            out.append(c)
    return out


def condition_value(cond: Node | None) -> Node | None:
    """The expression of an ``if``/``while`` condition (``(x < y)`` → ``x < y``)."""
    if cond is None:
        return None
    if cond.type == "condition_clause":
        v = cond.child_by_field_name("value")
        cond = v if v is not None else (cond.named_children[0] if cond.named_child_count else None)
    return strip_parens(cond)


# ------------------------------------------------------------------ declarators


def _inner_declarator(decl: Node) -> Node | None:
    nxt = decl.child_by_field_name("declarator")
    if nxt is None:
        kids = [c for c in decl.named_children if c.type in _NAME_TYPES or c.type.endswith("declarator")]
        nxt = kids[0] if kids else None
    return nxt


def declarator_layers(decl: Node | None) -> tuple[list[Node], Node | None]:
    """The declarator nodes from the outside in, and the declared name node at the core.

    ``* const & x`` → ``([pointer_declarator, reference_declarator], x)``. ``init_declarator``
    and ``parenthesized_declarator`` are part of the list; a structured binding ends it with a
    None name.
    """
    layers: list[Node] = []
    while decl is not None:
        if decl.type in _NAME_TYPES:
            return layers, decl
        if decl.type == "structured_binding_declarator":
            layers.append(decl)
            return layers, None
        layers.append(decl)
        decl = _inner_declarator(decl)
    return layers, None


def declarator_name(decl: Node | None) -> Node | None:
    """The name node a (possibly init/reference/pointer/array/function) declarator declares."""
    return declarator_layers(decl)[1]


def declared_name(decl: Node | None, src: bytes) -> str | None:
    """The variable name a declarator declares (an identifier), else None."""
    name = declarator_name(decl)
    return node_text(name, src) if name is not None and name.type == "identifier" else None


def declared_names(decl: Node | None) -> list[Node]:
    """Every name a declarator declares: one, or each of a structured binding's ``[a, b]``."""
    layers, name = declarator_layers(decl)
    if name is not None:
        return [name]
    if layers and layers[-1].type == "structured_binding_declarator":
        return [c for c in layers[-1].named_children if c.type == "identifier"]
    return []


def function_declarator(fn: Node) -> Node | None:
    """The ``function_declarator`` of a function definition (below pointer/reference declarators)."""
    return next((d for d in declarator_layers(fn.child_by_field_name("declarator"))[0]
                 if d.type == "function_declarator"), None)


# ------------------------------------------------------------------ loops


def loops_in(node: Node) -> list[Node]:
    """Every loop statement under ``node`` (and ``node`` itself), in source order."""
    return captures("[(for_statement) (for_range_loop) (while_statement) (do_statement)] @loop", node).get("loop", [])


def parallel_calls_in(node: Node) -> list[Node]:
    """Calls of :data:`PARALLEL_CALLS` (``parlay::parallel_for(…)``, ``std::for_each(…)``) under ``node``."""
    return [c for c in captures("(call_expression) @call", node).get("call", []) if callee_name(c) in PARALLEL_CALLS]


def algorithm_call(call: Node) -> str | None:
    """The name of the standard algorithm ``call`` calls (``std::accumulate(…)`` → ``accumulate``), else None."""
    if call.type != "call_expression":
        return None
    fn = call.child_by_field_name("function")
    if fn is None or fn.type != "qualified_identifier":
        return None
    scope = fn.child_by_field_name("scope")
    name = fn.child_by_field_name("name")
    if scope is None or scope.text != b"std" or name is None or name.type != "identifier":
        return None
    text = name.text.decode("utf-8", errors="replace")
    return text if text in ALGORITHMS else None


def algorithm_calls_in(node: Node) -> list[Node]:
    """The standard-algorithm calls under ``node`` (:data:`ALGORITHMS`), in source order."""
    return [c for c in captures("(call_expression) @call", node).get("call", []) if algorithm_call(c)]


def algorithm_statement(node: Node) -> Node | None:
    """The statement ``node`` is when it holds exactly one standard-algorithm call and no loop (an expression
    statement, a declaration or a ``return``), else None."""
    if node.type not in _ALGORITHM_STATEMENTS or loops_in(node) or len(algorithm_calls_in(node)) != 1:
        return None
    return node


def is_loop_site(node: Node) -> bool:
    """True for a loop statement, a parallel call or a statement holding a standard-algorithm call (what a
    loop site may point at)."""
    return node.type in LOOP_TYPES or (node.type == "call_expression" and callee_name(node) in PARALLEL_CALLS) or (
        algorithm_statement(node) is not None)


def find_loop_node(root: Node, start_byte: int, end_byte: int) -> Node | None:
    """The loop statement or parallel call spanning exactly ``[start_byte, end_byte)``, else None.

    The one way parevo finds a loop again from its span (a stored result, a replayed run).
    """
    n = root.descendant_for_byte_range(start_byte, end_byte)
    while n is not None and n.start_byte == start_byte:
        if n.end_byte == end_byte and is_loop_site(n):
            return n
        if n.end_byte > end_byte:
            break
        n = n.parent
    return None


def node_at(root: Node, start_byte: int, end_byte: int) -> Node | None:
    """The outermost node spanning exactly ``[start_byte, end_byte)`` under ``root``, else None
    (how a fact recorded as a span finds its node again)."""
    n = root.descendant_for_byte_range(start_byte, end_byte)
    best = None
    while n is not None and n.start_byte == start_byte and n.end_byte == end_byte:
        best = n
        n = n.parent
    return best


def loop_depth(node: Node, stop: Node) -> tuple[int, int, bool]:
    """``(loops, switches, in_lambda)`` between ``stop`` and ``node``: how many loop statements and
    ``switch`` statements enclose ``node`` below ``stop``, and whether a lambda does."""
    loops = switches = 0
    lam = False
    for p in ancestors(node, stop):
        if p.type in LOOP_TYPES:
            loops += 1
        elif p.type == "switch_statement":
            switches += 1
        elif p.type == "lambda_expression":
            lam = True
    return loops, switches, lam


# ------------------------------------------------------------------ queries


@lru_cache(maxsize=None)
def query(pattern: str) -> Query:
    """The compiled tree-sitter query for ``pattern`` (S-expression query syntax), cached.

    Raises:
        tree_sitter.QueryError: ``pattern`` is not a valid query for tree-sitter-cpp.
    """
    return Query(CPP, pattern)


def _query_roots(node: Node) -> list[Node]:
    """Where to run a query over ``node``: ``node`` itself, or, for the translation unit of a text of at
    least :data:`CHUNKED_BYTES`, each of its children in turn.

    A query over a whole large file is one C call that holds Python's GIL throughout (1.5 s for a
    2.6 MB file of 22,000 functions on this busy machine: the language server's event loop stood still
    that long while the file's site was read on a thread). Run child by child, the interpreter can hand
    the GIL to another thread between calls. The captures are the same: no pattern matches the
    translation unit itself, so every match lies within one of its children.
    """
    if node.type == "translation_unit" and node.end_byte - node.start_byte >= CHUNKED_BYTES:
        return list(node.children)
    return [node]


def captures(pattern: str, node: Node) -> dict[str, list[Node]]:
    """Every capture of query ``pattern`` under ``node``: ``{capture name: [nodes in source order]}``."""
    q = query(pattern)
    got: dict[str, list[Node]] = {}
    for root in _query_roots(node):
        for k, v in QueryCursor(q).captures(root).items():
            got.setdefault(k, []).extend(v)
    return {k: sorted(v, key=lambda n: (n.start_byte, -n.end_byte)) for k, v in got.items()}


def matches(pattern: str, node: Node) -> list[dict[str, list[Node]]]:
    """The matches of query ``pattern`` under ``node``, each ``{capture name: [nodes]}``, in source order."""
    q = query(pattern)
    out = [m for root in _query_roots(node) for _, m in QueryCursor(q).matches(root)]

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
