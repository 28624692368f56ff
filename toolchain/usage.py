"""How a function uses its parameters: one tree-sitter pass collecting size and value facts.

:class:`UsageAnalysis` walks the function body with an environment of loop
variables (each an integer interval with polynomial bounds, see
:mod:`parevo.toolchain.sizes`) and records:

* ``reqs``: length requirements ``len(c@level) >= poly`` from every subscript
  ``c[E]`` (interval evaluation of ``E``), ``front()``/``back()``, ``*p``, ``p->f``;
* ``bounds``: each loop's exclusive upper bound and whether the loop is the
  selected one or encloses it (those bounds are the size knob ``n``);
* ``offsets``: arrays whose elements bound an inner loop (CSR);
* ``index_of``: element (or struct field) values used as indices, and into what;
* ``scalar_index``: integer parameters used as an index or compared with a size;
* ``ties``: ``==``/``!=`` comparisons between sizes;
* ``nonneg`` / ``divisor``: values under ``sqrt``/``log`` and divisors;
* ``built``: output containers the function fills itself (``push_back``...);
* ``searched``: scalar parameters compared for equality with a container's
  elements (``a[i] == target``), and that container.

Abstract values: :class:`~parevo.toolchain.sizes.Iv` (integers),
:class:`Cont` (a (sub)container of a parameter), :class:`Elem` (an element
of a parameter, with a struct field path), or ``None`` (unknown).
Locals defined once and never reassigned are followed through their
initializer; range-``for`` variables are elements of their range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ctypes import CType, Decl
from .models import LoopSite
from .sizes import Iv, Poly
from .syntax import node_text as text_of
from .syntax import walk


def strip_casts(node):
    """Skip parentheses and casts: ``(int)x``, ``static_cast<long>(x)``, ``size_t(x)``."""
    while node is not None:
        if node.type == "parenthesized_expression" and node.named_child_count == 1:
            node = node.named_children[0]
        elif node.type == "cast_expression":
            node = node.child_by_field_name("value")
        elif node.type == "call_expression":
            fn = node.child_by_field_name("function")
            args = node.child_by_field_name("arguments")
            if fn is None or args is None or args.named_child_count != 1:
                return node
            if fn.type == "template_function":
                name = fn.child_by_field_name("name")
                if name is not None and name.text in (b"static_cast", b"reinterpret_cast"):
                    node = args.named_children[0]
                    continue
                return node
            if fn.type == "primitive_type" or (fn.type in ("identifier", "qualified_identifier") and
                                               fn.text.split(b"::")[-1] in (b"size_t", b"int64_t", b"uint64_t",
                                                                             b"ptrdiff_t", b"int32_t",
                                                                             b"uint32_t")):
                node = args.named_children[0]
                continue
            return node
        else:
            return node
    return node


_COMPARISONS = {"<", "<=", ">", ">=", "==", "!="}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_BUILD_METHODS = {"push_back", "emplace_back", "resize", "assign", "clear", "insert", "pop_back", "erase",
                  "swap", "append", "emplace", "push_front", "emplace_front", "pop_front"}
_NONNEG_CALLS = {"sqrt", "log", "log2", "log10", "sqrtf", "logf", "sqrtl", "logl"}


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


@dataclass
class Req:
    """A length requirement: ``len(sym) >= poly`` (``from_scalar``: the index was that integer parameter)."""

    sym: str
    poly: Poly
    from_scalar: str | None
    text: str


class UsageAnalysis:
    """One pass over the function body collecting size and value facts (see module docstring)."""

    def __init__(self, site: LoopSite, fn_node, src: bytes, types: dict[str, Decl],
                 structs: dict[str, Any]):
        self.site = site
        self.structs = structs
        self.fn = fn_node
        self.src = src
        self.types = types
        self.reqs: list[Req] = []
        self.bounds: list[tuple[Poly | None, bool, str]] = []  # (exclusive bound, in selected nest, text)
        self.offsets: set[str] = set()
        self.index_of: dict[tuple[str, tuple[str, ...]], list[tuple[str, int]]] = {}
        self.scalar_index: dict[str, list[tuple[str, int]]] = {}
        self.ties: list[tuple[str, str]] = []
        self.nonneg: set[tuple[str, tuple[str, ...]]] = set()
        self.divisor: set[tuple[str, tuple[str, ...]]] = set()
        self.built: set[str] = set()
        self.searched: dict[str, str] = {}
        self.const_reqs: list[tuple[str, int]] = []
        self.defs: dict[str, Any] = {}
        self._collect_defs()
        self._seen: set[int] = set()

    # ------------------------------------------------------------------ locals
    def _collect_defs(self) -> None:
        body = self.fn.child_by_field_name("body")
        if body is None:
            return
        assigned: set[str] = set()
        declared: dict[str, list] = {}
        for n in walk(body):
            if n.type == "assignment_expression":
                left = n.child_by_field_name("left")
                if left is not None and left.type == "identifier":
                    assigned.add(text_of(left, self.src))
            elif n.type == "update_expression":
                arg = n.child_by_field_name("argument")
                if arg is not None and arg.type == "identifier":
                    assigned.add(text_of(arg, self.src))
            elif n.type == "init_declarator":
                d = n.child_by_field_name("declarator")
                v = n.child_by_field_name("value")
                while d is not None and d.type in ("reference_declarator", "pointer_declarator"):
                    d = d.named_children[-1] if d.named_child_count else None
                if d is not None and d.type == "identifier" and v is not None:
                    declared.setdefault(text_of(d, self.src), []).append(v)
        for name, vals in declared.items():
            if name in assigned or name in self.types:
                continue
            if len({text_of(v, self.src) for v in vals}) == 1:
                self.defs[name] = vals[0]

    # ------------------------------------------------------------------ evaluation
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
        if node is None or depth > 24:
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
                    return Iv.point(Poly.sym(f"val:{name}"))
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
                if inner is not None and inner.type == "binary_expression" and \
                        inner.child_by_field_name("operator").text == b"+":
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
                return Iv.point(Poly.sym(f"len:{obj.param}@{obj.level}"))
            if method in ("at",) and isinstance(obj, Cont):
                return self._subscript_result(obj)
            if method in ("front", "back") and isinstance(obj, Cont):
                return self._subscript_result(obj)
            if method == "data" and isinstance(obj, Cont):
                return obj
            return None
        name = text_of(fn, self.src).split("::")[-1]
        if name in ("size", "ssize") and len(argv) == 1:
            obj = self.eval(argv[0], env, depth + 1)
            if isinstance(obj, Cont):
                return Iv.point(Poly.sym(f"len:{obj.param}@{obj.level}"))
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
            return Iv(Poly.const(0), Poly.sym(f"last:{v.param}"))
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

    # ------------------------------------------------------------------ recording
    def record_subscript(self, node, base_node, index_node, env) -> None:
        base = self.eval(base_node, env)
        if not isinstance(base, Cont):
            return
        sym = f"len:{base.param}@{base.level}"
        if index_node is None:
            self._add_req(sym, Poly.const(1), None, text_of(node, self.src))
            return
        idx = self.eval(index_node, env)
        stripped = strip_casts(index_node)
        from_scalar = None
        if stripped is not None and stripped.type == "identifier":
            nm = text_of(stripped, self.src)
            if nm not in env and nm in self.types and self.ptype(nm).is_integer:
                from_scalar = nm
                self.scalar_index.setdefault(nm, []).append((base.param, base.level))
        if isinstance(idx, Elem):
            leaf = self.leaf(idx.param, idx.fields)
            if leaf is not None and leaf.is_integer and idx.param != base.param:
                self.index_of.setdefault((idx.param, idx.fields), []).append((base.param, base.level))
            iv = self._iv(idx)
            if iv is not None and iv.hi is not None:
                self._add_req(sym, iv.hi + Poly.const(1), None, text_of(node, self.src))
            return
        iv = self._iv(idx)
        if iv is not None and iv.hi is not None:
            self._add_req(sym, iv.hi + Poly.const(1), from_scalar, text_of(node, self.src))

    def _add_req(self, sym: str, poly: Poly, from_scalar: str | None, text: str) -> None:
        self.reqs.append(Req(sym, poly, from_scalar, text))

    def record_marks(self, node, env, kind: str) -> None:
        """Mark elements (or scalar params) under ``node`` as non-negative or divisors."""
        target = self.nonneg if kind == "nonneg" else self.divisor
        nodes = [node] if kind == "divisor" else list(walk(node))
        for n in nodes:
            s = strip_casts(n)
            if s is None:
                continue
            if s.type in ("subscript_expression", "field_expression", "pointer_expression", "identifier"):
                v = self.eval(s, env)
                if isinstance(v, Elem):
                    target.add((v.param, v.fields))
                elif s.type == "identifier" and text_of(s, self.src) in self.types and \
                        self.ptype(text_of(s, self.src)).depth == 0:
                    target.add((text_of(s, self.src), ()))

    # ------------------------------------------------------------------ walk
    def run(self, selected) -> None:
        self.selected = selected
        body = self.fn.child_by_field_name("body")
        if body is not None:
            self.visit(body, {})

    def _in_nest(self, loop) -> bool:
        s = self.selected
        return loop.start_byte <= s.start_byte and s.end_byte <= loop.end_byte

    def visit(self, node, env: dict[str, Any]) -> None:
        t = node.type
        if t == "for_statement":
            self._visit_for(node, env)
            return
        if t == "for_range_loop":
            self._visit_range_for(node, env)
            return
        if t in ("while_statement", "do_statement"):
            self._visit_while(node, env)
            return
        if t == "call_expression" and self._visit_parallel_call(node, env):
            return
        if t == "subscript_expression":
            idx_list = node.child_by_field_name("indices")
            idx = idx_list.named_children[0] if idx_list is not None and idx_list.named_child_count else None
            self.record_subscript(node, node.child_by_field_name("argument"), idx, env)
        elif t == "pointer_expression":
            op = node.child_by_field_name("operator")
            if op is not None and op.text == b"*":
                inner = strip_casts(node.child_by_field_name("argument"))
                if inner is not None and inner.type == "binary_expression" and \
                        inner.child_by_field_name("operator").text == b"+":
                    self.record_subscript(node, inner.child_by_field_name("left"),
                                          inner.child_by_field_name("right"), env)
                elif inner is not None:
                    self.record_subscript(node, inner, None, env)
        elif t == "field_expression":
            op = node.child_by_field_name("operator")
            if op is not None and op.text == b"->":
                self.record_subscript(node, node.child_by_field_name("argument"), None, env)
        elif t == "call_expression":
            self._visit_call(node, env)
        elif t == "binary_expression":
            op = node.child_by_field_name("operator").type
            if op in ("/", "%"):
                self.record_marks(node.child_by_field_name("right"), env, "divisor")
            elif op in _COMPARISONS:
                self._comparison(node, op, env)
        elif t == "assignment_expression":
            op = node.child_by_field_name("operator").type
            left = node.child_by_field_name("left")
            if op in ("/=", "%="):
                self.record_marks(node.child_by_field_name("right"), env, "divisor")
            if left is not None and left.type == "identifier" and op == "=":
                v = self.eval(left, env)
                if isinstance(v, Cont) and v.level == 0 and text_of(left, self.src) in self.types:
                    self.built.add(v.param)
        for c in node.children:
            self.visit(c, env)

    def _visit_call(self, node, env) -> None:
        fn = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        if fn is None:
            return
        if fn.type == "field_expression":
            method = text_of(fn.child_by_field_name("field"), self.src)
            obj = self.eval(fn.child_by_field_name("argument"), env)
            if isinstance(obj, Cont):
                if method in _BUILD_METHODS and obj.level == 0:
                    self.built.add(obj.param)
                elif method in ("front", "back"):
                    self._add_req(f"len:{obj.param}@{obj.level}", Poly.const(1), None, text_of(node, self.src))
                elif method == "at" and args is not None and args.named_child_count:
                    self.record_subscript(node, fn.child_by_field_name("argument"), args.named_children[0], env)
            return
        name = text_of(fn, self.src).split("::")[-1]
        if name in _NONNEG_CALLS and args is not None:
            for a in args.named_children:
                self.record_marks(a, env, "nonneg")

    def _comparison(self, node, op, env) -> None:
        a = self.eval(node.child_by_field_name("left"), env)
        b = self.eval(node.child_by_field_name("right"), env)
        if op in ("==", "!="):
            self._search(node, a, b, env)
        sa = a.lo.single_symbol() if isinstance(a, Iv) and a.lo is not None and a.lo == a.hi else None
        sb = b.lo.single_symbol() if isinstance(b, Iv) and b.lo is not None and b.lo == b.hi else None
        if not sa or not sb or sa == sb or (a.lo.const_value or b.lo.const_value):
            return
        if not (sa.startswith("len:") or sb.startswith("len:")):
            return
        if op in ("==", "!="):
            self.ties.append((sa, sb))
        else:  # a guard such as k < a.size(): an integer parameter k stays inside a
            for s, other in ((sa, sb), (sb, sa)):
                if s.startswith("val:") and other.startswith("len:"):
                    p, lvl = other[4:].split("@")
                    self.scalar_index.setdefault(s[4:], []).append((p, int(lvl)))

    def _search(self, node, a, b, env) -> None:
        """``a[i] == target``: remember that scalar parameter ``target`` is searched for in ``a``."""
        for side, elem in (("left", b), ("right", a)):
            other = strip_casts(node.child_by_field_name(side))
            if not isinstance(elem, Elem) or elem.fields or other is None or other.type != "identifier":
                continue
            name = text_of(other, self.src)
            if name in env or name not in self.types or self.ptype(name).depth != 0:
                continue
            if self.depth(elem.param) == 1 and self.ptype(name).kind == "scalar":
                self.searched.setdefault(name, elem.param)

    def _loop_header(self, node, var_name, init_node, cond, update_text, env):
        """Interval of the loop variable from its init, condition and update."""
        up = not ("--" in update_text or "-=" in update_text)
        lo = hi = excl = None
        init = self._iv(self.eval(init_node, env)) if init_node is not None else None
        cmp = self._find_cmp(cond, var_name)
        if cmp is not None:
            op, bound_node = cmp
            bv = self.eval(bound_node, env)
            if isinstance(bv, Elem) and not bv.fields and self.depth(bv.param) == 1 and \
                    (self.leaf(bv.param) or CType(kind="unsupported")).is_integer:
                self.offsets.add(bv.param)
            b = self._iv(bv)
            if up and b is not None and b.hi is not None:
                if op in ("<", "!="):
                    hi, excl = b.hi - Poly.const(1), b.hi
                elif op == "<=":
                    hi, excl = b.hi, b.hi + Poly.const(1)
                lo = init.lo if init is not None else None
            elif not up and b is not None:
                if op == ">=":
                    lo = b.lo
                elif op == ">":
                    lo = None if b.lo is None else b.lo + Poly.const(1)
                hi = init.hi if init is not None else None
                excl = None if hi is None else hi + Poly.const(1)
        return Iv(lo, hi), excl

    def _find_cmp(self, cond, var):
        """``(op, bound node)`` of the first comparison ``var OP bound`` in ``cond`` (through ``&&``)."""
        if cond is None:
            return None
        cond = strip_casts(cond)
        if cond.type == "condition_clause":
            v = cond.child_by_field_name("value")
            return self._find_cmp(v, var) if v is not None else None
        if cond.type != "binary_expression":
            return None
        op = cond.child_by_field_name("operator").type
        left, right = cond.child_by_field_name("left"), cond.child_by_field_name("right")
        if op == "&&":
            return self._find_cmp(left, var) or self._find_cmp(right, var)
        if op not in _COMPARISONS:
            return None
        ls, rs = strip_casts(left), strip_casts(right)
        if ls is not None and ls.type == "identifier" and text_of(ls, self.src) == var:
            return op, right
        if rs is not None and rs.type == "identifier" and text_of(rs, self.src) == var:
            return _FLIP[op], left
        return None

    def _visit_for(self, node, env) -> None:
        init = node.child_by_field_name("initializer")
        cond = node.child_by_field_name("condition")
        upd = node.child_by_field_name("update")
        var, init_val = None, None
        if init is not None:
            if init.type == "declaration":
                d = init.child_by_field_name("declarator")
                if d is not None and d.type == "init_declarator":
                    var = text_of(d.child_by_field_name("declarator"), self.src)
                    init_val = d.child_by_field_name("value")
            else:
                a = init if init.type == "assignment_expression" else (
                    init.named_children[0] if init.named_child_count else None)
                if a is not None and a.type == "assignment_expression":
                    left = a.child_by_field_name("left")
                    if left is not None and left.type == "identifier":
                        var = text_of(left, self.src)
                        init_val = a.child_by_field_name("right")
        env2 = dict(env)
        if var is not None:
            iv, excl = self._loop_header(node, var, init_val, cond,
                                         text_of(upd, self.src) if upd is not None else "++", env)
            env2[var] = iv
            self.bounds.append((excl, self._in_nest(node), text_of(cond, self.src) if cond is not None else ""))
        if init is not None:
            self.visit(init, env)
        for part in (cond, upd, node.child_by_field_name("body")):
            if part is not None:
                self.visit(part, env2)

    def _visit_range_for(self, node, env) -> None:
        right = node.child_by_field_name("right")
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type in ("reference_declarator", "pointer_declarator"):
            decl = decl.named_children[-1] if decl.named_child_count else None
        env2 = dict(env)
        rv = self.eval(right, env) if right is not None else None
        if isinstance(rv, Cont):
            self.bounds.append((Poly.sym(f"len:{rv.param}@{rv.level}"), self._in_nest(node),
                                text_of(right, self.src)))
            if decl is not None and decl.type == "identifier":
                env2[text_of(decl, self.src)] = self._subscript_result(rv)
        elif decl is not None and decl.type == "identifier":
            env2[text_of(decl, self.src)] = None
        if right is not None:
            self.visit(right, env)
        body = node.child_by_field_name("body")
        if body is not None:
            self.visit(body, env2)

    def _visit_while(self, node, env) -> None:
        cond = node.child_by_field_name("condition")
        env2 = dict(env)
        c = strip_casts(cond.child_by_field_name("value")) if cond is not None and cond.type == "condition_clause" \
            else strip_casts(cond)
        if c is not None and c.type == "binary_expression":
            for side in ("left", "right"):
                s = strip_casts(c.child_by_field_name(side))
                if s is not None and s.type == "identifier" and text_of(s, self.src) not in self.types:
                    var = text_of(s, self.src)
                    cmp = self._find_cmp(c, var)
                    if cmp is None:
                        continue
                    op, bnode = cmp
                    b = self._iv(self.eval(bnode, env))
                    if op in ("<", "<=", "!=") and b is not None and b.hi is not None:
                        excl = b.hi if op != "<=" else b.hi + Poly.const(1)
                        env2[var] = Iv(Poly.const(0), excl - Poly.const(1))
                        self.bounds.append((excl, self._in_nest(node), text_of(c, self.src)))
                    break
        for ch in node.children:
            self.visit(ch, env2)

    def _visit_parallel_call(self, node, env) -> bool:
        """``parallel_for(lo, hi, [&](size_t i){...})`` / ``tabulate(n, [&](size_t i){...})``."""
        fn = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        if fn is None or args is None:
            return False
        name = text_of(fn, self.src).split("::")[-1].split("<")[0]
        argv = list(args.named_children)
        if name == "parallel_for" and len(argv) >= 3:
            lo_n, hi_n, lam = argv[0], argv[1], argv[2]
        elif name in ("tabulate", "delayed_tabulate") and len(argv) >= 2:
            lo_n, hi_n, lam = None, argv[0], argv[1]
        else:
            return False
        if lam.type != "lambda_expression":
            return False
        decl = lam.child_by_field_name("declarator")
        params = decl.child_by_field_name("parameters") if decl is not None else None
        var = None
        if params is not None and params.named_child_count:
            p0 = params.named_children[0]
            d = p0.child_by_field_name("declarator")
            if d is not None and d.type == "identifier":
                var = text_of(d, self.src)
        lo = self._iv(self.eval(lo_n, env)) if lo_n is not None else Iv.point(Poly.const(0))
        hi = self._iv(self.eval(hi_n, env))
        env2 = dict(env)
        if var is not None:
            excl = hi.hi if hi is not None else None
            env2[var] = Iv(lo.lo if lo is not None else None, None if excl is None else excl - Poly.const(1))
            self.bounds.append((excl, self._in_nest(node), text_of(hi_n, self.src)))
        for a in argv[:-1]:
            self.visit(a, env)
        body = lam.child_by_field_name("body")
        if body is not None:
            self.visit(body, env2)
        return True


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
