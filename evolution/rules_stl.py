"""Rule templates for standard-algorithm calls: the ParlayLib counterpart of the call, in place.

The selected statement keeps its text; only the call (``facts.algorithm``)
is replaced, by an expression of the same type and value:

* ``std::accumulate(f, l, init[, op])`` / ``std::reduce(f, l[, init[, op]])`` →
  ``init ⊕ parlay::reduce`` of a delayed sequence of the elements converted to
  the initial value's type, with ``parlay::plus``/``parlay::multiplies``;
* ``std::transform(f, l, out, op)`` (and the binary form) →
  ``parlay::parallel_for`` writing ``out[i] = op(f[i])``, the call's value
  ``out + n``;
* ``std::count``/``count_if`` → ``parlay::count``/``count_if`` of the range
  (as ``std::ptrdiff_t``, the iterators' difference type);
* ``std::min_element``/``max_element`` → ``parlay::min_element``/``max_element``
  of the range (first position on ties, as the standard's);
* ``std::inclusive_scan``/``partial_sum`` → a parallel copy into the output
  and ``parlay::scan_inclusive_inplace`` there, the call's value ``out + n``.

Iterators must be random access (a ``parlay::make_slice`` of them, or
``first[i]``): with others the candidate does not compile and the cascade
says so. Each argument is evaluated once, as in the call.
"""

from __future__ import annotations

from parevo.evolution.candidates import Candidate
from parevo.evolution.rule_frame import Names
from parevo.toolchain.models import LoopFacts, Span
from parevo.toolchain.site import ParsedSite

PRIM = "<parlay/primitives.h>"
PAR = "<parlay/parallel.h>"
DELAYED = "<parlay/delayed.h>"
SLICE = "<parlay/slice.h>"


def _t(site: ParsedSite, sp: Span) -> str:
    return site.src[sp.start_byte:sp.end_byte].decode("utf-8", errors="replace")


def algorithm_candidates(site: ParsedSite, facts: LoopFacts) -> list[Candidate]:
    """The ParlayLib counterpart of ``facts.algorithm`` (see the module docstring)."""
    al = facts.algorithm
    if al is None:
        return []
    names = Names(site)
    a = [_t(site, sp) for sp in al.args]
    first, last, i, n = names.get("first"), names.get("last"), names.get("i"), names.get("n")
    rng = f"parlay::make_slice({a[0]}, {a[1]})"
    if al.name in ("accumulate", "reduce"):
        T = names.get("Acc")
        if al.name == "reduce" and len(a) < 3:
            init, tdef = "", f"using {T} = typename std::iterator_traits<decltype({first})>::value_type;"
        else:
            init, tdef = a[2], f"using {T} = std::decay_t<decltype({a[2]})>;"
        mon = "parlay::multiplies" if al.op == "*" else "parlay::plus"
        body = (f"[&]() {{ auto {first} = {a[0]}; auto {last} = {a[1]}; {tdef} "
                f"const {T} {n} = parlay::reduce(parlay::delayed_tabulate(static_cast<size_t>({last} - {first}), "
                f"[&](size_t {i}) {{ return static_cast<{T}>({first}[{i}]); }}), {mon}<{T}>()); "
                + (f"return static_cast<{T}>({init} {al.op} {n}); }}()" if init else f"return {n}; }}()"))
        expr, includes, what = body, [PRIM, DELAYED, "<iterator>", "<type_traits>"], \
            f"parlay::reduce with {mon} of the delayed elements"
    elif al.name == "transform":
        out, op = (a[2], a[3]) if len(a) == 4 else (a[3], a[4])
        second = names.get("second")
        o = names.get("out")
        call = f"({op})({first}[{i}])" if len(a) == 4 else f"({op})({first}[{i}], {second}[{i}])"
        bind2 = f" auto {second} = {a[2]};" if len(a) == 5 else ""
        expr = (f"[&]() {{ auto {first} = {a[0]}; auto {last} = {a[1]};{bind2} auto {o} = {out}; "
                f"const size_t {n} = static_cast<size_t>({last} - {first}); "
                f"parlay::parallel_for(0, {n}, [&](size_t {i}) {{ {o}[{i}] = {call}; }}); return {o} + {n}; }}()")
        includes, what = [PAR], "parlay::parallel_for writing each output element"
    elif al.name in ("count", "count_if"):
        expr = f"static_cast<std::ptrdiff_t>(parlay::{al.name}({rng}, {a[2]}))"
        includes, what = [PRIM, SLICE, "<cstddef>"], f"parlay::{al.name} of the range"
    elif al.name in ("min_element", "max_element"):
        comp = f", {a[2]}" if len(a) > 2 else ""
        expr = f"parlay::{al.name}({rng}{comp})"
        includes, what = [PRIM, SLICE], f"parlay::{al.name} of the range (first position on ties)"
    else:  # inclusive_scan, partial_sum
        o = names.get("out")
        expr = (f"[&]() {{ auto {first} = {a[0]}; auto {last} = {a[1]}; auto {o} = {a[2]}; "
                f"const size_t {n} = static_cast<size_t>({last} - {first}); "
                f"parlay::parallel_for(0, {n}, [&](size_t {i}) {{ {o}[{i}] = {first}[{i}]; }}); "
                f"if ({n} > 0) parlay::scan_inclusive_inplace(parlay::make_slice({o}, {o} + {n}), "
                f"parlay::plus<std::decay_t<decltype(*{o})>>()); return {o} + {n}; }}()")
        includes, what = [PRIM, PAR, SLICE, "<type_traits>"], "a parallel copy and parlay::scan_inclusive_inplace"
    src = site.src
    stmt = src[site.loop.start_byte:al.call.start_byte] + expr.encode("utf-8") + \
        src[al.call.end_byte:site.loop.end_byte]
    return [Candidate(loop_text=stmt.decode("utf-8"), includes=includes, origin=f"rule:std-{al.name}",
                      description=f"`std::{al.name}` as {what}", params={"algorithm": al.name})]


__all__ = ["algorithm_candidates"]
