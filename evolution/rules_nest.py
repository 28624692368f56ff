"""Rule templates for nests whose selected loop stays sequential: its parallel inner loops.

For ``pattern == "inner"`` (:mod:`parevo.toolchain.facts_nest`) the selected
loop keeps its text, and each inner loop the facts found parallelizable is
replaced by a rewrite the other rules propose for it as a site of its own.
Candidate ``j`` takes the ``j``-th rewrite of every such inner loop (its last
one when it has fewer), so the first candidate combines each inner loop's
first choice. The description says the outer loop stays sequential and why.
"""

from __future__ import annotations

from collections.abc import Callable

from parevo.evolution.candidates import Candidate
from parevo.toolchain.facts import analyze
from parevo.toolchain.facts_nest import inner_site
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.splice import reindent
from parevo.toolchain.syntax import node_at


def inner_candidates(site: ParsedSite, facts: LoopFacts,
                     propose: Callable[[ParsedSite, LoopFacts], list[Candidate]]) -> list[Candidate]:
    """Candidates for ``pattern == "inner"``: the outer loop as written around rewritten inner loops."""
    per_loop = []
    for il in facts.inner_parallel:
        node = node_at(site.root, il.span.start_byte, il.span.end_byte)
        if node is None:
            continue
        sub = inner_site(site, node)
        cands = propose(sub, analyze(sub))
        if cands:
            per_loop.append((sub, il, cands))
    if not per_loop:
        return []
    src = site.src
    out = []
    for j in range(max(len(c) for _s, _il, c in per_loop)):
        data = src[site.loop.start_byte:site.loop.end_byte]
        picked = []
        for sub, il, cands in sorted(per_loop, key=lambda x: x[1].span.start_byte, reverse=True):
            c = cands[min(j, len(cands) - 1)]
            picked.append((il, c))
            a, b = il.span.start_byte - site.loop.start_byte, il.span.end_byte - site.loop.start_byte
            data = data[:a] + reindent(c.loop_text, sub.indent).encode("utf-8") + data[b:]
        picked.reverse()
        text = data.decode("utf-8")
        lines = text.split("\n")
        text = "\n".join([lines[0]] + [ln[len(site.indent):] if ln.startswith(site.indent) else ln
                                       for ln in lines[1:]])
        includes = []
        for _il, c in picked:
            includes += [i for i in c.includes if i not in includes]
        inner = "; ".join(f"inner loop at line {il.line + 1}: {c.description}" for il, c in picked)
        out.append(Candidate(
            loop_text=text, includes=includes, origin=picked[0][1].origin,
            description=(f"the outer loop stays sequential ({facts.sequential_outer}); {inner}"),
            params=dict(picked[0][1].params, nest="inner"),
        ))
    return out


__all__ = ["inner_candidates"]
