"""Abstract evaluation of C++ expressions for the usage analysis: intervals, containers, elements.

:class:`Evaluation` (a base of :class:`~parevo.toolchain.usage.UsageAnalysis`)
evaluates an expression node in an environment of loop variables to one of

* :class:`~parevo.toolchain.sizes.Iv`: an integer interval with polynomial
  bounds over size symbols (``i*m + j`` with ``i < n``, ``j < m`` is
  ``[0, n*m - 1]``);
* :class:`Cont`: a (sub)container of a parameter (``A[i]`` of a nested vector);
* :class:`Elem`: an element of a parameter, with a struct field path
  (``ps[i].pos.x``);
* ``None``: unknown.

Casts and parentheses are looked through; ``size()``, ``std::min``/``max``,
``%`` and ``&`` with a constant, and locals defined once (followed through
their initializer) are understood. Evaluation stops 24 levels deep, so no
expression depth exhausts the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ctypes import CType, Decl
from .sizes import Iv, Poly, Sym
from .syntax import callee_name, operator_of, strip_casts
from .syntax import node_text as text_of

#: Deepest expression nesting :meth:`Evaluation.eval` follows.
MAX_EVAL_DEPTH = 24


@dataclass(frozen=True)
class Cont:
    """A (sub)container of parameter ``param`` at nesting ``level`` (0 = the parameter)."""

    param: str
    level: int


@dataclass(frozen=True)
class Elem:
    """A leaf element of parameter ``param`` (``fields`` = path into a struct element)."""

    param: str
    fields: tuple[str, ...] = ()


class Evaluation:
    """Abstract evaluation over the parameters' types (see the module docstring).

    Needs ``types`` (parameter name -> :class:`~parevo.toolchain.ctypes.Decl`),
    ``structs`` (name -> plan with ``fields``), ``defs`` (single-definition
    locals -> initializer node), ``offsets`` (CSR offsets parameters) and
    ``src``.
    """

    types: dict[str, Decl]
    structs: dict[str, Any]
    defs: dict[str, Any]
    offsets: set[str]
    src: bytes

    def ptype(self, p: str) -> CType:
        return self.types[p].type

    def depth(self, p: str) -> int:
        return self.ptype(p).depth

    def leaf(self, p: str, fields: tuple[str, ...] = ()) -> CType | None:
        t = self.ptype(p)
        t = t.element_at(t.depth)
        for f in fields:
            t = field_type(t, f, self.structs)
            if t is None:
                return None
        return t

    def eval(self, node, env: dict[str, Any], depth: int = 0):
        if node is None or depth > MAX_EVAL_DEPTH:
            return None
        node = strip_casts(node)
        if node is None:
            return None
        t = node.type
        if t == "number_literal":
            txt = text_of(node, self.src).rstrip("uUlLzZ").replace("'", "")
            try:
                return Iv.point(Poly.const(int(txt, 0)))
            except ValueError:
                return None
        if t == "identifier":
            name = text_of(node, self.src)
            if name in env:
                return env[name]
            if name in self.types:
                ct = self.ptype(name)
                if ct.depth > 0:
                    return Cont(name, 0)
                if ct.is_integer:
                    return Iv.point(Poly.sym(Sym.val(name)))
                if ct.kind in ("struct", "pair", "complex"):
                    return Elem(name, ())
                return None
            if name in self.defs:
                return self.eval(self.defs[name], env, depth + 1)
            return None
        if t == "subscript_expression":
            base = self.eval(node.child_by_field_name("argument"), env, depth + 1)
            return self._subscript_result(base)
        if t == "field_expression":
            arg = self.eval(node.child_by_field_name("argument"), env, depth + 1)
            field = node.child_by_field_name("field")
            fname = text_of(field, self.src) if field is not None else ""
            op = node.child_by_field_name("operator")
            if isinstance(arg, Cont) and op is not None and op.text == b"->":
                arg = self._subscript_result(arg)
            if isinstance(arg, Elem):
                return Elem(arg.param, arg.fields + (fname,))
            return None
        if t == "pointer_expression":
            op = node.child_by_field_name("operator")
            if op is not None and op.text == b"*":
                inner = strip_casts(node.child_by_field_name("argument"))
                if inner is not None and inner.type == "binary_expression" and operator_of(inner, self.src) == "+":
                    a = self.eval(inner.child_by_field_name("left"), env, depth + 1)
                    if isinstance(a, Cont):
                        return self._subscript_result(a)
                return self._subscript_result(self.eval(inner, env, depth + 1))
            return None
        if t == "call_expression":
            return self._eval_call(node, env, depth)
        if t == "binary_expression":
            op = node.child_by_field_name("operator").type
            a = self.eval(node.child_by_field_name("left"), env, depth + 1)
            b = self.eval(node.child_by_field_name("right"), env, depth + 1)
            return self._arith(op, a, b)
        if t == "conditional_expression":
            a = self._iv(self.eval(node.child_by_field_name("consequence"), env, depth + 1))
            b = self._iv(self.eval(node.child_by_field_name("alternative"), env, depth + 1))
            if a is None or b is None:
                return None
            return Iv(_pmin(a.lo, b.lo), _pmax(a.hi, b.hi))
        if t == "update_expression":
            return self.eval(node.child_by_field_name("argument"), env, depth + 1)
        return None

    def _subscript_result(self, base):
        if isinstance(base, Cont):
            if base.level + 1 < self.depth(base.param):
                return Cont(base.param, base.level + 1)
            return Elem(base.param, ())
        if isinstance(base, Elem):
            return base  # an array field of a struct element: same leaf for our purposes
        return None

    def _eval_call(self, node, env, depth):
        fn = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        argv = list(args.named_children) if args is not None else []
        if fn is None:
            return None
        if fn.type == "field_expression":
            method = text_of(fn.child_by_field_name("field"), self.src)
            obj = self.eval(fn.child_by_field_name("argument"), env, depth + 1)
            if method in ("size", "length") and isinstance(obj, Cont):
                return Iv.point(Poly.sym(Sym.len(obj.param, obj.level)))
            if method in ("at",) and isinstance(obj, Cont):
                return self._subscript_result(obj)
            if method in ("front", "back") and isinstance(obj, Cont):
                return self._subscript_result(obj)
            if method == "data" and isinstance(obj, Cont):
                return obj
            return None
        name = callee_name(node)
        if name in ("size", "ssize") and len(argv) == 1:
            obj = self.eval(argv[0], env, depth + 1)
            if isinstance(obj, Cont):
                return Iv.point(Poly.sym(Sym.len(obj.param, obj.level)))
        if name in ("min", "max") and len(argv) == 2:
            a = self._iv(self.eval(argv[0], env, depth + 1))
            b = self._iv(self.eval(argv[1], env, depth + 1))
            if a is None and b is None:
                return None
            if name == "min":  # any operand's upper bound bounds the min
                hi = (a.hi if a is not None and a.hi is not None else (b.hi if b is not None else None))
                return Iv(None, hi)
            if a is None or b is None:
                return None
            return Iv(_pmin(a.lo, b.lo), _pmax(a.hi, b.hi))
        return None

    def _iv(self, v) -> Iv | None:
        if isinstance(v, Iv):
            return v
        if isinstance(v, Elem) and not v.fields and v.param in self.offsets:
            return Iv(Poly.const(0), Poly.sym(Sym.last(v.param)))
        if isinstance(v, Elem):
            return Iv(None, None)
        return None

    def _arith(self, op: str, a, b):
        if op in ("+", "-") and isinstance(a, Cont) and self.ptype(a.param).kind == "pointer":
            return a if op == "+" else None  # p + k: treated as p (the subscript adds k)
        ia, ib = self._iv(a), self._iv(b)
        if ia is None or ib is None:
            return None
        if op == "+":
            return ia.add(ib)
        if op == "-":
            return ia.sub(ib)
        if op == "*":
            return ia.mul(ib)
        if op in ("/", ">>"):
            if ia.lo is not None and ia.lo.nonneg():
                return Iv(Poly.const(0), ia.hi)
            return None
        if op == "%":
            if ib.hi is not None:
                return Iv(Poly.const(0), ib.hi - Poly.const(1))
            return None
        if op == "&":
            for x in (ia, ib):
                if x.hi is not None and x.hi.is_const and x.lo is not None and x.lo.is_const and x.lo.const_value >= 0:
                    return Iv(Poly.const(0), x.hi)
            return None
        return None


def _pmin(a: Poly | None, b: Poly | None) -> Poly | None:
    if a is None or b is None:
        return None
    if a.dominates(b):
        return b
    if b.dominates(a):
        return a
    return None


def _pmax(a: Poly | None, b: Poly | None) -> Poly | None:
    if a is None or b is None:
        return None
    if a.dominates(b):
        return a
    if b.dominates(a):
        return b
    return a + b if a.nonneg() and b.nonneg() else None


def field_type(t: CType, field: str, structs: dict[str, Any]) -> CType | None:
    """Type of ``field`` of a struct/pair/complex leaf (``structs``: name -> plan with ``fields``)."""
    if t.kind == "pair":
        return t.elem if field == "first" else (t.second if field == "second" else None)
    if t.kind == "complex":
        return t.elem
    if t.kind == "struct":
        sp = structs.get((t.name or "").split("::")[-1])
        if sp is None:
            return None
        for name, ft, alen in sp.fields:
            if name == field:
                return ft.element_at(ft.depth) if ft.depth and ft.kind == "array" else ft
    return None
