"""A first-in first-out queue of vertices, read as the frontier loop it is (the queue form of breadth-first search).

``while (!q.empty()) { T u = q.front(); q.pop(); BODY }``, where ``BODY``
uses ``q`` only to append (``q.push(x)``, ``q.emplace(x)``; ``push_back`` and
``emplace_back`` for a ``std::deque``, popped with ``pop_front``), runs the
same iterations in the same order as the level-by-level loop

.. code-block:: c++

    while (!F.empty()) {
      std::vector<V> N;
      for (T u : F) { BODY with q.push(x) → N.push_back(x) }
      F.swap(N);
    }

with ``F`` holding the queue's contents at entry: the queue pops the vertices
present when a level starts, in order, and every vertex pushed meanwhile waits
behind them, exactly as ``N`` collects them for the next level. A rewrite of the
level loop is a rewrite of the queue loop once it starts by moving the queue's
contents into ``F`` (the queue ends empty either way). The frontier analysis
(:mod:`parevo.toolchain.facts_frontier`) then reads the level loop.

The vertex must be a copy (``T u``, ``auto u``): a reference to ``q.front()``
dangles once it is popped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tree_sitter import Node

from .facts_frontier import QUEUES, nonempty_test, queue_template
from .facts_graph import method_call
from .site import ParsedSite
from .syntax import block_statements, captures, condition_value, declarator_layers, node_text

@dataclass(frozen=True)
class QueueLevels:
    """The level form of a queue loop: ``prefix`` (the level vector's declaration, put before the loop in the
    analysed text), ``loop`` (the level loop's text, every body statement on its line), ``prelude`` (the
    statements a rewrite starts with: the queue's contents moved into the level vector) and ``note``."""

    prefix: str
    loop: str
    prelude: str
    note: str


def _popped_vertex(stmts: list[Node], q: str, pop: str, src: bytes) -> tuple[str, str, int] | None:
    """``(type as written, vertex name, statements used)`` when the body starts with ``T u = q.front();
    q.pop();``."""
    if len(stmts) < 2 or stmts[0].type != "declaration":
        return None
    decls = stmts[0].children_by_field_name("declarator")
    if len(decls) != 1 or decls[0].type != "init_declarator":
        return None
    layers, name = declarator_layers(decls[0])
    if name is None or name.type != "identifier" or len(layers) != 1:  # a reference would dangle after the pop
        return None
    m = method_call(decls[0].child_by_field_name("value"), src)
    if m is None or m[:2] != (q, "front") or m[2]:
        return None
    st = stmts[1]
    m = method_call(st.named_children[0], src) if st.type == "expression_statement" and st.named_child_count else None
    if m is None or m[:2] != (q, pop) or m[2]:
        return None
    type_node = stmts[0].child_by_field_name("type")
    quals = [node_text(c, src) for c in stmts[0].children if c.type == "type_qualifier"]
    typ = " ".join(quals + [node_text(type_node, src)]) if type_node is not None else ""
    return typ, node_text(name, src), 2


def queue_levels(site: ParsedSite, fresh: Callable[[ParsedSite, str], str]) -> QueueLevels | None:
    """The :class:`QueueLevels` of ``site``'s loop when it is a queue loop (module docstring), else None.

    ``fresh(site, base)`` names a new variable (``base`` or ``base_<k>``, unused in the function).
    """
    loop, src = site.loop_node, site.src
    if loop.type != "while_statement":
        return None
    q = nonempty_test(condition_value(loop.child_by_field_name("condition")), src)
    body = loop.child_by_field_name("body")
    qt = queue_template(site.decl_of(q)) if q is not None else None
    if qt is None or body is None or body.type != "compound_statement":
        return None
    pop, appends = QUEUES[qt]
    stmts = block_statements(body)
    got = _popped_vertex(stmts, q, pop, src)
    if got is None:
        return None
    vtype, vertex, used = got
    F, N = fresh(site, f"{q}_level"), fresh(site, f"{q}_next")
    edits: list[tuple[int, int, bytes]] = []
    for st in stmts[:used]:  # the pop leaves the body: its bytes become spaces, so lines stay
        edits.append((st.start_byte, st.end_byte, b" " * (st.end_byte - st.start_byte)))
    qname = q.encode("utf-8")
    for ident in captures("(identifier) @i", body).get("i", []):
        if ident.text != qname or any(e[0] <= ident.start_byte < e[1] for e in edits[:used]):
            continue
        fld = ident.parent
        call = fld.parent if fld is not None and fld.type == "field_expression" else None
        m = method_call(call, src) if call is not None and call.type == "call_expression" else None
        if m is None or m[0] != q or m[1] not in appends or len(m[2]) != 1 or \
                fld.child_by_field_name("argument").id != ident.id:
            return None  # the body reads the queue otherwise (its size, its front): not a frontier
        edits.append((fld.start_byte, fld.end_byte, f"{N}.push_back".encode("utf-8")))
    data = src[body.start_byte + 1:body.end_byte - 1]
    base = body.start_byte + 1
    for a, b, new in sorted(edits, key=lambda e: e[0], reverse=True):
        data = data[:a - base] + new + data[b - base:]
    V = f"std::decay_t<decltype({q}.front())>"
    head_pad = "\n" * src.count(b"\n", loop.start_byte, body.start_byte)
    text = (f"while (!{F}.empty()){head_pad} {{ std::vector<{V}> {N}; for ({vtype} {vertex} : {F}) {{"
            f"{data.decode('utf-8')}}} {F}.swap({N}); }}")
    prelude = f"std::vector<{V}> {F};\nwhile (!{q}.empty()) {{ {F}.push_back({q}.front()); {q}.{pop}(); }}"
    return QueueLevels(prefix=f"std::vector<{V}> {F}; ", loop=text, prelude=prelude,
                       note=(f"the queue `{q}` is processed level by level: read as a frontier `{F}` whose next "
                             f"level `{N}` collects the vertices pushed meanwhile (same iterations, same order)"))


__all__ = ["QueueLevels", "queue_levels"]
