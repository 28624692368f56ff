"""Syntax helpers for loop facts: one walk over a loop body that records its events.

``collect_body`` visits a loop body once and returns a :class:`BodyEvents`:
every assignment and ``++``/``--`` with its target (scalar, array element,
struct field, dereference), the ``if`` statements guarding it and whether it
sits in an inner loop; calls; early exits (``break`` only when it leaves the
selected loop, not an inner loop or ``switch``); ``continue`` statements of the
loop itself; names declared in the body. Used by
:mod:`parevo.toolchain.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .models import LoopSite
from .syntax import node_text, strip_parens, walk

from .syntax import LOOP_TYPES  # noqa: E402
STREAM_NAMES = frozenset({"cout", "cerr", "clog", "cin"})


def norm(text: str) -> str:
    """Text without whitespace (for comparing expressions)."""
    return "".join(text.split())




def op_text(node: Node, src: bytes) -> str:
    """The operator of an assignment/binary (``+=``) or update (``++``/``--``) expression."""
    o = node.child_by_field_name("operator")
    if o is not None:
        return node_text(o, src)
    if node.type == "update_expression":
        return "++" if "++" in node_text(node, src) else "--"
    return ""



def identifiers(node: Node, src: bytes) -> list[Node]:
    """Identifier nodes used as variables (not called function names, not qualified names)."""
    out = []
    for n in walk(node):
        if n.type != "identifier":
            continue
        p = n.parent
        if p is not None and p.type in ("qualified_identifier", "template_function"):
            continue
        if p is not None and p.type == "call_expression" and p.child_by_field_name("function") == n:
            continue
        out.append(n)
    return out


def mentions(node: Node | None, name: str, src: bytes) -> bool:
    """True when ``node`` uses the variable ``name``."""
    return node is not None and any(node_text(n, src) == name for n in identifiers(node, src))


def declared_name(decl: Node | None, src: bytes) -> str | None:
    """The name a (possibly init/reference/pointer/array) declarator declares."""
    while decl is not None:
        if decl.type == "identifier":
            return node_text(decl, src)
        nxt = decl.child_by_field_name("declarator")
        if nxt is None:
            kids = [c for c in decl.named_children if c.type == "identifier" or c.type.endswith("declarator")]
            nxt = kids[0] if kids else None
        decl = nxt
    return None


def line_of(node: Node) -> int:
    """0-based first line of ``node``."""
    return node.start_point[0]


def statement_of(node: Node, stop: Node) -> Node:
    """The statement containing expression ``node`` (never above ``stop``)."""
    n = node
    while n.type != "expression_statement" and n != stop:
        if n.parent is None or n.parent.type == "compound_statement":
            break
        n = n.parent
    return n


def find_loop_node(root: Node, site: LoopSite) -> Node | None:
    """The loop (or parallel call) node spanning ``site.loop``, else None."""
    n = root.descendant_for_byte_range(site.loop.start_byte, site.loop.end_byte)
    while n is not None:
        if n.start_byte == site.loop.start_byte and n.end_byte == site.loop.end_byte and (
            n.type in LOOP_TYPES or n.type == "call_expression"
        ):
            return n
        if n.start_byte < site.loop.start_byte:
            break
        n = n.parent
    # fall back: any loop starting at the span's start
    for n in walk(root):
        if n.start_byte == site.loop.start_byte and (n.type in LOOP_TYPES or n.type == "call_expression"):
            return n
    return None


# --------------------------------------------------------------------------- body events


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
    """Everything one walk over the body records (see the module docstring)."""
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


def target_of(node: Node, src: bytes) -> Target:
    """Classify an assignment's left-hand side (or any element access)."""
    node = strip_parens(node)
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
            return Target("array", node_text(n, src), idx, node=node)
        return Target("other", node_text(node, src), node=node)
    if node.type == "field_expression":
        base = target_of(node.child_by_field_name("argument"), src)
        if base.kind == "array":
            return Target("array", base.name, base.indices, node=node)
        if base.kind == "scalar":
            return Target("field", base.name, node=node)
        return Target("other", node_text(node, src), node=node)
    if node.type == "pointer_expression":
        return Target("deref", node_text(node, src), node=node)
    return Target("other", node_text(node, src), node=node)


def value_used(node: Node) -> bool:
    """True when the value of expression ``node`` is used (``x = h[k]++``, ``out[c++]``).

    Unused: a whole expression statement, the left operand of a comma, a
    ``for`` header's update.
    """
    n = node
    while n.parent is not None and n.parent.type == "parenthesized_expression":
        n = n.parent
    p = n.parent
    if p is None or p.type == "expression_statement":
        return False
    if p.type == "comma_expression":
        if p.child_by_field_name("left") == n:
            return False
        return value_used(p)
    if p.type == "for_statement" and p.child_by_field_name("update") == n:
        return False
    return True


def collect_body(body: Node, src: bytes) -> BodyEvents:
    """Walk the loop body once and record writes, calls, exits and declarations.

    Guards are the ``if`` statements between the body and an event; ``inner``
    marks events inside a nested loop (whose ``break`` does not leave the
    selected loop).
    """
    out = BodyEvents()

    def visit(n: Node, guards: list[tuple[Node, bool]], loop_depth: int, switch_depth: int) -> None:
        t = n.type
        if t == "lambda_expression":
            out.lambdas += 1
            return
        if t in LOOP_TYPES:
            out.inner_loops += 1
            if t == "for_statement":
                init = n.child_by_field_name("initializer")
                if init is not None and init.type == "declaration":
                    for d in init.children_by_field_name("declarator"):
                        nm = declared_name(d, src)
                        if nm:
                            out.declared.add(nm)
                for fld in ("initializer", "condition", "update"):
                    c = n.child_by_field_name(fld)
                    if c is not None:
                        visit(c, guards, loop_depth + 1, switch_depth)
                b = n.child_by_field_name("body")
                if b is not None:
                    visit(b, guards, loop_depth + 1, switch_depth)
                return
            if t == "for_range_loop":
                nm = declared_name(n.child_by_field_name("declarator"), src)
                if nm:
                    out.declared.add(nm)
            for c in n.children:
                visit(c, guards, loop_depth + 1, switch_depth)
            return
        if t == "switch_statement":
            for c in n.children:
                visit(c, guards, loop_depth, switch_depth + 1)
            return
        if t == "if_statement":
            cond = n.child_by_field_name("condition")
            if cond is not None:
                visit(cond, guards, loop_depth, switch_depth)
            cons = n.child_by_field_name("consequence")
            if cons is not None:
                visit(cons, guards + [(n, False)], loop_depth, switch_depth)
            alt = n.child_by_field_name("alternative")
            if alt is not None:
                visit(alt, guards + [(n, True)], loop_depth, switch_depth)
            return
        if t == "declaration":
            for d in n.children_by_field_name("declarator"):
                nm = declared_name(d, src)
                if nm:
                    out.declared.add(nm)
        if t in ("assignment_expression", "update_expression"):
            left = n.child_by_field_name("left") if t == "assignment_expression" else n.child_by_field_name(
                "argument")
            value = n.child_by_field_name("right") if t == "assignment_expression" else None
            if left is not None:
                out.writes.append(Write(n, statement_of(n, body), target_of(left, src), op_text(n, src), value,
                                         list(guards), loop_depth > 0))
        if t == "call_expression":
            fn = n.child_by_field_name("function")
            obj = None
            name = node_text(fn, src) if fn is not None else ""
            if fn is not None and fn.type == "field_expression":
                obj = fn.child_by_field_name("argument")
                fld = fn.child_by_field_name("field")
                name = node_text(fld, src) if fld is not None else name
            out.calls.append((n, name, obj))
        if t == "break_statement" and loop_depth == 0 and switch_depth == 0:
            out.exits.append((n, "break", list(guards)))
        if t in ("return_statement", "goto_statement"):
            out.exits.append((n, "return" if t == "return_statement" else "goto", list(guards)))
        if t == "continue_statement" and loop_depth == 0:
            out.continues.append(n)
        if t == "throw_statement" or t == "throw_expression":
            out.throws.append(n)
        if t == "identifier" and node_text(n, src) in STREAM_NAMES:
            out.streams.append(n)
        for c in n.children:
            visit(c, guards, loop_depth, switch_depth)

    visit(body, [], 0, 0)
    return out
