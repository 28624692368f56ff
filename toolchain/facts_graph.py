"""Graph loops: a frontier processed level by level, and a relaxation repeated until nothing changes.

Two ``while`` (or ``do … while``) loops people write over graphs, read from the
nodes of a :class:`~parevo.toolchain.site.ParsedSite`:

* **frontier** (breadth-first search and its relatives)::

      while (!frontier.empty()) {           // or frontier.size() > 0
        std::vector<int> next;              // or next.clear();
        for (int u : frontier)              // or for (k…) { int u = frontier[k]; … }
          for (int e = off[u]; e < off[u + 1]; ++e) {
            int v = adj[e];
            if (dist[v] == -1) { dist[v] = dist[u] + 1; next.push_back(v); }
          }
        frontier.swap(next);                // or std::swap(frontier, next), frontier = next …
      }

  :func:`frontier_loop` returns a :class:`Frontier` when the loop over the
  frontier writes nothing but the claimed vertex's elements (``A[v]`` inside the
  ``if`` that pushes ``v``) and its own locals, the condition reads only ``v``'s
  state and loop-invariant data, and the block reads written arrays only at
  ``v`` or at the frontier vertex ``u``. Under those conditions a level is the
  same computation in parallel (see :mod:`parevo.evolution.rules_graph`): the
  candidates of a level are the pairs whose condition holds at the start of the
  level, the first candidate of each vertex in the loop's order wins it, the
  winners' blocks run in parallel and the next frontier is the winners in that
  order — provided no frontier vertex is won in the same level and no winner's
  condition still holds after its block, which the rewrite checks at run time
  and otherwise runs the level as written.

* **relaxation to a fixpoint** (label propagation, connected components)::

      while (changed) {                     // or do { … } while (changed);
        changed = false;
        for (int v = 0; v < n; ++v)
          for (int e = off[v]; e < off[v + 1]; ++e) {
            int u = adj[e];
            if (label[u] < label[v]) { label[v] = label[u]; changed = true; }
          }
      }

  :func:`relaxation_loop` returns a :class:`Relaxation` when the only write of
  the array is that guarded copy of a smaller (or larger) element into the
  iteration's own element, of an integer type. Repeating ``x_v = min(x_v, x_u)``
  over the edges until no value changes ends, in any order, at ``x_v`` = the
  smallest initial value reachable from ``v``: every value ever held by ``x_v``
  is at least that minimum, and at a fixpoint ``x_v <= x_u`` along every edge.
  So the sweeps can run in parallel (with relaxed atomic loads and stores of the
  labels) and still end with the serial loop's labels.

:mod:`parevo.toolchain.facts_frontier` and :mod:`parevo.toolchain.facts_relax`
recognize them (each returns the reason when the loop is not of its shape);
this module holds what both read with: :class:`GraphReader` and small node
helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .loop_body import element_parts
from .site import ParsedSite
from .syntax import callee_name, captures, declarator_layers, identifiers, node_text, strip_parens


@dataclass
class Why:
    """The reason the last recognizer gave up (a user-facing clause), or None."""

    text: str | None = None
    lines: list[int] = field(default_factory=list)

    def no(self, text: str, *nodes: Node) -> None:
        self.text = text
        self.lines = [n.start_point[0] for n in nodes]


def text_of(node: Node | None, src: bytes) -> str:
    """The text of ``node`` (``""`` for None)."""
    return node_text(node, src) if node is not None else ""


def method_call(node: Node | None, src: bytes) -> tuple[str, str, list[Node]] | None:
    """``(object name, method, arguments)`` of ``obj.method(args)`` with ``obj`` an identifier."""
    node = strip_parens(node)
    if node is None or node.type != "call_expression":
        return None
    fn = node.child_by_field_name("function")
    args = node.child_by_field_name("arguments")
    if fn is None or fn.type != "field_expression" or args is None:
        return None
    obj = strip_parens(fn.child_by_field_name("argument"))
    fld = fn.child_by_field_name("field")
    if obj is None or obj.type != "identifier" or fld is None:
        return None
    return text_of(obj, src), text_of(fld, src), [a for a in args.named_children if a.type != "comment"]


def mentions_any(node: Node, names: set[str], src: bytes) -> bool:
    """True when ``node`` uses one of the variables ``names``."""
    return any(text_of(n, src) in names for n in identifiers(node))


def local_decls(scope: Node, src: bytes) -> dict[str, tuple[Node, Node]]:
    """Names declared under ``scope`` (declarations and range-for variables) → (holder, declarator)."""
    out: dict[str, tuple[Node, Node]] = {}
    for d in captures("(declaration) @d", scope).get("d", []):
        for decl in d.children_by_field_name("declarator"):
            nm = declarator_layers(decl)[1]
            if nm is not None:
                out.setdefault(text_of(nm, src), (d, decl))
    for r in captures("(for_range_loop) @r", scope).get("r", []):
        decl = r.child_by_field_name("declarator")
        nm = declarator_layers(decl)[1]
        if nm is not None:
            out.setdefault(text_of(nm, src), (r, decl))
    return out


def subscript_of(node: Node, src: bytes) -> tuple[str, Node] | None:
    """``(array name, index node)`` of ``A[x]`` with ``A`` an identifier."""
    parts = element_parts(node, src)
    if parts is None:
        return None
    base = strip_parens(parts[0])
    if base is None or base.type != "identifier" or parts[1] is None:
        return None
    return text_of(base, src), parts[1]


class GraphReader:
    """One recognition run over ``site``'s loop: the file's bytes, the functions the loop may call
    (``pure``), and ``why`` (the reason when the loop is not of the reader's shape)."""

    def __init__(self, site: ParsedSite, pure: frozenset[str]):
        self.site = site
        self.src = site.src
        self.pure = pure
        self.why = Why()

    def t(self, node: Node | None) -> str:
        return text_of(node, self.src)

    def calls_ok(self, scope: Node, allowed: set[int]) -> Node | None:
        """The first call under ``scope`` that is neither in ``allowed`` (node ids) nor a known pure function."""
        for c in captures("(call_expression) @c", scope).get("c", []):
            if c.id in allowed:
                continue
            name = callee_name(c) or ""
            if name not in self.pure:
                return c
        return None

    # ------------------------------------------------------------------ frontier


__all__ = ["GraphReader", "Why", "local_decls", "mentions_any", "method_call", "subscript_of", "text_of"]
