"""Read a loop's header: index variable, bounds and step, or a range-for's parts.

Used by :mod:`parevo.toolchain.facts`. A counted ``for`` loop is normalised to
``for (index = lower; index < upper; index += step)`` with ``upper``
exclusive: ``i <= B`` becomes ``(B) + 1``; a decreasing loop
(``for (i = n - 1; i >= 0; --i)``) gets ``lower = 0``, ``upper = (n - 1) + 1``
and ``step = -1``, so ``[lower, upper)`` is still the set of indices visited.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .syntax import int_literal as _int_literal
from .syntax import node_text
from .syntax import strip_parens as _strip_parens

_INT_TYPES_UNSIGNED = (
    "size_t", "std::size_t", "unsigned", "unsigned int", "unsigned long", "unsigned long long",
    "uint32_t", "uint64_t", "std::uint32_t", "std::uint64_t", "uint16_t", "uint8_t",
)


@dataclass
class Header:
    """The normalised header of a loop (all texts as written in the file).

    ``problem`` is a user-facing sentence when the header is not a counted
    loop parevo can rewrite (the other fields may then be partial).
    ``bound_nodes`` are the nodes of the lower/upper bound expressions, so the
    caller can check they are loop-invariant.
    """

    index_var: str | None = None
    index_type: str | None = None
    lower: str | None = None
    upper: str | None = None
    step: int | None = None
    declared_outside: bool = False
    range_var: str | None = None
    range_var_type: str | None = None
    range_is_reference: bool = False
    range_expr: str | None = None
    body: Node | None = None
    bound_nodes: list[Node] = field(default_factory=list)
    problem: str | None = None


def is_unsigned_type(type_text: str | None) -> bool:
    """True for the usual unsigned index types (``size_t``, ``unsigned``, ``uint64_t`` …)."""
    if not type_text:
        return False
    t = " ".join(type_text.replace("const", "").split())
    return t in _INT_TYPES_UNSIGNED or t.startswith("unsigned")


def _declarator_identifier(decl: Node | None) -> Node | None:
    """The identifier a (possibly reference/pointer/init) declarator declares."""
    while decl is not None:
        if decl.type in ("identifier", "field_identifier"):
            return decl
        if decl.type == "structured_binding_declarator":
            return None
        nxt = decl.child_by_field_name("declarator")
        if nxt is None:
            named = [c for c in decl.named_children if c.type in ("identifier",) or c.type.endswith("declarator")]
            nxt = named[0] if named else None
        decl = nxt
    return None


def _step_of(update: Node | None, var: str, src: bytes) -> int | None:
    if update is None:
        return None
    update = _strip_parens(update)
    if update.type == "update_expression":
        arg = update.child_by_field_name("argument")
        if arg is None or node_text(arg, src) != var:
            return None
        op = node_text(update, src).replace(var, "").strip()
        return 1 if op == "++" else -1 if op == "--" else None
    if update.type == "assignment_expression":
        left = update.child_by_field_name("left")
        right = update.child_by_field_name("right")
        op_node = update.child_by_field_name("operator")
        op = node_text(op_node, src) if op_node is not None else "="
        if left is None or node_text(left, src) != var:
            return None
        if op in ("+=", "-="):
            c = _int_literal(right, src)
            if c is None:
                return None
            return c if op == "+=" else -c
        if op == "=" and right is not None:
            r = _strip_parens(right)
            if r.type == "binary_expression":
                a, b = r.child_by_field_name("left"), r.child_by_field_name("right")
                bop = node_text(r.child_by_field_name("operator"), src)
                if a is not None and node_text(a, src) == var:
                    c = _int_literal(b, src)
                    if c is not None:
                        return c if bop == "+" else -c if bop == "-" else None
                if bop == "+" and b is not None and node_text(b, src) == var:
                    return _int_literal(a, src)
    if update.type == "comma_expression":
        return None
    return None


def _plus_one(text: str) -> str:
    t = text.strip()
    try:
        return str(int(t) + 1)
    except ValueError:
        return f"({t}) + 1"


def read_for_header(loop: Node, src: bytes, type_of: dict[str, str]) -> Header:
    """Normalise a ``for_statement`` header.

    ``type_of`` maps names declared before the loop (locals, parameters) to
    their types, for an index declared outside the loop. Never raises: a
    header parevo cannot normalise comes back with ``problem`` set.
    """
    h = Header(body=loop.child_by_field_name("body"))
    init = loop.child_by_field_name("initializer")
    cond = loop.child_by_field_name("condition")
    update = loop.child_by_field_name("update")
    init_value: Node | None = None
    if init is not None and init.type == "declaration":
        decls = init.children_by_field_name("declarator")
        if len(decls) != 1:
            h.problem = "the loop declares several variables in its header; parevo needs one index variable"
            return h
        d = decls[0]
        ident = _declarator_identifier(d)
        if ident is None or d.type != "init_declarator":
            h.problem = "the loop header does not initialise an index variable"
            return h
        h.index_var = node_text(ident, src)
        tnode = init.child_by_field_name("type")
        quals = [node_text(c, src) for c in init.children if c.type == "type_qualifier"]
        h.index_type = " ".join(quals + [node_text(tnode, src)]) if tnode is not None else None
        if h.index_type is not None:
            h.index_type = h.index_type.replace("const ", "").strip()
        init_value = d.child_by_field_name("value")
        if init_value is not None and init_value.type in ("initializer_list", "argument_list"):
            init_value = init_value.named_children[0] if init_value.named_child_count == 1 else None
    elif init is not None and init.type == "assignment_expression" and node_text(
        init.child_by_field_name("operator"), src
    ) == "=":
        left = init.child_by_field_name("left")
        if left is None or left.type != "identifier":
            h.problem = "the loop header does not initialise a plain index variable"
            return h
        h.index_var = node_text(left, src)
        h.index_type = type_of.get(h.index_var)
        h.declared_outside = True
        init_value = init.child_by_field_name("right")
    else:
        h.problem = "the loop header does not initialise an index variable (`for (int i = 0; …)`)"
        return h
    if init_value is None:
        h.problem = f"the index `{h.index_var}` has no initial value in the loop header"
        return h
    var = h.index_var
    if h.index_type is not None and h.index_type.strip() == "auto":
        h.index_type = f"decltype({node_text(init_value, src)})"
    h.step = _step_of(update, var, src)
    if h.step is None or h.step == 0:
        h.problem = f"the index `{var}` does not change by a constant step in the loop header"
        return h
    cond = _strip_parens(cond) if cond is not None else None
    if cond is None or cond.type != "binary_expression":
        h.problem = f"the loop condition does not compare `{var}` with a bound"
        return h
    a, b = cond.child_by_field_name("left"), cond.child_by_field_name("right")
    op = node_text(cond.child_by_field_name("operator"), src)
    if a is not None and node_text(a, src) == var:
        bound, rel = b, op
    elif b is not None and node_text(b, src) == var:
        flip = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}
        bound, rel = a, flip.get(op, op)
    else:
        h.problem = f"the loop condition does not compare `{var}` with a bound"
        return h
    btext = node_text(bound, src)
    itext = node_text(init_value, src)
    h.bound_nodes = [init_value, bound]
    if h.step > 0:
        if rel == "<" or (rel == "!=" and h.step == 1):
            h.lower, h.upper = itext, btext
        elif rel == "<=":
            h.lower, h.upper = itext, _plus_one(btext)
        else:
            h.problem = f"the loop condition `{node_text(cond, src)}` does not bound an increasing index from above"
            return h
    else:
        if rel == ">" or (rel == "!=" and h.step == -1):
            h.lower, h.upper = _plus_one(btext), _plus_one(itext)
        elif rel == ">=":
            h.lower, h.upper = btext, _plus_one(itext)
        else:
            h.problem = f"the loop condition `{node_text(cond, src)}` does not bound a decreasing index from below"
            return h
    if h.index_type is None:
        h.index_type = f"decltype({var})"
    return h


def read_range_header(loop: Node, src: bytes) -> Header:
    """Read a ``for_range_loop``: element variable, its declared type, the range."""
    h = Header(body=loop.child_by_field_name("body"))
    decl = loop.child_by_field_name("declarator")
    right = loop.child_by_field_name("right")
    ident = _declarator_identifier(decl)
    if ident is None or right is None:
        h.problem = "the range-based for loop does not declare a single element variable"
        return h
    h.range_var = node_text(ident, src)
    h.range_expr = node_text(right, src)
    # declared type: text from after '(' up to the identifier, e.g. "const auto&"
    lparen = next((c for c in loop.children if c.type == "("), None)
    start = lparen.end_byte if lparen is not None else loop.start_byte
    h.range_var_type = src[start:ident.start_byte].decode("utf-8", errors="replace").strip()
    h.range_is_reference = "&" in h.range_var_type
    h.bound_nodes = [right]
    return h
