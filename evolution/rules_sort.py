"""Rule template for an insertion sort: the parallel sort of the same range.

``facts.sort`` (:mod:`parevo.toolchain.facts_sort`) says the loop leaves
``a[0..n)`` sorted, stably, by ``<`` (or ``>``) of the elements or of one
field. Integers compared whole are indistinguishable when equal, so
``parlay::sort_inplace`` (a parallel sample sort, O(n log n) work instead of
the loop's O(n²)) gives the same array; a field key needs
``parlay::stable_sort_inplace``. An outer index declared before the loop gets
its final value.
"""

from __future__ import annotations

from parevo.evolution.candidates import Candidate
from parevo.evolution.rule_frame import Names, wrap
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import ParsedSite

PRIM = "<parlay/primitives.h>"
SLICE = "<parlay/slice.h>"


def sort_candidates(site: ParsedSite, facts: LoopFacts) -> list[Candidate]:
    """``parlay::sort_inplace``/``stable_sort_inplace`` of the range the insertion sort sorts."""
    so = facts.sort
    if so is None:
        return []
    names = Names(site)
    n, x, y = names.get("n_sort"), names.get("x"), names.get("y")
    T = f"std::decay_t<decltype({so.array}[0])>"
    cmp = ">" if so.descending else "<"
    key = f".{so.field}" if so.field else ""
    less = f"[](const {T}& {x}, const {T}& {y}) {{ return {x}{key} {cmp} {y}{key}; }}"
    sl = f"parlay::make_slice(&{so.array}[0], &{so.array}[0] + {n})"
    fn = "parlay::stable_sort_inplace" if so.field else "parlay::sort_inplace"
    lines = [f"const auto {n} = {so.count};", f"if ({n} > 1) {fn}({sl}, {less});"]
    if so.index_declared_outside:  # a loop from L to n leaves its index at max(L, n)
        lines.append(f"{so.index_var} = {n} > static_cast<decltype({n})>({so.lower}) ? {n} : "
                     f"static_cast<decltype({n})>({so.lower});")
    return [Candidate(loop_text=wrap(lines), includes=[PRIM, SLICE, "<type_traits>"], origin="rule:sort-inplace",
                      description=(f"the insertion sort leaves `{so.array}[0..{so.count})` sorted "
                                   f"{'descending' if so.descending else 'ascending'}"
                                   f"{' by .' + so.field if so.field else ''}: {fn} of that range"),
                      params={"algorithm": "stable_sort" if so.field else "sort"})]


__all__ = ["sort_candidates"]
