"""The input plan: how the harness builds every parameter of the loop's function.

``plan_inputs(site, spec)`` reads how the *whole function* uses each parameter
(the :class:`~parevo.toolchain.site.ParsedSite`'s nodes and declared types;
nothing is parsed again, no compiler) and decides, for each one, its type shape, its
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

from typing import Any

from .ctypes import CType, Decl
from .declarations import StructPlan, check_parameters, struct_plans
from .harness_match import check_expression
from .inputplan import (
    CHAR_RANGE, DEFAULT_INNER, DEFAULT_M, DIVISOR_FLOAT_RANGE, FLOAT_RANGE, NONNEG_FLOAT_RANGE, SIGNED_RANGE,
    UNSIGNED_RANGE, InputPlan, ParamPlan, SizeVar, ValuePlan, storage_type,
)
from .inputspec import (
    SPEC_FILENAME, FieldSpec, FunctionSpec, InputSpec, ParamSpec, find_spec, load_spec, spec_from_dict,
)
from .models import HarnessError
from .site import Param, ParsedSite
from .sizes import Sym
from .sizing import Sizing, generation_order, solve_sizes
from .syntax import ancestor
from .usage import UsageAnalysis

__all__ = [
    "SPEC_FILENAME", "FieldSpec", "FunctionSpec", "InputPlan", "InputSpec", "ParamPlan", "ParamSpec", "SizeVar",
    "StructPlan", "ValuePlan", "find_spec", "load_spec", "plan_inputs", "spec_from_dict", "storage_type",
    "FLOAT_RANGE", "SIGNED_RANGE", "UNSIGNED_RANGE",
]


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


def plan_inputs(site: ParsedSite, spec: InputSpec | None = None) -> InputPlan:
    """Decide how to build every parameter of ``site``'s function (see module docstring).

    Args:
        site: the selected loop (from ``find_loop``): its function's nodes and its
            parameters' types are what the plan reads; nothing is parsed again.
        spec: optional overrides (``load_spec`` / ``find_spec``).

    Returns:
        The :class:`InputPlan`.

    Raises:
        HarnessError: a parameter cannot be generated, the function is a member
            function or a template, or the spec names an unknown parameter or
            holds a bad size expression.
    """
    fn_node = site.function_node
    if fn_node.parent is not None and fn_node.parent.type == "template_declaration":
        raise HarnessError(
            f"`{site.function_name}` is a function template: the harness cannot choose its template arguments; "
            "call a non-template wrapper with concrete types from a small function and select the loop there")
    if ancestor(fn_node, {"field_declaration_list"}) is not None:
        raise HarnessError(
            f"`{site.function_name}` is a member function: the harness cannot construct its object; "
            "move the loop into a free function taking the data it needs as parameters")
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

    check_parameters(fn_node, site.src)
    structs, struct_problems = struct_plans(site)

    # ---- types
    types: dict[str, Decl] = {}
    for prm in site.params:
        d = prm.decl
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
    rd = site.returns if ret_text else None
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
    an = UsageAnalysis(site, types, structs)
    an.run(site.loop_node)

    return _resolve(site, an, types, structs, fspec, m, inner, where, returns)


def _resolve(site: ParsedSite, an: UsageAnalysis, types: dict[str, Decl], structs: dict[str, StructPlan],
             fspec: FunctionSpec, m: int, inner: int, where: str, returns: CType | None) -> InputPlan:
    sz = solve_sizes(site, an, types, fspec, where)
    # ---- per-parameter plans
    min_n = fspec.min_n if fspec.min_n is not None else sz.min_n
    plans: list[ParamPlan] = []
    for i, prm in enumerate(site.params):
        d = types[prm.name]
        t = d.type
        ps = fspec.params.get(prm.name)
        output = (d.reference == "&" and not d.const) or (t.kind == "pointer" and t.elem is not None
                                                          and not t.elem.const)
        why: list[str] = []
        lengths: list[str | None] = []
        cur = t
        for lvl in range(t.depth):
            s = Sym.len(prm.name, lvl)
            lengths.append(sz.var(s))
            cur = cur.element_at(1)
        leaf = t.element_at(t.depth)
        built = output and prm.name in an.built and t.depth > 0
        if built:
            why.append("filled by the function (push_back/resize/assign): starts empty")
        role: str
        if t.depth == 0 and prm.name in sz.size_params:
            role = "size"
            values = ValuePlan(kind="size", bound=sz.var(Sym.val(prm.name)), why=sz.reason(Sym.val(prm.name)))
        elif t.depth == 0 and prm.name in sz.index_scalars:
            role = "index"
            tgt, lvl = sz.index_scalars[prm.name][0]
            values = ValuePlan(kind="index", bound=sz.bound_of(tgt, lvl), why=f"index into {tgt}")
        else:
            role = ("pointer" if t.kind == "pointer" else "container" if t.depth > 0
                    else "struct" if t.kind in ("struct", "pair", "complex") else "scalar")
            values = _leaf_plan(an, prm.name, (), leaf, sz)
            if role == "scalar" and prm.name in an.searched and not leaf.is_bool:
                values = _search_plan(an, prm.name, an.searched[prm.name], leaf, sz)
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
            values = ValuePlan(kind="index", bound=sz.bound_of(ps.index_of, 0),
                               why=f"input spec: index into {ps.index_of}")
        fields: dict[str, ValuePlan] = {}
        if leaf.kind in ("struct", "pair", "complex"):
            fields = _field_plans(an, prm.name, leaf, structs, sz, ps)
        plans.append(ParamPlan(
            name=prm.name, index=i, type_text=prm.type_text, decl=d, storage=storage_type(t, structs),
            role=role, lengths=lengths, values=values, fields=fields, output=bool(output), built=built, why=why,
        ))

    # ---- generation order
    steps = generation_order(plans, sz.sizes)
    return InputPlan(
        function=site.function_name, qualified_name=site.qualified_name, return_type=site.return_type,
        returns=returns, params=plans, sizes=sz.sizes, steps=steps, structs=structs, m=m, inner=inner,
        min_n=min_n, timing_n=fspec.timing_n, notes=sz.notes,
        match_position=check_expression(fspec.match_position, where), match_rate=fspec.match_rate,
    )


def _leaf_plan(an: UsageAnalysis, pname: str, fields: tuple[str, ...], leaf: CType, sz: Sizing) -> ValuePlan:
    key = (pname, fields)
    vp = _default_values(leaf, key in an.nonneg, key in an.divisor)
    if leaf.is_integer and key in an.index_of:
        bounds = []
        for tgt, lvl in an.index_of[key]:
            b = sz.bound_of(tgt, lvl)
            if b is not None and b not in bounds:
                bounds.append(b)
        if bounds:
            bound = bounds[0] if len(bounds) == 1 else f"min({', '.join(bounds)})"
            targets = sorted({t for t, _ in an.index_of[key]})
            vp = ValuePlan(kind="index", bound=bound, why=f"used as an index into {', '.join(targets)}")
    return vp


def _search_plan(an: UsageAnalysis, pname: str, container: str, leaf: CType, sz: Sizing) -> ValuePlan:
    """A scalar searched for in ``container``: present (a copy of an element) on even seeds, absent on odd."""
    elem = sz.types[container].type.element_at(1)
    cp = _leaf_plan(an, container, (), elem, sz)
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


def _field_plans(an: UsageAnalysis, pname: str, leaf: CType, structs: dict[str, StructPlan], sz: Sizing,
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
            vp = _leaf_plan(an, pname, p2, base, sz)
            if ps is not None:
                vp = _apply_value_spec(vp, ps) if (ps.min is not None or ps.max is not None) else vp
                fs = ps.fields.get(".".join(p2))
                if fs is not None:
                    vp = _apply_value_spec(vp, fs)
                    if fs.index_of:
                        vp = ValuePlan(kind="index", bound=sz.bound_of(fs.index_of, 0),
                                       why=f"input spec: index into {fs.index_of}")
            out[".".join(p2)] = vp

    go(leaf, (), 0)
    return out
