"""How a candidate divides its iterations among workers, read from its syntax tree.

A race check only means something where the candidate really runs in parallel:
every worker must run blocks of its own. How many iterations one parallel task
covers (its **block**) is decided by the candidate's code, and
:func:`read_blocking` reads it from the tree-sitter tree of the candidate's text
(loop or function; :mod:`parevo.toolchain.syntax` queries, never text patterns):

* ``parlay::parallel_for(s, e, f, g)``: the granularity ``g`` (a literal, or a name
  bound to one) times the **stride** of its lambda, the literal ``B`` its first
  parameter is multiplied by (``blk * 2048``: a parallel loop over blocks), or the
  literal its end is divided by (``(n + 2047) / 2048``; ``n_blocks`` bound to
  ``min(n / 4096, 4 * num_workers())``: blocks of at least 4096); automatic
  granularity (no ``g``, or 0) counts as :data:`AUTO_BLOCK`;
* ``parlay::blocked_for(s, e, B, f)``: ``B``;
* ``parlay::tabulate(n, f, g)`` / ``parlay::map(r, f, g)``: like ``parallel_for``;
* every other ParlayLib primitive (``reduce``, ``scan``, ``filter``, ``pack``,
  ``histogram_by_index``, ``find_if``, ``sort``...): :data:`LIBRARY_BLOCK`
  elements per task (ParlayLib 2.3's ``internal::_block_size``; ``reduce`` uses
  ``max(1024, 4 sqrt(n))``), times
  the stride of a lambda among its arguments (``reduce(delayed_tabulate(nb,
  [&](size_t b) { ... b * 2048 ... }))`` reduces blocks of 2048 iterations).

The candidate's block is the largest over its parallel calls: the coarsest call
decides the size at which every worker gets several blocks. Automatic
granularity depends on the cost of an iteration: :data:`AUTO_BLOCK` for cheap
ones, one iteration per task when one takes over :data:`AUTO_ITERATION_S`
(:meth:`Blocking.for_iteration`; the evaluator estimates it from the original's
calibration). A candidate with no
ParlayLib call (serial code, OpenMP, ``std::thread``) gets :data:`AUTO_BLOCK`.
"""

from __future__ import annotations

import functools

from pydantic import BaseModel
from tree_sitter import Node

from .syntax import int_literal, matches, node_text, parse, strip_parens

#: Iterations per task assumed for automatic granularity: ParlayLib's ``parallel_for`` runs
#: iterations serially until 1 µs has passed (``scheduler.h`` ``get_granularity``), a few to a
#: few dozen under ThreadSanitizer; 64 is also one word of ``std::vector<bool>``.
AUTO_BLOCK = 64
#: An iteration at least this long (seconds, optimized build) is its own task under automatic granularity:
#: ParlayLib's ``get_granularity`` runs iterations serially, doubling their count, until about 1,000
#: cycles have passed (``parallel.h``), under 1 µs on any machine that runs ThreadSanitizer.
AUTO_ITERATION_S = 1e-6
#: Elements per task of ParlayLib's sequence primitives (``internal/sequence_ops.h``: ``_block_size`` = 1024,
#: the block of ``reduce``, ``scan``, ``pack`` and ``filter``).
LIBRARY_BLOCK = 1024

#: Calls whose granularity argument (0-based position) and lambda position are known.
GRAIN_CALLS: dict[str, tuple[int, int]] = {"parallel_for": (3, 2), "tabulate": (2, 1), "map": (2, 1)}
#: Sequence primitives that split their input into library blocks.
LIBRARY_CALLS = frozenset({
    "reduce", "scan", "scan_inclusive", "scan_inplace", "scan_inclusive_inplace", "filter", "filter_into",
    "pack", "pack_index", "pack_into", "count", "count_if", "find", "find_if", "find_if_not", "min_element",
    "max_element", "minmax_element", "histogram_by_index", "histogram_by_key", "group_by_key", "reduce_by_key",
    "reduce_by_index", "sort", "sort_inplace", "stable_sort", "stable_sort_inplace", "integer_sort",
    "integer_sort_inplace", "merge", "flatten", "remove_duplicates", "unique", "all_of", "any_of", "none_of",
    "copy", "equal", "random_shuffle", "tokens", "split_at", "for_each", "mismatch", "search", "reverse",
    "rotate", "is_sorted", "is_partitioned", "kth_smallest", "rank",
})
#: Delayed wrappers: lazy, they run inside the primitive that consumes them.
LAZY_CALLS = frozenset({"delayed_tabulate", "delayed_map", "iota", "make_slice", "delayed_seq"})

_CALLS = "(call_expression function: (_) @fn arguments: (argument_list) @args) @call"
_LAMBDAS = ("(lambda_expression declarator: (abstract_function_declarator parameters: (parameter_list . "
            "(parameter_declaration declarator: (_) @param))) body: (compound_statement) @body) @lambda")
_BINDINGS = "(init_declarator declarator: (identifier) @name value: (_) @value)"
_PRODUCTS = '(binary_expression left: (_) @left operator: "*" right: (_) @right) @product'
_QUOTIENTS = '(binary_expression operator: "/" right: (_) @right) @quotient'
_NAMES = "(identifier) @name"


class Blocking(BaseModel):
    """A candidate's block: ``block`` iterations per parallel task (at least :data:`AUTO_BLOCK`),
    ``why`` how it was read (``"granularity 1 x blocks of 2048 in parlay::parallel_for"``), ``calls``
    the ParlayLib calls seen (``parallel_for``, ``reduce``...).

    ``costly_block`` is the block when one iteration takes longer than :data:`AUTO_ITERATION_S`
    (a matrix row): automatic granularity then gives one iteration per task, and the floor of
    :data:`AUTO_BLOCK` (cheap iterations) does not apply; blocks the code states (a granularity, a
    stride, a library's element blocks) stay. See :meth:`for_iteration`."""

    block: int = AUTO_BLOCK
    why: str = "automatic granularity"
    calls: list[str] = []
    costly_block: int = 1
    costly_why: str = "automatic granularity: one iteration per task"

    def for_iteration(self, seconds: float | None, n: int = 0) -> tuple[int, str]:
        """``(block, why)`` for iterations of ``seconds`` each at input size ``n`` (optimized build, one
        thread; None: unknown, the cheap-iteration block)."""
        if seconds is not None and seconds >= AUTO_ITERATION_S and self.costly_block < self.block:
            at = f" at n = {n:,}" if n else ""
            return self.costly_block, f"{self.costly_why}; one iteration takes about {seconds * 1e6:,.1f} µs{at}"
        return self.block, self.why


def _wrap(code: str) -> str:
    """The candidate as a parsable translation unit: a function stays, a loop or block goes into one."""
    tree = parse(code)
    if any(c.type == "function_definition" for c in tree.root_node.named_children) and not tree.root_node.has_error:
        return code
    return "void parevo_candidate_()\n{\n" + code + "\n}\n"


def callee(fn: Node, src: bytes) -> tuple[list[str], str]:
    """``(namespaces, name)`` of a call's function node: ``parlay::delayed_tabulate<int>`` gives
    ``(["parlay"], "delayed_tabulate")``; a plain ``f`` gives ``([], "f")``."""
    spaces: list[str] = []
    node: Node | None = fn
    while node is not None:
        if node.type == "qualified_identifier":
            scope = node.child_by_field_name("scope")
            if scope is not None:
                spaces.append(node_text(scope, src))
            node = node.child_by_field_name("name")
        elif node.type == "template_function":
            node = node.child_by_field_name("name")
        else:
            return spaces, node_text(node, src)
    return spaces, ""


def _bindings(root: Node, src: bytes) -> dict[str, Node]:
    """Every ``name = value`` declarator of the candidate: name -> value node (the last one wins)."""
    return {node_text(m["name"][0], src): m["value"][0] for m in matches(_BINDINGS, root)}


def _value(node: Node | None, src: bytes, bound: dict[str, Node]) -> int | None:
    """An integer literal, or a name bound to one in the candidate."""
    node = strip_parens(node)
    if node is None:
        return None
    v = int_literal(node, src)
    if v is None and node.type == "identifier" and node_text(node, src) in bound:
        v = int_literal(bound[node_text(node, src)], src)
    return v


def _divisor(node: Node, src: bytes, bound: dict[str, Node]) -> int:
    """The largest literal divisor in the expression ``node``, following names bound in the candidate
    one level (``n_blocks`` bound to ``min(n / 4096, k * num_workers())`` gives 4096); 1 if none."""
    exprs = [node] + [bound[node_text(m["name"][0], src)] for m in matches(_NAMES, node)
                      if node_text(m["name"][0], src) in bound]
    best = 1
    for e in exprs:
        for q in matches(_QUOTIENTS, e):
            v = _value(q["right"][0], src, bound)
            if v is not None and v > best:
                best = v
    return best


def _stride(node: Node, src: bytes, bound: dict[str, Node]) -> int:
    """The largest literal that the first parameter of a lambda under ``node`` is multiplied by (1 if none)."""
    best = 1
    for lam in matches(_LAMBDAS, node):
        param = node_text(lam["param"][0], src)
        for prod in matches(_PRODUCTS, lam["body"][0]):
            left, right = strip_parens(prod["left"][0]), strip_parens(prod["right"][0])
            for a, b in ((left, right), (right, left)):
                if a is not None and a.type == "identifier" and node_text(a, src) == param:
                    v = _value(b, src, bound)
                    if v is not None and v > best:
                        best = v
    return best


@functools.lru_cache(maxsize=256)
def read_blocking(code: str) -> Blocking:
    """The block of the candidate (or user's) code ``code`` (a loop, a block or a function definition).

    Never raises on odd input: unparsable parts simply contribute no call. Cached by text: the search
    reads a candidate's block when proposing it, before building it and in its race stage (do not
    mutate the result).
    """
    text = _wrap(code)
    src = text.encode("utf-8", errors="surrogatepass")
    root = parse(text).root_node
    bound = _bindings(root, src)
    found: list[tuple[int, str]] = []
    seen: list[str] = []
    for m in matches(_CALLS, root):
        spaces, name = callee(m["fn"][0], src)
        parlay = "parlay" in spaces
        args = [a for a in m["args"][0].named_children if a.type != "comment"]
        if not parlay and name not in ("parallel_for", "blocked_for"):
            continue
        if name in LAZY_CALLS or (not parlay and name not in GRAIN_CALLS and name != "blocked_for"):
            continue
        block, why, costly = None, "", None
        if name == "blocked_for" and len(args) >= 3:
            b = _value(args[2], src, bound)
            if b:
                block, why = b, f"blocks of {b:,} in {name}"
        elif name in GRAIN_CALLS:
            gpos, lpos = GRAIN_CALLS[name]
            g = _value(args[gpos], src, bound) if 0 <= gpos < len(args) else 0
            stride = _stride(args[lpos], src, bound) if lpos < len(args) else 1
            if name == "parallel_for" and len(args) >= 2:
                stride = max(stride, _divisor(args[1], src, bound))
            if g and g > 0:
                block = g * stride
                why = (f"granularity {g:,}" + (f" x blocks of {stride:,}" if stride > 1 else "") + f" in {name}")
            else:
                block = max(AUTO_BLOCK, stride)
                why = (f"blocks of {stride:,} in {name}" if stride > 1 else f"automatic granularity in {name}")
                costly = stride
        elif name in LIBRARY_CALLS:
            stride = max((_stride(a, src, bound) for a in args), default=1)
            block = LIBRARY_BLOCK * stride
            why = (f"ParlayLib's blocks of about {LIBRARY_BLOCK:,} elements in {name}"
                   + (f", each element a block of {stride:,} iterations" if stride > 1 else ""))
        if block is None:
            continue
        seen.append(name)
        found.append((max(block, AUTO_BLOCK), why, costly or block, why if costly is None else (
            f"automatic granularity in {name}: one iteration per task" if costly == 1 else why)))
    if not found:
        return Blocking(block=AUTO_BLOCK, why="automatic granularity (no ParlayLib call with a block size)")
    block, why, _, _ = max(found, key=lambda f: f[0])
    _, _, costly_block, costly_why = max(found, key=lambda f: f[2])
    return Blocking(block=block, why=why, calls=seen, costly_block=costly_block, costly_why=costly_why)


__all__ = ["AUTO_BLOCK", "AUTO_ITERATION_S", "LIBRARY_BLOCK", "Blocking", "callee", "read_blocking"]
