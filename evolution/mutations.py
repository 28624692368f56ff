"""Rule-based parameter mutations: one-step neighbours of a candidate's text.

These are the search's operators when no LLM is configured, and the cheap
operators beside the LLM ones when one is. Each works on the candidate's
text (loop or function), so it applies to rule and LLM candidates alike:

* ``param:granularity``: set the granularity argument of each
  ``parlay::parallel_for(start, end, f[, g])`` and ``parlay::tabulate(n, f[, g])``
  / ``parlay::map(r, f[, g])`` call to one of :data:`GRANULARITIES` (0 = the
  library's automatic choice);
* ``param:sequence``: delayed ↔ materialized sequences
  (``delayed_tabulate`` ↔ ``tabulate``, ``delayed_map`` ↔ ``map``): a delayed
  sequence avoids writing a temporary, a materialized one computes each
  element once (toolchain.md measured 1.73x against 0.29x for the two forms of
  one reduction);
* ``param:primitive``: ``parallel_for`` over iterations → ``blocked_for`` over
  blocks of :data:`BLOCKS` iterations, each a serial loop (only when the
  lambda body has no ``return``, whose meaning would change); and
  ``reduce(tabulate(n, f), m)`` → a reduction over blocks, each block summed
  serially with the same monoid;
* ``param:block``: change the block size, minimum block or blocks-per-worker
  knobs of candidates that declare them in ``params`` (rule variants such as
  ``rule:parallel-for-blocked``, ``rule:histogram-blocks``, ``rule:scan-blocked``).

Mutations are syntactic and may produce code that does not compile or is not
faster; the cascade decides. They never change what the loop computes except
through reassociation, which the rules already rely on.
"""

from __future__ import annotations

import re

from .candidates import Candidate
from .cpptext import find_calls, int_literal

GRANULARITIES = (0, 1, 16, 256, 1024, 4096, 16384)
BLOCKS = (512, 2048, 8192, 32768)
MIN_BLOCKS = (1024, 4096, 16384)
BLOCKS_PER_WORKER = (1, 2, 4, 8)
PAR = "<parlay/parallel.h>"
PRIM = "<parlay/primitives.h>"

_LAMBDA = re.compile(
    r"^\[(?P<cap>[^\]]*)\]\s*\(\s*(?:const\s+)?(?P<type>[\w:]+(?:\s+[\w:]+)*)\s+(?P<var>\w+)\s*\)\s*"
    r"(?:mutable\s*)?(?:->\s*[\w:<>]+\s*)?\{(?P<body>.*)\}$", re.S)


def _child(parent: Candidate, text: str, knob: str, description: str, params: dict,
           includes: list[str] | None = None) -> Candidate:
    incs = list(parent.includes)
    for inc in includes or []:
        if inc not in incs:
            incs.append(inc)
    new_params = dict(parent.params)
    new_params.update(params)
    fields = dict(includes=incs, origin=f"mut:{knob}", description=description, params=new_params,
                  parent_id=parent.id, parent_ids=[parent.id])
    if parent.function_text is not None:
        return Candidate(function_text=text, **fields)
    return Candidate(loop_text=text, **fields)


def _replace(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def granularity_mutations(cand: Candidate) -> list[Candidate]:
    """Every other granularity for every ``parallel_for``/``tabulate``/``map`` call with a literal (or no) one."""
    text = cand.code
    out = []
    for idx, call in enumerate(find_calls(text, r"parlay::(parallel_for|tabulate|map)")):
        pos = 3 if call.name.endswith("parallel_for") else 2
        if len(call.args) < pos:
            continue
        current = 0
        if len(call.args) > pos:
            lit = int_literal(call.arg(text, pos))
            if lit is None:
                continue
            current = lit
        for g in GRANULARITIES:
            if g == current:
                continue
            if len(call.args) > pos:
                if g == 0 and len(call.args) == pos + 1:  # drop the argument: back to automatic
                    new = _replace(text, call.args[pos - 1][1], call.args[pos][1], "")
                else:
                    new = _replace(text, call.args[pos][0], call.args[pos][1], str(g))
            else:
                new = _replace(text, call.args[pos - 1][1], call.args[pos - 1][1], f", {g}")
            what = "automatic granularity" if g == 0 else f"granularity {g}"
            out.append(_child(cand, new, "granularity",
                              f"{call.name} call #{idx + 1} with {what}", {"granularity": g}))
    return out


_SEQ_SWAPS = [
    ("delayed", re.compile(r"\bparlay::tabulate\s*\("), "parlay::delayed_tabulate("),
    ("delayed", re.compile(r"\bparlay::map\s*\("), "parlay::delayed_map("),
    ("materialized", re.compile(r"\bparlay::delayed_tabulate\s*\("), "parlay::tabulate("),
    ("materialized", re.compile(r"\bparlay::(?:delayed_map|delayed::map)\s*\("), "parlay::map("),
]


def sequence_mutations(cand: Candidate) -> list[Candidate]:
    """Delayed ↔ materialized: all ``tabulate``/``map`` calls of one kind switched at once."""
    text = cand.code
    out = []
    for form, pat, repl in _SEQ_SWAPS:
        if not pat.search(text):
            continue
        new = text
        if form == "delayed":  # delayed forms take no granularity argument: drop it
            for call in reversed(find_calls(new, r"parlay::(tabulate|map)")):
                if len(call.args) == 3:
                    new = _replace(new, call.args[1][1], call.args[2][1], "")
        new = pat.sub(repl, new)
        incs = [PRIM, "<parlay/delayed.h>"] if form == "delayed" else [PRIM, "<parlay/sequence.h>"]
        out.append(_child(cand, new, "sequence", f"{form} sequences instead of "
                          f"{'materialized' if form == 'delayed' else 'delayed'} ones", {"sequence": form}, incs))
    return out


def _blocked_for(text: str, call, block: int) -> str | None:
    if len(call.args) < 3:
        return None
    lam = _LAMBDA.match(call.arg(text, 2))
    if lam is None or re.search(r"\breturn\b", lam.group("body")):
        return None
    typ, var, body = lam.group("type"), lam.group("var"), lam.group("body")
    init = "lo_pv" if typ in ("size_t", "std::size_t", "auto") else f"static_cast<{typ}>(lo_pv)"
    bound = "hi_pv" if typ in ("size_t", "std::size_t", "auto") else f"static_cast<{typ}>(hi_pv)"
    if typ == "auto":
        typ = "size_t"
    new_lambda = (f"[{lam.group('cap')}](size_t, size_t lo_pv, size_t hi_pv) {{\n"
                  f"for ({typ} {var} = {init}; {var} < {bound}; ++{var}) {{{body}}}\n}}")
    start, end = call.arg(text, 0), call.arg(text, 1)
    return _replace(text, call.start, call.close + 1,
                    f"parlay::blocked_for({start}, {end}, {block}, {new_lambda})")


def _blocked_reduce(text: str, call, block: int) -> str | None:
    if len(call.args) != 2:
        return None
    inner = find_calls(call.arg(text, 0), r"parlay::(delayed_)?tabulate")
    if not inner or inner[0].start != 0 or len(inner[0].args) != 2:
        return None
    seq = call.arg(text, 0)
    n, f = inner[0].arg(seq, 0), inner[0].arg(seq, 1)
    m = call.arg(text, 1)
    blocks = (f"[&](size_t blk_pv) {{\n"
              f"  auto m_pv = {m};\n  auto f_pv = {f};\n  auto acc_pv = m_pv.identity;\n"
              f"  const size_t n_pv = static_cast<size_t>({n});\n"
              f"  const size_t lo_pv = blk_pv * {block}, hi_pv = std::min<size_t>(n_pv, lo_pv + {block});\n"
              f"  for (size_t k_pv = lo_pv; k_pv < hi_pv; ++k_pv) acc_pv = m_pv(acc_pv, f_pv(k_pv));\n"
              f"  return acc_pv;\n}}")
    new = (f"parlay::reduce(parlay::delayed_tabulate((static_cast<size_t>({n}) + {block - 1}) / {block}, "
           f"{blocks}), {m})")
    return _replace(text, call.start, call.close + 1, new)


def primitive_mutations(cand: Candidate) -> list[Candidate]:
    """``parallel_for`` → ``blocked_for`` and ``reduce(tabulate)`` → blocked reduction, per block size."""
    text = cand.code
    out = []
    for call in find_calls(text, r"parlay::parallel_for"):
        for b in BLOCKS:
            new = _blocked_for(text, call, b)
            if new is not None:
                out.append(_child(cand, new, "primitive", f"parlay::blocked_for over blocks of {b} iterations",
                                  {"primitive": "blocked_for", "block": b}, [PAR]))
        break  # the first (outermost) parallel_for only
    for call in find_calls(text, r"parlay::reduce"):
        for b in BLOCKS:
            new = _blocked_reduce(text, call, b)
            if new is not None:
                out.append(_child(cand, new, "primitive", f"reduction over blocks of {b}, each summed serially",
                                  {"primitive": "blocked-reduce", "block": b}, [PRIM, "<parlay/delayed.h>",
                                                                                "<algorithm>"]))
        break
    return out


def _swap_literal(text: str, old: int, new: int) -> str:
    return re.sub(rf"(?<![\w.]){old}(?![\w.])", str(new), text)


def block_mutations(cand: Candidate) -> list[Candidate]:
    """Other values of the ``block``, ``min_block`` and ``blocks_per_worker`` knobs a candidate declares."""
    text = cand.code
    out = []
    b = cand.params.get("block")
    if isinstance(b, int) and not isinstance(b, bool) and b > 1 and re.search(rf"(?<![\w.]){b}(?![\w.])", text):
        for nb in BLOCKS:
            if nb != b:
                new = _swap_literal(_swap_literal(text, b - 1, nb - 1), b, nb)
                out.append(_child(cand, new, "block", f"blocks of {nb} instead of {b}", {"block": nb}))
    mb = cand.params.get("min_block")
    if isinstance(mb, int) and not isinstance(mb, bool) and re.search(rf"(?<![\w.]){mb}(?![\w.])", text):
        for nm in MIN_BLOCKS:
            if nm != mb:
                out.append(_child(cand, _swap_literal(text, mb, nm), "block", f"minimum block {nm} instead of {mb}",
                                  {"min_block": nm}))
    k = cand.params.get("blocks_per_worker")
    pat = re.compile(rf"(?<![\w.]){k}\s*\*\s*parlay::num_workers\(\)")
    if isinstance(k, int) and not isinstance(k, bool) and pat.search(text):
        for nk in BLOCKS_PER_WORKER:
            if nk != k:
                out.append(_child(cand, pat.sub(f"{nk} * parlay::num_workers()", text), "block",
                                  f"{nk} blocks per worker instead of {k}", {"blocks_per_worker": nk}))
    return out


OPERATORS = {
    "param:granularity": granularity_mutations,
    "param:sequence": sequence_mutations,
    "param:primitive": primitive_mutations,
    "param:block": block_mutations,
}


def param_mutations(cand: Candidate) -> list[tuple[str, Candidate]]:
    """Every one-step neighbour of ``cand`` as ``(operator, candidate)``, in a fixed order
    (operators as in :data:`OPERATORS`, then call order, then knob value); ids unique."""
    out: list[tuple[str, Candidate]] = []
    seen = {cand.id}
    for op, fn in OPERATORS.items():
        for child in fn(cand):
            if child.id not in seen:
                seen.add(child.id)
                out.append((op, child))
    return out
