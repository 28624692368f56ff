"""Rule-based ParlayLib candidates (no LLM): pattern → rewrite templates.

``propose(site, facts)`` returns faithful rewrites of the selected loop of a
:class:`~parevo.toolchain.site.ParsedSite` (its body nodes and the declared
types of its variables; nothing is parsed again), best first, each a :class:`~parevo.evolution.candidates.Candidate` whose
``loop_text`` replaces ``site.loop`` (a block ``{ … }``) and whose
``includes`` are the headers it needs. Every template reuses the loop's own
body text, with the loop index rebound to its own type and lower bound
inside the lambda (:mod:`parevo.evolution.rule_frame`), so the rewrite keeps
the loop's semantics up to the reassociation of its monoid.

Per pattern (see the modules for the templates):

* ``map``/``nest``: ``parallel_for`` with default granularity; a blocked
  variant (serial inner loop over blocks of 2048 iterations); one contiguous
  chunk per worker; explicit granularities; a ``tabulate`` variant for a body
  ``out[i] = expr;``. A loop writing packed storage (``std::vector<bool>``,
  ``std::bitset``) gets only word-aligned blocks and chunks and the
  byte-per-element temporary (:mod:`parevo.evolution.rules_packed`);
* ``reduction``/``argminmax``: :mod:`parevo.evolution.rules_reduce`;
* ``histogram``/``scan``/``filter``: :mod:`parevo.evolution.rules_collect`;
* ``search``: :mod:`parevo.evolution.rules_search`.

Loops that are already parallel, not parallelizable, or of unknown pattern get
no candidates.
"""

from __future__ import annotations

from parevo.evolution.candidates import Candidate
from parevo.evolution.rule_frame import (
    Frame,
    Names,
    body_lines,
    build_frame,
    call_with_lambda,
    continue_edits,
    indent,
    lam,
    wrap,
)
from parevo.evolution.rules_packed import WORD, layout, via_bytes
from parevo.evolution.rules_collect import filter_candidates, histogram_candidates, scan_candidates
from parevo.evolution.rules_reduce import PRIM, SEQ, argext_candidates, reduction_candidates, top_statements
from parevo.evolution.rules_nest import inner_candidates
from parevo.evolution.rules_sort import sort_candidates
from parevo.evolution.rules_stl import algorithm_candidates
from parevo.evolution.rules_graph import frontier_candidates, relaxation_candidates
from parevo.evolution.rules_search import search_candidates
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.normalize import normalize
from parevo.toolchain import syntax
from parevo.toolchain.site import ParsedSite

PAR = "<parlay/parallel.h>"
BLOCK = 2048


def _parallel_for(site: ParsedSite, facts: LoopFacts, fr: Frame, granularity: int, origin: str) -> Candidate:
    body = body_lines(site, facts, continue_edits(facts, "return;"))
    suffix = ");" if granularity == 0 else f", {granularity});"
    lines = list(fr.prologue)
    lines += call_with_lambda(f"parlay::parallel_for({fr.start}, {fr.end}, ", lam(fr.index_param, fr.index_bind, body),
                              suffix)
    lines += fr.epilogue
    g = "default granularity" if granularity == 0 else f"granularity {granularity}"
    return Candidate(loop_text=wrap(lines), includes=[PAR], origin=origin,
                     description=f"parlay::parallel_for over the loop's iterations ({g}), body unchanged",
                     params={"granularity": granularity})


def _blocked(site: ParsedSite, facts: LoopFacts, fr: Frame, block: int) -> Candidate:
    names = fr.names.fork()
    b, kk, last, B = names.get("blk"), names.get("kk"), names.get("last"), names.get("block")
    body = body_lines(site, facts)  # `continue` keeps its meaning in the serial inner loop
    bind = fr.bind_at(kk)
    lines = list(fr.prologue) + [f"const size_t {B} = {block};"]  # the knob `param:block` changes
    lines += [f"parlay::parallel_for(0, ({fr.count} + {B} - 1) / {B}, [&](size_t {b}) {{"]
    inner = [f"const size_t {last} = std::min<size_t>({fr.count}, ({b} + 1) * {B});",
             f"for (size_t {kk} = {b} * {B}; {kk} < {last}; ++{kk}) {{"]
    inner += indent(bind + body) + ["}"]
    lines += indent(inner) + ["}, 1);"] + fr.epilogue
    return Candidate(loop_text=wrap(lines), includes=[PAR, "<algorithm>"], origin="rule:parallel-for-blocked",
                     description=(f"parlay::parallel_for over blocks of {block} iterations, each block a serial loop "
                                  "running the original body"),
                     params={"block": block}, knobs={"block": B})


def _chunks(site: ParsedSite, facts: LoopFacts, fr: Frame, per_worker: int = 1, word: int = 0) -> Candidate | None:
    """``per_worker x num_workers()`` contiguous chunks, each running the original loop header over its
    part of the range with the original index type (so the compiler vectorizes it as it did the serial
    loop); granularity 1, so each chunk is one task. Counted ``for`` loops with step +1 only. With
    ``word`` (64 for packed storage), every chunk boundary but the range's end is rounded down to a
    multiple of ``word`` iterations, so no word of a ``std::vector<bool>`` is split between chunks.

    Why: a fine-grained ``parallel_for`` calls the body through a lambda per index and splits by
    work stealing, which on a 2-vCPU VM measured 0.94x-1.04x on a 3-point stencil at n = 2^20 where
    two static chunks measured 1.44x-1.87x (4 of 5 runs; 0.99x in one), in a standalone
    microbenchmark (best of 50 calls, g++ -O3).
    """
    if (facts.range_var or not facts.index_var or facts.step != 1 or facts.index_declared_outside
            or fr.index_type.startswith("decltype") or facts.aliases):
        return None
    names = fr.names.fork()
    ch, c, b, e, W = (names.get(x) for x in ("chunks", "c", "b", "e", "per_worker"))
    T, var = fr.index_type, fr.var
    first = fr.index_at("0")
    body = body_lines(site, facts)  # `continue` keeps its meaning in the serial inner loop
    lines = list(fr.prologue)
    lines += [f"const size_t {W} = {per_worker};",  # the knob `param:block` changes
              f"const size_t {ch} = std::max<size_t>(1, std::min<size_t>({fr.count}, "
              f"{W} * parlay::num_workers()));",
              f"parlay::parallel_for(0, {ch}, [&](size_t {c}) {{"]
    if word:
        lo_p = f"{fr.count} * {c} / {ch} / {word} * {word}"
        hi_p = f"{c} + 1 == {ch} ? {fr.count} : {fr.count} * ({c} + 1) / {ch} / {word} * {word}"
    else:
        lo_p, hi_p = f"{fr.count} * {c} / {ch}", f"{fr.count} * ({c} + 1) / {ch}"
    inner = [f"const {T} {b} = static_cast<{T}>({first} + static_cast<{T}>({lo_p}));",
             f"const {T} {e} = static_cast<{T}>({first} + static_cast<{T}>({hi_p}));",
             f"for ({T} {var} = {b}; {var} < {e}; ++{var}) {{"]
    inner += indent(body) + ["}"]
    lines += indent(inner) + ["}, 1);"] + fr.epilogue
    params: dict = {"blocks_per_worker": per_worker}
    if word:
        params["word"] = word
    return Candidate(loop_text=wrap(lines), includes=[PAR, "<algorithm>"],
                     origin="rule:parallel-for-word-chunks" if word else "rule:parallel-for-chunks",
                     description=(f"{per_worker} contiguous chunk(s) per worker, each running the original loop "
                                  "over its part of the range" + (f", chunk boundaries on {word}-element words"
                                                                  if word else "")),
                     params=params, knobs={"blocks_per_worker": W})


def _tabulate(site: ParsedSite, facts: LoopFacts, fr: Frame) -> Candidate | None:
    stmts = top_statements(site, facts)
    if len(stmts) != 1 or len(facts.writes_at_index) != 1 or facts.continues:
        return None
    st = stmts[0]
    w = facts.writes_at_index[0]
    if st.type != "expression_statement" or w.op != "=" or w.value is None or w.span is None:
        return None
    e = st.named_children[0] if st.named_child_count else None
    if e is None or (e.start_byte, e.end_byte) != (w.span.start_byte, w.span.end_byte):
        return None
    src = site.source.encode("utf-8")
    left = e.child_by_field_name("left")
    target = src[left.start_byte:left.end_byte].decode("utf-8")
    names = fr.names.fork()
    vals = names.get("vals")
    lines = list(fr.prologue)
    lines += call_with_lambda(f"const auto {vals} = parlay::tabulate({fr.count}, ",
                              lam(fr.pos_param, fr.pos_bind, [f"return {w.value};"]), ");")
    lines += call_with_lambda(f"parlay::parallel_for(0, {fr.count}, ",
                              lam(fr.pos_param, fr.pos_bind, [f"{target} = {vals}[{fr.pos_param}];"]), ");")
    lines += fr.epilogue
    return Candidate(loop_text=wrap(lines), includes=[PRIM, SEQ, PAR], origin="rule:tabulate",
                     description="parlay::tabulate of the assigned values, then copied into the output in parallel",
                     params={"sequence": "materialized"})


def map_candidates(site: ParsedSite, facts: LoopFacts, fr: Frame) -> list[Candidate]:
    """Candidates for ``map`` and ``nest`` (outer loop of a nest: inner loops stay serial)."""
    nest = facts.pattern == "nest" or facts.inner_loops > 0
    if facts.packed_writes:
        return packed_candidates(site, facts, fr)
    out = [_parallel_for(site, facts, fr, 0, "rule:parallel-for")]
    if not nest:
        out.append(_blocked(site, facts, fr, BLOCK))
    chunks = _chunks(site, facts, fr)
    if chunks is not None:
        out.append(chunks)
    if nest:
        out.append(_parallel_for(site, facts, fr, 1, "rule:parallel-for-grain"))
        out.append(_parallel_for(site, facts, fr, 16, "rule:parallel-for-grain"))
    else:
        out.append(_parallel_for(site, facts, fr, 1024, "rule:parallel-for-grain"))
        tab = _tabulate(site, facts, fr)
        if tab is not None:
            out.append(tab)
    return out


def packed_candidates(site: ParsedSite, facts: LoopFacts, fr: Frame) -> list[Candidate]:
    """Candidates for a map or nest writing ``std::vector<bool>``/``std::bitset`` (its ``packed_writes``):
    word-aligned blocks and chunks when the iterations line up with the words, else the byte-per-element
    temporary copied back by whole words, else none (:mod:`parevo.evolution.rules_packed`)."""
    ways = layout(facts)
    out: list[Candidate] = []
    if "aligned" in ways:
        assert BLOCK % WORD == 0
        out.append(_blocked(site, facts, fr, BLOCK))
        chunks = _chunks(site, facts, fr, word=WORD)
        if chunks is not None:
            out.append(chunks)
    if "bytes" in ways:
        out.append(via_bytes(site, facts, fr))
    return out


_PATTERNS = {
    "map": map_candidates,
    "nest": map_candidates,
    "reduction": reduction_candidates,
    "argminmax": argext_candidates,
    "histogram": histogram_candidates,
    "scan": scan_candidates,
    "filter": filter_candidates,
    "search": search_candidates,
}


#: Patterns whose rewrite keeps the selected loop sequential and needs no iteration frame.
_WHOLE_LOOP: dict = {
    "frontier": frontier_candidates,
    "relaxation": relaxation_candidates,
    "sort": sort_candidates,
}


def propose(site: ParsedSite, facts: LoopFacts) -> list[Candidate]:
    """Rule-based ParlayLib rewrites of ``site``'s loop, best first.

    Returns ``[]`` for loops that are already parallel, not parallelizable as
    they stand, of unknown pattern, or whose header parevo could not
    normalise. Each candidate's ``origin`` is ``rule:<name>``; ``params``
    holds the variant's knobs (granularity, delayed/materialized, strategy).
    Never raises on a well-formed ``(site, facts)`` pair.
    """
    if facts.already_parallel or not facts.parallelizable:
        return []
    nz = normalize(site)
    if nz is not None:  # the facts describe the normalized loop: so do the templates
        return [c.model_copy(update={"loop_text": nz.wrap(c.loop_text)}) for c in _propose(nz.site, facts)]
    return _propose(site, facts)


def _propose(site: ParsedSite, facts: LoopFacts) -> list[Candidate]:
    if facts.packed_writes and facts.pattern not in ("map", "nest", "inner"):
        return []  # packed storage written by a reduction, scan, … loop: no template keeps it word-aligned
    whole = _WHOLE_LOOP.get(facts.pattern)
    if facts.algorithm is not None:
        made = algorithm_candidates(site, facts)
    elif facts.pattern == "inner":
        made = inner_candidates(site, facts, propose)
    elif whole is not None:
        made = whole(site, facts)
    else:
        make = _PATTERNS.get(facts.pattern)
        fr = build_frame(site, facts, Names(site)) if make is not None else None
        if make is None or fr is None:
            return []
        made = make(site, facts, fr)
    cands = [_needed_includes_only(c) for c in made]
    seen: set[str] = set()
    out = []
    for c in cands:
        if c.id not in seen:
            seen.add(c.id)
            out.append(c)
    return out


# standard headers a template may list, and the names after ``std::`` that show the rewrite needs them
_STD_USES = {
    "<algorithm>": {"min", "max", "sort", "fill", "copy", "swap", "min_element", "max_element"},
    "<limits>": {"numeric_limits"},
    "<tuple>": {"tuple", "get", "make_tuple", "tie"},
    "<utility>": {"pair", "make_pair", "move"},
    "<atomic>": {"atomic", "atomic_ref", "atomic_thread_fence", "memory_order_relaxed", "memory_order"},
}


def _std_names(c: Candidate) -> set[str]:
    """The names the code spells as ``std::NAME`` (tokens of its parse: a comment or a string literal
    holding ``std::min`` is not a use)."""
    t = c.tree
    leaves = [n for n in syntax.walk(t.root) if n.child_count == 0]
    return {t.node_text(c3) for c1, c2, c3 in zip(leaves, leaves[1:], leaves[2:])
            if c2.type == "::" and t.node_text(c1) == "std"
            and c3.type in ("identifier", "type_identifier", "namespace_identifier", "field_identifier")}


def _needed_includes_only(c: Candidate) -> Candidate:
    """Drop standard headers the rewrite's code does not use, so the user's file gains
    only the ``#include`` lines the rewrite needs (ParlayLib headers are kept)."""
    used = _std_names(c)
    keep = [inc for inc in c.includes if inc not in _STD_USES or _STD_USES[inc] & used]
    return c if keep == c.includes else c.model_copy(update={"includes": keep})


__all__ = ["propose", "map_candidates", "PRIM"]
