"""Frontier loops: a container of vertices processed level by level (breadth-first search and its relatives).

See :mod:`parevo.toolchain.facts_graph` for the shape and why a level can run in parallel;
:func:`frontier_loop` reads it from a site's nodes.
"""

from __future__ import annotations

from tree_sitter import Node

from .facts_graph import GraphReader, local_decls, mentions_any, method_call, subscript_of, text_of
from .loop_body import collect_body
from .models import CsrEdges, Frontier, RecordVar
from .site import ParsedSite
from .syntax import (
    ancestor,
    block_statements,
    callee_name,
    captures,
    condition_value,
    declarator_layers,
    identifiers,
    inside,
    operator_of,
    span_of,
    strip_parens,
)


#: Queue templates, with their (pop, appends) methods: a queue loop is read level by level by
#: :mod:`parevo.toolchain.normalize_queue` before it reaches this module.
QUEUES = {
    "std::queue": ("pop", ("push", "emplace")),
    "queue": ("pop", ("push", "emplace")),
    "std::deque": ("pop_front", ("push_back", "emplace_back")),
    "deque": ("pop_front", ("push_back", "emplace_back")),
}


def queue_template(decl) -> str | None:
    """The template of a declared queue (a key of :data:`QUEUES`: ``std::queue``, ``std::deque``), else None."""
    if decl is None:
        return None
    t = decl.type
    name = t.name if t.kind == "unsupported" else t.container
    return name if name in QUEUES else None


def nonempty_test(cond: Node | None, src: bytes) -> str | None:
    """``F`` when ``cond`` is ``!F.empty()``, ``F.size() > 0``, ``F.size() != 0``, ``0 < F.size()`` or ``F.size()``."""
    c = strip_parens(cond)
    if c is None:
        return None
    if c.type == "unary_expression" and c.child_count == 2 and c.children[0].type == "!":
        m = method_call(c.children[1], src)
        return m[0] if m and m[1] == "empty" and not m[2] else None
    m = method_call(c, src)
    if m and m[1] == "size" and not m[2]:
        return m[0]
    if c.type == "binary_expression":
        op = operator_of(c, src)
        a, b = c.child_by_field_name("left"), c.child_by_field_name("right")
        for x, y, ops in ((a, b, (">", "!=")), (b, a, ("<", "!="))):
            m = method_call(x, src)
            if m and m[1] == "size" and not m[2] and op in ops and text_of(strip_parens(y), src).strip() == "0":
                return m[0]
    return None


def _swap_of(stmt: Node, frontier: str, src: bytes) -> str | None:
    """``N`` when ``stmt`` moves ``N`` into the frontier: ``F.swap(N)``, ``N.swap(F)``,
    ``std::swap(F, N)``, ``F = N``, ``F = std::move(N)``."""
    if stmt.type != "expression_statement" or not stmt.named_child_count:
        return None
    e = strip_parens(stmt.named_children[0])
    m = method_call(e, src)
    if m and m[1] == "swap" and len(m[2]) == 1 and strip_parens(m[2][0]).type == "identifier":
        other = text_of(strip_parens(m[2][0]), src)
        if m[0] == frontier:
            return other
        if other == frontier:
            return m[0]
    if e.type == "call_expression" and callee_name(e) == "swap":
        args = [strip_parens(a) for a in e.child_by_field_name("arguments").named_children if a.type != "comment"]
        if len(args) == 2 and all(a.type == "identifier" for a in args):
            names = [text_of(a, src) for a in args]
            if frontier in names and names[0] != names[1]:
                return names[1] if names[0] == frontier else names[0]
    if e.type == "assignment_expression" and operator_of(e, src) == "=":
        left, right = strip_parens(e.child_by_field_name("left")), strip_parens(e.child_by_field_name("right"))
        if left is not None and left.type == "identifier" and text_of(left, src) == frontier:
            if right is not None and right.type == "call_expression" and callee_name(right) == "move":
                args = right.child_by_field_name("arguments").named_children
                right = strip_parens(args[0]) if len(args) == 1 else None
            if right is not None and right.type == "identifier":
                return text_of(right, src)
    return None


def _declares(stmt: Node, name: str, src: bytes) -> bool:
    """``stmt`` is a declaration of ``name`` without an initializer (or with ``{}``)."""
    if stmt.type != "declaration":
        return False
    for d in stmt.children_by_field_name("declarator"):
        layers, nm = declarator_layers(d)
        if nm is not None and text_of(nm, src) == name:
            if d.type == "init_declarator":
                v = d.child_by_field_name("value")
                return v is not None and v.type == "initializer_list" and v.named_child_count == 0
            return d.type == "identifier"
    return False


class FrontierReader(GraphReader):
    """Reads a frontier loop (:func:`frontier_loop`)."""

    def frontier(self) -> Frontier | None:
        loop, src = self.site.loop_node, self.src
        if loop.type != "while_statement":
            self.why.no("it is not a `while (!frontier.empty())` loop", loop)
            return None
        F = nonempty_test(condition_value(loop.child_by_field_name("condition")), src)
        body = loop.child_by_field_name("body")
        if F is None or body is None:
            self.why.no("its condition is not a test that a frontier container is non-empty", loop)
            return None
        qt = queue_template(self.site.decl_of(F))
        if qt is not None:
            pop, appends = QUEUES[qt]
            self.why.no(f"`{F}` is a queue: parevo reads it level by level when the body starts with `T u = "
                        f"{F}.front(); {F}.{pop}();` (a copy of the vertex) and uses `{F}` otherwise only in "
                        f"`{F}.{appends[0]}(v)`", loop)
            return None
        stmts = block_statements(body)
        level = [s for s in stmts if s.type in ("for_range_loop", "for_statement") and self._over(s, F) is not None]
        if len(level) != 1:
            self.why.no(f"its body does not hold exactly one loop over `{F}`", loop)
            return None
        lv = level[0]
        k = stmts.index(lv)
        swaps = [(j, _swap_of(s, F, src)) for j, s in enumerate(stmts) if j > k]
        swaps = [(j, n) for j, n in swaps if n is not None]
        if len(swaps) != 1:
            self.why.no(f"its body does not move the next frontier into `{F}` once after the loop over it", loop)
            return None
        N = swaps[0][1]
        fresh = [j for j, s in enumerate(stmts[:k]) if _declares(s, N, src)]
        cleared = [j for j, s in enumerate(stmts[:k])
                   if s.type == "expression_statement" and (m := method_call(s.named_children[0], src))
                   and m[0] == N and m[1] == "clear" and not m[2]]
        if not fresh and not cleared:
            self.why.no(f"`{N}` is not declared or cleared at the start of each level", loop)
            return None
        for j, s in enumerate(stmts):
            if j in (k, swaps[0][0]) or j in fresh or j in cleared:
                continue
            if mentions_any(s, {F, N}, src) or captures("[(for_statement) (for_range_loop) (while_statement) "
                                                         "(do_statement) (return_statement) (break_statement) "
                                                         "(goto_statement)] @x", s):
                self.why.no(f"a statement of the level (line {s.start_point[0] + 1}) uses `{F}` or `{N}`, "
                            "loops or leaves the loop", s)
                return None
        got = self._level(lv, F, N)
        if got is not None and fresh:
            got.next_is_local = True
        return got

    def _over(self, s: Node, F: str) -> tuple[str, str | None, str | None, str | None] | None:
        """``(vertex, vertex_decl, index, index_type)`` when ``s`` iterates over the container ``F``."""
        src = self.src
        if s.type == "for_range_loop":
            right = strip_parens(s.child_by_field_name("right"))
            nm = declarator_layers(s.child_by_field_name("declarator"))[1]
            if right is None or right.type != "identifier" or self.t(right) != F or nm is None:
                return None
            lparen = next((c for c in s.children if c.type == "("), None)
            start = lparen.end_byte if lparen is not None else s.start_byte
            decl = src[start:s.child_by_field_name("declarator").end_byte].decode("utf-8", errors="replace").strip()
            return self.t(nm), decl, None, None
        from .loop_header import read_for_header  # the header reader needs the site's declarations
        h = read_for_header(s, src, self.site.reader, self.site.decl_of)
        if h.problem or h.step != 1 or (h.lower or "").strip() != "0" or h.declared_outside:
            return None
        up = h.bound_nodes[1] if len(h.bound_nodes) > 1 else None
        m = method_call(up, src)
        if not m or m[0] != F or m[1] != "size" or m[2] or h.upper != self.t(up):
            return None
        first = block_statements(s.child_by_field_name("body"))[:1]
        if not first or first[0].type != "declaration":
            return None
        decls = first[0].children_by_field_name("declarator")
        if len(decls) != 1 or decls[0].type != "init_declarator":
            return None
        val = decls[0].child_by_field_name("value")
        sub = subscript_of(strip_parens(val), src) if val is not None else None
        nm = declarator_layers(decls[0])[1]
        if sub is None or sub[0] != F or self.t(strip_parens(sub[1])) != h.index_var or nm is None:
            return None
        uses = [n for n in identifiers(s.child_by_field_name("body")) if self.t(n) == h.index_var]
        if len(uses) != 1:
            return None
        return self.t(nm), None, h.index_var, h.index_type

    def _level(self, lv: Node, F: str, N: str) -> Frontier | None:
        src, why = self.src, self.why
        vertex, vdecl, index, itype = self._over(lv, F)  # type: ignore[misc]
        lbody = lv.child_by_field_name("body")
        pushes = [c for c in captures("(call_expression) @c", lbody).get("c", [])
                  if (m := method_call(c, src)) and m[0] == N]
        if len(pushes) != 1 or method_call(pushes[0], src)[1] not in ("push_back", "emplace_back"):
            why.no(f"the loop over `{F}` does not append to `{N}` exactly once with `push_back`", lv)
            return None
        push = pushes[0]
        args = method_call(push, src)[2]
        if len(args) != 1 or strip_parens(args[0]).type != "identifier":
            why.no(f"the value appended to `{N}` is not a variable", push)
            return None
        v = self.t(strip_parens(args[0]))
        push_stmt = push.parent
        block = push_stmt.parent if push_stmt is not None else None
        ifs = block.parent if block is not None and block.type == "compound_statement" else block
        if (push_stmt is None or push_stmt.type != "expression_statement" or ifs is None or ifs.type != "if_statement"
                or ifs.child_by_field_name("alternative") is not None
                or ifs.child_by_field_name("consequence") is None
                or ifs.child_by_field_name("consequence").id != block.id):
            why.no(f"the append to `{N}` is not a statement of an `if` without `else`", push)
            return None
        locals_ = local_decls(lbody, src)
        if index is None and vertex not in locals_:
            locals_[vertex] = (lv, lv.child_by_field_name("declarator"))
        if v not in locals_:
            why.no(f"`{v}` is not declared inside the loop over `{F}`", push)
            return None
        ev = collect_body(lbody, src)
        if ev.exits:
            n = ev.exits[0][0]
            why.no(f"the loop over `{F}` leaves early at line {n.start_point[0] + 1}", n)
            return None
        if ev.throws or ev.streams or ev.lambdas:
            why.no(f"the loop over `{F}` throws, does I/O or holds a lambda", lv)
            return None
        bad = self.calls_ok(lbody, {push.id})
        if bad is not None:
            why.no(f"the loop over `{F}` calls `{self.t(bad.child_by_field_name('function'))}`, whose effects parevo "
                   "cannot see", bad)
            return None
        # writes: locals of the level loop, or elements A[v] inside the claiming block
        written: list[str] = []
        for w in ev.writes:
            tg = w.target
            if tg.kind == "scalar" and tg.name in locals_:
                continue
            in_block = inside(w.node, block)
            if tg.kind == "array" and in_block and len(tg.indices) == 1 and strip_parens(tg.indices[0]).type == \
                    "identifier" and self.t(strip_parens(tg.indices[0])) == v and tg.name.isidentifier():
                if tg.name not in written:
                    written.append(tg.name)
                continue
            why.no(f"the loop over `{F}` writes `{self.t(w.target.node)}` at line {w.node.start_point[0] + 1}: only "
                   f"elements `[{v}]` of the vertex appended to `{N}` may be written, in its `if` block", w.node)
            return None
        if not written:
            why.no(f"the `if` block that appends `{v}` writes no array at `[{v}]`", ifs)
            return None
        for name in written:
            d = self.site.decl_of(name)
            if d is None or d.type.kind not in ("vector", "array"):
                why.no(f"`{name}` is not a std::vector or std::array declared before the loop (parevo needs its size "
                       "as the vertex range)", ifs)
                return None
        # the block: assignments (and the append) only
        for s in block_statements(block):
            if s.type != "expression_statement":
                why.no(f"the `if` block that appends `{v}` holds a statement other than assignments", s)
                return None
        # reads of written arrays: at [v] or [u]
        allowed_idx = {v, vertex}
        for acc in captures("[(subscript_expression) (call_expression)] @e", lbody).get("e", []):
            sub = subscript_of(acc, src)
            if sub is None or sub[0] not in written:
                continue
            ix = strip_parens(sub[1])
            if ix.type != "identifier" or self.t(ix) not in allowed_idx:
                why.no(f"`{self.t(acc)}` reads `{sub[0]}` at an element other than `{v}` or `{vertex}`", acc)
                return None
            if self.t(ix) == vertex and inside(acc, condition_value(ifs.child_by_field_name("condition"))):
                why.no(f"the condition of the `if` reads `{sub[0]}[{vertex}]`: it must depend on `{v}` only", acc)
                return None
        cond = ifs.child_by_field_name("condition")
        cond_locals = {self.t(n) for n in identifiers(cond)} & set(locals_)
        if cond_locals - {v}:
            why.no(f"the condition of the `if` uses `{', '.join(sorted(cond_locals - {v}))}`: it must depend on "
                   f"`{v}` and loop-invariant data only", ifs)
            return None
        used = {self.t(n) for n in identifiers(block)} | {v}
        record = []
        for name, (holder, decl) in sorted(locals_.items(), key=lambda kv: kv[1][1].start_byte):
            if name not in used:
                continue
            if name == vertex and index is None and holder.id == lv.id:
                record.append(RecordVar(name=name, type=f"std::decay_t<decltype({F})>::value_type"))
                continue
            d = self.site.reader.decl(holder, decl)
            if not d.value_text or d.reference:
                why.no(f"`{name}` is declared with `auto` or as a reference: parevo needs its type to keep it "
                       "for the parallel level", holder)
                return None
            record.append(RecordVar(name=name, type=d.value_text))
        domain = written[0]
        if vdecl is None:  # `int u = frontier[k];`: the declaration's type
            holder, decl = locals_[vertex]
            d = self.site.reader.decl(holder, decl)
            vdecl = f"{d.value_text} {vertex}" if d.value_text and not d.reference else None
        outside = self._loop_outside(lv, F, N)
        return Frontier(frontier=F, next=N, level_loop=span_of(lv), vertex=vertex, vertex_decl=vdecl, index=index,
                        index_type=itype, claim_if=span_of(ifs), claim_block=span_of(block),
                        push=span_of(push_stmt), pushed=v, written=written, domain=domain, record=record,
                        vertex_reads=self._vertex_reads(block, push_stmt, vertex, v, set(locals_)),
                        edges=self._csr(lv, index, vertex, v, ifs, outside),
                        own_condition=self._own_condition(ifs, block, v, written, outside),
                        uniform_reads=self._uniform_reads(block, push_stmt, vertex, v, written))

    def _loop_outside(self, lv: Node, F: str, N: str) -> tuple[set[str], set[str]] | None:
        """``(names written, names declared)`` anywhere in the ``while`` loop's body, or None
        when a statement of the body but the level loop calls a function that is not pure (nor a method of
        ``F`` or ``N``, nor ``swap``/``move`` of them): its writes are not seen."""
        body = self.site.loop_node.child_by_field_name("body")
        for st in block_statements(body):
            if st.id == lv.id:
                continue
            for c in captures("(call_expression) @c", st).get("c", []):
                if ancestor(c, {"decltype"}) is not None:
                    continue  # not evaluated
                m = method_call(c, self.src)
                if m and m[0] in (F, N):
                    continue
                args = c.child_by_field_name("arguments")
                if callee_name(c) in ("swap", "move") and args is not None and all(
                        strip_parens(a).type == "identifier" and self.t(strip_parens(a)) in (F, N)
                        for a in args.named_children):
                    continue
                if (callee_name(c) or "") not in self.pure:
                    return None
        return {w.target.name for w in collect_body(body, self.src).writes}, set(local_decls(body, self.src))

    def _csr(self, lv: Node, index: str | None, u: str, v: str, ifs: Node,
             outside: tuple[set[str], set[str]] | None) -> CsrEdges | None:
        """The :class:`CsrEdges` of the level loop ``lv`` (frontier vertex ``u``, claimed vertex ``v``)."""
        if outside is None:
            return None
        writes, declared = outside
        stmts = block_statements(lv.child_by_field_name("body"))
        if index is not None:
            stmts = stmts[1:]  # `int u = frontier[k];`
        if len(stmts) != 1 or stmts[0].type != "for_statement":
            return None
        el = stmts[0]
        from .loop_header import read_for_header
        h = read_for_header(el, self.src, self.site.reader, self.site.decl_of)
        if h.problem or h.step != 1 or h.declared_outside or not h.upper_exclusive or len(h.bound_nodes) != 2 \
                or (h.index_type or "decltype").startswith("decltype"):
            return None  # `auto e`: the rewrite keeps the edge positions in a vector of the index's type
        e = h.index_var
        for b in h.bound_nodes:  # LO and HI: the frontier vertex and data the loop does not write
            for n in identifiers(b):
                name = self.t(n)
                if name != u and (name in writes or name in declared):
                    return None
            if captures("[(assignment_expression) (update_expression) (lambda_expression)] @x", b):
                return None
        body = block_statements(el.child_by_field_name("body"))
        if len(body) != 2 or body[0].type != "declaration" or body[1].id != ifs.id:
            return None
        decls = body[0].children_by_field_name("declarator")
        if len(decls) != 1 or decls[0].type != "init_declarator":
            return None
        nm = declarator_layers(decls[0])[1]
        val = decls[0].child_by_field_name("value")
        sub = subscript_of(strip_parens(val), self.src) if val is not None else None
        if nm is None or self.t(nm) != v or sub is None or strip_parens(sub[1]).type != "identifier" \
                or self.t(strip_parens(sub[1])) != e:
            return None
        adj = sub[0]
        d = self.site.decl_of(adj)
        if d is None or d.type.kind not in ("vector", "array") or adj in writes or adj in declared:
            return None
        if sum(1 for n in identifiers(el.child_by_field_name("body")) if self.t(n) == e) != 1:
            return None  # `e` is read only in `ADJ[e]`
        return CsrEdges(index=e, index_type=h.index_type, adjacency=adj, lower=span_of(h.bound_nodes[0]),
                        upper=span_of(h.bound_nodes[1]), loop=span_of(el))

    def _own_condition(self, ifs: Node, block: Node, v: str, written: list[str],
                       outside: tuple[set[str], set[str]] | None) -> list[str] | None:
        """The arrays the claiming condition reads, when it depends on ``v``'s own state only (see
        :class:`Frontier`), else None."""
        if outside is None:
            return None
        writes, declared = outside
        for name in written:
            t = self.site.decl_of(name).type
            if t.kind == "vector" and t.elem is not None and t.elem.scalar_class == "bool":
                return None
        cond = condition_value(ifs.child_by_field_name("condition"))
        if cond is None or captures("[(pointer_expression) (field_expression) (assignment_expression) "
                                    "(update_expression) (lambda_expression) (new_expression) "
                                    "(this)] @x", cond):
            return None
        arrays: list[str] = []
        subscripted: set[int] = set()
        for acc in captures("(subscript_expression) @s", cond).get("s", []):
            sub = subscript_of(acc, self.src)
            ix = strip_parens(sub[1]) if sub is not None else None
            if ix is None or ix.type != "identifier" or self.t(ix) != v:
                return None
            d = self.site.decl_of(sub[0])
            if d is None or d.type.kind not in ("vector", "array"):
                return None
            if sub[0] not in arrays:
                arrays.append(sub[0])
            subscripted.add(ix.id)
        body_writes = {w.target.name for w in collect_body(self.site.loop_node.child_by_field_name("body"),
                                                            self.src).writes if not inside(w.node, block)}
        for n in identifiers(cond):
            name = self.t(n)
            if name == v:
                continue
            if name in declared or name in body_writes:
                return None
        return arrays

    def _vertex_reads(self, block: Node, push: Node, u: str, v: str, locals_: set[str]) -> list[str] | None:
        """The texts of the ``X[u]`` the claiming block reads, when it reads the frontier vertex ``u`` only
        through them and no other local of the loop over the frontier but ``v``; else None."""
        reads: list[str] = []
        inside_reads: set[int] = set()
        for st in block_statements(block):
            if st.id == push.id:
                continue
            for acc in captures("[(subscript_expression) (call_expression)] @e", st).get("e", []):
                sub = subscript_of(acc, self.src)
                ix = strip_parens(sub[1]) if sub is not None else None
                if ix is not None and ix.type == "identifier" and self.t(ix) == u:
                    if sub[0] in locals_:
                        return None
                    text = "".join(self.t(acc).split())
                    if text not in reads:
                        reads.append(text)
                    inside_reads.update(n.id for n in identifiers(acc))
            for n in identifiers(st):
                name = self.t(n)
                if name in locals_ and name != v and n.id not in inside_reads:
                    return None
        return reads

    def _uniform_reads(self, block: Node, push: Node, u: str, v: str, written: list[str]) -> bool:
        """True when a claimed vertex's ``X[v]`` ends equal to every other's for each ``X[u]`` the claiming block
        reads (see :class:`Frontier`): each such ``X`` is written by the block only in statements ``X[v] = E;``
        of its top level, ``E`` reading nothing but the block's ``Y[u]``, literals and operators."""
        src = self.src
        arrays: set[str] = set()
        for acc in captures("(subscript_expression) @s", block).get("s", []):
            sub = subscript_of(acc, src)
            ix = strip_parens(sub[1]) if sub is not None else None
            if ix is not None and ix.type == "identifier" and self.t(ix) == u:
                arrays.add(sub[0])
        if not arrays <= set(written):
            return False
        top = {st.id for st in block_statements(block) if st.id != push.id}
        for w in collect_body(block, src).writes:
            if w.target.name not in arrays:
                continue
            ix = strip_parens(w.target.indices[0]) if len(w.target.indices) == 1 else None
            if (w.op != "=" or w.target.kind != "array" or w.stmt.id not in top or ix is None
                    or ix.type != "identifier" or self.t(ix) != v or w.value is None):
                return False
            if captures("[(call_expression) (assignment_expression) (update_expression) (pointer_expression) "
                        "(field_expression) (lambda_expression) (this)] @x", w.value):
                return False
            subs = captures("(subscript_expression) @s", w.value).get("s", [])
            inside_subs: set[int] = set()
            for acc in subs:
                sub = subscript_of(acc, src)
                ix = strip_parens(sub[1]) if sub is not None else None
                if ix is None or ix.type != "identifier" or self.t(ix) != u or sub[0] not in arrays:
                    return False
                inside_subs.update(n.id for n in identifiers(acc))
            if any(n.id not in inside_subs for n in identifiers(w.value)):
                return False
        return True

    # ------------------------------------------------------------------ relaxation


def frontier_loop(site: ParsedSite, pure: frozenset[str]) -> tuple[Frontier | None, str | None]:
    """The :class:`Frontier` of ``site``'s loop, or ``(None, reason)`` (see the module docstring).

    ``pure`` names the functions the loop may call (side-effect free).
    """
    r = FrontierReader(site, pure)
    got = r.frontier()
    return got, (None if got is not None else r.why.text)


__all__ = ["QUEUES", "frontier_loop", "nonempty_test", "queue_template"]
