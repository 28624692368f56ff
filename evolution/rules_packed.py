"""Rewrites of loops that write packed storage: ``std::vector<bool>`` and ``std::bitset``.

Both store 64 elements per ``unsigned long`` word, and writing one element is a
read-modify-write of its whole word. Two workers writing neighbouring elements
race on that word unless each worker's range starts and ends on a word boundary
(issue 11, item 2; measured: one chunk per worker over ``std::vector<bool>``
is ThreadSanitizer-clean at n = 262,144 and a data race at n = 1000 and 100,003
with 4 workers). So a loop with a :class:`~parevo.toolchain.models.PackedWrite`
gets only these rewrites (:func:`layout` decides which apply):

* ``aligned``: word-aligned blocks of iterations — the blocked rewrite (blocks
  of :data:`~parevo.evolution.rules.BLOCK` iterations, a multiple of 64, from
  iteration 0) and the chunk rewrite with chunk boundaries rounded down to a
  multiple of 64 iterations. Word-aligned in the elements when the loop counts
  up by one from a literal multiple of 64 (usually 0) or ranges over the
  container, and every packed write is at ``i + k`` with k a multiple of 64 or
  row-major (``a[i * W + j]``: a block of 64·m rows holds 64·m·W elements);
* ``bytes``: the loop runs on a byte-per-element temporary
  (``parlay::sequence<bool>``, filled from the container so elements the body
  leaves alone keep their value), in any order and granularity, then the
  temporary is copied back one word per task (``parallel_for`` over the words
  the range touches, each copying its 64 elements serially). Needs the loop to
  count up by one and every packed write and read to be ``out[i]`` itself;
  its lower bound may be anything.

Nothing else is proposed for such a loop: ``parallel_for`` at the library's
granularity or a fixed one, and contiguous chunks at arbitrary indices, split
the container mid-word.
"""

from __future__ import annotations

from parevo.evolution.candidates import Candidate
from parevo.evolution.rule_frame import (
    Frame,
    body_lines,
    call_with_lambda,
    continue_edits,
    indent,
    lam,
    wrap,
)
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import ParsedSite

#: Elements of a ``std::vector<bool>``/``std::bitset`` word (libstdc++: ``unsigned long``).
WORD = 64
PAR = "<parlay/parallel.h>"
PRIM = "<parlay/primitives.h>"
SEQ = "<parlay/sequence.h>"


def packed_arrays(facts: LoopFacts) -> list[str]:
    """The packed containers the loop writes, in order of first write."""
    out: list[str] = []
    for p in facts.packed_writes:
        if p.array not in out:
            out.append(p.array)
    return out


def layout(facts: LoopFacts) -> set[str]:
    """Which packed-safe rewrites apply: a subset of ``{"aligned", "bytes"}`` (empty: none does).

    Only meaningful when ``facts.packed_writes`` is not empty.
    """
    out: set[str] = set()
    rng = (facts.range_expr or "").strip()
    if facts.range_var:  # positions are the container's own elements when it is the range
        starts_on_word = all(p.array == rng for p in facts.packed_writes)
    else:
        lower = (facts.lower or "").strip()
        starts_on_word = facts.step == 1 and lower.isdigit() and int(lower) % WORD == 0
    if starts_on_word and all(p.offset is None or p.offset % WORD == 0 for p in facts.packed_writes):
        out.add("aligned")
    names = set(packed_arrays(facts))
    if (facts.index_var and not facts.range_var and facts.step == 1 and not facts.index_declared_outside
            and all(p.offset == 0 and p.span is not None for p in facts.packed_writes)
            and all(r.index.strip() == facts.index_var for r in facts.reads if r.array in names)):
        out.add("bytes")
    return out


def via_bytes(site: ParsedSite, facts: LoopFacts, fr: Frame) -> Candidate:
    """The ``bytes`` rewrite: the body on byte-per-element temporaries, copied back one word per task."""
    names = fr.names.fork()
    arrays = packed_arrays(facts)
    tmp = {a: names.get("bytes") for a in arrays}
    lo, hi, w, e, e1 = (names.get(x) for x in ("lo_elem", "hi_elem", "word", "e", "e_end"))
    k = fr.pos_param
    edits = [(p.span.start_byte, p.span.end_byte, f"{tmp[p.array]}[{k}]") for p in facts.packed_writes
             if p.span is not None]
    for r in facts.reads:
        if r.array in tmp and r.span is not None and not any(s <= r.span.start_byte < t for s, t, _ in edits):
            edits.append((r.span.start_byte, r.span.end_byte, f"{tmp[r.array]}[{k}]"))
    body = body_lines(site, facts, edits + continue_edits(facts, "return;"))
    lines = list(fr.prologue)
    lines += [f"const size_t {lo} = static_cast<size_t>({fr.index_at('0')});",  # the element of iteration 0
              f"const size_t {hi} = {lo} + {fr.count};"]
    for a in arrays:  # the old values, one byte each: elements the body does not write keep them
        lines += [f"auto {tmp[a]} = parlay::tabulate({fr.count}, [&](size_t {k}) -> bool {{ "
                  f"return {a}[{lo} + {k}]; }});"]
    lines += call_with_lambda(f"parlay::parallel_for(0, {fr.count}, ", lam(k, fr.pos_bind, body), ");")
    copy = [f"const size_t {e1} = std::min({hi}, ({w} + 1) * {WORD});",
            f"for (size_t {e} = std::max({lo}, {w} * {WORD}); {e} < {e1}; ++{e}) {{"]
    copy += indent([f"{a}[{e}] = {tmp[a]}[{e} - {lo}];" for a in arrays]) + ["}"]
    lines += [f"parlay::parallel_for({lo} / {WORD}, ({hi} + {WORD - 1}) / {WORD}, [&](size_t {w}) {{"]
    lines += indent(copy) + ["});"] + fr.epilogue
    what = ", ".join(f"`{a}`" for a in arrays)
    return Candidate(loop_text=wrap(lines), includes=[PAR, PRIM, SEQ, "<algorithm>"], origin="rule:packed-bytes",
                     description=(f"parlay::parallel_for over the iterations writing a byte per element of {what}, "
                                  f"then copied back one {WORD}-bit word per task"),
                     params={"word": WORD})


__all__ = ["WORD", "layout", "packed_arrays", "via_bytes"]
