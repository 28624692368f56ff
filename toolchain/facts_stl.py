"""Standard-algorithm calls as loops: what a selected ``std::accumulate``/``transform``/… computes.

A selection on a statement holding one call of a standard algorithm
(:data:`parevo.toolchain.syntax.ALGORITHMS`; ``loop_kind == "algorithm"``)
gets :class:`~parevo.toolchain.models.LoopFacts` like a loop: the pattern
of the loop the algorithm stands for, ``algorithm`` naming the call and its
arguments (spans into the site's text), and, where its ParlayLib counterpart
would not compute the same thing, the reason:

* ``accumulate``/``reduce`` are reductions; ``accumulate`` folds left in the
  type of its initial value, which reassociates freely only for the monoids
  ``+`` and ``*`` (``std::plus``/``std::multiplies`` or no operation) and only
  when the running value is not truncated at every step (an integer initial
  value over floating-point elements: ``std::accumulate(v.begin(), v.end(),
  0)`` over doubles);
* ``transform`` is a map (unary or binary);
* ``count``/``count_if`` are counts;
* ``min_element``/``max_element`` are argmin/argmax (both return the first
  position on ties, as ``parlay::min_element``/``max_element`` do);
* ``inclusive_scan``/``partial_sum`` are inclusive scans (``+`` only).

Element and initial-value types come from the site's declarations when the
iterators are ``v.begin()``, ``std::begin(v)``, ``v.data()`` or a pointer
parameter, and from the initial value's literal or declared variable.
"""

from __future__ import annotations

from tree_sitter import Node

from .ctypes import CType
from .models import AlgorithmCall, LoopFacts
from .site import ParsedSite
from .syntax import algorithm_call, algorithm_calls_in, callee_name, line_of, node_text, span_of, strip_parens

_PATTERN = {"accumulate": "reduction", "reduce": "reduction", "transform": "map", "count": "reduction",
            "count_if": "reduction", "min_element": "argminmax", "max_element": "argminmax",
            "inclusive_scan": "scan", "partial_sum": "scan"}
#: Arity (without the optional trailing operation/comparator) and whether one more argument is allowed.
_ARGS = {"accumulate": (3, True), "reduce": (2, True), "transform": (4, True), "count": (3, False),
         "count_if": (3, False), "min_element": (2, True), "max_element": (2, True), "inclusive_scan": (3, True),
         "partial_sum": (3, True)}
_MONOIDS = {"plus": "+", "multiplies": "*"}


def _operation(node: Node | None, src: bytes) -> str | None:
    """``+``/``*`` for ``std::plus<…>()``/``std::multiplies<>{}``, else None."""
    n = strip_parens(node)
    if n is None:
        return None
    if n.type in ("call_expression", "compound_literal_expression"):
        fn = n.child_by_field_name("function") or n.child_by_field_name("type")
        while fn is not None and fn.type in ("qualified_identifier", "template_function", "template_type"):
            fn = fn.child_by_field_name("name")
        name = node_text(fn, src) if fn is not None else ""
        return _MONOIDS.get(name)
    return None


def _container(site: ParsedSite, it: Node | None):
    """``(name, declaration)`` of the container an iterator argument ``v.begin()``/``std::begin(v)`` walks."""
    n = strip_parens(it)
    if n is not None and n.type == "binary_expression":
        n = strip_parens(n.child_by_field_name("left"))
    if n is None or n.type != "call_expression":
        return None
    fn = n.child_by_field_name("function")
    args = n.child_by_field_name("arguments")
    obj = None
    if fn is not None and fn.type == "field_expression":
        obj = strip_parens(fn.child_by_field_name("argument"))
    elif args is not None and args.named_child_count == 1:
        obj = strip_parens(args.named_children[0])
    if obj is None or obj.type != "identifier" or callee_name(n) not in ("begin", "cbegin", "end", "cend", "data"):
        return None
    name = node_text(obj, site.src)
    d = site.decl_of(name)
    return (name, d) if d is not None else None


def element_type(site: ParsedSite, it: Node | None) -> CType | None:
    """The element type an iterator argument walks: ``v.begin()``, ``v.cbegin()``, ``std::begin(v)``,
    ``v.data()`` (``v`` a declared vector or array) or a declared pointer ``p``; None when unknown."""
    n = strip_parens(it)
    if n is None:
        return None
    if n.type == "binary_expression":  # v.begin() + k, p + k
        n = strip_parens(n.child_by_field_name("left"))
    name = None
    if n.type == "identifier":
        d = site.decl_of(node_text(n, site.src))
        return d.type.elem if d is not None and d.type.kind == "pointer" else None
    if n.type == "call_expression":
        fn = n.child_by_field_name("function")
        args = n.child_by_field_name("arguments")
        method = callee_name(n)
        if fn is not None and fn.type == "field_expression" and method in ("begin", "cbegin", "data", "end", "cend"):
            obj = strip_parens(fn.child_by_field_name("argument"))
            name = node_text(obj, site.src) if obj is not None and obj.type == "identifier" else None
        elif method in ("begin", "cbegin", "end", "cend") and args is not None and args.named_child_count == 1:
            a = strip_parens(args.named_children[0])
            name = node_text(a, site.src) if a.type == "identifier" else None
    if name is None:
        return None
    d = site.decl_of(name)
    if d is None or d.type.kind not in ("vector", "array", "carray"):
        return None
    return d.type.elem


def value_type(site: ParsedSite, node: Node | None) -> CType | None:
    """The type of an initial value: a number literal (``0`` int, ``0L`` long, ``0.0`` double, ``0.0f``
    float) or a declared variable; None when unknown."""
    n = strip_parens(node)
    if n is None:
        return None
    if n.type == "number_literal":
        t = node_text(n, site.src).lower().replace("'", "")
        floating = ("." in t or "e" in t) and not t.startswith("0x")
        if floating:
            cls, spelled = ("float", "float") if t.endswith("f") else ("double", "double")
        else:
            cls = "unsigned" if "u" in t else "signed"
            spelled = "long" if "l" in t else "int"
        return CType(kind="scalar", scalar=spelled, scalar_class=cls, text=spelled)  # type: ignore[arg-type]
    if n.type == "identifier":
        d = site.decl_of(node_text(n, site.src))
        return d.type if d is not None else None
    return None


def algorithm_facts(site: ParsedSite) -> LoopFacts:
    """The facts of ``site``'s standard-algorithm statement (see the module docstring)."""
    f = LoopFacts()
    calls = algorithm_calls_in(site.loop_node)
    call = calls[0]
    name = algorithm_call(call) or ""
    src = site.src
    args = [a for a in call.child_by_field_name("arguments").named_children if a.type != "comment"]
    f.pattern = _PATTERN[name]  # type: ignore[assignment]
    f.reason_lines = [line_of(call)]
    need, extra = _ARGS[name]
    if name == "transform" and len(args) == 5:
        need = 5
    if len(args) < need or len(args) > need + (1 if extra else 0) or (name == "transform" and len(args) not in (4, 5)):
        f.pattern = "unknown"
        f.reason = (f"`std::{name}` is called with {len(args)} arguments: parevo rewrites its forms "
                    "over an iterator range (no execution policy)")
        return f
    op = None
    if name in ("accumulate", "reduce", "inclusive_scan", "partial_sum") and len(args) > need:
        op = _operation(args[need], src)
        if op is None or (name in ("inclusive_scan", "partial_sum") and op != "+"):
            f.pattern = "unknown"
            f.reason = (f"`std::{name}` combines with `{node_text(args[need], src)}`: parevo cannot tell that it is "
                        "associative (it rewrites `std::plus` and `std::multiplies`)")
            return f
    out_at = {"transform": len(args) - 2, "inclusive_scan": 2, "partial_sum": 2}.get(name)
    out = _container(site, args[out_at]) if out_at is not None else None
    if out is not None and out[1].type.kind == "vector_bool":
        f.pattern = "unknown"
        f.reason = (f"`std::{name}` writes the `std::vector<bool>` `{out[0]}`: neighbouring elements share a machine "
                    "word, so writing them in parallel races")
        return f
    elem = element_type(site, args[0])
    if name == "accumulate":
        init = value_type(site, args[2])
        if init is not None and elem is not None and init.is_integer and elem.is_floating:
            f.pattern = "unknown"
            f.reason = (f"`std::accumulate` keeps its running value in `{init.render()}` (the type of "
                        f"`{node_text(args[2], src)}`) and truncates it after adding each `{elem.render()}`: the "
                        "result depends on the order of the additions")
            return f
    f.algorithm = AlgorithmCall(name=name, call=span_of(call), args=[span_of(a) for a in args],
                                op=op or ("+" if name in ("accumulate", "reduce", "inclusive_scan", "partial_sum")
                                          else None),
                                element_type=elem.render() if elem is not None else None)
    f.parallelizable = True
    f.reason_lines = []
    return f


__all__ = ["algorithm_facts", "element_type", "value_type"]
