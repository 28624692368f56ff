"""How a function uses its parameters: one tree-sitter pass collecting size and value facts.

:class:`UsageAnalysis` walks the function body with an environment of loop
variables (each an integer interval with polynomial bounds, see
:mod:`parevo.toolchain.sizes`) and records:

* ``reqs``: length requirements ``len(c@level) >= poly`` (:class:`Req`, a typed
  :class:`~parevo.toolchain.sizes.Sym`) from every subscript
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

Abstract values (:mod:`parevo.toolchain.usage_eval`): :class:`~parevo.toolchain.sizes.Iv`
(integers), :class:`Cont` (a (sub)container of a parameter), :class:`Elem` (an
element of a parameter, with a struct field path), or ``None`` (unknown).
Locals defined once and never reassigned are followed through their
initializer; range-``for`` variables are elements of their range.

The pass is a pre-order traversal carrying the loop variables in scope
(:func:`parevo.toolchain.syntax.visit`, iterative); abstract evaluation of an
expression stops 24 levels deep, so no input depth exhausts the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ctypes import CType, Decl
from .site import ParsedSite
from .sizes import Iv, Poly, Sym
from .syntax import algorithm_call, callee_name, captures, declarator_layers, operator_of, strip_casts, visit
from .syntax import node_text as text_of
from .usage_eval import Cont, Elem, Evaluation, field_type

__all__ = ["Cont", "Elem", "Req", "UsageAnalysis", "field_type"]


_COMPARISONS = {"<", "<=", ">", ">=", "==", "!="}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_BUILD_METHODS = {"push_back", "emplace_back", "resize", "assign", "clear", "insert", "pop_back", "erase",
                  "swap", "append", "emplace", "push_front", "emplace_front", "pop_front"}
_DEFS = """
(assignment_expression left: (identifier) @assigned)
(update_expression argument: (identifier) @assigned)
(init_declarator) @init
"""
_NONNEG_CALLS = {"sqrt", "log", "log2", "log10", "sqrtf", "logf", "sqrtl", "logl"}


@dataclass
class Req:
    """A length requirement: ``sym >= poly`` for a length symbol (``from_scalar``: the index was that
    integer parameter)."""

    sym: Sym
    poly: Poly
    from_scalar: str | None
    text: str


class UsageAnalysis(Evaluation):
    """One pass over the function body collecting size and value facts (see module docstring)."""

    def __init__(self, site: ParsedSite, types: dict[str, Decl], structs: dict[str, Any]):
        self.site = site
        self.structs = structs
        self.fn = site.function_node
        self.src = site.src
        self.types = types
        self.reqs: list[Req] = []
        self.bounds: list[tuple[Poly | None, bool, str]] = []  # (exclusive bound, in selected nest, text)
        self.offsets: set[str] = set()
        self.index_of: dict[tuple[str, tuple[str, ...]], list[tuple[str, int]]] = {}
        self.scalar_index: dict[str, list[tuple[str, int]]] = {}
        self.ties: list[tuple[Sym, Sym]] = []
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
        got = captures(_DEFS, body)
        assigned = {text_of(n, self.src) for n in got.get("assigned", [])}
        declared: dict[str, list] = {}
        for n in got.get("init", []):
            layers, name = declarator_layers(n.child_by_field_name("declarator"))
            v = n.child_by_field_name("value")
            if name is not None and name.type == "identifier" and v is not None and all(
                    d.type in ("reference_declarator", "pointer_declarator") for d in layers):
                declared.setdefault(text_of(name, self.src), []).append(v)
        for name, vals in declared.items():
            if name in assigned or name in self.types:
                continue
            if len({text_of(v, self.src) for v in vals}) == 1:
                self.defs[name] = vals[0]

    # ------------------------------------------------------------------ evaluation

    # ------------------------------------------------------------------ recording
    def record_subscript(self, node, base_node, index_node, env) -> None:
        base = self.eval(base_node, env)
        if not isinstance(base, Cont):
            return
        sym = Sym.len(base.param, base.level)
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

    def _add_req(self, sym: Sym, poly: Poly, from_scalar: str | None, text: str) -> None:
        self.reqs.append(Req(sym, poly, from_scalar, text))

    def record_marks(self, node, env, kind: str) -> None:
        """Mark elements (or scalar params) under ``node`` as non-negative or divisors."""
        target = self.nonneg if kind == "nonneg" else self.divisor
        nodes = [node] if kind == "divisor" else captures(
            "[(subscript_expression) (field_expression) (pointer_expression) (identifier)] @n", node).get("n", [])
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
        """Analyze the function body; ``selected`` is the loop (or parallel call) node of the site."""
        self.selected = selected
        body = self.fn.child_by_field_name("body")
        if body is not None:
            visit(body, {}, self._step)

    def _in_nest(self, loop) -> bool:
        s = self.selected
        return loop.start_byte <= s.start_byte and s.end_byte <= loop.end_byte

    def _step(self, node, env: dict[str, Any]):
        """Record what ``node`` tells; return its children with the loop variables in scope for each
        (None: every child with ``env``)."""
        t = node.type
        if t == "for_statement":
            return self._visit_for(node, env)
        if t == "for_range_loop":
            return self._visit_range_for(node, env)
        if t in ("while_statement", "do_statement"):
            return self._visit_while(node, env)
        if t == "call_expression":
            parts = self._visit_parallel_call(node, env)
            if parts is not None:
                return parts
        if t == "subscript_expression":
            idx_list = node.child_by_field_name("indices")
            idx = idx_list.named_children[0] if idx_list is not None and idx_list.named_child_count else None
            self.record_subscript(node, node.child_by_field_name("argument"), idx, env)
        elif t == "pointer_expression":
            op = node.child_by_field_name("operator")
            if op is not None and op.text == b"*":
                inner = strip_casts(node.child_by_field_name("argument"))
                if inner is not None and inner.type == "binary_expression" and operator_of(inner, self.src) == "+":
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
        return None

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
                    self._add_req(Sym.len(obj.param, obj.level), Poly.const(1), None, text_of(node, self.src))
                elif method == "at" and args is not None and args.named_child_count:
                    self.record_subscript(node, fn.child_by_field_name("argument"), args.named_children[0], env)
            return
        if algorithm_call(node) and args is not None:
            self._visit_algorithm(node, [a for a in args.named_children if a.type != "comment"], env)
            return
        name = callee_name(node)
        if name in _NONNEG_CALLS and args is not None:
            for a in args.named_children:
                self.record_marks(a, env, "nonneg")

    def _range_of(self, node, env):
        """The container ``X`` of an iterator ``X.begin()``/``X.end()``/``std::begin(X)``/``X.data()``."""
        n = strip_casts(node)
        if n is None or n.type != "call_expression":
            return None
        fn = n.child_by_field_name("function")
        args = n.child_by_field_name("arguments")
        method = callee_name(n)
        if fn is not None and fn.type == "field_expression" and method in ("begin", "cbegin", "end", "cend", "data"):
            v = self.eval(fn.child_by_field_name("argument"), env)
        elif method in ("begin", "cbegin", "end", "cend") and args is not None and args.named_child_count == 1:
            v = self.eval(args.named_children[0], env)
        else:
            return None
        return v if isinstance(v, Cont) else None

    def _visit_algorithm(self, node, args, env) -> None:
        """``std::transform(a.begin(), a.end(), out.begin(), f)`` and the other algorithms of
        :data:`parevo.toolchain.syntax.ALGORITHMS`: the input range is a loop over ``a`` (its length a size),
        and an output (or second input) iterator's container needs as many elements."""
        name = algorithm_call(node)
        if len(args) < 2:
            return
        first, last = self._range_of(args[0], env), self._range_of(args[1], env)
        if first is None or last is None or (first.param, first.level) != (last.param, last.level):
            return
        length = Sym.len(first.param, first.level)
        self.bounds.append((Poly.sym(length), self._in_nest(node), text_of(node, self.src)))
        more = {"transform": [2, 3] if len(args) == 5 else [2], "inclusive_scan": [2], "partial_sum": [2]}
        for k in more.get(name or "", []):
            other = self._range_of(args[k], env) if k < len(args) else None
            if other is not None and (other.param, other.level) != (first.param, first.level):
                self._add_req(Sym.len(other.param, other.level), Poly.sym(length), None, text_of(node, self.src))

    def _comparison(self, node, op, env) -> None:
        a = self.eval(node.child_by_field_name("left"), env)
        b = self.eval(node.child_by_field_name("right"), env)
        if op in ("==", "!="):
            self._search(node, a, b, env)
        sa = a.lo.single_symbol() if isinstance(a, Iv) and a.lo is not None and a.lo == a.hi else None
        sb = b.lo.single_symbol() if isinstance(b, Iv) and b.lo is not None and b.lo == b.hi else None
        if not sa or not sb or sa == sb or (a.lo.const_value or b.lo.const_value):
            return
        if not (sa.kind == "len" or sb.kind == "len"):
            return
        if op in ("==", "!="):
            self.ties.append((sa, sb))
        else:  # a guard such as k < a.size(): an integer parameter k stays inside a
            for s, other in ((sa, sb), (sb, sa)):
                if s.kind == "val" and other.kind == "len":
                    self.scalar_index.setdefault(s.param, []).append((other.param, other.level))

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
        todo = [cond]
        while todo:
            c = strip_casts(todo.pop())
            if c is None:
                continue
            if c.type == "condition_clause":
                todo.append(c.child_by_field_name("value"))
                continue
            if c.type != "binary_expression":
                continue
            op = c.child_by_field_name("operator").type
            left, right = c.child_by_field_name("left"), c.child_by_field_name("right")
            if op == "&&":
                todo += [right, left]  # the left operand first
                continue
            if op not in _COMPARISONS:
                continue
            ls, rs = strip_casts(left), strip_casts(right)
            if ls is not None and ls.type == "identifier" and text_of(ls, self.src) == var:
                return op, right
            if rs is not None and rs.type == "identifier" and text_of(rs, self.src) == var:
                return _FLIP[op], left
        return None

    def _visit_for(self, node, env):
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
        parts = [(init, env)] if init is not None else []
        return parts + [(p, env2) for p in (cond, upd, node.child_by_field_name("body")) if p is not None]

    def _visit_range_for(self, node, env):
        right = node.child_by_field_name("right")
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type in ("reference_declarator", "pointer_declarator"):
            decl = decl.named_children[-1] if decl.named_child_count else None
        env2 = dict(env)
        rv = self.eval(right, env) if right is not None else None
        if isinstance(rv, Cont):
            self.bounds.append((Poly.sym(Sym.len(rv.param, rv.level)), self._in_nest(node),
                                text_of(right, self.src)))
            if decl is not None and decl.type == "identifier":
                env2[text_of(decl, self.src)] = self._subscript_result(rv)
        elif decl is not None and decl.type == "identifier":
            env2[text_of(decl, self.src)] = None
        body = node.child_by_field_name("body")
        return [(p, e) for p, e in ((right, env), (body, env2)) if p is not None]

    def _visit_while(self, node, env):
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
        return [(ch, env2) for ch in node.children]

    def _visit_parallel_call(self, node, env):
        """``parallel_for(lo, hi, [&](size_t i){...})`` / ``tabulate(n, [&](size_t i){...})``: the parts
        to visit with the lambda's index in scope, or None for any other call."""
        fn = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        if fn is None or args is None:
            return None
        name = callee_name(node)
        argv = list(args.named_children)
        if name == "parallel_for" and len(argv) >= 3:
            lo_n, hi_n, lam = argv[0], argv[1], argv[2]
        elif name in ("tabulate", "delayed_tabulate") and len(argv) >= 2:
            lo_n, hi_n, lam = None, argv[0], argv[1]
        else:
            return None
        if lam.type != "lambda_expression":
            return None
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
        body = lam.child_by_field_name("body")
        return [(a, env) for a in argv[:-1]] + ([(body, env2)] if body is not None else [])
