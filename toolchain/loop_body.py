"""The events of a loop body, read with tree-sitter queries: writes, calls, exits, declarations.

``collect_body`` reads a loop body once and returns a :class:`BodyEvents`:
every assignment and ``++``/``--`` with its target (scalar, array element,
struct field, dereference), the ``if`` statements guarding it and whether it
sits in an inner loop; calls; early exits (``break`` only when it leaves the
selected loop, not an inner loop or ``switch``); ``continue`` statements of the
loop itself; names declared in the body. Code inside lambdas belongs to the
lambda and is not an event of the loop. Each kind of event is one query over
the body; its context (guards, enclosing loops, a lambda around it) comes from
the node's ancestors (:mod:`parevo.toolchain.syntax`), so no recursion and no
hand-written walk is involved. Used by :mod:`parevo.toolchain.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .syntax import (
    LOOP_TYPES,
    captures,
    declared_names,
    if_guards,
    loop_depth,
    node_text,
    operator_of,
    statement_of,
    strip_parens,
)

STREAM_NAMES = frozenset({"cout", "cerr", "clog", "cin"})


def norm(text: str) -> str:
    """Text without whitespace (for comparing expressions)."""
    return "".join(text.split())


@dataclass
class Target:
    """What an assignment writes: ``kind`` scalar/array/field/deref/other, the base ``name``, subscripts."""
    kind: str  # scalar | array | field | deref | other
    name: str
    indices: list[Node] = field(default_factory=list)  # base-most first
    node: Node | None = None


@dataclass
class Write:
    """One assignment or ``++``/``--`` in the body with its target, guards and nesting."""
    node: Node
    stmt: Node
    target: Target
    op: str
    value: Node | None
    guards: list[tuple[Node, bool]]  # (if_statement, in_else)
    inner: bool


@dataclass
class BodyEvents:
    """Everything :func:`collect_body` records (see the module docstring)."""
    writes: list[Write] = field(default_factory=list)
    calls: list[tuple[Node, str, Node | None]] = field(default_factory=list)  # (call, name, object)
    exits: list[tuple[Node, str, list[tuple[Node, bool]]]] = field(default_factory=list)
    continues: list[Node] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)
    inner_loops: int = 0
    streams: list[Node] = field(default_factory=list)
    throws: list[Node] = field(default_factory=list)
    lambdas: int = 0


def element_parts(node: Node | None, src: bytes) -> tuple[Node, Node | None] | None:
    """(base, index) of ``a[idx]`` or ``a.at(idx)``; None for any other node."""
    if node is None:
        return None
    if node.type == "subscript_expression":
        args = node.child_by_field_name("indices")
        first = args.named_children[0] if args is not None and args.named_child_count else None
        return node.child_by_field_name("argument"), first
    if node.type == "call_expression":
        fn = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        if (fn is not None and fn.type == "field_expression" and node_text(fn.child_by_field_name("field"), src) == "at"
                and args is not None and args.named_child_count == 1):
            return fn.child_by_field_name("argument"), args.named_children[0]
    return None


def is_element_access(node: Node, src: bytes) -> bool:
    """True for ``a[idx]`` and ``a.at(idx)``."""
    return element_parts(node, src) is not None


def element_accesses(node: Node, src: bytes) -> list[Node]:
    """Every ``a[idx]`` and ``a.at(idx)`` under ``node`` (and ``node`` itself), outermost first."""
    got = captures("[(subscript_expression) (call_expression)] @e", node).get("e", [])
    return [n for n in got if is_element_access(n, src)]


def _base_target(node: Node, src: bytes) -> Target:
    """The target of a left-hand side that is not a member access."""
    if node.type == "identifier":
        return Target("scalar", node_text(node, src), node=node)
    if element_parts(node, src) is not None:
        idx: list[Node | None] = []
        n: Node | None = node
        while (parts := element_parts(n, src)) is not None:
            idx.append(parts[1])
            n = strip_parens(parts[0])
        idx.reverse()
        if n is not None and n.type in ("identifier", "field_expression", "qualified_identifier"):
            return Target("array", node_text(n, src), idx, node=node)  # type: ignore[arg-type]
        return Target("other", node_text(node, src), node=node)
    if node.type == "pointer_expression":
        return Target("deref", node_text(node, src), node=node)
    return Target("other", node_text(node, src), node=node)


def target_of(node: Node, src: bytes) -> Target:
    """Classify an assignment's left-hand side (or any element access).

    A member of an array element (``p[i].x``, at any depth) writes that element; one member
    of a scalar (``acc.sum``) is a ``field`` write; deeper members of a scalar are ``other``.
    """
    node = strip_parens(node)
    members = 0
    n = node
    while n.type == "field_expression":
        n = strip_parens(n.child_by_field_name("argument"))
        members += 1
    base = _base_target(n, src)
    if members == 0:
        return base
    if base.kind == "array":
        return Target("array", base.name, base.indices, node=node)
    if base.kind == "scalar" and members == 1:
        return Target("field", base.name, node=node)
    return Target("other", node_text(node, src), node=node)


_EVENTS = """
[(assignment_expression) (update_expression)] @write
(call_expression) @call
[(break_statement) (return_statement) (goto_statement)] @exit
(continue_statement) @continue
(throw_statement) @throw
(identifier) @name
(declaration) @declaration
(for_range_loop) @range_for
[(for_statement) (for_range_loop) (while_statement) (do_statement)] @loop
(lambda_expression) @lambda
"""


def collect_body(body: Node, src: bytes) -> BodyEvents:
    """Read the loop body's writes, calls, exits and declarations (see the module docstring).

    Guards are the ``if`` statements between the body and an event; ``inner``
    marks events inside a nested loop (whose ``break`` does not leave the
    selected loop).
    """
    out = BodyEvents()
    top = body.parent if body.parent is not None else body  # the selected loop: the body itself may be a loop
    got = captures(_EVENTS, body)

    def context(n: Node) -> tuple[int, int, bool]:
        return loop_depth(n, top)

    for lam in got.get("lambda", []):
        if not context(lam)[2]:
            out.lambdas += 1
    for n in got.get("loop", []):
        if not context(n)[2]:
            out.inner_loops += 1
    for n in got.get("declaration", []):
        if not context(n)[2]:
            for d in n.children_by_field_name("declarator"):
                out.declared.update(node_text(x, src) for x in declared_names(d))
    for n in got.get("range_for", []):
        if not context(n)[2]:
            out.declared.update(node_text(x, src) for x in declared_names(n.child_by_field_name("declarator")))
    for n in got.get("write", []):
        loops, _sw, lam = context(n)
        if lam:
            continue
        assign = n.type == "assignment_expression"
        left = n.child_by_field_name("left" if assign else "argument")
        if left is not None:
            out.writes.append(Write(n, statement_of(n, body), target_of(left, src), operator_of(n, src),
                                    n.child_by_field_name("right") if assign else None, if_guards(n, body),
                                    loops > 0))
    for n in got.get("call", []):
        if context(n)[2]:
            continue
        fn = n.child_by_field_name("function")
        obj = None
        name = node_text(fn, src)
        if fn is not None and fn.type == "field_expression":
            obj = fn.child_by_field_name("argument")
            fld = fn.child_by_field_name("field")
            name = node_text(fld, src) if fld is not None else name
        out.calls.append((n, name, obj))
    for n in got.get("exit", []):
        loops, switches, lam = context(n)
        if lam or (n.type == "break_statement" and (loops or switches)):
            continue
        kind = {"break_statement": "break", "return_statement": "return"}.get(n.type, "goto")
        out.exits.append((n, kind, if_guards(n, body)))
    for n in got.get("continue", []):
        loops, _sw, lam = context(n)
        if not lam and not loops:
            out.continues.append(n)
    out.throws = [n for n in got.get("throw", []) if not context(n)[2]]
    out.streams = [n for n in got.get("name", []) if node_text(n, src) in STREAM_NAMES and not context(n)[2]]
    return out


__all__ = ["LOOP_TYPES", "BodyEvents", "Target", "Write", "collect_body", "element_accesses", "element_parts",
           "is_element_access",
           "norm", "target_of"]
