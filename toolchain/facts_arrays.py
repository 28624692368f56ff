"""Array facts: writes at the loop index or at computed indices, reads, dependences.

Mixed into the facts analysis (:mod:`parevo.toolchain.facts`). A write
``a[i + c]`` (any subscript position holding the index at a constant offset)
belongs to one iteration; a read of the same array at another offset is a
loop-carried dependence with distance ``c - d`` (divided by the step); a read
at an unknown index of a written array is a possible dependence. Writes at
computed indices are a histogram when every one is an associative update and
the array is not otherwise read, a write conflict when one is a plain
assignment. ``out[i] = out[i-1] + e`` and ``a[i] += a[i-1]`` are scans.
A row-major write ``a[i * W + j]`` with ``j`` an inner loop index in ``[0, W)``
(:mod:`parevo.toolchain.facts_rows`) belongs to row ``i``: it counts as a write
at the loop index, and a read of ``a`` at any other subscript is a possible
loop-carried dependence.
"""

from __future__ import annotations

from tree_sitter import Node

from .facts_affine import NEVER, Affine, relation
from .facts_rows import row_major_width
from .loop_body import (
    Target,
    Write,
    element_accesses,
    element_parts,
    norm,
    target_of,
)
from .models import Access, Dependence, ReductionOp, Scan
from .syntax import line_of, mentions, span_of, strip_parens, value_used

_COMMUTATIVE = {"+": ReductionOp.ADD, "*": ReductionOp.MUL, "&": ReductionOp.BIT_AND,
                "|": ReductionOp.BIT_OR, "^": ReductionOp.BIT_XOR, "&&": ReductionOp.AND,
                "||": ReductionOp.OR}


#: The element of a range-for's own iteration (``x`` of ``for (auto& x : v)``).
OWN = Affine(coef=1)


class ArrayFacts:
    """Mixin: the array part of the analysis (needs ``f``, ``ev``, ``body``, ``private``, ``t``, ``offset``)."""

    def element_target(self, tg: Target) -> Target:
        """Writes through a range-for reference are writes at the index of the range."""
        f = self.f
        if f.range_var and self.range_ref and tg.kind in ("scalar", "field") and tg.name == f.range_var:
            return Target("array", f.range_expr or "", [], node=tg.node)
        return tg

    def arrays(self) -> None:
        """Record array writes and reads and check each written array."""
        f = self.f
        writes_by: dict[str, list[tuple[Write, Affine | None, int]]] = {}
        rows_by: dict[str, list[tuple[Write, str]]] = {}  # row-major writes: (write, subscript text)
        write_nodes: set[int] = set()
        assigned = {w.target.name for w in self.ev.writes if w.target.kind == "scalar"}
        for w in self.ev.writes:
            tg = self.element_target(w.target)
            if tg.kind in ("deref", "other"):
                if tg.name.split("[")[0].lstrip("*(") in self.private:
                    continue
                self.problems.append((f"the loop writes through `{tg.name}` at line {line_of(w.node) + 1}; parevo "
                                      "cannot tell which element that is", [line_of(w.node)]))
                continue
            if tg.kind != "array":
                continue
            if tg.name.split(".")[0].split("[")[0] in self.private:
                continue
            if tg.node is not None and self.keyed_access(tg.name, tg.node, True):  # facts_shared: `m[k]` on a shared std::map
                continue
            pos, off = None, None
            if not tg.indices and f.range_var:
                pos, off = 0, OWN
            for p, ix in enumerate(tg.indices):
                o = self.loc(ix)
                if o is not None and o.injective:
                    pos, off = p, o
                    break
            row = None
            if off is None and len(tg.indices) == 1 and f.index_var and tg.node is not None:
                row = row_major_width(tg.indices[0], tg.node, f.index_var, self.loop, self.src, assigned,
                                      self.reader)
            if row is not None:
                rows_by.setdefault(tg.name, []).append((w, norm(self.t(tg.indices[0]))))
            else:
                writes_by.setdefault(tg.name, []).append((w, off, pos if pos is not None else -1))
            if tg.node is not None and w.op == "=":
                write_nodes.add(tg.node.id)
                # `p[i].x = …`: the subscript under the field is part of the target, not a read
                for n in element_accesses(tg.node, self.src):
                    if target_of(n, self.src).name == tg.name:
                        write_nodes.add(n.id)
                        break
            value = self.t(w.value) if w.value is not None else None
            kind = "write" if w.op == "=" else "update"
            acc = Access(array=tg.name, index=", ".join(self.t(i) for i in tg.indices) or (f.range_var or ""),
                         kind=kind, op=w.op, value=value, line=line_of(w.node), span=span_of(w.node))
            if off is not None or row is not None:
                f.writes_at_index.append(acc)
                if off is not None and (off.coef != 1 or off.terms):  # a stride, a normalized loop's alias
                    self.note_packed_unaligned(tg.name, line_of(w.node))
                else:  # facts_shared: vector<bool>, bitset
                    self.note_packed(tg.name, off.const if off is not None else None, tg.node, line_of(w.node))
            else:
                f.writes_computed.append(acc)
        # reads: outermost subscripts that are not plain-assignment targets
        reads_by: dict[str, list[tuple[Node, Target]]] = {}
        for n in element_accesses(self.body, self.src):
            p = n.parent
            if p is not None and p.type == "field_expression":  # `a.at` of `a.at(i)`: look at the call
                p = p.parent if p.parent is not None and p.parent.type == "call_expression" else p
            pp = element_parts(p, self.src)
            if pp is not None and strip_parens(pp[0]) == n:
                continue
            if n.id in write_nodes:
                continue
            tg = target_of(n, self.src)
            if tg.kind != "array" or tg.name.split(".")[0] in self.private:
                continue
            if self.keyed_access(tg.name, n, False):
                continue
            reads_by.setdefault(tg.name, []).append((n, tg))
            f.reads.append(Access(array=tg.name, index=", ".join(self.t(i) for i in tg.indices), kind="read",
                                  line=line_of(n), span=span_of(n)))
        for name, ws in writes_by.items():
            self.check_array(name, ws, reads_by.get(name, []))
        for name, rws in rows_by.items():
            self.check_rows(name, rws, writes_by.get(name, []), reads_by.get(name, []))

    def check_rows(self, name: str, rws: list[tuple[Write, str]], others: list[tuple[Write, int | None, int]],
                   reads: list[tuple[Node, Target]]) -> None:
        """A row-major written array: other writes or reads at another subscript are dependences."""
        w0, sub0 = rws[0]
        if others:
            w1 = others[0][0]
            self.conflicts.append((f"write conflict: `{name}` is written row by row at `{sub0}` (line "
                                   f"{line_of(w0.node) + 1}) and also at `{self.t(w1.target.node)}` (line "
                                   f"{line_of(w1.node) + 1})", [line_of(w0.node), line_of(w1.node)]))
            return
        subs = {s for _w, s in rws}
        for n, tg in reads:
            if len(tg.indices) == 1 and norm(self.t(tg.indices[0])) in subs:
                continue
            desc = (f"loop-carried dependence: `{name}` is written at `{name}[{sub0}]` (line {line_of(w0.node) + 1}) "
                    f"and read at `{self.t(n)}` (line {line_of(n) + 1}): an iteration may read an element of "
                    "another row")
            self.f.dependences.append(Dependence(var=name, write_line=line_of(w0.node), read_line=line_of(n),
                                                 distance=None, description=desc))
            return

    def check_array(self, name: str, ws: list[tuple[Write, Affine | None, int]], reads: list[tuple[Node, Target]]):
        """Histogram, write conflict, scan or loop-carried dependence for one written array."""
        f = self.f
        computed = [w for w in ws if w[1] is None]
        at_index = [w for w in ws if w[1] is not None]
        own_targets = {w.target.node.id for w, _o, _p in ws if w.target.node is not None}
        other_reads = [(n, tg) for n, tg in reads if n.id not in own_targets and not any(
            w.target.node is not None and w.target.node.start_byte <= n.start_byte < w.target.node.end_byte
            and w.op != "=" for w, _o, _p in ws)]
        if computed:
            w0 = computed[0][0]
            plain = [w for w, _o, _p in computed if w.op == "="]
            if plain:
                w = plain[0]
                self.conflicts.append((f"write conflict: `{self.t(w.target.node)} = …` at line {line_of(w.node) + 1}: "
                                       "several iterations may write the same element, and the last writer decides "
                                       "the result", [line_of(w.node)]))
                return
            if at_index:
                self.conflicts.append((f"write conflict: `{name}` is written at the loop index (line "
                                       f"{line_of(at_index[0][0].node) + 1}) and at a computed index (line "
                                       f"{line_of(w0.node) + 1})", [line_of(at_index[0][0].node), line_of(w0.node)]))
                return
            # histogram: associative updates only; the array must not be read elsewhere
            extra = other_reads
            if extra:
                n, _tg = extra[0]
                self.problems.append((f"loop-carried dependence: `{name}` is updated at `{self.t(w0.target.node)}` "
                                      f"(line {line_of(w0.node) + 1}) and read at `{self.t(n)}` (line {line_of(n) + 1}): "
                                      "an iteration may read what another one wrote", [line_of(w0.node), line_of(n)]))
                return
            for w, _o, _p in computed:
                if value_used(w.node):
                    self.conflicts.append((f"write conflict: `{self.t(w.node)}` at line {line_of(w.node) + 1} uses the "
                                           f"value of `{self.t(w.target.node)}` right after updating it, which "
                                           "depends on the order of the iterations", [line_of(w.node)]))
                    return
            for w, _o, _p in computed:
                self.claimed.add(w.node.id)
            return
        # writes owned by their iteration: two of them must never name one element in different iterations
        pos = at_index[0][2]
        for j, (w1, o1, p1) in enumerate(at_index):
            for w2, o2, p2 in at_index[j + 1:]:
                rel = relation(o1, o2)
                if p1 != p2 or not (rel == 0 or rel == NEVER):
                    lines = sorted({line_of(w1.node), line_of(w2.node)})
                    self.problems.append((f"loop-carried dependence: `{name}` is written at `{self.t(w1.target.node)}`"
                                          f" and at `{self.t(w2.target.node)}` (lines "
                                          f"{', '.join(str(x + 1) for x in lines)}): different iterations may write "
                                          "the same element", lines))
                    return
        # scan form B: out[i] = out[i-1] + e, or out[i] += out[i-1]
        if self.match_carried_scan(name, at_index, other_reads):
            return
        for n, tg in other_reads:
            if pos >= len(tg.indices) and tg.indices:
                ro = None
            elif not tg.indices:
                ro = OWN  # range-for element
            else:
                ro = self.loc(tg.indices[pos])
            for w, wo, _p in at_index:
                rel = relation(wo, ro)
                if rel == 0 or rel == NEVER or (rel is None and self.outside_range(wo, ro)):
                    continue
                if isinstance(rel, int):
                    step = f.step or 1
                    if rel % step != 0:
                        continue
                    iters = rel // step
                    when = ("the value written by the previous iteration" if iters == 1 else
                            f"the value written {iters} iterations earlier" if iters > 1 else
                            "which the next iteration overwrites" if iters == -1 else
                            f"which an iteration {-iters} steps later overwrites")
                    desc = (f"loop-carried dependence: `{name}` at line {line_of(n) + 1} reads `{self.t(n)}`, {when} "
                            f"at line {line_of(w.node) + 1}")
                    f.dependences.append(Dependence(var=name, write_line=line_of(w.node), read_line=line_of(n),
                                                    distance=iters, description=desc))
                else:
                    desc = (f"loop-carried dependence: `{name}` is written at `{self.t(w.target.node)}` (line "
                            f"{line_of(w.node) + 1}) and read at `{self.t(n)}` (line {line_of(n) + 1}): an iteration "
                            "may read an element another iteration writes")
                    f.dependences.append(Dependence(var=name, write_line=line_of(w.node), read_line=line_of(n),
                                                    distance=None, description=desc))
                return

    def outside_range(self, wo: Affine | None, ro: Affine | None) -> bool:
        """A loop-invariant element ``ro`` that no iteration writes at ``wo = i + c``: the index ``i = ro - c`` it
        would need lies below the loop's lower bound (``a[k]`` against ``a[i]`` for ``i`` from ``k + 1``) or at or
        above an exclusive upper bound, by a known constant."""
        h = getattr(self, "header", None)
        if wo is None or ro is None or wo.coef != 1 or wo.terms or ro.coef != 0 or h is None or not h.bound_nodes:
            return False
        need = Affine(coef=0, terms=ro.terms, const=ro.const - wo.const)
        lo = self.loc(h.bound_nodes[0]) if self.f.step == 1 else None
        if lo is not None and lo.coef == 0 and lo.terms == need.terms and need.const < lo.const:
            return True
        hi = self.loc(h.bound_nodes[1]) if self.f.step == 1 and len(h.bound_nodes) > 1 and h.upper_exclusive else None
        return hi is not None and hi.coef == 0 and hi.terms == need.terms and need.const >= hi.const

    def match_carried_scan(self, name, at_index, other_reads) -> bool:
        """Recognise ``out[i] = out[i-1] OP e``, ``out[i+1] = out[i] OP e`` (any offset c written,
        c - 1 read) and ``a[i] += a[i-1]`` (inclusive scans)."""
        f = self.f
        if len(at_index) != 1 or f.index_var is None or f.step != 1:
            return False
        w, w_off, pos = at_index[0]
        if w_off is None or pos != 0 or w.guards or w.inner or len(other_reads) != 1:
            return False
        rn, rt = other_reads[0]
        if not rt.indices or len(rt.indices) != 1 or relation(w_off, self.loc(rt.indices[0])) != 1:
            return False
        if not self.own_element(w_off) and w.op != "=":
            return False
        if not (w.node.start_byte <= rn.start_byte < w.node.end_byte):
            return False
        if w.op == "+=" and strip_parens(w.value) == rn:
            self.f.scan = Scan(kind="inclusive", op=ReductionOp.ADD, expr=self.t(w.target.node), output=name,
                               carried=self.t(rn), in_place=True, line=line_of(w.node))
            self.claimed.add(w.node.id)
            return True
        if w.op != "=":
            return False
        v = strip_parens(w.value)
        if v is None or v.type != "binary_expression":
            return False
        op = self.t(v.child_by_field_name("operator"))
        a, b = strip_parens(v.child_by_field_name("left")), strip_parens(v.child_by_field_name("right"))
        if op not in _COMMUTATIVE or op in ("&&", "||"):
            return False
        other = b if a == rn else a if b == rn else None
        if other is None or mentions(other, name):
            return False
        self.f.scan = Scan(kind="inclusive", op=_COMMUTATIVE[op], expr=self.t(other), output=name,
                           carried=self.t(rn), target=self.t(w.target.node), line=line_of(w.node))
        self.claimed.add(w.node.id)
        return True
