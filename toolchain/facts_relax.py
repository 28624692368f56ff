"""Relaxation loops: an array relaxed by min (or max) along a graph's edges until nothing changes.

See :mod:`parevo.toolchain.facts_graph` for the shape and why the fixpoint does not depend on the order;
:func:`relaxation_loop` reads it from a site's nodes.
"""

from __future__ import annotations

from typing import Literal

from tree_sitter import Node

from .facts_graph import GraphReader, local_decls, mentions_any, subscript_of
from .loop_body import collect_body, norm
from .models import Relaxation
from .site import ParsedSite
from .syntax import block_statements, captures, condition_value, identifiers, inside, operator_of, span_of, strip_parens


class RelaxationReader(GraphReader):
    """Reads a relaxation loop (:func:`relaxation_loop`)."""

    def relaxation(self) -> Relaxation | None:
        loop, src, why = self.site.loop_node, self.src, self.why
        if loop.type not in ("while_statement", "do_statement"):
            why.no("it is not a `while (changed)` loop", loop)
            return None
        cond = strip_parens(condition_value(loop.child_by_field_name("condition")))
        body = loop.child_by_field_name("body")
        if cond is None or cond.type != "identifier" or body is None:
            why.no("its condition is not a single flag", loop)
            return None
        flag = self.t(cond)
        fd = self.site.decl_of(flag)
        if fd is None or not fd.type.is_bool:
            why.no(f"`{flag}` is not a bool declared before the loop", loop)
            return None
        stmts = block_statements(body)
        if len(stmts) != 2 or not self._assigns(stmts[0], flag, "false") or stmts[1].type != "for_statement":
            why.no(f"its body is not `{flag} = false;` followed by one `for` loop", loop)
            return None
        sweep = stmts[1]
        from .loop_header import read_for_header
        h = read_for_header(sweep, src, self.site.reader, self.site.decl_of)
        if h.problem or h.step != 1 or h.declared_outside or not h.index_var:
            why.no("the sweep is not a counted `for` loop stepping by one", sweep)
            return None
        v = h.index_var
        sbody = sweep.child_by_field_name("body")
        ev = collect_body(sbody, src)
        if ev.exits or ev.throws or ev.streams or ev.lambdas:
            why.no("the sweep leaves early, throws, does I/O or holds a lambda", sweep)
            return None
        bad = self.calls_ok(sbody, set())
        if bad is not None:
            why.no(f"the sweep calls `{self.t(bad.child_by_field_name('function'))}`", bad)
            return None
        locals_ = local_decls(sbody, src)
        stores, sets = [], []
        for w in ev.writes:
            tg = w.target
            if tg.kind == "scalar" and tg.name in locals_:
                continue
            if tg.kind == "scalar" and tg.name == flag and w.op == "=" and strip_parens(w.value) is not None \
                    and strip_parens(w.value).type == "true":
                sets.append(w)
                continue
            if tg.kind == "array" and w.op == "=" and len(tg.indices) == 1 and tg.name.isidentifier():
                stores.append(w)
                continue
            why.no(f"the sweep writes `{self.t(tg.node)}` at line {w.node.start_point[0] + 1}", w.node)
            return None
        if len(stores) != 1 or len(sets) != 1:
            why.no("the sweep does not store one element and set the flag once", sweep)
            return None
        st, fs = stores[0], sets[0]
        L = st.target.name
        ix = strip_parens(st.target.indices[0])
        if ix.type != "identifier" or self.t(ix) != v:
            why.no(f"the sweep stores `{self.t(st.target.node)}`, not the element of its own index `{v}`", st.node)
            return None
        if not st.guards or not fs.guards or st.guards[-1][0].id != fs.guards[-1][0].id or st.guards[-1][1]:
            why.no("the store and the flag are not set together under one `if`", st.node)
            return None
        ifs = st.guards[-1][0]
        if len(block_statements(ifs.child_by_field_name("consequence"))) != 2 or \
                ifs.child_by_field_name("alternative") is not None:
            why.no("the guarding `if` does more than store and set the flag", ifs)
            return None
        ld = self.site.decl_of(L)
        if ld is None or ld.type.kind not in ("vector", "array", "pointer") or ld.type.elem is None \
                or not ld.type.elem.is_integer:
            why.no(f"`{L}` is not an array of integers", st.node)
            return None
        c = condition_value(ifs.child_by_field_name("condition"))
        if c is None or c.type != "binary_expression" or operator_of(c, src) not in ("<", ">"):
            why.no("the guard is not a `<` or `>` comparison", ifs)
            return None
        a, b = strip_parens(c.child_by_field_name("left")), strip_parens(c.child_by_field_name("right"))
        target = st.target.node
        value = strip_parens(st.value)
        op = operator_of(c, src)
        kind: Literal["min", "max"] | None = None
        if norm(self.t(b)) == norm(self.t(target)) and norm(self.t(a)) == norm(self.t(value)):
            kind = "min" if op == "<" else "max"
        elif norm(self.t(a)) == norm(self.t(target)) and norm(self.t(b)) == norm(self.t(value)):
            kind = "max" if op == "<" else "min"
        sub = subscript_of(value, src) if value is not None else None
        if kind is None or sub is None or sub[0] != L or mentions_any(sub[1], {L}, src):
            why.no(f"the guard does not compare the stored element of `{L}` with the element it replaces", ifs)
            return None
        reads = [acc for acc in captures("[(subscript_expression) (call_expression)] @e", sbody).get("e", [])
                 if (s := subscript_of(acc, src)) is not None and s[0] == L and acc.id != target.id]
        if any(not inside(r, ifs.child_by_field_name("condition")) and not inside(r, value) for r in reads):
            why.no(f"the sweep reads `{L}` outside the relaxing `if`", sweep)
            return None
        if len([n for n in identifiers(sbody) if self.t(n) == flag]) != 1:
            why.no(f"the sweep reads `{flag}`", sweep)
            return None
        return Relaxation(flag=flag, flag_reset=span_of(stmts[0]), sweep=span_of(sweep), vertex=v, labels=L, kind=kind,
                          update_if=span_of(ifs), store=span_of(st.node), stored_value=span_of(value),
                          target=span_of(target), flag_set=span_of(fs.node), reads=[span_of(r) for r in reads],
                          do_while=loop.type == "do_statement")

    def _assigns(self, stmt: Node, name: str, value: str) -> bool:
        if stmt.type != "expression_statement" or not stmt.named_child_count:
            return False
        e = strip_parens(stmt.named_children[0])
        if e.type != "assignment_expression" or operator_of(e, self.src) != "=":
            return False
        left, right = strip_parens(e.child_by_field_name("left")), strip_parens(e.child_by_field_name("right"))
        return left is not None and left.type == "identifier" and self.t(left) == name and right is not None \
            and right.type == value


def relaxation_loop(site: ParsedSite, pure: frozenset[str]) -> tuple[Relaxation | None, str | None]:
    """The :class:`Relaxation` of ``site``'s loop, or ``(None, reason)`` (see the module docstring)."""
    r = RelaxationReader(site, pure)
    got = r.relaxation()
    return got, (None if got is not None else r.why.text)


__all__ = ["relaxation_loop"]
