"""Rule templates for histograms, scans and filters.

* Histogram (``h[k]++``, ``h[f(i)] += w``): per-block counts (each of a few
  blocks per worker runs the original body on a private copy of ``h``, then
  the copies are summed per bin in parallel) — toolchain.md found a general
  ``histogram_by_index`` 0.15x on a 256-bin histogram, so it comes last; an
  atomic-update variant for integer bins in between.
* Scan: ``parlay::scan``/``scan_inclusive`` over a delayed sequence of the
  per-iteration operands, then a parallel pass that runs the body with the
  accumulator shadowed by its prefix value (so any other statements of the
  body still run); an in-place variant (``scan_inclusive_inplace``) when the
  body is just the update and the copy-out.
* Filter (conditional ``push_back``): ``pack_index`` of a delayed flag
  sequence, then the kept values are written in parallel after the output's
  old contents (the output keeps them, as ``push_back`` does); a
  ``parlay::filter`` variant when the condition is a predicate of the pushed
  value.

First-match searches are in :mod:`parevo.evolution.rules_search`.
"""

from __future__ import annotations

from parevo.evolution.candidates import Candidate
from parevo.evolution.rule_frame import (
    Frame,
    body_lines,
    call_with_lambda,
    continue_edits,
    dedent_block,
    expand_aliases,
    indent,
    lam,
    wrap,
)
from parevo.evolution.rule_ops import combine, identity, monoid
from parevo.evolution.rules_reduce import DELAYED, PRIM, SEQ, top_statements
from parevo.toolchain.loop_body import norm
from parevo.toolchain.ctypes import CType
from parevo.toolchain.models import LoopFacts, ReductionOp
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.snippet import is_identifier, replace_expression, replace_name, uses_any

PAR = "<parlay/parallel.h>"

def _declared(site: ParsedSite, array: str) -> CType | None:
    d = site.decl_of(array)
    return d.type if d is not None else None


def _int_elements(site: ParsedSite, array: str) -> bool:
    """True when ``array`` is a ``std::vector``/``std::array``/pointer of integers (atomic bins)."""
    t = _declared(site, array)
    return (t is not None and (t.kind in ("array", "pointer") or (t.kind == "vector" and t.container == "std::vector"))
            and t.elem is not None and t.elem.is_integer)


def _container_param(site: ParsedSite, array: str) -> bool:
    """True when ``array`` is a ``std::vector`` (of any element) or a ``std::array``."""
    t = _declared(site, array)
    return t is not None and (t.kind in ("array", "vector_bool") or (t.kind == "vector" and t.container == "std::vector"))


def _contiguous(site: ParsedSite, array: str) -> bool:
    """True when ``array`` is declared as a std::vector (not of bool), std::array, C array or pointer."""
    t = _declared(site, array)
    return t is not None and ((t.kind == "vector" and t.container == "std::vector")
                              or t.kind in ("array", "carray", "pointer"))


# --------------------------------------------------------------------------- histogram

_HIST_COMBINE = {"++": "+=", "+=": "+=", "--": "+=", "-=": "+=", "*=": "*=", "|=": "|=", "&=": "&=",
                 "^=": "^="}
_HIST_IDENT = {"+=": "0", "*=": "1", "|=": "0", "^=": "0", "&=": "~0"}


def histogram_candidates(site: ParsedSite, facts: LoopFacts, fr: Frame) -> list[Candidate]:
    """Candidates for ``pattern == "histogram"`` (best first)."""
    arrays = sorted({a.array for a in facts.writes_computed})
    if len(arrays) != 1:
        return []
    h = arrays[0]
    ops = {a.op for a in facts.writes_computed}
    combs = {_HIST_COMBINE.get(o) for o in ops}
    if None in combs or len(combs) != 1:
        return []
    comb = combs.pop()
    names = fr.names.fork()
    out: list[Candidate] = []
    if _container_param(site, h):
        out += _per_block(site, facts, fr, h, comb, 4)
    if _int_elements(site, h) and comb == "+=":
        out.append(_atomic(site, facts, fr))
    if (len(facts.writes_computed) == 1 and facts.writes_computed[0].op == "++" and _container_param(site, h)
            and not facts.reductions):
        hb = _by_index(site, facts, fr, h)
        if hb is not None:
            out.append(hb)
    if _container_param(site, h):
        out += _per_block(site, facts, fr, h, comb, 1)
    del names
    return out


def _per_block(site: ParsedSite, facts: LoopFacts, fr: Frame, h: str, comb: str, per_worker: int) -> list[Candidate]:
    names = fr.names.fork()
    H, nb, part, b, first, last, kk, j, acc, W, MB = (names.get(x) for x in (
        "Hist", "n_blocks", "partial", "b", "first", "last", "kk", "bin", "sum", "per_worker", "min_block"))
    body = body_lines(site, facts)
    bind = fr.bind_at(kk)
    ident = _HIST_IDENT[comb]
    lines = list(fr.prologue)
    lines += [
        f"using {H} = std::decay_t<decltype({h})>;",
        f"const size_t {W} = {per_worker}, {MB} = 4096;",  # the knobs `param:block` changes
        f"const size_t {nb} = std::max<size_t>(1, std::min<size_t>({fr.count} / {MB}, "
        f"{W} * parlay::num_workers()));",
        f"std::vector<{H}> {part}({nb}, {h});",
        f"parlay::parallel_for(0, {nb}, [&](size_t {b}) {{",
    ]
    inner = [
        f"{H}& {h} = {part}[{b}];  // this block's private bins",
        f"std::fill(std::begin({h}), std::end({h}), {ident});",
        f"const size_t {first} = {b} * {fr.count} / {nb}, {last} = ({b} + 1) * {fr.count} / {nb};",
        f"for (size_t {kk} = {first}; {kk} < {last}; ++{kk}) {{",
    ]
    inner += indent(bind + body) + ["}"]
    lines += indent(inner) + ["}, 1);"]
    lines += [f"parlay::parallel_for(0, std::size({h}), [&](size_t {j}) {{"]
    red = [f"auto {acc} = {part}[0][{j}];", f"for (size_t {b} = 1; {b} < {nb}; ++{b}) {acc} {comb} {part}[{b}][{j}];",
           f"{h}[{j}] {comb} {acc};"]
    lines += indent(red) + ["});"] + fr.epilogue
    return [Candidate(
        loop_text=wrap(lines), includes=[PAR, "<algorithm>", "<iterator>", "<type_traits>", "<vector>"],
        origin="rule:histogram-blocks",
        description=(f"per-block private copies of `{h}` ({per_worker} block(s) per worker) filled by the original "
                     "body, then combined per bin in parallel"),
        params={"blocks_per_worker": per_worker, "min_block": 4096},
        knobs={"blocks_per_worker": W, "min_block": MB},
    )]


def _atomic(site: ParsedSite, facts: LoopFacts, fr: Frame) -> Candidate:
    edits = []
    for a in facts.writes_computed:
        assert a.span is not None
        target = f"{a.array}[{a.index}]"
        val = {"++": "1", "--": "-1"}.get(a.op, a.value or "1")
        fn = "__atomic_fetch_sub" if a.op == "-=" else "__atomic_fetch_add"
        edits.append((a.span.start_byte, a.span.end_byte, f"{fn}(&{target}, {val}, __ATOMIC_RELAXED)"))
    body = body_lines(site, facts, edits + continue_edits(facts, "return;"))
    lines = list(fr.prologue)
    lines += call_with_lambda(f"parlay::parallel_for({fr.start}, {fr.end}, ",
                              lam(fr.index_param, fr.index_bind, body), ");")
    lines += fr.epilogue
    return Candidate(loop_text=wrap(lines), includes=[PAR], origin="rule:histogram-atomic",
                     description="parallel_for with relaxed atomic fetch-and-add on the bins",
                     params={"granularity": 0})


def _by_index(site: ParsedSite, facts: LoopFacts, fr: Frame, h: str) -> Candidate | None:
    stmts = top_statements(site, facts)
    a = facts.writes_computed[0]
    if len(stmts) != 1 or a.span is None or not (stmts[0].start_byte <= a.span.start_byte < stmts[0].end_byte):
        return None
    if stmts[0].type != "expression_statement":
        return None
    names = fr.names.fork()
    keys, counts, j = names.get("keys"), names.get("counts"), names.get("bin")
    lines = list(fr.prologue)
    lines += call_with_lambda(f"const auto {keys} = parlay::tabulate({fr.count}, ",
                              lam(fr.pos_param, fr.pos_bind, [f"return static_cast<size_t>({a.index});"],
                                  ret="size_t"), ");")
    lines += [f"const auto {counts} = parlay::histogram_by_index({keys}, std::size({h}));",
              f"parlay::parallel_for(0, std::size({h}), [&](size_t {j}) {{ {h}[{j}] += {counts}[{j}]; }});"]
    lines += fr.epilogue
    return Candidate(loop_text=wrap(lines), includes=[PRIM, SEQ, "<iterator>"], origin="rule:histogram-by-index",
                     description="parlay::histogram_by_index of the keys, added into the bins",
                     params={"strategy": "histogram_by_index"})


# --------------------------------------------------------------------------- scan


def scan_candidates(site: ParsedSite, facts: LoopFacts, fr: Frame) -> list[Candidate]:
    """Candidates for ``pattern == "scan"`` (best first)."""
    sc = facts.scan
    if sc is None:
        return []
    names = fr.names.fork()
    out: list[Candidate] = []
    if sc.acc is not None:
        T = sc.acc_type or f"std::decay_t<decltype({sc.acc})>"
        acc0 = names.get(f"{sc.acc}0")
        init = [f"const {T} {acc0} = {sc.acc};"]
        out.append(_scan_blocked(site, facts, fr, sc.op, T, sc.expr, acc0, init, sc.acc))
        out += _scan_shadow(site, facts, fr, sc.op, T, sc.expr, acc0, init, sc.acc, sc.kind)
        if (sc.output is not None and _only_scan_statements(site, facts) and sc.op == ReductionOp.ADD
                and _contiguous(site, sc.output) and not facts.aliases):
            out.append(_scan_inplace(site, facts, fr, T, sc.expr, acc0, init, sc.output, sc.acc, sc.kind))
        return out
    # carried: out[i] = out[i-1] + e   or   a[i] += a[i-1]
    assert sc.carried is not None
    T = f"std::decay_t<decltype({sc.output}[0])>"
    first = fr.index_at("0")
    prev = expand_aliases(replace_name(sc.carried, fr.var, f"({first})"), facts, "0")
    acc0 = names.get("carry")
    init = [f"const {T} {acc0} = {prev};"] if not sc.in_place else []
    if sc.in_place:
        if _contiguous(site, sc.output) and not facts.aliases:
            out.append(_scan_carried_inplace(facts, fr, T, sc.output, prev))
        return out
    target = sc.target or f"{sc.output}[{fr.var}]"
    out += _scan_carried(site, facts, fr, sc.op, T, sc.expr, acc0, init, target)
    if (sc.op == ReductionOp.ADD and _contiguous(site, sc.output) and not facts.aliases
            and norm(target) == norm(f"{sc.output}[{fr.var}]")):
        out.append(_scan_inplace(site, facts, fr, T, sc.expr, acc0, init, sc.output, None, "inclusive"))
    return out


def _scan_blocked(site, facts, fr: Frame, op, T, expr, acc0, init, acc) -> Candidate:
    """Cache-blocked two-pass scan (Blelloch's scan with serial leaves, in rounds).

    The iterations are processed in rounds of ``4 * num_workers()`` blocks of
    32,768 iterations. In a round, pass 1 reduces each block's operands with a
    serial loop (in parallel over blocks), a short serial scan of the block
    sums continues the running prefix, and pass 2 reruns the original body
    over each block with the accumulator starting at its block's prefix. A
    round's data stays in cache between the two passes, so memory traffic is
    one read and one write, as in the serial loop: the form that can beat a
    memory-bound serial scan (a whole-array two-pass scan reads the input
    twice from memory).
    """
    names = fr.names.fork()
    B, W, nbm, start, end, nb, sums, run, t, x = (names.get(v) for v in (
        "block", "per_worker", "max_blocks", "start", "end", "nb", "block_sums", "running", "t", "x"))
    b, lo, hi, s, k = names.get("b"), names.get("lo"), names.get("hi"), names.get("s"), fr.pos_param
    bind = [fr.pos_bind] if fr.pos_bind else []
    rng = [f"const size_t {lo} = {start} + {b} * {B}, {hi} = std::min<size_t>({end}, {lo} + {B});"]
    pass1 = rng + [f"{T} {s} = {identity(op, T)};", f"for (size_t {k} = {lo}; {k} < {hi}; ++{k}) {{"]
    pass1 += indent(bind + _decls_before_update(site, facts) + [f"{s} = {combine(op, s, f'({expr})')};"])
    pass1 += ["}", f"return {s};"]
    pass2 = rng + [f"{T} {acc} = {sums}[{b}];", f"for (size_t {k} = {lo}; {k} < {hi}; ++{k}) {{"]
    pass2 += indent(bind + body_lines(site, facts)) + ["}"]
    lines = list(fr.prologue) + init + [
        f"const size_t {B} = 32768, {W} = 4, {nbm} = {W} * parlay::num_workers();",  # B, W: knobs
        f"{T} {run} = {acc0};",
        f"for (size_t {start} = 0; {start} < {fr.count}; {start} += {B} * {nbm}) {{",
    ]
    body = [f"const size_t {end} = std::min<size_t>({fr.count}, {start} + {B} * {nbm});",
            f"const size_t {nb} = ({end} - {start} + {B} - 1) / {B};"]
    body += call_with_lambda(f"auto {sums} = parlay::tabulate({nb}, ", lam(b, "", pass1, ret=T), ", 1);")
    body += [f"for (auto& {x} : {sums}) {{  // exclusive prefix of the block sums, continuing the running one",
             f"  const {T} {t} = {x};", f"  {x} = {run};", f"  {run} = {combine(op, run, t)};", "}"]
    body += call_with_lambda(f"parlay::parallel_for(0, {nb}, ", lam(b, "", pass2), ", 1);")
    lines += indent(body) + ["}", f"{acc} = {run};"] + fr.epilogue
    return Candidate(
        loop_text=wrap(lines), includes=[PRIM, PAR, "<algorithm>"], origin="rule:scan-blocked",
        description=("cache-blocked scan: per round, parallel serial block sums, their running prefix, then "
                     f"each block reruns the body with `{acc}` starting at its prefix"),
        params={"form": "blocked", "block": 32768, "blocks_per_worker": 4},
        knobs={"block": B, "blocks_per_worker": W},
    )


def _only_scan_statements(site: ParsedSite, facts: LoopFacts) -> bool:
    return len(top_statements(site, facts)) == 2 and not facts.writes_computed and not facts.reductions and len(
        facts.writes_at_index) == 1


def _scan_shadow(site, facts, fr: Frame, op, T, expr, acc0, init, acc, kind) -> list[Candidate]:
    names = fr.names.fork()
    pre, total = names.get("prefix"), names.get("total")
    seq = lam(fr.pos_param, fr.pos_bind, _decls_before_update(site, facts) + [f"return {expr};"], ret=T)
    lines = list(fr.prologue) + init
    lines += call_with_lambda(f"auto [{pre}, {total}] = parlay::scan(parlay::delayed_tabulate({fr.count}, ", seq,
                              f"), {monoid(op, T)});")
    shadow = [f"{T} {acc} = {combine(op, acc0, f'{pre}[{fr.pos_param}]')};"]
    # the lambda runs the original body with the accumulator set to its exclusive prefix value
    body = body_lines(site, facts, continue_edits(facts, "return;"))
    lines += call_with_lambda(f"parlay::parallel_for(0, {fr.count}, ",
                              lam(fr.pos_param, fr.pos_bind, shadow + body), ");")
    lines += [f"{acc} = {combine(op, acc0, total)};"] + fr.epilogue
    del kind
    return [Candidate(
        loop_text=wrap(lines), includes=[PRIM, DELAYED, PAR], origin="rule:scan-delayed",
        description=("exclusive parlay::scan of the delayed operands, then each iteration runs the body with "
                     f"`{acc}` set to its prefix value"),
        params={"sequence": "delayed", "form": "shadowed"},
    )]


def _decls_before_update(site: ParsedSite, facts: LoopFacts) -> list[str]:
    sc = facts.scan
    out = []
    src = site.source.encode("utf-8")
    for st in top_statements(site, facts):
        if sc is not None and st.start_point[0] >= sc.line:
            break
        if st.type == "declaration":
            out += dedent_block(src[st.start_byte:st.end_byte].decode("utf-8"))
    return out


def _scan_inplace(site, facts, fr: Frame, T, expr, acc0, init, output, acc, kind) -> Candidate:
    names = fr.names.fork()
    total = names.get("total")
    first = fr.index_at("0")
    lines = list(fr.prologue) + init
    lines += [f"if ({fr.count} > 0) {{"]
    body = call_with_lambda(f"parlay::parallel_for(0, {fr.count}, ",
                            lam(fr.pos_param, fr.pos_bind, _decls_before_update(site, facts) + [
                                f"{output}[{fr.var}] = {expr};"]), ");")
    sl = f"parlay::make_slice(&{output}[{first}], &{output}[{first}] + {fr.count})"
    if kind == "inclusive":
        body += [f"{output}[{first}] += {acc0};",
                 f"parlay::scan_inclusive_inplace({sl}, parlay::plus<{T}>());"]
        if acc:
            body += [f"{acc} = {output}[{fr.index_at(f'({fr.count} - 1)')}];"]
    else:
        body += [f"const {T} {total} = parlay::scan_inplace({sl}, parlay::plus<{T}>());"]
        lam_lines = lam(fr.pos_param, fr.pos_bind, [f"{output}[{fr.var}] += {acc0};"])
        body += [f"if ({acc0} != {T}(0)) {{"] + indent(call_with_lambda(
            f"parlay::parallel_for(0, {fr.count}, ", lam_lines, ");")) + ["}"]
        if acc:
            body += [f"{acc} = {acc0} + {total};"]
    lines += indent(body) + ["}"] + fr.epilogue
    return Candidate(loop_text=wrap(lines), includes=[PRIM, PAR, "<parlay/slice.h>"], origin="rule:scan-inplace",
                     description=f"write the operands into `{output}`, then an in-place parlay scan",
                     params={"sequence": "in-place", "kind": kind})


def _scan_carried(site, facts, fr: Frame, op, T, expr, acc0, init, target) -> list[Candidate]:
    """``target = carry-in OP prefix[k]`` in parallel after a scan of the operands; ``target`` is the
    written element as in the loop (``out[i]``, ``off[i + 1]``)."""
    names = fr.names.fork()
    pre = names.get("prefix")
    seq = lam(fr.pos_param, fr.pos_bind, [f"return {expr};"], ret=T)
    lines = list(fr.prologue)
    lines += [f"if ({fr.count} > 0) {{"]
    body = list(init)
    body += call_with_lambda(f"const auto {pre} = parlay::scan_inclusive(parlay::delayed_tabulate({fr.count}, ",
                             seq, f"), {monoid(op, T)});")
    body += call_with_lambda(f"parlay::parallel_for(0, {fr.count}, ",
                             lam(fr.pos_param, fr.pos_bind,
                                 [f"{target} = {combine(op, acc0, f'{pre}[{fr.pos_param}]')};"]), ");")
    lines += indent(body) + ["}"] + fr.epilogue
    return [Candidate(loop_text=wrap(lines), includes=[PRIM, DELAYED, PAR], origin="rule:scan-delayed",
                      description=f"inclusive parlay::scan of the delayed operands, offset by the carry-in of `{target}`",
                      params={"sequence": "delayed", "kind": "inclusive"})]


def _scan_carried_inplace(facts, fr: Frame, T, output, prev) -> Candidate:
    first = fr.index_at("0")
    lines = list(fr.prologue)
    sl = f"parlay::make_slice(&{prev}, &{prev} + {fr.count} + 1)"
    lines += [f"if ({fr.count} > 0) {{"] + indent([f"parlay::scan_inclusive_inplace({sl}, parlay::plus<{T}>());"]) + [
        "}"] + fr.epilogue
    del first
    return Candidate(loop_text=wrap(lines), includes=[PRIM, "<parlay/slice.h>"], origin="rule:scan-inplace",
                     description=f"in-place inclusive parlay scan of `{output}` starting at the carried element",
                     params={"sequence": "in-place", "kind": "inclusive"})


# --------------------------------------------------------------------------- filter


def filter_candidates(site: ParsedSite, facts: LoopFacts, fr: Frame) -> list[Candidate]:
    """Candidates for ``pattern == "filter"`` (best first).

    Appending to packed storage (``std::vector<bool>``): only ``parlay::filter`` followed by one serial
    ``insert``; the rewrites that write the new elements in parallel at ``old_size + j`` would split its
    words between workers (:mod:`parevo.evolution.rules_packed`)."""
    if len(facts.pushes) != 1:
        return []
    p = facts.pushes[0]
    if p.span is None:
        return []
    t = _declared(site, p.container)
    packed = t is not None and t.kind == "vector_bool"
    names = fr.names.fork()
    out_c = p.container
    VT = names.get("Elem")
    using = [f"using {VT} = std::decay_t<decltype({out_c})>::value_type;"]
    cands: list[Candidate] = []
    local_dep = uses_any(p.value, facts.body_locals)
    if not p.conditional and not packed:
        old = names.get("old_size")
        lines = list(fr.prologue) + [f"const size_t {old} = {out_c}.size();", f"{out_c}.resize({old} + {fr.count});"]
        body = body_lines(site, facts, [(p.span.start_byte, p.span.end_byte,
                                         f"{out_c}[{old} + {fr.pos_param}] = {p.value};")])
        lines += call_with_lambda(f"parlay::parallel_for(0, {fr.count}, ", lam(fr.pos_param, fr.pos_bind, body), ");")
        return [Candidate(loop_text=wrap(lines + fr.epilogue), includes=[PAR], origin="rule:append-map",
                          description="grow the output once, then write every appended element in parallel",
                          params={"granularity": 0})]
    # 1. parlay::filter on the delayed values when the condition is a predicate of the pushed value
    pv = names.get("value")
    cond = p.condition or "true"
    if is_identifier(p.value):
        pred = replace_name(cond, p.value.strip(), pv) if uses_any(cond, [p.value.strip()]) else None
    else:
        pred = replace_expression(cond, p.value, pv)
    if pred is not None and not uses_any(pred, [fr.var] + facts.body_locals) and not local_dep:
        kept = names.get("kept")
        lines = list(fr.prologue) + using
        if facts.range_var and p.value.strip() == facts.range_var and is_identifier(facts.range_expr or ""):
            lines += [f"const auto {kept} = parlay::filter({facts.range_expr}, [&]({facts.range_var_type} "
                      f"{facts.range_var}) {{ return {cond}; }});"]
            origin = "rule:filter-range"
        else:
            lines += call_with_lambda(f"const auto {kept} = parlay::filter(parlay::delayed_tabulate({fr.count}, ",
                                      lam(fr.pos_param, fr.pos_bind, [f"return {p.value};"], ret=VT),
                                      f"), [&](const {VT}& {pv}) {{ return {pred}; }});")
            origin = "rule:filter-delayed"
        lines += [f"{out_c}.insert({out_c}.end(), {kept}.begin(), {kept}.end());"] + fr.epilogue
        cands.append(Candidate(loop_text=wrap(lines), includes=[PRIM, DELAYED], origin=origin,
                               description="parlay::filter of the values with the loop's condition, appended in order",
                               params={"sequence": "delayed", "form": "filter"}))
    # 2. pack_index of the flags (any body), then the kept values written after the old contents
    for delayed in (() if packed else (True, False)):
        idx, old, jj, k2 = names.get("kept_idx"), names.get("old_size"), names.get("jj"), fr.pos_param
        flag_body = body_lines(site, facts, [(p.span.start_byte, p.span.end_byte, "return true;")] +
                               continue_edits(facts, "return false;")) + ["return false;"]
        tab = "parlay::delayed_tabulate" if delayed else "parlay::tabulate"
        lines = list(fr.prologue) + (using if local_dep else [])
        lines += call_with_lambda(f"const auto {idx} = parlay::pack_index({tab}({fr.count}, ",
                                  lam(fr.pos_param, fr.pos_bind, flag_body, ret="bool"), "));")
        lines += [f"const size_t {old} = {out_c}.size();", f"{out_c}.resize({old} + {idx}.size());"]
        bind = [f"const size_t {k2} = {idx}[{jj}];"] + ([fr.pos_bind] if fr.pos_bind else [])
        if not local_dep:
            write = [f"{out_c}[{old} + {jj}] = {p.value};"]
        else:
            val_body = body_lines(site, facts, [(p.span.start_byte, p.span.end_byte, f"return {p.value};")] +
                                  continue_edits(facts, f"return {VT}{{}};")) + [f"return {VT}{{}};"]
            write = [f"{out_c}[{old} + {jj}] = [&]() -> {VT} {{"] + indent(val_body) + ["}();"]
        lines += call_with_lambda(f"parlay::parallel_for(0, {idx}.size(), ", lam(jj, "", bind + write), ");")
        lines += fr.epilogue
        cands.append(Candidate(
            loop_text=wrap(lines), includes=[PRIM] + ([DELAYED] if delayed else [SEQ]),
            origin="rule:pack-index" if delayed else "rule:pack-index-materialized",
            description=(f"parlay::pack_index of {'delayed' if delayed else 'materialized'} flags, then the kept "
                         f"values written after `{out_c}`'s old contents in parallel"),
            params={"sequence": "delayed" if delayed else "materialized", "form": "pack_index"},
        ))
    return cands
