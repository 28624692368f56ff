"""Nests whose selected loop carries a dependence: the inner loops that can run in parallel.

An elimination step (``for k: for i > k: for j: a[i][j] -= f * a[k][j]``), a
time-stepping loop around a sweep, a ``while`` loop around a map: the selected
loop is sequential, but within one of its iterations an inner loop may have
independent iterations. :func:`inner_parallel_loops` reads each outermost loop
inside the selected loop's body (not one nested in another inner loop) as a
site of its own (same file, same function: the outer index and the body's
locals are declared before it) and keeps those the facts analysis finds
parallelizable. The rewrite (:mod:`parevo.evolution.rules_nest`) keeps the
outer loop as written and replaces those inner loops; it is verified like any
other candidate.
"""

from __future__ import annotations

from collections.abc import Callable

from .models import InnerLoop, LoopFacts
from .site import ParsedSite
from .syntax import LOOP_TYPES, ancestors, line_of, loops_in, span_of


def inner_site(site: ParsedSite, loop) -> ParsedSite:
    """The site of ``loop``, a loop inside ``site``'s loop (the same parse, file and function)."""
    from .parsing import build_site  # parsing builds sites; this module only reads them

    return build_site(site.source, site.path, site.tree, site.function_node, loop, LOOP_TYPES[loop.type])


def inner_parallel_loops(site: ParsedSite, analyze: Callable[[ParsedSite], LoopFacts]) -> list[InnerLoop]:
    """The outermost loops inside ``site``'s loop body whose own facts are parallelizable, in source order."""
    body = site.loop_node.child_by_field_name("body")
    if body is None:
        return []
    out = []
    for loop in loops_in(body):
        between = [p for p in ancestors(loop, site.loop_node) if p.type in LOOP_TYPES or p.type == "lambda_expression"]
        if between:
            continue
        facts = analyze(inner_site(site, loop))
        if facts.parallelizable and not facts.already_parallel:
            out.append(InnerLoop(span=span_of(loop), pattern=facts.pattern, line=line_of(loop),
                                 index_var=facts.index_var or facts.range_var))
    return out


__all__ = ["inner_parallel_loops", "inner_site"]
