"""The input plan: how the harness builds every parameter of the loop's function.

``plan_inputs(site, spec)`` reads how the *whole function* uses each parameter
(tree-sitter, no compiler) and decides, for each one, its type shape, its
length(s) as a size expression in the knob ``n``, and how its values are drawn.
The harness (:mod:`parevo.toolchain.harness`) turns the plan into C++.

Inference rules (each can be overridden by an input spec, below):

* **The size knob n.** The bound of the selected loop and of the loops around
  it is ``n``: an integer parameter (``i < n`` -> ``n = n``), a container's
  ``size()`` (``i < a.size()`` -> ``a`` has ``n`` elements), a range-``for``
  over a container, the end of a ``parallel_for``. ``i < n - 1`` still makes
  the parameter ``n``.
* **Lengths from indexing.** Every ``c[E]`` requires ``len(c) >= max(E) + 1``,
  with ``max(E)`` found by interval evaluation over the loop bounds
  (``i*m + j`` -> ``n*m``; ``off[i+1]`` -> ``n + 1``; ``a[i-1]`` -> ``n``,
  negative constants are dropped: a safe over-approximation). Locals defined
  once (``int k = keys[i]; auto& row = A[i];``) are followed. Several
  requirements give their maximum.
* **Ties.** ``x.size() == n`` / ``!=`` anywhere in the function makes the two
  the same size.
* **Index values.** A value used as an index stays in range: ``h[keys[i]]`` ->
  every ``keys`` element in ``[0, len(h))``; ``x[col[j]]`` -> ``col`` in
  ``[0, len(x))``; works through struct fields (``d[e.u]``) and range-``for``
  elements. An integer parameter used as an index (``a[k]``) or compared with
  a size (``k < a.size()``) and not a loop bound is an index in ``[0, len)``.
* **CSR offsets.** An array whose elements bound an inner loop
  (``for (j = off[i]; j < off[i+1]; ++j)``) is generated monotone from 0 with
  random degrees in ``[0, 8]``; arrays indexed by ``j`` get length
  ``last(off)``. Generation follows the dependencies (offsets first).
* **Secondary size m.** A container or size parameter nothing else determines
  (histogram bins, a lookup table, the length of ``x`` in SpMV, a bound of an
  inner loop) gets ``m`` (default 256). A nested container's inner length
  nothing determines gets ``inner`` (default 8); ``A[i][j]`` with ``j <
  x.size()`` gives the inner length ``len(x)``.
* **Values.** Floating: uniform in ``[-1, 1)``; ``[0, 1)`` when the element is
  used under ``sqrt``/``log``; ``[0.5, 1.5)`` when it is a divisor. Signed
  integers in ``[-10, 10]``, unsigned in ``[0, 20]`` (small ranges make
  equality tests such as ``a[i] == target`` or ``dist[v] == -1`` hit); integer
  divisors in ``[1, 20]``. ``bool`` 50/50, ``char`` in ``'a'..'z'``. Outputs
  (non-const references and pointers) are pre-filled the same way (same seed,
  so original and candidate see the same prefill); an output the function
  builds (``push_back``, ``resize``, ``assign``, ``clear``, ``insert``, or
  assigns whole) starts empty.
* **Searched values.** A scalar parameter compared for equality with a
  container's elements (``a[i] == target``) is, on even seeds, a copy of one
  of the elements and, on odd seeds, a value none of them equals: the checks
  see both outcomes, and timing (default seed 1) scans the whole input instead of
  stopping after a few elements.
* **Minimum n.** A constant index into an ``n``-sized container (``a[0]``,
  ``front()``) sets ``min_n`` so checks skip sizes that would read out of
  bounds in the original.

Globals the function reads are not parameters and are left alone.

Input spec (TOML; ``parevo.inputs.toml`` beside the source file or a path
given with ``--inputs``)::

    m = 256          # secondary size (default 256)
    min_n = 1        # smallest n the checks use (default: inferred)
    inner = 8        # default inner length of nested containers (default 8)
    timing_n = 1048576  # time at this n (your production size) instead of calibrating

    [spmv]           # a function, by name (quote a qualified one: ["ns::spmv"])
    m = 1000         # function-level overrides of m, min_n, inner, timing_n

    [spmv.x]         # one parameter
    length = "m"     # size expression: "n", "n+1", "m", 64, "n*n", "len(y)", "max(n, 4)"
    [spmv.cols]
    kind = "index"   # "values" (plain values), "index" (needs index_of), "offsets"
    index_of = "x"   # values in [0, len(x))
    [spmv.vals]
    min = 0.0        # value range (inclusive for integers, [min, max) for floating)
    max = 10.0
    [spmv.offsets]
    kind = "offsets"
    max_degree = 16  # offsets: degrees uniform in [0, max_degree] (default 8)
    [spmv.rows]
    value = "n"      # a scalar: a constant (3, 0.5, true) or a size expression
    [stats.grid]
    inner_length = "n"   # inner length of a nested container
    [step.ps]
    min = -5.0           # struct elements: applies to every numeric field,
    fields.mass = { min = 1.0, max = 2.0 }   # or per field (dotted path)

Size expressions: ``n``, ``m``, ``inner``, integers, a scalar parameter's name
(its value), ``len(p)``, ``last(p)`` (last element of an offsets array),
``+ - * /`` (integer division), ``max(...)``, ``min(...)``. ``n``, ``m`` and
``inner`` always mean the knobs, even when a parameter has that name (reach a
container parameter named ``m`` with ``len(m)``). The same text is in
``toolchain/INPUTS.md`` for users.

Raises :class:`~parevo.toolchain.models.HarnessError` (message names the
parameter, its type, why, and the fix) for a parameter the harness cannot
build: unsupported types (``std::map``, function pointers, pointers to
pointers, classes with private fields or no default constructor, structs not
defined in the file), unnamed or variadic parameters, member functions and
function templates; and for a malformed spec.

Limits: containers inside structs get ``inner`` elements (no per-field length);
while-loop variables are assumed to start at 0; a bound the analysis cannot
read (``i < f(x)``) gives no constraint, so arrays indexed only through it get
``m`` elements (write a spec when that is too small).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from .ctypes import CType, Decl, parse_type
from .inputspec import (
    SPEC_FILENAME, FieldSpec, FunctionSpec, InputSpec, ParamSpec, find_spec, load_spec, spec_from_dict,
)
from .models import HarnessError, LoopSite, Param
from .sizes import ExprError, Poly, eval_expr, expr_refs, map_expr, parse_expr, render_expr
from .declarations import StructPlan, array_params, find_function_node, find_loop_node, struct_plans, type_aliases
from .usage import UsageAnalysis

DEFAULT_M = 256
DEFAULT_INNER = 8
DEFAULT_MAX_DEGREE = 8
SIGNED_RANGE = (-10, 10)
UNSIGNED_RANGE = (0, 20)
FLOAT_RANGE = (-1.0, 1.0)
NONNEG_FLOAT_RANGE = (0.0, 1.0)
DIVISOR_FLOAT_RANGE = (0.5, 1.5)
CHAR_RANGE = (97, 122)

__all__ = [
    "SPEC_FILENAME", "FieldSpec", "FunctionSpec", "InputPlan", "InputSpec", "ParamPlan", "ParamSpec", "SizeVar",
    "StructPlan", "ValuePlan", "find_spec", "load_spec", "plan_inputs", "spec_from_dict",
]

# ===================================================================== plan models


class ValuePlan(BaseModel):
    """How the leaf values of a parameter (or one struct field) are drawn.

    ``kind``: ``values`` (uniform in ``[min, max]``; bool 50/50), ``index``
    (integers in ``[0, bound)``; ``bound`` a size expression), ``offsets``
    (monotone from 0, degrees in ``[0, max_degree]``), ``const`` (``value``),
    ``size`` (an integer parameter set to the size variable named by ``bound``),
    ``search`` (a scalar searched for in container ``of``: on even seeds a copy
    of one of its elements, on odd seeds ``value``, which none of them equals:
    checks see both outcomes and timing, at seed 1, scans the whole input).
    ``adversarial``: a plain input value nothing constrains (not a divisor, not
    under ``sqrt``/``log``, not from the input spec), so the differential test
    may also draw NaN, Inf, INT_MAX... for it (:mod:`parevo.toolchain.adversarial`).
    """

    kind: Literal["values", "index", "offsets", "const", "size", "search"] = "values"
    adversarial: bool = False
    min: float | None = None
    max: float | None = None
    bound: str | None = None
    max_degree: int = DEFAULT_MAX_DEGREE
    value: float | int | bool | None = None
    of: str | None = None
    why: str = ""


class SizeVar(BaseModel):
    """A size variable of the plan, computed in order before/while generating.

    ``expr`` is a size expression over ``n``, ``m``, ``inner``, other size
    variables and ``last(param)``; ``covers`` the raw symbols it stands for
    (``len:x@0``, ``val:n``); ``why`` a short reason.
    """

    name: str
    expr: str
    covers: list[str]
    why: str = ""


class ParamPlan(BaseModel):
    """The plan of one parameter.

    ``lengths[l]`` is the size variable (or expression) of nesting level ``l``
    (``None`` for a fixed ``std::array`` level); ``values`` the leaf values;
    ``fields`` per struct-field path (``"pos.x"``) overrides. ``output``: the
    harness dumps it after the call. ``built``: the function fills it itself
    (generated empty). ``role``: ``size`` (the value is a size variable),
    ``index`` (an index scalar), ``scalar``, ``container``, ``pointer``,
    ``struct``.
    """

    name: str
    index: int
    type_text: str
    decl: Decl
    storage: str
    role: Literal["size", "index", "scalar", "container", "pointer", "struct"]
    lengths: list[str | None] = Field(default_factory=list)
    values: ValuePlan = Field(default_factory=ValuePlan)
    fields: dict[str, ValuePlan] = Field(default_factory=dict)
    output: bool = False
    built: bool = False
    why: list[str] = Field(default_factory=list)


class InputPlan(BaseModel):
    """Everything the harness needs to build inputs and call the function.

    ``steps`` is the generation order: size variable names (``S0``) and
    parameter names prefixed ``p:``. ``m``/``inner`` are the knob values,
    ``min_n`` the smallest n the checks should use. ``returns`` is the return
    type (``None`` for ``void``).
    """

    function: str
    qualified_name: str
    return_type: str
    returns: CType | None = None
    params: list[ParamPlan]
    sizes: list[SizeVar]
    steps: list[str]
    structs: dict[str, StructPlan] = Field(default_factory=dict)
    m: int = DEFAULT_M
    inner: int = DEFAULT_INNER
    min_n: int = 0
    timing_n: int | None = None
    notes: list[str] = Field(default_factory=list)

    def param(self, name: str) -> ParamPlan:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def size_at(self, n: int) -> dict[str, int | None]:
        """Size variables evaluated at ``n`` (``None`` where they need generated data)."""
        env: dict[str, int] = {"n": n, "m": self.m, "inner": self.inner}
        out: dict[str, int | None] = {}
        by_name = {s.name: s for s in self.sizes}
        for step in self.steps:
            s = by_name.get(step)
            if s is None:
                continue
            v = eval_expr(parse_expr(s.expr), env)
            out[s.name] = None if v is None else max(v, 0)
            if v is not None:
                env[s.name] = max(v, 0)
        return out

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for reports: per parameter its shape, lengths, values."""
        return {
            "function": self.qualified_name,
            "m": self.m,
            "inner": self.inner,
            "min_n": self.min_n,
            "timing_n": self.timing_n,
            "sizes": {s.name: s.expr for s in self.sizes},
            "params": [
                {
                    "name": p.name,
                    "type": p.type_text,
                    "role": p.role,
                    "lengths": p.lengths,
                    "values": p.values.model_dump(exclude_defaults=True),
                    **({"fields": {k: v.model_dump(exclude_defaults=True) for k, v in p.fields.items()}}
                       if p.fields else {}),
                    "output": p.output,
                    **({"built": True} if p.built else {}),
                }
                for p in self.params
            ],
            "notes": self.notes,
        }

    def describe_json(self) -> str:
        return json.dumps(self.describe(), separators=(",", ":"))


# ===================================================================== planning


class _UF:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _fail(param: Param, why: str, fix: str) -> HarnessError:
    return HarnessError(f"parameter `{param.name}` of type `{param.type_text}`: {why}; {fix}")


def _default_values(leaf: CType, nonneg: bool, divisor: bool) -> ValuePlan:
    if leaf.is_bool:
        return ValuePlan(kind="values", why="bool: 50/50")
    if leaf.scalar_class == "char":
        return ValuePlan(kind="values", min=CHAR_RANGE[0], max=CHAR_RANGE[1], why="char: 'a'..'z'")
    if leaf.is_floating:
        if divisor:
            return ValuePlan(min=DIVISOR_FLOAT_RANGE[0], max=DIVISOR_FLOAT_RANGE[1], why="used as a divisor")
        if nonneg:
            return ValuePlan(min=NONNEG_FLOAT_RANGE[0], max=NONNEG_FLOAT_RANGE[1], why="used under sqrt/log")
        return ValuePlan(min=FLOAT_RANGE[0], max=FLOAT_RANGE[1], adversarial=True)
    if leaf.is_integer:
        lo, hi = UNSIGNED_RANGE if leaf.scalar_class == "unsigned" else SIGNED_RANGE
        if divisor:
            return ValuePlan(min=1, max=hi, why="used as a divisor")
        if nonneg:
            return ValuePlan(min=max(lo, 0), max=hi)
        return ValuePlan(min=lo, max=hi, adversarial=True)
    return ValuePlan()


def _apply_value_spec(vp: ValuePlan, spec: ParamSpec | FieldSpec | None) -> ValuePlan:
    if spec is None:
        return vp
    upd: dict[str, Any] = {}
    if spec.kind == "values" and vp.kind in ("index", "offsets", "search"):
        upd.update(kind="values", bound=None, of=None, value=None)
    if spec.min is not None:
        upd["min"] = spec.min
        if vp.kind in ("index", "search"):
            upd.update(kind="values", of=None, value=None)
    if spec.max is not None:
        upd["max"] = spec.max
        if vp.kind in ("index", "search"):
            upd.update(kind="values", of=None, value=None)
    if spec.value is not None and not isinstance(spec.value, str):
        upd.update(kind="const", value=spec.value)
    if upd:
        upd["why"] = "input spec"
        upd["adversarial"] = False
    return vp.model_copy(update=upd)


def plan_inputs(site: LoopSite, spec: InputSpec | None = None) -> InputPlan:
    """Decide how to build every parameter of ``site``'s function (see module docstring).

    Args:
        site: the selected loop (from ``find_loop``).
        spec: optional overrides (``load_spec`` / ``find_spec``).

    Returns:
        The :class:`InputPlan`.

    Raises:
        HarnessError: a parameter cannot be generated, the function is a member
            function or a template, or the spec names an unknown parameter or
            holds a bad size expression.
    """
    src = site.source.encode("utf-8")
    root, fn_node = find_function_node(site)
    if fn_node.parent is not None and fn_node.parent.type == "template_declaration":
        raise HarnessError(
            f"`{site.function_name}` is a function template: the harness cannot choose its template arguments; "
            "call a non-template wrapper with concrete types from a small function and select the loop there")
    p = fn_node.parent
    while p is not None:
        if p.type in ("field_declaration_list",):
            raise HarnessError(
                f"`{site.function_name}` is a member function: the harness cannot construct its object; "
                "move the loop into a free function taking the data it needs as parameters")
        p = p.parent
    struct_names = {s.name for s in site.structs}
    if "::" in site.qualified_name and any(part in struct_names for part in site.qualified_name.split("::")[:-1]):
        raise HarnessError(
            f"`{site.qualified_name}` is a member function: the harness cannot construct its object; "
            "move the loop into a free function taking the data it needs as parameters")

    fspec = (spec or InputSpec()).for_function(site.qualified_name, site.function_name)
    m = fspec.m if fspec.m is not None else DEFAULT_M
    inner = fspec.inner if fspec.inner is not None else DEFAULT_INNER
    where = (spec.path if spec is not None and spec.path else "the input spec")
    names = [p.name for p in site.params]
    for pname in fspec.params:
        if pname not in names:
            raise HarnessError(f"{where}: `{site.function_name}` has no parameter `{pname}` "
                               f"(its parameters: {', '.join(names) or 'none'})")

    aliases = type_aliases(root, src)
    arrays = array_params(fn_node, src)
    structs, struct_problems = struct_plans(site, root, src, aliases)

    # ---- types
    types: dict[str, Decl] = {}
    for prm in site.params:
        text = prm.type_text + ("*" if prm.name in arrays and "*" not in prm.type_text else "")
        d = parse_type(text, aliases)
        t = d.type
        bad = t.unsupported_parts()
        if bad:
            raise _fail(prm, f"{bad[0].reason}",
                        "the harness builds arithmetic types, std::vector/std::array/std::string, "
                        "pointers to buffers, std::pair, std::complex and plain structs defined in the file; "
                        "wrap the loop in a function taking supported types")
        if t.kind == "pointer" and t.elem is not None and t.elem.kind in ("pointer", "vector", "array",
                                                                          "vector_bool", "string"):
            raise _fail(prm, "a pointer to a pointer or to a container cannot be generated",
                        "pass the data as a std::vector or a pointer to elements")
        if d.reference == "&&" and t.kind in ("scalar",):
            pass
        for sname in t.structs():
            short = sname.split("::")[-1]
            if short not in structs:
                raise _fail(prm, f"`{sname}` is not a struct defined in this file",
                            "define the struct in the file (plain public fields) or pass its fields separately")
            if short in struct_problems:
                raise _fail(prm, f"struct `{short}` cannot be generated: {struct_problems[short]}",
                            "give it public fields of supported types and a default constructor")
            for fname, ftype, _ in structs[short].fields:
                for sub in ftype.structs():
                    subshort = sub.split("::")[-1]
                    if subshort not in structs or subshort in struct_problems:
                        raise _fail(prm, f"field `{short}::{fname}` has type `{sub}` which cannot be generated",
                                    "use plain structs defined in the file")
        types[prm.name] = d

    ret_text = site.return_type.strip()
    returns: CType | None = None
    rd = parse_type(ret_text, aliases) if ret_text else None
    if rd is not None and not (rd.type.kind == "unsupported" and rd.type.text == "void" and rd.type.reason and
                               not rd.reference):
        if rd.type.kind == "unsupported" and rd.type.text not in ("auto",) and "auto" not in ret_text.split():
            raise HarnessError(
                f"the return type `{ret_text}` of `{site.function_name}` cannot be compared: "
                f"{rd.type.reason}; return a supported type (arithmetic, std::vector, std::array, "
                "std::pair, plain struct) or write the result into a parameter")
        returns = rd.type
        for sname in returns.structs():
            if sname.split("::")[-1] not in structs:
                raise HarnessError(f"the return type `{ret_text}` of `{site.function_name}` is not a struct "
                                   "defined in this file; return plain data or write into a parameter")

    # ---- analysis
    an = UsageAnalysis(site, fn_node, src, types, structs)
    selected = find_loop_node(fn_node, site)
    an.run(selected)

    return _resolve(site, an, types, structs, fspec, m, inner, where, returns)


def _resolve(site: LoopSite, an: UsageAnalysis, types: dict[str, Decl], structs: dict[str, StructPlan],
             fspec: FunctionSpec, m: int, inner: int, where: str, returns: CType | None) -> InputPlan:
    notes: list[str] = []
    params = site.params

    def is_int_scalar(p: str) -> bool:
        return types[p].type.is_integer and types[p].type.depth == 0

    # ---- size parameters: integer scalars used in bounds, ties, or size-like requirements
    size_params: set[str] = set()
    for excl, _, _ in an.bounds:
        if excl is not None:
            size_params |= {s[4:] for s in excl.syms() if s.startswith("val:")}
    for a, b in an.ties:
        size_params |= {s[4:] for s in (a, b) if s.startswith("val:")}
    for r in an.reqs:
        if r.from_scalar is None:
            size_params |= {s[4:] for s in r.poly.syms() if s.startswith("val:")}
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
    sym_order: list[str] = []
    fixed_levels: set[str] = set()
    for prm in params:
        t = types[prm.name].type
        if t.depth == 0:
            if prm.name in size_params:
                sym_order.append(f"val:{prm.name}")
            continue
        cur = t
        for lvl in range(t.depth):
            s = f"len:{prm.name}@{lvl}"
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
    spec_exprs: dict[str, Any] = {}

    def raw(text, pname: str, key: str):
        try:
            e = parse_expr(text)
        except ExprError as exc:
            raise HarnessError(f"{where}: `{site.function_name}.{pname}.{key}`: {exc}") from None

        def f(node):
            if node[0] == "sym":
                nm = node[1]
                if nm in ("n", "m", "inner"):
                    return node
                if nm in types:
                    if is_int_scalar(nm):
                        return ("sym", f"val:{nm}")
                    if types[nm].type.depth > 0:
                        return ("sym", f"len:{nm}@0")
                raise HarnessError(f"{where}: `{site.function_name}.{pname}.{key}` = {text!r}: unknown name "
                                   f"`{nm}` (use n, m, inner, a parameter name, len(p), last(p))")
            if node[0] == "call" and node[1] in ("len", "last"):
                nm = node[2][0][1]
                if nm not in types or types[nm].type.depth == 0:
                    raise HarnessError(f"{where}: `{site.function_name}.{pname}.{key}` = {text!r}: "
                                       f"{node[1]}() needs a container parameter, not `{nm}`")
                return ("sym", f"len:{nm}@0") if node[1] == "len" else ("sym", f"last:{nm}")
            return None

        return map_expr(e, f)

    for pname, ps in fspec.params.items():
        t = types[pname].type
        if ps.length is not None:
            if t.depth == 0:
                raise HarnessError(f"{where}: `{site.function_name}.{pname}` is a scalar: use `value`, not `length`")
            spec_exprs[uf.find(f"len:{pname}@0")] = raw(ps.length, pname, "length")
        if ps.inner_length is not None:
            if t.depth < 2:
                raise HarnessError(f"{where}: `{site.function_name}.{pname}` is not nested: `inner_length` "
                                   "needs a container of containers")
            spec_exprs[uf.find(f"len:{pname}@1")] = raw(ps.inner_length, pname, "inner_length")
        if isinstance(ps.value, str):
            if not is_int_scalar(pname):
                raise HarnessError(f"{where}: `{site.function_name}.{pname}.value` = {ps.value!r}: a size "
                                   "expression is only allowed for an integer scalar")
            spec_exprs[uf.find(f"val:{pname}")] = raw(ps.value, pname, "value")
        elif ps.value is not None and pname in size_params and is_int_scalar(pname):
            spec_exprs[uf.find(f"val:{pname}")] = ("num", int(ps.value))

    # ---- roots: the selected loop nest's bounds are n
    roots: set[str] = set()
    for excl, in_nest, _ in an.bounds:
        if in_nest and excl is not None:
            s = excl.single_symbol()
            if s is not None and s in known:
                roots.add(uf.find(s))
    if not roots:
        cand = next((s for s in sym_order if s.endswith("@0")), None) or (sym_order[0] if sym_order else None)
        if cand is not None and uf.find(cand) not in spec_exprs:
            roots.add(uf.find(cand))
            notes.append(f"the loop bound does not name a parameter; {_sym_label(cand)} is the size n")

    # ---- class expressions
    classes: list[str] = []
    for s in sym_order:
        r = uf.find(s)
        if r not in classes:
            classes.append(r)
    cname = {c: f"S{i}" for i, c in enumerate(classes)}
    members: dict[str, list[str]] = {c: [] for c in classes}
    for s in sym_order:
        members[uf.find(s)].append(s)

    def name_of(sym: str) -> str:
        if sym.startswith("last:"):
            return f"last({sym[5:]})"
        if sym in fixed_levels:
            return "inner"  # not reached: requirements on fixed levels are dropped
        return cname[uf.find(sym)]

    min_n = 0
    class_expr: dict[str, Any] = {}
    class_why: dict[str, str] = {}
    for c in classes:
        if c in spec_exprs:
            class_expr[c] = map_expr(spec_exprs[c], lambda node: ("sym", name_of(node[1]))
                                     if node[0] == "sym" and node[1] not in ("n", "m", "inner") else None)
            class_why[c] = "input spec"
            continue
        mine = [r for r in reqs if r.sym in members[c]]
        if c in roots:
            class_expr[c] = ("sym", "n")
            class_why[c] = "bound of the selected loop"
            for r in mine:
                if r.poly.is_const:
                    min_n = max(min_n, r.poly.const_value)
            continue
        polys: list[Poly] = []
        for r in mine:
            syms = r.poly.syms()
            if any(s in fixed_levels or (not s.startswith("last:") and s not in known) for s in syms):
                continue
            if any(not s.startswith("last:") and uf.find(s) == c for s in syms):
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
            rendered = [parse_expr(p.render(name_of)) for p in kept]
            class_expr[c] = rendered[0] if len(rendered) == 1 else ("call", "max", tuple(rendered))
            class_why[c] = "indexed: " + "; ".join(sorted({r.text for r in mine if r.poly.without_negative_const()
                                                              in kept}))[:200]
        else:
            lvl = int(c.split("@")[1]) if c.startswith("len:") else 0
            class_expr[c] = ("sym", "inner" if lvl > 0 else "m")
            class_why[c] = "nothing determines it: default " + ("inner length" if lvl > 0 else "secondary size m")

    # ---- break dependency cycles among classes
    def deps_of(c: str) -> set[str]:
        syms, _, _ = expr_refs(class_expr[c])
        return {s for s in syms if s.startswith("S")}

    by_name = {v: k for k, v in cname.items()}
    state: dict[str, int] = {}

    def dfs(c: str) -> None:
        state[c] = 1
        for d in sorted(deps_of(c)):
            dc = by_name[d]
            if state.get(dc) == 1:
                class_expr[c] = ("sym", "m")
                class_why[c] = "circular size requirements: default m"
                notes.append(f"circular size requirements around {_sym_label(c)}; it gets m")
                break
            if dc not in state:
                dfs(dc)
        state[c] = 2

    for c in classes:
        if c not in state:
            dfs(c)

    sizes = [SizeVar(name=cname[c], expr=render_expr(class_expr[c]), covers=members[c], why=class_why[c])
             for c in classes]

    # ---- per-parameter plans
    if fspec.min_n is not None:
        min_n = fspec.min_n
    plans: list[ParamPlan] = []
    for i, prm in enumerate(params):
        d = types[prm.name]
        t = d.type
        ps = fspec.params.get(prm.name)
        output = (d.reference == "&" and not d.const) or (t.kind == "pointer" and t.elem is not None
                                                          and not t.elem.const)
        why: list[str] = []
        lengths: list[str | None] = []
        cur = t
        for lvl in range(t.depth):
            s = f"len:{prm.name}@{lvl}"
            lengths.append(None if s in fixed_levels else cname[uf.find(s)])
            cur = cur.element_at(1)
        leaf = t.element_at(t.depth)
        built = output and prm.name in an.built and t.depth > 0
        if built:
            why.append("filled by the function (push_back/resize/assign): starts empty")
        role: str
        if t.depth == 0 and prm.name in size_params:
            role = "size"
            values = ValuePlan(kind="size", bound=cname[uf.find(f"val:{prm.name}")],
                               why=class_why[uf.find(f"val:{prm.name}")])
        elif t.depth == 0 and prm.name in index_scalars:
            role = "index"
            tgt, lvl = index_scalars[prm.name][0]
            values = ValuePlan(kind="index", bound=_bound_of(tgt, lvl, types, uf, cname, fixed_levels),
                               why=f"index into {tgt}")
        else:
            role = ("pointer" if t.kind == "pointer" else "container" if t.depth > 0
                    else "struct" if t.kind in ("struct", "pair", "complex") else "scalar")
            values = _leaf_plan(an, prm.name, (), leaf, types, uf, cname, fixed_levels)
            if role == "scalar" and prm.name in an.searched and not leaf.is_bool:
                values = _search_plan(an, prm.name, an.searched[prm.name], leaf, types, uf, cname, fixed_levels)
        values = _apply_value_spec(values, ps) if role != "size" else values
        if ps is not None and ps.kind == "offsets":
            if not (leaf.is_integer and t.depth == 1):
                raise HarnessError(f"{where}: `{site.function_name}.{prm.name}`: kind = \"offsets\" needs a "
                                   "one-level container of integers")
            values = ValuePlan(kind="offsets", why="input spec")
        elif prm.name in an.offsets and values.kind not in ("const", "size") and (ps is None or ps.kind is None):
            values = ValuePlan(kind="offsets", why="its elements bound an inner loop (CSR offsets)")
        if values.kind == "offsets" and ps is not None and ps.max_degree is not None:
            values.max_degree = ps.max_degree
        if ps is not None and ps.kind == "index" or (ps is not None and ps.index_of):
            if not ps.index_of or ps.index_of not in types or types[ps.index_of].type.depth == 0:
                raise HarnessError(f"{where}: `{site.function_name}.{prm.name}`: kind = \"index\" needs "
                                   "index_of = \"<container parameter>\"")
            if not leaf.is_integer:
                raise HarnessError(f"{where}: `{site.function_name}.{prm.name}`: only integers can be indices")
            values = ValuePlan(kind="index", bound=_bound_of(ps.index_of, 0, types, uf, cname, fixed_levels),
                               why=f"input spec: index into {ps.index_of}")
        fields: dict[str, ValuePlan] = {}
        if leaf.kind in ("struct", "pair", "complex"):
            fields = _field_plans(an, prm.name, leaf, structs, types, uf, cname, fixed_levels, ps)
        plans.append(ParamPlan(
            name=prm.name, index=i, type_text=prm.type_text, decl=d, storage=storage_type(t, structs),
            role=role, lengths=lengths, values=values, fields=fields, output=bool(output), built=built, why=why,
        ))

    # ---- generation order
    steps = _order(plans, sizes)
    return InputPlan(
        function=site.function_name, qualified_name=site.qualified_name, return_type=site.return_type,
        returns=returns, params=plans, sizes=sizes, steps=steps, structs=structs, m=m, inner=inner,
        min_n=min_n, timing_n=fspec.timing_n, notes=notes,
    )


def _sym_label(sym: str) -> str:
    if sym.startswith("len:"):
        p, lvl = sym[4:].split("@")
        return f"the length of `{p}`" if lvl == "0" else f"the inner length (level {lvl}) of `{p}`"
    if sym.startswith("val:"):
        return f"`{sym[4:]}`"
    return sym


def _bound_of(target: str, level: int, types, uf: _UF, cname, fixed_levels) -> str | None:
    s = f"len:{target}@{level}"
    if s in fixed_levels:
        t = types[target].type
        for _ in range(level):
            t = t.element_at(1)
        return t.length if t.length and t.length.isdigit() else None
    return cname[uf.find(s)]


def _leaf_plan(an: UsageAnalysis, pname: str, fields: tuple[str, ...], leaf: CType, types, uf, cname,
               fixed_levels) -> ValuePlan:
    key = (pname, fields)
    vp = _default_values(leaf, key in an.nonneg, key in an.divisor)
    if leaf.is_integer and key in an.index_of:
        bounds = []
        for tgt, lvl in an.index_of[key]:
            b = _bound_of(tgt, lvl, types, uf, cname, fixed_levels)
            if b is not None and b not in bounds:
                bounds.append(b)
        if bounds:
            bound = bounds[0] if len(bounds) == 1 else f"min({', '.join(bounds)})"
            targets = sorted({t for t, _ in an.index_of[key]})
            vp = ValuePlan(kind="index", bound=bound, why=f"used as an index into {', '.join(targets)}")
    return vp


def _search_plan(an: UsageAnalysis, pname: str, container: str, leaf: CType, types, uf, cname,
                 fixed_levels) -> ValuePlan:
    """A scalar searched for in ``container``: present (a copy of an element) on even seeds, absent on odd."""
    elem = types[container].type.element_at(1)
    cp = _leaf_plan(an, container, (), elem, types, uf, cname, fixed_levels)
    if elem.is_floating or leaf.is_floating:
        hi = cp.max if cp.max is not None and cp.kind == "values" else FLOAT_RANGE[1]
        absent: float | int = float(hi) + 1.0
    elif leaf.is_integer:
        if cp.kind == "values" and cp.max is not None:
            absent = int(cp.max) + 1
        else:
            absent = -1  # indices and offsets are never negative
    else:
        return _default_values(leaf, False, False)
    return ValuePlan(kind="search", of=container, value=absent,
                     why=f"compared with the elements of {container}: present on even seeds, absent on odd")


def _field_plans(an, pname, leaf: CType, structs, types, uf, cname, fixed_levels,
                 ps: ParamSpec | None) -> dict[str, ValuePlan]:
    """Value plans for every numeric field path of a struct/pair/complex leaf."""
    out: dict[str, ValuePlan] = {}

    def go(t: CType, path: tuple[str, ...], depth: int):
        if depth > 6:
            return
        subs: list[tuple[str, CType]] = []
        if t.kind == "pair":
            subs = [("first", t.elem), ("second", t.second)]  # type: ignore[list-item]
        elif t.kind == "complex":
            subs = [("re", t.elem), ("im", t.elem)]  # type: ignore[list-item]
        elif t.kind == "struct":
            sp = structs.get((t.name or "").split("::")[-1])
            subs = [(nm, ft) for nm, ft, _ in sp.fields] if sp else []
        for nm, ft in subs:
            p2 = path + (nm,)
            base = ft.element_at(ft.depth) if ft.depth else ft
            if base.kind in ("struct", "pair", "complex"):
                go(base, p2, depth + 1)
                continue
            vp = _leaf_plan(an, pname, p2, base, types, uf, cname, fixed_levels)
            if ps is not None:
                vp = _apply_value_spec(vp, ps) if (ps.min is not None or ps.max is not None) else vp
                fs = ps.fields.get(".".join(p2))
                if fs is not None:
                    vp = _apply_value_spec(vp, fs)
                    if fs.index_of:
                        vp = ValuePlan(kind="index", bound=_bound_of(fs.index_of, 0, types, uf, cname, fixed_levels),
                                       why=f"input spec: index into {fs.index_of}")
            out[".".join(p2)] = vp

    go(leaf, (), 0)
    return out


def storage_type(t: CType, structs: dict[str, StructPlan]) -> str:
    """C++ type of the harness member holding a value of type ``t`` (pointers become
    ``parevo::buffer``; structs are spelled by their plan's name)."""
    def spell(x: CType) -> str:
        if x.kind == "struct":
            sp = structs.get((x.name or "").split("::")[-1])
            return sp.cxx_name if sp else (x.name or x.text)
        if x.kind == "vector":
            return f"{x.container or 'std::vector'}<{spell(x.elem)}>"  # type: ignore[arg-type]
        if x.kind == "array":
            return f"std::array<{spell(x.elem)}, {x.length}>"  # type: ignore[arg-type]
        if x.kind == "pair":
            return f"std::pair<{spell(x.elem)}, {spell(x.second)}>"  # type: ignore[arg-type]
        if x.kind == "pointer":
            return f"parevo::buffer<{spell(x.elem)}>"  # type: ignore[arg-type]
        return x.render()

    return spell(t)


def _order(plans: list[ParamPlan], sizes: list[SizeVar]) -> list[str]:
    """Topological generation order of size variables and parameters."""
    deps: dict[str, set[str]] = {}
    for s in sizes:
        syms, _, lasts = expr_refs(parse_expr(s.expr))
        deps[s.name] = {x for x in syms if x.startswith("S")} | {f"p:{p}" for p in lasts}
    for p in plans:
        d: set[str] = set()
        for ln in p.lengths:
            if ln is not None:
                d.add(ln)
        vps = [p.values] + list(p.fields.values())
        if p.values.kind == "search" and p.values.of:
            d.add(f"p:{p.values.of}")
        for vp in vps:
            if vp.bound:
                syms, _, lasts = expr_refs(parse_expr(vp.bound))
                d |= {x for x in syms if x.startswith("S")} | {f"p:{q}" for q in lasts}
        deps[f"p:{p.name}"] = d
    order: list[str] = []
    done: set[str] = set()
    pending = [s.name for s in sizes] + [f"p:{p.name}" for p in plans]
    while pending:
        progressed = False
        for node in list(pending):
            if deps[node] <= done:
                order.append(node)
                done.add(node)
                pending.remove(node)
                progressed = True
                break
        if not progressed:
            raise HarnessError(
                "the parameters' sizes depend on each other in a cycle (" + ", ".join(pending) +
                "); give their lengths in an input spec (see INPUTS.md)")
    return order
