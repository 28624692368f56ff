"""Read a loop's header: index variable, bounds and step, or a range-for's parts.

Used by :mod:`parevo.toolchain.facts`. A counted ``for`` loop is normalised to
``for (index = lower; index < upper; index += step)`` with ``upper``
exclusive: ``i <= B`` becomes ``(B) + 1``; a decreasing loop
(``for (i = n - 1; i >= 0; --i)``) gets ``lower = 0``, ``upper = (n - 1) + 1``
and ``step = -1``, so ``[lower, upper)`` is still the set of indices visited.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collections.abc import Callable

from tree_sitter import Node

from .ctypes import Decl, TypeReader
from .syntax import declarator_layers, int_literal, node_text, operator_of, strip_parens


@dataclass
class Header:
    """The normalised header of a loop (all texts as written in the file).

    ``problem`` is a user-facing sentence when the header is not a counted
    loop parevo can rewrite (the other fields may then be partial).
    ``index_type`` is the index's type as written, ``index_unsigned`` whether
    it is an unsigned integer (read from the declaration's nodes).
    ``bound_nodes`` are the nodes of the lower/upper bound expressions, so the
    caller can check they are loop-invariant; ``upper_exclusive`` is True when
    the second is an increasing index's exclusive upper bound as written (``i < B``).
    """

    index_var: str | None = None
    index_type: str | None = None
    index_unsigned: bool = False
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
    upper_exclusive: bool = False
    problem: str | None = None


def _unsigned(decl: Decl | None) -> bool:
    return decl is not None and decl.type.kind == "scalar" and decl.type.scalar_class == "unsigned"


def _is(node: Node | None, var: str) -> bool:
    """``node`` is the variable ``var``."""
    node = strip_parens(node)
    return node is not None and node.type == "identifier" and node.text == var.encode("utf-8")


def _step_of(update: Node | None, var: str, src: bytes) -> int | None:
    update = strip_parens(update)
    if update is None:
        return None
    if update.type == "update_expression":
        if not _is(update.child_by_field_name("argument"), var):
            return None
        op = operator_of(update, src)
        return 1 if op == "++" else -1 if op == "--" else None
    if update.type == "assignment_expression":
        left = update.child_by_field_name("left")
        right = update.child_by_field_name("right")
        op = operator_of(update, src) or "="
        if not _is(left, var):
            return None
        if op in ("+=", "-="):
            c = int_literal(right, src)
            if c is None:
                return None
            return c if op == "+=" else -c
        r = strip_parens(right)
        if op == "=" and r is not None and r.type == "binary_expression":
            a, b = r.child_by_field_name("left"), r.child_by_field_name("right")
            bop = operator_of(r, src)
            if _is(a, var):
                c = int_literal(b, src)
                if c is not None:
                    return c if bop == "+" else -c if bop == "-" else None
            if bop == "+" and _is(b, var):
                return int_literal(a, src)
    return None


def _postdec_bound(cond: Node | None, var: str, src: bytes) -> tuple[bool, Node | None]:
    """``(True, b)`` when ``cond`` is ``var-- > b``, ``var-- != b`` or ``b < var--``; ``(True, None)`` for
    ``var--`` alone (a bound of 0); ``(False, None)`` otherwise."""
    c = strip_parens(cond)
    if c is None:
        return False, None

    def postdec(n: Node | None) -> bool:
        n = strip_parens(n)
        return (n is not None and n.type == "update_expression" and n.children[-1].type == "--"
                and _is(n.child_by_field_name("argument"), var))

    if postdec(c):
        return True, None
    if c.type == "binary_expression":
        op = operator_of(c, src)
        a, b = c.child_by_field_name("left"), c.child_by_field_name("right")
        if postdec(a) and op in (">", "!="):
            return True, b
        if postdec(b) and op in ("<", "!="):
            return True, a
    return False, None


def _shifted(node: Node | None, var: str, src: bytes) -> int | None:
    """``c`` when ``node`` is ``var + c`` or ``var - c`` (``-c``) with ``c`` an integer literal."""
    n = strip_parens(node)
    if n is None or n.type != "binary_expression" or operator_of(n, src) not in ("+", "-"):
        return None
    if not _is(n.child_by_field_name("left"), var):
        return None
    c = int_literal(n.child_by_field_name("right"), src)
    if c is None:
        return None
    return c if operator_of(n, src) == "+" else -c


def _plus_one(text: str) -> str:
    t = text.strip()
    try:
        return str(int(t) + 1)
    except ValueError:
        return f"({t}) + 1"


def read_for_header(loop: Node, src: bytes, reader: TypeReader,
                    declared: Callable[[str], Decl | None] = lambda name: None) -> Header:
    """Normalise a ``for_statement`` header.

    ``reader`` reads the type of an index declared in the header; ``declared``
    gives the declared type of a name declared before the loop (a local or a
    parameter), for an index declared outside the loop. Never raises: a
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
        ident = declarator_layers(d)[1]
        if ident is None or d.type != "init_declarator":
            h.problem = "the loop header does not initialise an index variable"
            return h
        h.index_var = node_text(ident, src)
        decl = reader.decl(init, d)
        h.index_type = decl.value_text or None
        h.index_unsigned = _unsigned(decl)
        auto = h.index_type is None
        init_value = d.child_by_field_name("value")
        if init_value is not None and init_value.type in ("initializer_list", "argument_list"):
            init_value = init_value.named_children[0] if init_value.named_child_count == 1 else None
    elif init is not None and init.type == "assignment_expression" and operator_of(init, src) == "=":
        left = init.child_by_field_name("left")
        if left is None or left.type != "identifier":
            h.problem = "the loop header does not initialise a plain index variable"
            return h
        h.index_var = node_text(left, src)
        outer = declared(h.index_var)
        h.index_type = outer.value_text or None if outer is not None else None
        h.index_unsigned = _unsigned(outer)
        h.declared_outside = True
        auto = False
        init_value = init.child_by_field_name("right")
    else:
        h.problem = "the loop header does not initialise an index variable (`for (int i = 0; …)`)"
        return h
    if init_value is None:
        h.problem = f"the index `{h.index_var}` has no initial value in the loop header"
        return h
    var = h.index_var
    if auto:
        h.index_type = f"decltype({node_text(init_value, src)})"
    if update is None:
        found, post = _postdec_bound(cond, var, src)
        if found:  # for (i = n; i-- > b; ): visits n - 1 … b
            h.step = -1
            h.lower = node_text(post, src) if post is not None else "0"
            h.upper = node_text(init_value, src)
            h.bound_nodes = [init_value] + ([post] if post is not None else [])
            if h.index_type is None:
                h.index_type = f"decltype({var})"
            return h
    h.step = _step_of(update, var, src)
    if h.step is None or h.step == 0:
        h.problem = f"the index `{var}` does not change by a constant step in the loop header"
        return h
    cond = strip_parens(cond) if cond is not None else None
    if cond is None or cond.type != "binary_expression":
        h.problem = f"the loop condition does not compare `{var}` with a bound"
        return h
    a, b = cond.child_by_field_name("left"), cond.child_by_field_name("right")
    op = operator_of(cond, src)
    flip = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}
    shift = 0
    if _is(a, var):
        bound, rel = b, op
    elif _is(b, var):
        bound, rel = a, flip.get(op, op)
    elif (sa := _shifted(a, var, src)) is not None:  # i + c < B  is  i < B - c
        bound, rel, shift = b, op, sa
    elif (sb := _shifted(b, var, src)) is not None:
        bound, rel, shift = a, flip.get(op, op), sb
    else:
        h.problem = f"the loop condition does not compare `{var}` with a bound"
        return h
    btext = node_text(bound, src)
    if shift:
        btext = f"({btext}) - {shift}" if shift > 0 else f"({btext}) + {-shift}"
    itext = node_text(init_value, src)
    h.bound_nodes = [init_value, bound]
    if h.step > 0:
        if rel == "<" or (rel == "!=" and h.step == 1):
            h.lower, h.upper = itext, btext
            h.upper_exclusive = not shift
        elif rel == "<=":
            h.lower, h.upper = itext, _plus_one(btext)
        else:
            h.problem = f"the loop condition `{node_text(cond, src)}` does not bound an increasing index from above"
            return h
    else:
        if rel == ">" or (rel == "!=" and h.step == -1):
            h.lower, h.upper = _plus_one(btext), _plus_one(itext)
        elif rel == ">=":
            if h.index_unsigned and btext.strip() in ("0", "0u", "0U", "0ul", "0UL"):
                h.problem = (f"the loop condition `{node_text(cond, src)}` is always true for the unsigned index "
                             f"`{var}`: the loop never ends (write `for (size_t {var} = n; {var}-- > 0; )`)")
                return h
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
    layers, ident = declarator_layers(decl)
    if ident is None or right is None:
        h.problem = "the range-based for loop does not declare a single element variable"
        return h
    h.range_var = node_text(ident, src)
    h.range_expr = node_text(right, src)
    # declared type: text from after '(' up to the identifier, e.g. "const auto&"
    lparen = next((c for c in loop.children if c.type == "("), None)
    start = lparen.end_byte if lparen is not None else loop.start_byte
    h.range_var_type = src[start:ident.start_byte].decode("utf-8", errors="replace").strip()
    h.range_is_reference = any(d.type == "reference_declarator" for d in layers)
    h.bound_nodes = [right]
    return h
