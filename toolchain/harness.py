"""Generate the harness: variant translation units and the generic driver.

A **variant translation unit** is the user's whole file with the loop replaced
by a loop text, plus a generated **harness section** implementing the parevo C
ABI for the loop's function (see ``cpp/driver.cpp``)::

    #include "parevo_harness.h"          // runtime, before the user's macros
    #line 1 "/abs/path/user.cpp"
    ...user code up to the include insertion point...
    #include <parlay/primitives.h>        // only includes the file lacks
    #line K "/abs/path/user.cpp"
    ...user code up to the loop...
    #line L "/abs/path/user.cpp"           // L = the loop's 1-based line
    <loop text>
    #line L2 "/abs/path/user.cpp"          // back to the line after the loop
    ...rest of the user's code (its main renamed parevo_user_main)...
    #line 1 "<parevo harness>"
    <harness section>

so every compiler and sanitizer location inside the user's code (and the
candidate's loop) names the user's file and line. The harness section is the
same for the original and for every candidate of one plan: inputs are
identical given (n, seed).

The C ABI of the harness section (declared in ``cpp/driver.cpp``)::

    void*    parevo_create(uint64_t n, uint64_t seed);   // all inputs for size n (deterministic)
    void*    parevo_clone(const void* inputs);           // deep copy
    void     parevo_destroy(void* inputs);
    void     parevo_invoke(void* inputs);                // call the function, keep its result
    void     parevo_dump(const void* inputs, FILE* f);   // every output (see outputs.py)
    void     parevo_dump_inputs(const void* inputs, FILE* f);  // every parameter, same format
    uint64_t parevo_bytes(const void* inputs);           // bytes of generated data
    const char* parevo_describe(void);                   // the plan as JSON

Outputs are the return value (``out return``), non-const reference
parameters and the buffers of non-const pointer parameters.

``driver_source()`` is the generic driver (compiled once, linked with each
variant's object); ``harness_header_dir()`` the directory to pass with ``-I``.
"""

from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path

from .ctypes import CType
from .harness_match import placement_lines
from .inputs import FLOAT_RANGE, SIGNED_RANGE, UNSIGNED_RANGE, InputPlan, ParamPlan, ValuePlan, storage_type
from .site import ParsedSite
from .sizes import Bin, Call, Expr, Name, Num, parse_expr, render_expr
from .snippet import rename_function

HARNESS_FILE = "<parevo harness>"
USER_MAIN = "parevo_user_main"


# ------------------------------------------------------------------ package data
def harness_header_dir() -> Path:
    """Directory holding ``parevo_harness.h`` (pass it to the compiler with ``-I``)."""
    return Path(str(resources.files("parevo.toolchain") / "cpp"))


def driver_source() -> str:
    """Text of the generic driver (``cpp/driver.cpp``)."""
    return (resources.files("parevo.toolchain") / "cpp" / "driver.cpp").read_text()


# ------------------------------------------------------------------ C++ text helpers
def _cstr(s: str) -> str:
    """A C++ string literal for ``s``."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) > 126:
            out.append("\\%03o" % ord(ch) if ord(ch) < 256 else "?")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _line_directive(line1: int, path: str) -> str:
    return f"#line {line1} {_cstr(path)}\n"


def _member(p: ParamPlan) -> str:
    return f"p{p.index}"


class _Emitter:
    """Builds the generated harness section for one plan."""

    def __init__(self, site: ParsedSite, plan: InputPlan):
        self.site = site
        self.plan = plan
        self.by_name = {p.name: p for p in plan.params}
        self.counter = 0

    # -------------------------------------------------------------- size expressions
    def size_cxx(self, text: str) -> str:
        """C++ (signed ``long long``) for a size expression of the plan."""
        return self._expr(parse_expr(text))

    def _expr(self, e: Expr) -> str:
        if isinstance(e, Num):
            return f"{int(e.value)}LL"
        if isinstance(e, Name):
            name = e.name
            if name == "n":
                return "pv_N"
            if name == "m":
                return "pv_M"
            if name == "inner":
                return "pv_INNER"
            if name.startswith("S"):
                return f"static_cast<long long>(pv_{name})"
            raise ValueError(f"unknown size symbol {name}")
        if isinstance(e, Call):
            if e.fn in ("max", "min"):
                return f"std::{e.fn}<long long>({{{', '.join(self._expr(a) for a in e.args)}}})"
            arg = e.args[0]
            if not isinstance(arg, Name):
                raise ValueError(f"{e.fn}() takes a parameter name")
            p = self.by_name[arg.name]
            if e.fn == "last":
                return f"static_cast<long long>(parevo::last_of(pv_in->a.{_member(p)}))"
            return f"static_cast<long long>(pv_in->a.{_member(p)}.size())"
        if isinstance(e, Bin):
            a, b = self._expr(e.left), self._expr(e.right)
            if e.op == "/":
                return f"parevo::div0({a}, {b})"
            return f"({a} {e.op} {b})"
        raise ValueError(f"unexpected {render_expr(e)} in a plan's size expression")

    # -------------------------------------------------------------- values
    def spell(self, t: CType) -> str:
        return storage_type(t, self.plan.structs)

    def draw(self, leaf: CType, vp: ValuePlan) -> str:
        """A C++ expression drawing one leaf value per ``vp``."""
        ty = self.spell(leaf)
        if vp.kind == "const":
            v = vp.value
            if leaf.is_bool:
                return "true" if v else "false"
            if leaf.is_integer:
                return f"static_cast<{ty}>({int(v)}LL)"  # type: ignore[arg-type]
            return f"static_cast<{ty}>({float(v)!r})"  # type: ignore[arg-type]
        if vp.kind == "search" and vp.of:
            src = f"pv_in->a.{_member(self.by_name[vp.of])}"
            absent = f"static_cast<{ty}>({vp.value!r})"
            return (f"((pv_seed % 2 == 0 && {src}.size() > 0) ? static_cast<{ty}>({src}[pv_r.below({src}.size())])"
                    f" : {absent})")
        if leaf.is_bool:
            return "parevo::draw_bool(pv_r)"
        if vp.kind == "index" and leaf.is_integer:  # the one-bucket class may repeat one index
            if vp.bound is None:
                return f"parevo::draw_index<{ty}>(pv_r, 0LL, 0LL)"
            return f"parevo::draw_index<{ty}>(pv_r, 0LL, {self.size_cxx(vp.bound)} - 1)"
        # plain values the original leaves free may be adversarial in their case class (NaN, INT_MAX...)
        free = "free_" if vp.adversarial else ""
        if leaf.is_integer:
            dlo, dhi = UNSIGNED_RANGE if leaf.scalar_class == "unsigned" else SIGNED_RANGE
            lo = math.ceil(vp.min) if vp.min is not None else dlo
            hi = math.floor(vp.max) if vp.max is not None else dhi
            return f"parevo::draw_{free}int<{ty}>(pv_r, {int(lo)}LL, {int(hi)}LL)"
        if leaf.is_floating:
            lo = vp.min if vp.min is not None else FLOAT_RANGE[0]
            hi = vp.max if vp.max is not None else FLOAT_RANGE[1]
            return f"parevo::draw_{free}real<{ty}>(pv_r, {float(lo)!r}, {float(hi)!r})"
        raise ValueError(f"cannot draw a value of type {leaf.render()}")

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"pv_{stem}{self.counter}"

    def fill_leaf(self, target: str, leaf: CType, p: ParamPlan, path: tuple[str, ...], ind: str) -> list[str]:
        """Statements filling one leaf (scalar, struct, pair, complex) at ``target``."""
        if leaf.kind == "scalar":
            vp = p.fields.get(".".join(path), p.values) if path else p.values
            return [f"{ind}{target} = {self.draw(leaf, vp)};"]
        if leaf.kind == "complex":
            re_ = p.fields.get(".".join(path + ("re",)), ValuePlan())
            im_ = p.fields.get(".".join(path + ("im",)), ValuePlan())
            return [f"{ind}{{ auto pv_re = {self.draw(leaf.elem, re_)}; auto pv_im = {self.draw(leaf.elem, im_)};",
                    f"{ind}  {target} = {self.spell(leaf)}(pv_re, pv_im); }}"]
        if leaf.kind == "pair":
            return (self.fill_any(f"{target}.first", leaf.elem, p, path + ("first",), ind)
                    + self.fill_any(f"{target}.second", leaf.second, p, path + ("second",), ind))
        if leaf.kind == "struct":
            sp = self.plan.structs[(leaf.name or "").split("::")[-1]]
            out: list[str] = []
            for fname, ftype, alen in sp.fields:
                ft = f"{target}.{fname}"
                if alen is not None:
                    k = self.fresh("f")
                    out.append(f"{ind}for (std::size_t {k} = 0; {k} < {alen}; ++{k}) {{")
                    out += self.fill_any(f"{ft}[{k}]", ftype, p, path + (fname,), ind + "  ")
                    out.append(f"{ind}}}")
                else:
                    out += self.fill_any(ft, ftype, p, path + (fname,), ind)
            return out
        raise ValueError(f"cannot generate {leaf.render()}")

    def fill_any(self, target: str, t: CType, p: ParamPlan, path: tuple[str, ...], ind: str) -> list[str]:
        """A value inside a struct: containers there get the default inner length."""
        if t.depth == 0:
            return self.fill_leaf(target, t, p, path, ind)
        out = []
        if t.kind != "array":
            out.append(f"{ind}parevo::resize_to({target}, parevo::size_of(pv_INNER));")
        k = self.fresh("k")
        out.append(f"{ind}for (std::size_t {k} = 0; {k} < {target}.size(); ++{k}) {{")
        out += self.fill_any(f"{target}[{k}]", t.element_at(1), p, path, ind + "  ")
        out.append(f"{ind}}}")
        return out

    def fill_param(self, p: ParamPlan) -> list[str]:
        t = p.decl.type
        target = f"pv_in->a.{_member(p)}"
        ind = "    "
        out = [f"  {{ // {p.name}: {p.type_text} ({p.role}{', output' if p.output else ''})"]
        if p.role != "size" and not p.built:
            out.append(f"    parevo::rng pv_r(pv_seed, {p.index}u);")
        if p.role == "size":
            out.append(f"{ind}{target} = static_cast<{self.spell(t)}>(pv_{p.values.bound});")
        elif p.built:
            out.append(f"{ind}// filled by the function itself: starts empty")
        elif t.depth == 0:
            out += self.fill_leaf(target, t, p, (), ind)
        else:
            out += self._fill_level(target, t, p, 0, ind)
        out.append("  }")
        return out

    def _fill_level(self, target: str, t: CType, p: ParamPlan, level: int, ind: str) -> list[str]:
        out: list[str] = []
        length = p.lengths[level] if level < len(p.lengths) else None
        if length is not None and t.kind != "array":
            out.append(f"{ind}parevo::resize_to({target}, pv_{length});")
        if t.depth == 1 and p.values.kind == "offsets":
            out.append(f"{ind}parevo::fill_offsets(pv_r, {target}, {int(p.values.max_degree)}LL);")
            return out
        k = self.fresh("k")
        elem = t.element_at(1)
        out.append(f"{ind}for (std::size_t {k} = 0; {k} < {target}.size(); ++{k}) {{")
        if elem.depth == 0:
            out += self.fill_leaf(f"{target}[{k}]", elem, p, (), ind + "  ")
        else:
            out.append(f"{ind}  auto& {k}e = {target}[{k}];")
            out += self._fill_level(f"{k}e", elem, p, level + 1, ind + "  ")
        out.append(f"{ind}}}")
        return out

    # -------------------------------------------------------------- sections
    def struct_codecs(self) -> list[str]:
        out = ["namespace parevo {"]
        for sp in self.plan.structs.values():
            if not self._struct_used(sp.name):
                continue
            name = sp.cxx_name
            out.append(f"template <> struct codec<{name}, void> {{")
            out.append(f"  static void dump(std::FILE* f, const {name}& x) {{")
            out.append(f'    std::fputs("{{ {len(sp.fields)}\\n", f);')
            for fname, _, _ in sp.fields:
                out.append(f'    parevo::dump_field(f, {_cstr(fname)}, x.{fname});')
            out.append('    std::fputs("}\\n", f);')
            out.append("  }")
            extra = " + ".join(f"parevo::field_extra_bytes(x.{fname})" for fname, _, _ in sp.fields) or "0"
            out.append(f"  static std::uint64_t bytes(const {name}& x) {{ return sizeof(x) + {extra}; }}")
            out.append("};")
        out.append("}  // namespace parevo")
        return out

    def _struct_used(self, name: str) -> bool:
        """A struct is needed when a parameter, the return type or another used struct mentions it."""
        needed: set[str] = set()
        todo = []
        for p in self.plan.params:
            todo += [s.split("::")[-1] for s in p.decl.type.structs()]
        if self.plan.returns is not None:
            todo += [s.split("::")[-1] for s in self.plan.returns.structs()]
        while todo:
            s = todo.pop()
            if s in needed or s not in self.plan.structs:
                continue
            needed.add(s)
            for _, ft, _ in self.plan.structs[s].fields:
                todo += [x.split("::")[-1] for x in ft.structs()]
        return name in needed

    def call_args(self, obj: str) -> list[str]:
        args = []
        for p in self.plan.params:
            m = f"{obj}.{_member(p)}"
            if p.decl.type.kind == "pointer":
                args.append(f"{m}.data()")
            elif p.decl.reference == "&&":
                args.append(f"std::move({m})")
            else:
                args.append(m)
        return args

    def section(self) -> str:
        plan = self.plan
        fn = self.site.qualified_name
        fn = fn if fn.startswith("::") else "::" + fn
        L: list[str] = []
        L.append(f"// ---- parevo harness for {plan.qualified_name} (generated; do not edit)")
        L += self.struct_codecs()
        L.append("namespace parevo_gen {")
        L.append("struct Args {")
        for p in plan.params:
            L.append(f"  {p.storage} {_member(p)}{{}};  // {p.name}: {p.type_text}")
        L.append("};")
        decl_args = ", ".join(self.call_args("std::declval<Args&>()"))
        L.append(f"using Ret = std::decay_t<decltype({fn}({decl_args}))>;")
        L.append("struct Inputs {")
        L.append("  Args a;")
        L.append("  parevo::result<Ret> ret;")
        L.append("};")
        L.append("}  // namespace parevo_gen")
        L.append('extern "C" {')
        # create
        L.append("void* parevo_create(std::uint64_t pv_n, std::uint64_t pv_seed) {")
        L.append("  auto* pv_in = new parevo_gen::Inputs();")
        L.append("  const long long pv_N = static_cast<long long>(pv_n);")
        L.append(f"  const long long pv_M = {int(plan.m)}LL;")
        L.append(f"  const long long pv_INNER = {int(plan.inner)}LL;")
        L.append("  (void)pv_N; (void)pv_M; (void)pv_INNER; (void)pv_seed;")
        sizes = {s.name: s for s in plan.sizes}
        for step in plan.steps:
            if step.startswith("p:"):
                L += self.fill_param(self.by_name[step[2:]])
            else:
                s = sizes[step]
                L.append(f"  const std::uint64_t pv_{s.name} = parevo::size_of({self.size_cxx(s.expr)});"
                         f"  // {', '.join(s.covers)}")
                L.append(f"  (void)pv_{s.name};")
        L += placement_lines(self)
        L.append("  return pv_in;")
        L.append("}")
        L.append("void* parevo_clone(const void* pv_p) {")
        L.append("  return new parevo_gen::Inputs(*static_cast<const parevo_gen::Inputs*>(pv_p));")
        L.append("}")
        L.append("void parevo_destroy(void* pv_p) { delete static_cast<parevo_gen::Inputs*>(pv_p); }")
        L.append("void parevo_invoke(void* pv_p) {")
        L.append("  auto* pv_in = static_cast<parevo_gen::Inputs*>(pv_p);")
        L.append(f"  pv_in->ret.run([&]() -> decltype(auto) {{ return {fn}({', '.join(self.call_args('pv_in->a'))}); }});")
        L.append("}")
        L.append("void parevo_dump(const void* pv_p, std::FILE* pv_f) {")
        L.append("  const auto* pv_in = static_cast<const parevo_gen::Inputs*>(pv_p);")
        L.append("  pv_in->ret.dump(pv_f);")
        for p in plan.params:
            if p.output:
                L.append(f"  parevo::dump_output(pv_f, {_cstr(p.name)}, pv_in->a.{_member(p)});")
        L.append("}")
        L.append("void parevo_dump_inputs(const void* pv_p, std::FILE* pv_f) {")
        L.append("  const auto* pv_in = static_cast<const parevo_gen::Inputs*>(pv_p);")
        for p in plan.params:
            L.append(f"  parevo::dump_output(pv_f, {_cstr(p.name)}, pv_in->a.{_member(p)});")
        L.append("}")
        L.append("std::uint64_t parevo_bytes(const void* pv_p) {")
        L.append("  const auto* pv_in = static_cast<const parevo_gen::Inputs*>(pv_p);")
        parts = ["pv_in->ret.bytes()"] + [f"parevo::bytes_of(pv_in->a.{_member(p)})" for p in plan.params]
        L.append(f"  return {' + '.join(parts)};")
        L.append("}")
        L.append(f"const char* parevo_describe(void) {{ return {_cstr(plan.describe_json())}; }}")
        L.append('}  // extern "C"')
        return "\n".join(L) + "\n"


def harness_source(site: ParsedSite, plan: InputPlan) -> str:
    """The generated harness section (C++ text, starting with ``#line 1 "<parevo harness>"``).

    It implements ``parevo_create/clone/destroy/invoke/dump/bytes/describe``
    for ``site.qualified_name`` following ``plan``; it expects
    ``parevo_harness.h`` to be included earlier in the translation unit.
    """
    return _line_directive(1, HARNESS_FILE) + _Emitter(site, plan).section()


def _norm_include(inc: str) -> str:
    inc = inc.strip()
    if inc.startswith("#"):
        inc = inc.lstrip("#").strip()
        if inc.startswith("include"):
            inc = inc[len("include"):].strip()
    if not (inc.startswith("<") or inc.startswith('"')):
        inc = f"<{inc}>"
    return inc


def _include_key(inc: str) -> str:
    return _norm_include(inc)[1:-1].strip()


def variant_source(site: ParsedSite, loop_text: str, includes: list[str], plan: InputPlan, *,
                   function_text: str | None = None) -> str:
    """The whole translation unit for one variant: the user's file with the loop
    span replaced by ``loop_text``, missing ``includes`` added, ``main`` renamed,
    ``#line`` directives back to the user's file, and the harness section.

    Args:
        site: the loop site (its ``source`` is the user's file text).
        loop_text: the new loop (the original ``site.loop_text`` for the baseline).
        includes: headers the loop text needs (``<parlay/primitives.h>``,
            ``parlay/primitives.h`` or ``#include <...>``); those already in the
            file are skipped.
        plan: the input plan (the same for original and every candidate).
        function_text: when given, a whole new definition of the loop's
            enclosing function: it replaces the function's span (``site.function``)
            and ``loop_text`` is ignored. Its first line gets the function's
            original line number, so compiler and sanitizer locations inside it
            count from there. The function must keep its name and signature (the
            harness section calls it).
    """
    src = site.source.encode("utf-8")
    path = os.path.abspath(site.path)
    have = {_include_key(i) for i in site.includes}
    extra: list[str] = []
    for inc in includes:
        key = _include_key(inc)
        if key and key not in have and _norm_include(inc) not in extra:
            extra.append(_norm_include(inc))

    # edits in file order: (start, end, replacement bytes, kind)
    edits: list[tuple[int, int, str]] = []
    if extra:
        at = min(max(site.include_insert_byte, 0), len(src))
        # move to the start of the next line so the directive sits on its own line
        if at > 0 and src[at - 1:at] != b"\n":
            nl = src.find(b"\n", at)
            at = len(src) if nl < 0 else nl + 1
        edits.append((at, at, "inc"))
    span = site.function if function_text is not None else site.loop
    new_text = function_text if function_text is not None else loop_text
    if function_text is not None and site.main_name is not None and (
            span.start_byte <= site.main_name.start_byte < span.end_byte):
        new_text = rename_function(new_text, "main", USER_MAIN)
    elif site.main_name is not None:
        edits.append((site.main_name.start_byte, site.main_name.end_byte, "main"))
    edits.append((span.start_byte, span.end_byte, "loop"))
    edits.sort(key=lambda e: (e[0], e[1]))

    def line1_at(offset: int) -> int:
        return src.count(b"\n", 0, offset) + 1

    out: list[str] = ['#include "parevo_harness.h"\n', _line_directive(1, path)]
    pos = 0
    for start, end, kind in edits:
        chunk = src[pos:start].decode("utf-8", errors="replace")
        out.append(chunk)
        if kind == "inc":
            if chunk and not chunk.endswith("\n"):
                out.append("\n")
            out += [f"#include {inc}\n" for inc in extra]
            out.append(_line_directive(line1_at(start), path))
        elif kind == "main":
            out.append(USER_MAIN)
        else:
            col = span.start_col
            out.append("\n" + _line_directive(span.start_line + 1, path))
            out.append(" " * col + new_text.rstrip("\n"))
            out.append("\n" + _line_directive(span.end_line + 1, path))
            out.append(" " * span.end_col)
        pos = end
    rest = src[pos:].decode("utf-8", errors="replace")
    out.append(rest)
    if not rest.endswith("\n"):
        out.append("\n")
    out.append(harness_source(site, plan))
    return "".join(out)


def original_source(site: ParsedSite, plan: InputPlan) -> str:
    """The baseline translation unit: :func:`variant_source` with the original loop text."""
    return variant_source(site, site.loop_text, [], plan)


def describe_plan(plan: InputPlan) -> str:
    """The plan as indented JSON (for reports and ``parevo inputs``)."""
    return json.dumps(plan.describe(), indent=2)


__all__ = [
    "HARNESS_FILE", "USER_MAIN", "describe_plan", "driver_source", "harness_header_dir", "harness_source",
    "original_source", "variant_source",
]
