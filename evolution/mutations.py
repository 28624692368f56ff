"""Rule-based parameter mutations: one-step neighbours of a candidate's text.

These are the search's operators when no LLM is configured, and the cheap
operators beside the LLM ones when one is. Each works on the candidate's
parse (:attr:`Candidate.tree`, loop or function), so it applies to rule and LLM
candidates alike, and replaces exactly the syntax node of the knob it owns: a
call's argument node or the literal of a constant the proposer declared,
never another literal that happens to have the same value. A candidate that
does not parse has no mutations.

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
  serially with the same monoid. The block size becomes a constant declared before the statement
  (``const size_t block_pv = 512;``), recorded in :attr:`Candidate.knobs`;
* ``param:block``: change the block size, minimum block or blocks-per-worker
  knobs a candidate declares as constants named in :attr:`Candidate.knobs`
  (rule variants such as ``rule:parallel-for-blocked``, ``rule:histogram-blocks``,
  ``rule:scan-blocked``, and the blocked primitives above): the constant's
  literal is found by a query on the parse and replaced, nothing else.

Mutations are syntactic and may produce code that does not compile or is not
faster; the cascade decides. They never change what the loop computes except
through reassociation, which the rules already rely on.
"""

from __future__ import annotations

from tree_sitter import Node

from parevo.toolchain import syntax

from .candidate_syntax import CandidateTree
from .candidates import Candidate

GRANULARITIES = (0, 1, 16, 256, 1024, 4096, 16384)
BLOCKS = (512, 2048, 8192, 32768)
MIN_BLOCKS = (1024, 4096, 16384)
BLOCKS_PER_WORKER = (1, 2, 4, 8)
PAR = "<parlay/parallel.h>"
PRIM = "<parlay/primitives.h>"

#: the granularity argument's position in each call that takes one (ParlayLib's signatures).
GRANULARITY_ARG = {"parlay::parallel_for": 3, "parlay::tabulate": 2, "parlay::map": 2}

#: the values ``param:block`` tries for each knob a candidate may declare.
KNOB_VALUES = {"block": BLOCKS, "min_block": MIN_BLOCKS, "blocks_per_worker": BLOCKS_PER_WORKER}


def _child(parent: Candidate, text: str, knob: str, description: str, params: dict,
           includes: list[str] | None = None, knobs: dict[str, str] | None = None) -> Candidate:
    incs = list(parent.includes)
    for inc in includes or []:
        if inc not in incs:
            incs.append(inc)
    new_params = dict(parent.params)
    new_params.update(params)
    new_knobs = dict(parent.knobs)
    new_knobs.update(knobs or {})
    fields = dict(includes=incs, origin=f"mut:{knob}", description=description, params=new_params,
                  knobs=new_knobs, parent_id=parent.id, parent_ids=[parent.id])
    if parent.function_text is not None:
        return Candidate(function_text=text, **fields)
    return Candidate(loop_text=text, **fields)


def _parsed(cand: Candidate) -> CandidateTree | None:
    t = cand.tree
    return None if t.problems() else t


def granularity_mutations(cand: Candidate) -> list[Candidate]:
    """Every other granularity for every ``parallel_for``/``tabulate``/``map`` call with a literal (or no) one.

    The granularity argument node (:data:`GRANULARITY_ARG`) is replaced, added after the
    last argument, or removed (granularity 0, the library's choice); nothing else changes.
    """
    t = _parsed(cand)
    if t is None:
        return []
    out = []
    for idx, call in enumerate(t.calls(GRANULARITY_ARG)):
        pos = GRANULARITY_ARG[call.name]
        args = call.args
        if len(args) < pos:
            continue
        current = 0
        if len(args) > pos:
            lit = syntax.int_literal(args[pos], t.src)
            if lit is None:
                continue
            current = lit
        for g in GRANULARITIES:
            if g == current:
                continue
            if len(args) > pos:
                if g == 0 and len(args) == pos + 1:  # drop the argument: back to automatic
                    edit = (args[pos - 1].end_byte, args[pos].end_byte, "")
                else:
                    edit = (args[pos].start_byte, args[pos].end_byte, str(g))
            else:
                edit = (args[pos - 1].end_byte, args[pos - 1].end_byte, f", {g}")
            what = "automatic granularity" if g == 0 else f"granularity {g}"
            out.append(_child(cand, t.edit([edit]), "granularity",
                              f"{call.name} call #{idx + 1} with {what}", {"granularity": g}))
    return out


_SEQ_SWAPS = [
    ("delayed", {"parlay::tabulate": "parlay::delayed_tabulate"}),
    ("delayed", {"parlay::map": "parlay::delayed_map"}),
    ("materialized", {"parlay::delayed_tabulate": "parlay::tabulate"}),
    ("materialized", {"parlay::delayed_map": "parlay::map", "parlay::delayed::map": "parlay::map"}),
]


def sequence_mutations(cand: Candidate) -> list[Candidate]:
    """Delayed ↔ materialized: all ``tabulate``/``map`` calls of one kind switched at once (the
    callee's name replaced, its template arguments kept; a delayed form takes no granularity,
    so a materialized call's granularity argument is dropped)."""
    t = _parsed(cand)
    if t is None:
        return []
    out = []
    for form, swaps in _SEQ_SWAPS:
        found = t.calls(swaps)
        if not found:
            continue
        edits = []
        for call in found:
            edits.append((call.callee.start_byte, syntax.name_end(call.callee), swaps[call.name]))
            if form == "delayed" and len(call.args) == 3:
                edits.append((call.args[1].end_byte, call.args[2].end_byte, ""))
        try:
            new = t.edit(edits)
        except ValueError:  # a swapped call inside a dropped granularity argument
            continue
        incs = [PRIM, "<parlay/delayed.h>"] if form == "delayed" else [PRIM, "<parlay/sequence.h>"]
        child = _child(cand, new, "sequence", f"{form} sequences instead of "
                       f"{'materialized' if form == 'delayed' else 'delayed'} ones", {"sequence": form}, incs)
        out.append(_without_unused_sequence_headers(child))
    return out


#: ParlayLib's sequence headers, and the calls (as spelled) or identifiers that need each one
_SEQ_HEADERS = {
    "<parlay/delayed.h>": (lambda name: name.startswith(("parlay::delayed_", "parlay::delayed::")), set()),
    "<parlay/sequence.h>": (lambda name: name in ("parlay::tabulate", "parlay::map", "parlay::to_sequence"),
                            {"sequence"}),
}


def _without_unused_sequence_headers(cand: Candidate) -> Candidate:
    """``cand`` without the ParlayLib sequence headers its code no longer uses (a delayed form switched to a
    materialized one drops ``<parlay/delayed.h>``), so it has the includes, and the id, of the same program
    proposed by a rule: a switch back to a rule's form is then recognised as that rule's candidate and not
    evaluated again (seen on sum_squares: two of a generation's four mutations were the rules' own candidates
    with one more header, each compiled, tested, race-checked and timed again)."""
    t = cand.tree
    if t.problems():
        return cand
    called = {c.name for c in t.calls()}
    named = t.identifiers()
    keep = [inc for inc in cand.includes if inc not in _SEQ_HEADERS
            or any(_SEQ_HEADERS[inc][0](n) for n in called) or _SEQ_HEADERS[inc][1] & named]
    return cand if keep == cand.includes else cand.model_copy(update={"includes": keep})


def _fresh(t: CandidateTree, base: str) -> str:
    taken = t.identifiers()
    name, k = base, 2
    while name in taken:
        name, k = f"{base}{k}", k + 1
    return name


def _declare_before(t: CandidateTree, node: Node, decl: str) -> tuple[int, int, str] | None:
    """The edit inserting the declaration ``decl`` before the block statement holding ``node``."""
    stmt = t.enclosing_statement(node)
    if stmt is None:
        return None
    return (stmt.start_byte, stmt.start_byte, f"{decl}\n{t.line_indent(stmt)}")


def _own_returns(lam: Node) -> bool:
    """True when the lambda ``lam`` has a ``return`` of its own (not one of a nested lambda's)."""
    for n in syntax.walk(lam):
        if n.type == "return_statement" and syntax.ancestor(n, {"lambda_expression"}) == lam:
            return True
    return False


def _one_param_lambda(t: CandidateTree, node: Node) -> tuple[str, str, str, str] | None:
    """``(captures, parameter type, parameter name, body)`` of a lambda ``[c](T i) { body }``."""
    if node.type != "lambda_expression":
        return None
    caps, decl, body = (node.child_by_field_name(f) for f in ("captures", "declarator", "body"))
    plist = decl.child_by_field_name("parameters") if decl is not None else None
    if caps is None or body is None or plist is None:
        return None
    params = [p for p in plist.named_children if p.type != "comment"]
    if len(params) != 1 or params[0].type != "parameter_declaration":
        return None
    ptype, pname = params[0].child_by_field_name("type"), params[0].child_by_field_name("declarator")
    if ptype is None or pname is None or pname.type != "identifier":
        return None
    inner = t.src[body.children[0].end_byte:body.children[-1].start_byte].decode("utf-8", errors="surrogatepass")
    return t.node_text(caps)[1:-1], t.node_text(ptype), t.node_text(pname), inner


def _blocked_for(t: CandidateTree, call: syntax.Call, block: int) -> tuple[str, str] | None:
    if len(call.args) < 3:
        return None
    lam = _one_param_lambda(t, call.args[2])
    if lam is None or _own_returns(call.args[2]):
        return None
    cap, typ, var, body = lam
    size_t = typ in ("size_t", "std::size_t", "auto")
    init = "lo_pv" if size_t else f"static_cast<{typ}>(lo_pv)"
    bound = "hi_pv" if size_t else f"static_cast<{typ}>(hi_pv)"
    if typ == "auto":
        typ = "size_t"
    k = _fresh(t, "block_pv")
    decl = _declare_before(t, call.node, f"const size_t {k} = {block};")
    if decl is None:
        return None
    new_lambda = (f"[{cap}](size_t, size_t lo_pv, size_t hi_pv) {{\n"
                  f"for ({typ} {var} = {init}; {var} < {bound}; ++{var}) {{{body}}}\n}}")
    start, end = t.node_text(call.args[0]), t.node_text(call.args[1])
    new = t.edit([decl, (call.node.start_byte, call.node.end_byte,
                         f"parlay::blocked_for({start}, {end}, {k}, {new_lambda})")])
    return new, k


def _blocked_reduce(t: CandidateTree, call: syntax.Call, block: int) -> tuple[str, str] | None:
    if len(call.args) != 2:
        return None
    seq = call.args[0]
    inner = t.calls({"parlay::tabulate", "parlay::delayed_tabulate"})
    inner = [c for c in inner if c.node == seq and len(c.args) == 2]
    if not inner:
        return None
    n, f = t.node_text(inner[0].args[0]), t.node_text(inner[0].args[1])
    m = t.node_text(call.args[1])
    k = _fresh(t, "block_pv")
    decl = _declare_before(t, call.node, f"const size_t {k} = {block};")
    if decl is None:
        return None
    blocks = (f"[&](size_t blk_pv) {{\n"
              f"  auto m_pv = {m};\n  auto f_pv = {f};\n  auto acc_pv = m_pv.identity;\n"
              f"  const size_t n_pv = static_cast<size_t>({n});\n"
              f"  const size_t lo_pv = blk_pv * {k}, hi_pv = std::min<size_t>(n_pv, lo_pv + {k});\n"
              f"  for (size_t k_pv = lo_pv; k_pv < hi_pv; ++k_pv) acc_pv = m_pv(acc_pv, f_pv(k_pv));\n"
              f"  return acc_pv;\n}}")
    new = (f"parlay::reduce(parlay::delayed_tabulate((static_cast<size_t>({n}) + {k} - 1) / {k}, "
           f"{blocks}), {m})")
    return t.edit([decl, (call.node.start_byte, call.node.end_byte, new)]), k


def primitive_mutations(cand: Candidate) -> list[Candidate]:
    """``parallel_for`` → ``blocked_for`` and ``reduce(tabulate)`` → blocked reduction, per block size
    (the first call of each kind only; its block size a declared knob)."""
    t = _parsed(cand)
    if t is None:
        return []
    out = []
    for call in t.calls({"parlay::parallel_for"})[:1]:  # the first (outermost) parallel_for only
        for b in BLOCKS:
            got = _blocked_for(t, call, b)
            if got is not None:
                out.append(_child(cand, got[0], "primitive", f"parlay::blocked_for over blocks of {b} iterations",
                                  {"primitive": "blocked_for", "block": b}, [PAR], {"block": got[1]}))
    for call in t.calls({"parlay::reduce"})[:1]:
        for b in BLOCKS:
            got = _blocked_reduce(t, call, b)
            if got is not None:
                out.append(_child(cand, got[0], "primitive", f"reduction over blocks of {b}, each summed serially",
                                  {"primitive": "blocked-reduce", "block": b},
                                  [PRIM, "<parlay/delayed.h>", "<algorithm>"], {"block": got[1]}))
    return out


_KNOB_WORDS = {
    "block": "blocks of {new} instead of {old}",
    "min_block": "minimum block {new} instead of {old}",
    "blocks_per_worker": "{new} blocks per worker instead of {old}",
}


def block_mutations(cand: Candidate) -> list[Candidate]:
    """Other values of the ``block``, ``min_block`` and ``blocks_per_worker`` knobs a candidate declares:
    the literal initializing the constant :attr:`Candidate.knobs` names is replaced, nothing else."""
    t = _parsed(cand)
    if t is None:
        return []
    out = []
    for knob, values in KNOB_VALUES.items():
        name = cand.knobs.get(knob)
        node = t.knob(name) if name else None
        current = syntax.int_literal(node, t.src) if node is not None else None
        if current is None:
            continue
        for v in values:
            if v != current:
                out.append(_child(cand, t.edit([(node.start_byte, node.end_byte, str(v))]), "block",
                                  _KNOB_WORDS[knob].format(new=v, old=current), {knob: v}))
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
