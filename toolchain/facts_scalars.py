"""Scalar facts: reductions, argmin/argmax, accumulator scans, private temporaries.

Mixed into the facts analysis (:mod:`parevo.toolchain.facts`). A scalar
declared before the loop and written in it is a reduction when every write
is an update with one associative operator (``s += e``, ``s = s * e``,
``s = std::min(s, e)``, ``if (e < s) s = e;``, ``if (!p) ok = false;`` …) and
it is read nowhere else in the body; an accumulator scan when it is updated
once per iteration and read elsewhere; a private temporary when each
iteration assigns it before reading it and it is not used after the loop;
otherwise a loop-carried dependence (it is read) or a write conflict (the last
iteration's value survives).
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from .loop_body import Write, norm, target_of
from .models import ArgExtreme, Dependence, Reduction, ReductionOp, Scan
from .syntax import (
    block_statements,
    captures,
    condition_value,
    conjuncts,
    conversion_operand,
    identifiers,
    if_guards,
    line_of,
    mentions,
    operator_of,
    span_of,
    statement_of,
    strip_casts,
    strip_parens,
    value_used,
)

COMMUTATIVE = {"+": ReductionOp.ADD, "*": ReductionOp.MUL, "&": ReductionOp.BIT_AND,
                "|": ReductionOp.BIT_OR, "^": ReductionOp.BIT_XOR, "&&": ReductionOp.AND,
                "||": ReductionOp.OR}
COMPOUND = {"+=": ReductionOp.ADD, "-=": ReductionOp.ADD, "*=": ReductionOp.MUL,
             "&=": ReductionOp.BIT_AND, "|=": ReductionOp.BIT_OR, "^=": ReductionOp.BIT_XOR}
MINMAX_FUNCS = {"min": ReductionOp.MIN, "fmin": ReductionOp.MIN, "fminf": ReductionOp.MIN,
                 "max": ReductionOp.MAX, "fmax": ReductionOp.MAX, "fmaxf": ReductionOp.MAX}


@dataclass
class GuardParts:
    """The guards of an update (see :meth:`ScalarFacts.guard_parts`): the ``if`` holding the min/max
    improvement test and its kind (``min``/``max``), and the filter conjuncts' texts."""

    compare: tuple[Node, str] | None
    filters: list[str]


class ScalarFacts:
    """Mixin: the scalar part of the analysis (needs ``f``, ``ev``, ``body``, ``private``, ``t``, ``claimed``)."""

    def scalar_writes(self) -> dict[str, list[Write]]:
        """Writes to shared scalars, by name (fields of shared objects are a problem)."""
        out: dict[str, list[Write]] = {}
        for w in self.ev.writes:
            tg = self.element_target(w.target)
            if tg.kind == "scalar" and tg.name not in self.private and tg.name != self.f.index_var:
                out.setdefault(tg.name, []).append(w)
            elif tg.kind == "field" and tg.name not in self.private:
                self.problems.append((f"the loop assigns `{self.t(w.target.node)}` at line {line_of(w.node) + 1}, a "
                                      "member of an object shared by all iterations", [line_of(w.node)]))
        return out

    def reduction_form(self, w: Write, var: str) -> tuple[ReductionOp, str, Node | None, str | None] | None:
        """(op, operand text, guard if-statement consumed, filter) when ``w`` is a reduction update of ``var``.

        The filter is the C++ condition under which the iteration contributes (the guards' conjuncts
        other than a min/max improvement test, ``&&``-joined; None when it always does): the
        iteration contributes the monoid's identity when it fails. For ``if (!p) ok = false;`` the
        consumed ``if``'s condition is the operand, and only the guards around it filter.
        """
        form = self._reduction_form(w, var)
        if form is None:
            return None
        op, expr, g = form
        around = g if (g is not None and op in (ReductionOp.AND, ReductionOp.OR)) else w.node
        value_text = self.t(strip_parens(w.value)) if around is w.node and w.op == "=" and w.value is not None else None
        parts = self.guard_parts(around, var, value_text)
        if parts is None:
            return None
        filt = " && ".join(f"({x})" for x in parts.filters) if parts.filters else None
        return op, expr, g, filt

    def _reduction_form(self, w: Write, var: str) -> tuple[ReductionOp, str, Node | None] | None:
        if value_used(w.node):  # `out[c++] = …`: the running value is used, so the order matters
            return None
        value_text = self.t(strip_parens(w.value)) if w.op == "=" and w.value is not None else None
        guard = self.guard_parts(w.node, var, value_text)
        if guard is None:
            return None
        if guard.compare is not None and w.op != "=":
            return None
        if w.node.type == "update_expression":
            guarded = bool(w.guards)
            if w.op == "++":
                return (ReductionOp.COUNT if guarded else ReductionOp.ADD, "1", None)
            return (ReductionOp.ADD, "-1", None)
        v = w.value
        if w.op in COMPOUND:
            if mentions(v, var):
                return None
            expr = self.t(v)
            if w.op == "-=":
                expr = f"-({expr})"
            op = COMPOUND[w.op]
            if op == ReductionOp.ADD and expr.strip() == "1" and w.guards:
                op = ReductionOp.COUNT
            decl = self.site.decl_of(var)
            if decl is not None and decl.type.is_bool and op == ReductionOp.BIT_AND:
                op = ReductionOp.AND
            if decl is not None and decl.type.is_bool and op == ReductionOp.BIT_OR:
                op = ReductionOp.OR
            return (op, expr, None)
        if w.op != "=" or v is None:
            return None
        sv = strip_parens(v)
        # guarded min/max: if (e < s) s = e;  if (p(x) && e < s) s = e;  if (p) { if (e < s) s = e; }
        if guard.compare is not None:
            g, kind = guard.compare
            if mentions(sv, var) or not self.only_statement_of(g, w):
                return None
            return (ReductionOp.MIN if kind == "min" else ReductionOp.MAX, self.t(sv), g)
        if sv.type == "binary_expression":
            op = self.t(sv.child_by_field_name("operator"))
            a, b = strip_parens(sv.child_by_field_name("left")), strip_parens(sv.child_by_field_name("right"))
            if a is not None and a.type == "identifier" and self.t(a) == var and not mentions(b, var):
                if op in COMMUTATIVE:
                    return (COMMUTATIVE[op], self.t(b), None)
                if op == "-":
                    return (ReductionOp.ADD, f"-({self.t(b)})", None)
            if b is not None and b.type == "identifier" and self.t(b) == var and not mentions(a, var):
                if op in COMMUTATIVE:
                    return (COMMUTATIVE[op], self.t(a), None)
            return None
        if sv.type == "call_expression":
            fn = self.t(sv.child_by_field_name("function")).split("::")[-1].split("<")[0]
            args = [a for a in sv.child_by_field_name("arguments").named_children if a.type != "comment"]
            if fn in MINMAX_FUNCS and len(args) == 2:
                a, b = strip_parens(args[0]), strip_parens(args[1])
                if a.type == "identifier" and self.t(a) == var and not mentions(b, var):
                    return (MINMAX_FUNCS[fn], self.t(b), None)
                if b.type == "identifier" and self.t(b) == var and not mentions(a, var):
                    return (MINMAX_FUNCS[fn], self.t(a), None)
            return None
        if sv.type == "conditional_expression":
            # s = e < s ? e : s
            c = strip_parens(sv.child_by_field_name("condition"))
            cons, alt = strip_parens(sv.child_by_field_name("consequence")), strip_parens(sv.child_by_field_name("alternative"))
            if c is not None and c.type == "binary_expression" and alt is not None and self.t(alt) == var:
                kind = self.compare_kind(c, var, self.t(cons))
                if kind is not None:
                    return (ReductionOp.MIN if kind[0] == "min" else ReductionOp.MAX, self.t(cons), None)
            return None
        # guarded: if (!p) ok = false;  if (p) found = true;
        if w.guards and not w.inner:
            g, neg = w.guards[-1]
            if neg or not self.only_statement_of(g, w):
                return None
            cond = condition_value(g.child_by_field_name("condition"))
            if sv.type in ("false", "true") and not mentions(cond, var):
                ct = self.t(cond)
                if sv.type == "false":
                    return (ReductionOp.AND, self.negate(cond), g)
                return (ReductionOp.OR, ct, g)
        return None

    def guard_parts(self, node: Node, var: str, value_text: str | None) -> "GuardParts | None":
        """The ``if`` guards between the body and ``node`` split into ``&&`` conjuncts (an ``else``
        branch is one negated conjunct): at most one may compare ``value_text`` with ``var`` (the
        improvement test of a min/max, ``compare``), and every other one (the filter) must read no
        scalar the loop writes (``shared_scalars``), since it decides, for one iteration alone, whether
        the iteration contributes. None when that does not hold."""
        compare: tuple[Node, str] | None = None
        filters: list[str] = []
        shared = getattr(self, "shared_scalars", set())
        for g, neg in if_guards(node, self.body):
            cond = condition_value(g.child_by_field_name("condition"))
            if cond is None:
                return None
            for c in ([cond] if neg else conjuncts(cond)):
                kind = self.compare_kind(c, var, value_text) if (value_text is not None and not neg
                                                                 and c.type == "binary_expression") else None
                if kind is not None:
                    if compare is not None:
                        return None
                    compare = (g, kind[0])
                    continue
                if any(n.text.decode("utf-8", errors="replace") in shared for n in identifiers(c)):
                    return None
                filters.append(f"!({self.t(c)})" if neg else self.t(c))
        return GuardParts(compare=compare, filters=filters)

    def negate(self, cond: Node) -> str:
        """The text of ``!cond``, without a double negation."""
        c = strip_parens(cond)
        if c.type == "unary_expression" and self.t(c).lstrip().startswith("!"):
            inner = c.child_by_field_name("argument")
            t = self.t(strip_parens(inner))
            return t
        return f"!({self.t(c)})"

    def compare_kind(self, cond: Node, var: str, value_text: str) -> tuple[str, bool] | None:
        """('min'|'max', strict) when ``cond`` compares ``value_text`` with ``var``."""
        op = self.t(cond.child_by_field_name("operator"))
        a, b = strip_parens(cond.child_by_field_name("left")), strip_parens(cond.child_by_field_name("right"))
        if a is None or b is None or op not in ("<", ">", "<=", ">="):
            return None
        vt = norm(value_text)
        if norm(self.t(a)) == vt and self.t(b) == var:
            return ("min" if op in ("<", "<=") else "max", op in ("<", ">"))
        if norm(self.t(b)) == vt and self.t(a) == var:
            return ("max" if op in ("<", "<=") else "min", op in ("<", ">"))
        return None

    def only_statement_of(self, ifs: Node, w: Write) -> bool:
        """True when ``w`` is the only statement of the if's consequence."""
        cons = ifs.child_by_field_name("consequence")
        stmts = block_statements(cons)
        return len(stmts) == 1 and stmts[0].start_byte <= w.node.start_byte < stmts[0].end_byte

    def occurrences(self, var: str) -> list[Node]:
        """Identifier nodes naming ``var`` in the body."""
        key = var.encode("utf-8")
        return [n for n in identifiers(self.body) if n.text == key]

    def scalars(self) -> None:
        """Classify each written shared scalar (reduction, scan, argmin/max, private, dependence, conflict)."""
        f = self.f
        by_var = self.scalar_writes()
        f.scalars_written = sorted(by_var)
        privates = {var for var, ws in by_var.items() if self.private_temporary(var, ws)}
        self.shared_scalars = set(by_var) - privates
        handled: set[str] = set()
        self.match_argextremes(by_var, handled)
        for var, ws in by_var.items():
            if var in handled:
                continue
            if all(w.node.id in self.claimed for w in ws):
                continue
            forms = [self.reduction_form(w, var) for w in ws]
            occ = self.occurrences(var)

            def inside(n: Node, w: Write, form) -> bool:
                st = form[2] if form and form[2] is not None else w.node
                return st.start_byte <= n.start_byte < st.end_byte

            stray = [n for n in occ if not any(inside(n, w, fm) for w, fm in zip(ws, forms))]
            ops = {fm[0] for fm in forms if fm}
            ops_ok = len(ops) == 1 or ops == {ReductionOp.ADD, ReductionOp.COUNT}
            if all(forms) and ops_ok and not stray:
                for w, fm in zip(ws, forms):
                    stmt = fm[2] if fm[2] is not None else statement_of(w.node, self.body)
                    op = fm[0]
                    if ops == {ReductionOp.ADD, ReductionOp.COUNT}:
                        op = ReductionOp.ADD
                    f.reductions.append(Reduction(var=var, var_type=self.type_of(var), op=op, expr=fm[1],
                                                  filter=fm[3], update=span_of(stmt),
                                                  conditional=bool(w.guards) or fm[2] is not None,
                                                  in_inner_loop=w.inner, line=line_of(w.node)))
                    self.claimed.add(w.node.id)
                continue
            if all(forms) and len(ws) == 1 and not ws[0].guards and not ws[0].inner and self.match_acc_scan(
                    var, ws[0], forms[0], stray):
                continue
            w0 = min(ws, key=lambda w: w.node.start_byte)
            if var in privates:
                f.private_scalars.append(var)
                continue
            reads = [n for n in occ if not any(w.target.node == n for w in ws if w.op == "=")]
            crossed = self.guard_crossing(ws, var)
            if crossed is not None:
                w, g, other = crossed
                desc = (f"loop-carried dependence: `{self.t(statement_of(w.node, self.body)).strip()}` at line "
                        f"{line_of(w.node) + 1} runs only when `{g}`, which reads `{other}`, a scalar other "
                        "iterations update: whether an iteration contributes depends on the iterations before it")
                f.dependences.append(Dependence(var=var, write_line=line_of(w.node), read_line=line_of(w.node),
                                                distance=1, description=desc))
            elif reads:
                r = reads[0]
                wl = line_of(w0.node)
                stmt_t = self.t(statement_of(w0.node, self.body)).strip()
                desc = (f"loop-carried dependence: `{var}` at line {line_of(r) + 1} reads the value of `{var}` written "
                        f"by the previous iteration at line {wl + 1}; `{stmt_t}` is not a reduction with an "
                        "associative operator")
                f.dependences.append(Dependence(var=var, write_line=wl, read_line=line_of(r), distance=1,
                                                description=desc))
            else:
                self.conflicts.append((f"write conflict: every iteration may assign `{var}` (line {line_of(w0.node) + 1})"
                                       " and the value after the loop is the last writer's", [line_of(w0.node)]))

    def private_temporary(self, var: str, ws: list[Write]) -> bool:
        """``var`` is first touched by an unconditional plain write in each iteration and not used after the
        loop: every iteration can have its own copy."""
        occ = self.occurrences(var)
        first = min(occ, key=lambda n: n.start_byte) if occ else None
        w0 = min(ws, key=lambda w: w.node.start_byte)
        return (first is not None and w0.target.node is not None and first == w0.target.node and w0.op == "="
                and not w0.guards and not w0.inner and not mentions(w0.value, var) and not self.used_after_loop(var))

    def guard_crossing(self, ws: list[Write], var: str) -> tuple[Write, str, str] | None:
        """``(write, guard text, other scalar)`` when a write of ``var`` is guarded by a condition that
        reads another scalar the loop writes (``else if (a[i] > hi)`` after ``if (a[i] < lo)``)."""
        for w in ws:
            for g, neg in if_guards(w.node, self.body):
                cond = condition_value(g.child_by_field_name("condition"))
                others = sorted({n.text.decode("utf-8", errors="replace") for n in identifiers(cond)}
                                & (self.shared_scalars - {var}))
                if others:
                    text = self.t(cond).strip()
                    return w, (f"!({text})" if neg else text), others[0]
        return None

    def match_acc_scan(self, var: str, w: Write, form, stray: list[Node]) -> bool:
        """A scalar updated once per iteration and read elsewhere in the body: a scan.

        ``acc += e; out[i] = acc;`` is inclusive, ``out[i] = acc; acc += e;``
        exclusive; other reads of ``acc`` (``b[i] = acc * 2``) are allowed when
        the update is an unconditional top-level statement and no ``continue``
        can skip it: every read then sees a prefix of the operands.
        """
        f = self.f
        if f.index_var is None and not f.range_var:
            return False
        if not stray or form[0] == ReductionOp.COUNT or form[2] is not None or self.ev.continues:
            return False
        stmt = statement_of(w.node, self.body)
        if stmt.parent != self.body and stmt != self.body:
            return False
        output = None
        if len(stray) == 1:
            n = stray[0]
            p = n.parent
            while p is not None and p.type == "parenthesized_expression":
                p = p.parent
            if (p is not None and p.type == "assignment_expression" and strip_parens(p.child_by_field_name("right")) == n
                    and self.t(p.child_by_field_name("operator")) == "=" and not self.guards_of(p)):
                tg = self.element_target(target_of(p.child_by_field_name("left"), self.src))
                if tg.kind == "array" and (not tg.indices or (len(tg.indices) == 1 and self.offset(tg.indices[0]) == 0)):
                    output = tg.name
        kind = "inclusive" if w.node.start_byte < min(n.start_byte for n in stray) else "exclusive"
        f.scan = Scan(kind=kind, op=form[0], expr=form[1], output=output, acc=var, acc_type=self.type_of(var),
                      line=line_of(w.node))
        self.claimed.add(w.node.id)
        return True

    def alias_of(self, node: Node | None):
        """The index alias ``node`` names (``i`` of a normalized loop, possibly cast), else None."""
        n = strip_casts(strip_parens(node))
        return self.aliases.get(self.t(n)) if n is not None and n.type == "identifier" else None

    def argext_prelude(self, if_node: Node, values: list[Node]) -> list[str] | None:
        """The body's declarations before an argmin/argmax ``if`` when its value (or filter) uses them.

        ``[]`` when the value uses no name declared in the body; the declaration statements'
        texts when the body is exactly declarations followed by the ``if`` (``double d = …;
        if (d < best) {…}``); None otherwise (the value cannot be computed on its own).
        """
        local = {x.text.decode() for v in values for x in identifiers(v)} & set(self.ev.declared)
        if not local:
            return []
        if if_node.parent is None or if_node.parent.id != self.body.id:
            return None
        stmts = [c for c in self.body.named_children if c.type != "comment"]
        k = next(i for i, c in enumerate(stmts) if c.id == if_node.id)
        if k != len(stmts) - 1 or any(s.type != "declaration" for s in stmts[:k]):
            return None
        return [self.t(s) for s in stmts[:k] if not self.is_alias_decl(s)]

    def match_argextremes(self, by_var: dict[str, list[Write]], handled: set[str]) -> None:
        """``if (E < best) { best = E; idx = i; }`` (strict) or with ``<=`` (non-strict); the index may be
        cast (``idx = static_cast<long>(i)``) and ``E`` may be a local declared before the ``if``."""
        f = self.f
        var = f.index_var
        for n in captures("(if_statement !alternative) @if", self.body).get("if", []):
            cons = n.child_by_field_name("consequence")
            stmts = block_statements(cons)
            assigns = []
            for s in stmts:
                e = s.named_children[0] if s.type == "expression_statement" and s.named_child_count else None
                if e is None or e.type != "assignment_expression" or operator_of(e, self.src) != "=":
                    break
                lhs = strip_parens(e.child_by_field_name("left"))
                if lhs.type != "identifier":
                    break
                assigns.append((self.t(lhs), e.child_by_field_name("right"), e))
            else:
                if len(assigns) not in (1, 2):
                    continue
                cond = condition_value(n.child_by_field_name("condition"))
                if cond is None:
                    continue
                parts = conjuncts(cond)
                for vname, vnode, _e in assigns:
                    hits = [(c, self.compare_kind(c, vname, self.t(vnode))) for c in parts
                            if c.type == "binary_expression"]
                    hits = [(c, k) for c, k in hits if k is not None]
                    if len(hits) != 1:
                        continue
                    c_cmp, kind = hits[0]
                    rest = [c for c in parts if c.id != c_cmp.id]
                    outer = self.guard_parts(n, vname, None)
                    if outer is None or outer.compare is not None or any(
                            x.text.decode("utf-8", errors="replace") in self.shared_scalars
                            for c in rest for x in identifiers(c)):
                        break
                    filters = outer.filters + [self.t(c) for c in rest]
                    others = [(a, b) for a, b, _ in assigns if a != vname]
                    idx_var = idx_expr = None
                    if others:
                        iname, inode = others[0]
                        idx_expr = self.t(strip_parens(inode))
                        alias = self.alias_of(inode)
                        if alias is not None:
                            idx_expr = alias.value(var)
                        elif var is None or not _is_index_value(inode, var):
                            break
                        idx_var = iname
                    prelude = self.argext_prelude(n, [vnode, *rest])
                    if prelude is None:
                        break
                    if len(assigns) == 1:
                        break  # plain guarded min/max: a reduction
                    names = [a for a, _, _ in assigns]
                    stray = [o for nm in names for o in self.occurrences(nm)
                             if not (n.start_byte <= o.start_byte < n.end_byte)]
                    if stray or any(nm not in by_var or len(by_var[nm]) != 1 for nm in names):
                        break
                    f.argextremes.append(ArgExtreme(kind=kind[0], value_var=vname, index_var=idx_var,
                                                    index_expr=idx_expr if idx_expr != var else None,
                                                    expr=self.t(vnode), prelude=prelude, strict=kind[1],
                                                    filter=" && ".join(f"({x})" for x in filters) or None,
                                                    update=span_of(n), line=line_of(n)))
                    handled.update(names)
                    for nm in names:
                        self.claimed.update(w.node.id for w in by_var[nm])
                    break


def _is_index_value(node: Node | None, var: str) -> bool:
    """``node`` is the loop index ``var`` itself or a cast or conversion of it (``static_cast<long>(i)``,
    ``(long)i``, ``long(i)``)."""
    n = strip_parens(node)
    n = strip_parens(conversion_operand(n)) or n
    return n.type == "identifier" and n.text == var.encode("utf-8") if n is not None else False
