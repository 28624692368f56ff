"""Size classes of the input plan: which lengths and integer parameters are one size, and the
size expression each class gets.

:func:`solve_sizes` turns the :class:`~parevo.toolchain.usage.UsageAnalysis` of
a function (length requirements, loop bounds, ties) into size classes
(union-find over :class:`~parevo.toolchain.sizes.Sym`): the selected loop
nest's bound is ``n``, a class indexed by others gets the maximum of their
requirements, the rest ``m`` or ``inner``; an input spec's expressions win.
Cycles among classes are broken with :mod:`graphlib` (the class of the cycle
declared last gets ``m``). :func:`generation_order` orders size variables and
parameters so each is generated after what it needs (:mod:`graphlib`, first
declared first among the ready ones).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from .ctypes import Decl
from .inputplan import ParamPlan, SizeVar
from .inputspec import FunctionSpec
from .models import HarnessError
from .site import ParsedSite
from .sizes import Call, Expr, ExprError, Name, Num, Poly, Ref, Sym, expr_refs, map_expr, parse_expr, render_expr
from .usage import UsageAnalysis


class _UF:
    """Union-find over size symbols (the first of a union stays the representative)."""

    def __init__(self):
        self.parent: dict[Sym, Sym] = {}

    def find(self, x: Sym) -> Sym:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Sym, b: Sym) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


@dataclass
class Sizing:
    """The size classes of one function (see the module docstring).

    ``sizes`` are the size variables (``S0``…, one per class, in declaration
    order); ``size_params`` the integer parameters that are sizes,
    ``index_scalars`` those used as an index into a container (target, level);
    ``fixed`` the levels of ``std::array`` (their length is in the type);
    ``min_n`` the smallest n the checks may use; ``notes`` for the report.
    """

    types: dict[str, Decl]
    uf: _UF
    names: dict[Sym, str]
    why: dict[Sym, str]
    fixed: set[Sym]
    sizes: list[SizeVar]
    size_params: set[str]
    index_scalars: dict[str, list[tuple[str, int]]]
    min_n: int = 0
    notes: list[str] = field(default_factory=list)

    def var(self, sym: Sym) -> str | None:
        """The size variable of ``sym`` (None for a fixed ``std::array`` level)."""
        return None if sym in self.fixed else self.names[self.uf.find(sym)]

    def reason(self, sym: Sym) -> str:
        """Why ``sym``'s class has its size."""
        return self.why[self.uf.find(sym)]

    def bound_of(self, target: str, level: int) -> str | None:
        """The size (a variable, or a ``std::array``'s literal length) of ``target`` at ``level``."""
        s = Sym.len(target, level)
        if s in self.fixed:
            t = self.types[target].type
            for _ in range(level):
                t = t.element_at(1)
            return t.length if t.length and t.length.isdigit() else None
        return self.names[self.uf.find(s)]


def solve_sizes(site: ParsedSite, an: UsageAnalysis, types: dict[str, Decl], fspec: FunctionSpec,
                where: str) -> Sizing:
    """The size classes of ``site``'s function from its usage analysis and the input spec.

    Raises:
        HarnessError: the spec's size expression for a parameter is malformed or names an
            unknown parameter (the message names the spec file and key).
    """
    notes: list[str] = []
    params = site.params

    def is_int_scalar(p: str) -> bool:
        return types[p].type.is_integer and types[p].type.depth == 0

    # ---- size parameters: integer scalars used in bounds, ties, or size-like requirements
    size_params: set[str] = set()
    for excl, _, _ in an.bounds:
        if excl is not None:
            size_params |= {s.param for s in excl.syms() if s.kind == "val"}
    for a, b in an.ties:
        size_params |= {s.param for s in (a, b) if s.kind == "val"}
    for r in an.reqs:
        if r.from_scalar is None:
            size_params |= {s.param for s in r.poly.syms() if s.kind == "val"}
    for pname, ps in fspec.params.items():
        if isinstance(ps.value, str) and is_int_scalar(pname):
            size_params.add(pname)
        for text in (ps.length, ps.inner_length, ps.value if isinstance(ps.value, str) else None):
            if text is None:
                continue
            try:
                names, _, _ = expr_refs(parse_expr(text))
            except ExprError:
                continue  # reported with its key below
            size_params |= {nm for nm in names if nm in types and is_int_scalar(nm)}
    index_scalars: dict[str, list[tuple[str, int]]] = {
        k: v for k, v in an.scalar_index.items() if k not in size_params and is_int_scalar(k)}
    reqs = [r for r in an.reqs if r.from_scalar is None or r.from_scalar in size_params]

    # ---- symbols and ties
    uf = _UF()
    sym_order: list[Sym] = []
    fixed_levels: set[Sym] = set()
    for prm in params:
        t = types[prm.name].type
        if t.depth == 0:
            if prm.name in size_params:
                sym_order.append(Sym.val(prm.name))
            continue
        cur = t
        for lvl in range(t.depth):
            s = Sym.len(prm.name, lvl)
            if cur.kind == "array":
                fixed_levels.add(s)
            else:
                sym_order.append(s)
            cur = cur.element_at(1) if cur.depth > 0 else cur
    known = set(sym_order)
    for s in sym_order:
        uf.find(s)
    for a, b in an.ties:
        if a in known and b in known:
            uf.union(a, b)

    # ---- spec size expressions, in raw symbols
    spec_exprs: dict[Sym, Expr] = {}

    def raw(text, pname: str, key: str) -> Expr:
        try:
            e = parse_expr(text)
        except ExprError as exc:
            raise HarnessError(f"{where}: `{site.function_name}.{pname}.{key}`: {exc}") from None

        def f(node: Expr) -> Expr | None:
            if isinstance(node, Name):
                nm = node.name
                if nm in ("n", "m", "inner"):
                    return node
                if nm in types:
                    if is_int_scalar(nm):
                        return Ref(Sym.val(nm))
                    if types[nm].type.depth > 0:
                        return Ref(Sym.len(nm, 0))
                raise HarnessError(f"{where}: `{site.function_name}.{pname}.{key}` = {text!r}: unknown name "
                                   f"`{nm}` (use n, m, inner, a parameter name, len(p), last(p))")
            if isinstance(node, Call) and node.fn in ("len", "last"):
                arg = node.args[0]
                nm = arg.name if isinstance(arg, Name) and len(node.args) == 1 else render_expr(arg)
                if nm not in types or types[nm].type.depth == 0:
                    raise HarnessError(f"{where}: `{site.function_name}.{pname}.{key}` = {text!r}: "
                                       f"{node.fn}() needs a container parameter, not `{nm}`")
                return Ref(Sym.len(nm, 0)) if node.fn == "len" else Ref(Sym.last(nm))
            return None

        return map_expr(e, f)

    for pname, ps in fspec.params.items():
        t = types[pname].type
        if ps.length is not None:
            if t.depth == 0:
                raise HarnessError(f"{where}: `{site.function_name}.{pname}` is a scalar: use `value`, not `length`")
            spec_exprs[uf.find(Sym.len(pname, 0))] = raw(ps.length, pname, "length")
        if ps.inner_length is not None:
            if t.depth < 2:
                raise HarnessError(f"{where}: `{site.function_name}.{pname}` is not nested: `inner_length` "
                                   "needs a container of containers")
            spec_exprs[uf.find(Sym.len(pname, 1))] = raw(ps.inner_length, pname, "inner_length")
        if isinstance(ps.value, str):
            if not is_int_scalar(pname):
                raise HarnessError(f"{where}: `{site.function_name}.{pname}.value` = {ps.value!r}: a size "
                                   "expression is only allowed for an integer scalar")
            spec_exprs[uf.find(Sym.val(pname))] = raw(ps.value, pname, "value")
        elif ps.value is not None and pname in size_params and is_int_scalar(pname):
            spec_exprs[uf.find(Sym.val(pname))] = Num(int(ps.value))

    # ---- roots: the selected loop nest's bounds are n
    roots: set[Sym] = set()
    for excl, in_nest, _ in an.bounds:
        if in_nest and excl is not None:
            s = excl.single_symbol()
            if s is not None and s in known:
                roots.add(uf.find(s))
    if not roots:
        cand = next((s for s in sym_order if s.kind == "len" and s.level == 0), None) or (
            sym_order[0] if sym_order else None)
        if cand is not None and uf.find(cand) not in spec_exprs:
            roots.add(uf.find(cand))
            notes.append(f"the loop bound does not name a parameter; {sym_label(cand)} is the size n")

    # ---- class expressions
    classes: list[Sym] = []
    for s in sym_order:
        r = uf.find(s)
        if r not in classes:
            classes.append(r)
    cname = {c: f"S{i}" for i, c in enumerate(classes)}
    members: dict[Sym, list[Sym]] = {c: [] for c in classes}
    for s in sym_order:
        members[uf.find(s)].append(s)

    def name_of(sym: Sym) -> str:
        if sym.kind == "last":
            return f"last({sym.param})"
        if sym in fixed_levels:
            return "inner"  # not reached: requirements on fixed levels are dropped
        return cname[uf.find(sym)]

    def spelled(node: Expr) -> Expr | None:
        return parse_expr(name_of(node.sym)) if isinstance(node, Ref) else None

    min_n = 0
    class_expr: dict[Sym, Expr] = {}
    class_why: dict[Sym, str] = {}
    for c in classes:
        if c in spec_exprs:
            class_expr[c] = map_expr(spec_exprs[c], spelled)
            class_why[c] = "input spec"
            continue
        mine = [r for r in reqs if r.sym in members[c]]
        if c in roots:
            class_expr[c] = Name("n")
            class_why[c] = "bound of the selected loop"
            for r in mine:
                if r.poly.is_const:
                    min_n = max(min_n, r.poly.const_value)
            continue
        polys: list[Poly] = []
        for r in mine:
            syms = r.poly.syms()
            if any(s in fixed_levels or (s.kind != "last" and s not in known) for s in syms):
                continue
            if any(s.kind != "last" and uf.find(s) == c for s in syms):
                continue  # self-referential (a[i] with i < a.size())
            poly = r.poly.without_negative_const()
            if not poly.nonneg() or (poly.is_const and poly.const_value <= 0):
                continue
            polys.append(poly)
        kept: list[Poly] = []
        for p in polys:
            if any(q.dominates(p) for q in kept):
                continue
            kept = [q for q in kept if not p.dominates(q)] + [p]
        if kept:
            rendered = [p.to_expr(name_of) for p in kept]
            class_expr[c] = rendered[0] if len(rendered) == 1 else Call("max", tuple(rendered))
            class_why[c] = "indexed: " + "; ".join(sorted({r.text for r in mine if r.poly.without_negative_const()
                                                              in kept}))[:200]
        else:
            inner_level = c.kind == "len" and c.level > 0
            class_expr[c] = Name("inner" if inner_level else "m")
            class_why[c] = "nothing determines it: default " + ("inner length" if inner_level else
                                                                 "secondary size m")

    # ---- break dependency cycles among classes: the member of a cycle declared last gets m
    by_name = {v: k for k, v in cname.items()}
    while True:
        graph = {c: {by_name[d] for d in expr_refs(class_expr[c])[0] if d in by_name} for c in classes}
        try:
            TopologicalSorter(graph).prepare()
            break
        except CycleError as exc:
            cycle = set(exc.args[1])
            c = max(cycle, key=classes.index)
            class_expr[c] = Name("m")
            class_why[c] = "circular size requirements: default m"
            notes.append(f"circular size requirements around {sym_label(c)}; it gets m")

    sizes = [SizeVar(name=cname[c], expr=render_expr(class_expr[c]), covers=[str(x) for x in members[c]],
                     why=class_why[c]) for c in classes]

    return Sizing(types=types, uf=uf, names=cname, why=class_why, fixed=fixed_levels, sizes=sizes,
                  size_params=size_params, index_scalars=index_scalars, min_n=min_n, notes=notes)


def sym_label(sym: Sym) -> str:
    if sym.kind == "len":
        return f"the length of `{sym.param}`" if sym.level == 0 else \
            f"the inner length (level {sym.level}) of `{sym.param}`"
    if sym.kind == "val":
        return f"`{sym.param}`"
    return f"the last element of `{sym.param}`"


def generation_order(plans: list[ParamPlan], sizes: list[SizeVar]) -> list[str]:
    """Generation order of size variables and parameters (``p:<name>``): a topological order of what
    each needs (:class:`graphlib.TopologicalSorter`), taking among the ready ones the first declared.

    Raises:
        HarnessError: the sizes depend on each other in a cycle.
    """
    deps: dict[str, set[str]] = {}

    def needs(text: str) -> set[str]:
        names, _, lasts = expr_refs(parse_expr(text))
        return {x for x in names if x.startswith("S")} | {f"p:{q}" for q in lasts}

    for s in sizes:
        deps[s.name] = needs(s.expr)
    for p in plans:
        d: set[str] = {ln for ln in p.lengths if ln is not None}
        if p.values.kind == "search" and p.values.of:
            d.add(f"p:{p.values.of}")
        for vp in [p.values] + list(p.fields.values()):
            if vp.bound:
                d |= needs(vp.bound)
        deps[f"p:{p.name}"] = d
    rank = {name: k for k, name in enumerate([s.name for s in sizes] + [f"p:{p.name}" for p in plans])}
    ts = TopologicalSorter({k: {d for d in v if d in rank} for k, v in deps.items()})
    try:
        ts.prepare()
    except CycleError as exc:
        cycle = sorted(set(exc.args[1]), key=rank.__getitem__)
        raise HarnessError("the parameters' sizes depend on each other in a cycle (" + ", ".join(cycle) +
                           "); give their lengths in an input spec (see INPUTS.md)") from None
    order: list[str] = []
    ready: list[tuple[int, str]] = []
    while ts.is_active():
        for node in ts.get_ready():
            heapq.heappush(ready, (rank[node], node))
        _, node = heapq.heappop(ready)
        order.append(node)
        ts.done(node)
    return order
