"""Rule templates for reductions and argmin/argmax.

Reduction rewrites follow ParlayLib's recommended forms (``reduce`` of a
``delayed_tabulate`` with a monoid; toolchain.md measured the delayed form at
1.73x and the materialized one at 0.29x for a sum of squares on 2 threads):

* closed form: the body's last statement is the update, so the lambda returns
  the operand (``return a[i] * a[i];``), or ``cond ? operand : identity`` for
  an update guarded by one ``if``;
* shadowed accumulator (any body, several reduction variables, inner loops):
  the lambda declares a local with the reduction variable's name, initialised
  to the monoid's identity, runs the original body unchanged and returns it;
  several variables reduce as a ``std::tuple`` with an elementwise monoid;
* ``count_if`` for ``if (p) count++;``.

The reduced value is folded into the variable's value before the loop
(``s += r;``, ``s = std::max(s, r);``), guarded by a non-empty range for
min/max so an empty loop leaves ``s`` untouched.

Rewrites read like the user's code: when the accumulator is declared right
before the loop with the monoid's identity (``double s = 0.0;``), the
declaration and the loop become one declaration (``double s =
parlay::reduce(…);``, a function-level candidate: the program verified is
the program applied); otherwise, when the loop sits in a statement list, the
fold needs no wrapper block (generated names never collide, see
:class:`~parevo.evolution.rule_frame.Names`); lambdas declare their return
type, so operands are not cast; ``<algorithm>``/``<limits>`` only come with
min/max.
"""

from __future__ import annotations

from parevo.evolution.candidates import Candidate
from parevo.evolution.rule_frame import (
    Frame,
    Names,
    body_lines,
    call_with_lambda,
    continue_edits,
    drop_unused_decls,
    indent,
    lam,
    wrap,
)
from parevo.evolution.rule_ops import combine, identity, monoid, update_stmt, value_type
from parevo.toolchain.models import LoopFacts, Reduction, ReductionOp
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.snippet import replace_name
from parevo.toolchain.splice import reindent
from parevo.toolchain.syntax import block_statements, int_value, node_at, node_text, strip_parens

PRIM = "<parlay/primitives.h>"
SEQ = "<parlay/sequence.h>"
DELAYED = "<parlay/delayed.h>"
STD_INC = ["<algorithm>", "<limits>"]


def std_includes(*ops: ReductionOp) -> list[str]:
    """``<algorithm>`` and ``<limits>`` when a min/max fold or identity needs them, else none."""
    return STD_INC if any(op in (ReductionOp.MIN, ReductionOp.MAX) for op in ops) else []


def top_statements(site: ParsedSite, facts: LoopFacts) -> list:
    """The top-level statement nodes of the loop body (the site's nodes), comments and the declarations of
    index aliases (which the frame binds) dropped."""
    body = site.body_node
    skip = {(a.decl.start_byte, a.decl.end_byte) for a in facts.aliases if a.decl is not None}
    return [st for st in block_statements(body) if (st.start_byte, st.end_byte) not in skip] if body is not None \
        else []


def _closed_form(site: ParsedSite, facts: LoopFacts, red: Reduction, T: str) -> list[str] | None:
    """Body lines of a lambda returning the iteration's operand (``filter ? operand : identity`` for a
    guarded update), or None when the update is not the body's last statement, alone in its guards. The
    lambda's ``-> T`` converts the operand as the update did: no cast is needed."""
    stmts = top_statements(site, facts)
    if not stmts or red.in_inner_loop:
        return None
    last = stmts[-1]
    node = last
    while (node.start_byte, node.end_byte) != (red.update.start_byte, red.update.end_byte):
        if node.type != "if_statement" or node.child_by_field_name("alternative") is not None:
            return None
        inner = block_statements(node.child_by_field_name("consequence"))
        if len(inner) != 1:
            return None
        node = inner[0]
    ident = identity(red.op, T)
    cont = continue_edits(facts, f"return {ident};")
    value = "1" if red.op == ReductionOp.COUNT else red.expr
    new = f"return ({red.filter}) ? {value} : {ident};" if red.filter else f"return {value};"
    if red.op in (ReductionOp.MIN, ReductionOp.MAX) and _floating(site, red.var):
        # a NaN never passes the loop's comparison (nor std::min/fmin's): it contributes the identity
        x = Names(site).get("operand")
        keep = f"({red.filter}) && {x} == {x}" if red.filter else f"{x} == {x}"
        new = f"{{ const {T} {x} = {value}; return {keep} ? {x} : {ident}; }}"
    return body_lines(site, facts, cont + [(last.start_byte, last.end_byte, new)])


def _floating(site: ParsedSite, name: str) -> bool:
    """``name`` is declared with a floating-point type (its values may be NaN)."""
    d = site.decl_of(name)
    return d is not None and d.type.is_floating


def place(site: ParsedSite, lines: list[str]) -> str:
    """The candidate's loop text: the statements themselves when the loop sits in a statement list (its
    generated names are fresh in the function), else a block ``{ … }`` (e.g. the body of an ``if``)."""
    loop = site.loop_node
    if loop.parent is not None and loop.parent.type == "compound_statement":
        return "\n".join(drop_unused_decls(lines))
    return wrap(lines)


def _is_identity(value, op: ReductionOp, src: bytes) -> bool:
    """True when the initializer node ``value`` is the identity of ``op`` (``0``, ``0.0``, ``1``, ``true``...)."""
    value = strip_parens(value)
    if value is None:
        return False
    if op in (ReductionOp.AND, ReductionOp.OR):
        return value.type == ("true" if op == ReductionOp.AND else "false")
    if value.type != "number_literal":
        return False
    want = 1 if op == ReductionOp.MUL else 0 if op in (ReductionOp.ADD, ReductionOp.COUNT, ReductionOp.BIT_OR,
                                                        ReductionOp.BIT_XOR) else None
    if want is None:
        return False
    text = node_text(value, src).strip().replace("'", "")
    got = int_value(text)
    if got is None and not text.lower().startswith("0x"):
        try:
            got = float(text.rstrip("fFlL"))
        except ValueError:
            return False
    return got == want


def accumulator_declaration(site: ParsedSite, var: str, op: ReductionOp
                            ) -> tuple[str, int, int, list[str]] | None:
    """``(type, start_byte, end_byte, comments)`` when ``var`` is declared right before the loop (nothing
    but whitespace and comments between), alone in its declaration, initialised to the identity of ``op``,
    without ``static``/``const``/``auto``; the span runs from the declaration to the loop's end and
    ``comments`` are the comments between (kept, above the new declaration). Else None."""
    src = site.src
    loop = site.loop_node
    if loop.parent is None or loop.parent.type != "compound_statement":
        return None
    decl = loop.prev_named_sibling
    comments = []
    while decl is not None and decl.type == "comment":  # comments above the loop stay above the declaration
        comments.insert(0, node_text(decl, src))
        decl = decl.prev_named_sibling
    if decl is None or decl.type != "declaration":
        return None
    between = src[decl.end_byte:loop.start_byte].decode("utf-8", errors="replace")
    for c in comments:
        between = between.replace(c, "", 1)
    if between.strip():
        return None
    if any(c.type in ("storage_class_specifier", "type_qualifier", "attribute_declaration") for c in decl.children):
        return None
    ty = decl.child_by_field_name("type")
    if ty is None or ty.type == "placeholder_type_specifier":
        return None
    parts = decl.children_by_field_name("declarator")
    if len(parts) != 1 or parts[0].type != "init_declarator":
        return None
    target = parts[0].child_by_field_name("declarator")
    if target is None or target.type != "identifier" or node_text(target, src) != var:
        return None
    if not _is_identity(parts[0].child_by_field_name("value"), op, src):
        return None
    type_text = " ".join(src[decl.start_byte:parts[0].start_byte].decode("utf-8", errors="replace").split())
    return type_text, decl.start_byte, loop.end_byte, comments


def declaration_function(site: ParsedSite, start: int, end: int, lines: list[str]) -> str:
    """The loop's function with bytes ``start:end`` of the file (the accumulator's declaration and the
    loop) replaced by ``lines``, indented like the declaration."""
    src = site.src
    f0 = site.function.start_byte
    line_start = src.rfind(b"\n", 0, start) + 1
    pad = src[line_start:start].decode("utf-8", errors="replace")
    text = reindent("\n".join(drop_unused_decls(lines)), pad if not pad.strip() else "")
    fn = src[f0:site.function.end_byte]
    return (fn[:start - f0] + text.encode("utf-8") + fn[end - f0:]).decode("utf-8")


def _group(facts: LoopFacts) -> dict[str, list[Reduction]]:
    out: dict[str, list[Reduction]] = {}
    for r in facts.reductions:
        out.setdefault(r.var, []).append(r)
    return out


def _guarded_fold(op: ReductionOp, var: str, r: str, count: str) -> list[str]:
    stmt = update_stmt(op, var, r)
    if op in (ReductionOp.MIN, ReductionOp.MAX):
        return [f"if ({count} > 0) {stmt}"]
    return [stmt]


def reduction_candidates(site: ParsedSite, facts: LoopFacts, fr: Frame) -> list[Candidate]:
    """Candidates for ``pattern == "reduction"`` (best first)."""
    groups = _group(facts)
    names = fr.names.fork()
    out: list[Candidate] = []
    if len(groups) == 1 and not facts.argextremes:
        var, reds = next(iter(groups.items()))
        op = reds[0].op
        T = value_type(op, reds[0].var_type)
        r = names.get("total") if var != "total" else names.get("reduced")
        closed = _closed_form(site, facts, reds[0], T) if len(reds) == 1 else None
        decl = accumulator_declaration(site, var, op) if closed is not None else None
        if closed is not None:
            for delayed in (True, False):
                tab = "parlay::delayed_tabulate" if delayed else "parlay::tabulate"
                call = call_with_lambda(f"parlay::reduce({tab}({fr.count}, ",
                                        lam(fr.pos_param, fr.pos_bind, closed, ret=T), f"), {monoid(op, T)})")
                fields = dict(
                    includes=[PRIM] + ([DELAYED] if delayed else [SEQ]) + std_includes(op),
                    origin="rule:reduce-delayed" if delayed else "rule:reduce-materialized",
                    params={"sequence": "delayed" if delayed else "materialized", "form": "closed", "op": op.value})
                if decl is not None:  # `double s = 0.0; for (...) s += f(i);` -> `double s = parlay::reduce(...);`
                    ty, start, end, comments = decl
                    lines = comments + list(fr.prologue) + [f"{ty} {var} = {call[0]}"] + call[1:-1]
                    lines += [call[-1] + ";"]
                    lines += fr.epilogue
                    out.append(Candidate(
                        function_text=declaration_function(site, start, end, lines),
                        description=(f"`{var}` declared as the {'delayed' if delayed else 'materialized'} reduce "
                                     f"of the per-iteration operand with {monoid(op, T)}"), **fields))
                    continue
                lines = list(fr.prologue)
                lines += [f"const {T} {r} = {call[0]}"] + call[1:-1] + [call[-1] + ";"]
                lines += _guarded_fold(op, var, r, fr.count) + fr.epilogue
                out.append(Candidate(
                    loop_text=place(site, lines),
                    description=(f"{'delayed' if delayed else 'materialized'} reduce of the per-iteration operand "
                                 f"with {monoid(op, T)}, folded into `{var}`"), **fields))
        if op == ReductionOp.COUNT and len(reds) == 1 and reds[0].conditional:
            cnt = _count_if(site, facts, fr, reds[0], r)
            if cnt is not None:
                out.insert(1 if out else 0, cnt)
    out.append(_shadowed(site, facts, fr, groups))
    return out


def _count_if(site: ParsedSite, facts: LoopFacts, fr: Frame, red: Reduction, r: str) -> Candidate | None:
    stmts = top_statements(site, facts)
    if len(stmts) != 1 or stmts[0].type != "if_statement" or stmts[0].child_by_field_name("alternative"):
        return None
    ifs = stmts[0]
    inner = block_statements(ifs.child_by_field_name("consequence"))
    if len(inner) != 1 or (inner[0].start_byte, inner[0].end_byte) != (red.update.start_byte, red.update.end_byte):
        return None
    cond = node_text(ifs.child_by_field_name("condition"), site.src).strip()
    call = call_with_lambda(f"parlay::count_if(parlay::iota({fr.count}), ",
                            lam(fr.pos_param, fr.pos_bind, [f"return {cond};"], ret="bool"), ")")
    fields = dict(includes=[PRIM, DELAYED], origin="rule:count-if",
                  params={"sequence": "delayed", "form": "count_if"})
    decl = accumulator_declaration(site, red.var, red.op)
    if decl is not None:  # `long c = 0; for (...) if (p) c++;` -> `long c = parlay::count_if(...);`
        ty, start, end, comments = decl
        lines = comments + list(fr.prologue) + [f"{ty} {red.var} = {call[0]}"] + call[1:-1] + [call[-1] + ";"]
        return Candidate(function_text=declaration_function(site, start, end, lines + fr.epilogue),
                         description=f"`{red.var}` declared as parlay::count_if over the iteration indices",
                         **fields)
    lines = list(fr.prologue) + [f"const size_t {r} = {call[0]}"] + call[1:-1] + [call[-1] + ";"]
    lines += [f"{red.var} += static_cast<{red.var_type}>({r});"] + fr.epilogue
    return Candidate(loop_text=place(site, lines),
                     description=f"parlay::count_if over the iteration indices, added to `{red.var}`", **fields)


def _shadowed(site: ParsedSite, facts: LoopFacts, fr: Frame, groups: dict[str, list[Reduction]]) -> Candidate:
    """Each iteration runs the body on private accumulators initialised to their identities and returns
    them; a delayed reduce combines them (one value, or a tuple with an elementwise monoid).

    An argmin/argmax takes three slots (value, index, and whether the iteration improved on the
    identity at all, set by an edit of its ``if`` block); two of them combine by keeping the left
    one unless the right one is better (strictly better for ``<``, at least as good for ``<=``),
    which, the reduce being ordered, keeps the serial loop's position on ties.
    """
    names = fr.names.fork()
    vars_ = list(groups)
    ops = [groups[v][0].op for v in vars_]
    types = [value_type(o, groups[v][0].var_type) for v, o in zip(vars_, ops)]
    decls = [f"{T} {v} = {identity(o, T)};" for v, o, T in zip(vars_, ops, types)]
    slots = list(vars_)
    edits: list[tuple[int, int, str]] = []
    axes = []
    for ax in facts.argextremes:
        VT = site.value_type(ax.value_var)
        op = ReductionOp.MIN if ax.kind == "min" else ReductionOp.MAX
        flag = names.get(f"{ax.value_var}_set")
        decls.append(f"{VT} {ax.value_var} = {identity(op, VT)};")
        jv = len(slots)
        slots.append(ax.value_var)
        types.append(VT)
        ji = None
        if ax.index_var:
            IT = site.value_type(ax.index_var)
            decls.append(f"{IT} {ax.index_var}{{}};")
            ji = len(slots)
            slots.append(ax.index_var)
            types.append(IT)
        decls.append(f"bool {flag} = false;")
        jf = len(slots)
        slots.append(flag)
        types.append("bool")
        ifs = node_at(site.root, ax.update.start_byte, ax.update.end_byte) if ax.update is not None else None
        cons = ifs.child_by_field_name("consequence") if ifs is not None else None
        if cons is None or cons.type != "compound_statement":
            raise ValueError("an argmin/argmax without its if block")
        inner = site.src[cons.start_byte + 1:cons.end_byte - 1].decode("utf-8")
        edits.append((cons.start_byte, cons.end_byte, "{" + inner.rstrip() + f" {flag} = true; }}"))
        axes.append((ax, op, jv, ji, jf))
    tuple_form = len(slots) > 1
    ids = [identity(o, T) for o, T in zip(ops, types)] + [
        x for ax, op, jv, ji, jf in axes for x in ([identity(op, types[jv])] + ([f"{types[ji]}{{}}"] if ji else [])
                                                    + ["false"])]
    if not tuple_form:
        ret_expr, ret_type, mon = vars_[0], types[0], monoid(ops[0], types[0])
    else:
        ret_type = f"std::tuple<{', '.join(types)}>"
        ret_expr = f"{ret_type}({', '.join(slots)})"
        body = [f"{ret_type} z = x;"]
        body += [f"std::get<{j}>(z) = {combine(o, f'std::get<{j}>(x)', f'std::get<{j}>(y)')};"
                 for j, o in enumerate(ops)]
        for ax, op, jv, ji, jf in axes:
            cmp = "<" if ax.kind == "min" else ">"
            better = (f"std::get<{jv}>(y) {cmp} std::get<{jv}>(x)" if ax.strict
                      else f"!(std::get<{jv}>(x) {cmp} std::get<{jv}>(y))")
            moves = [f"std::get<{j}>(z) = std::get<{j}>(y);" for j in (jv, ji) if j is not None]
            body.append(f"if (std::get<{jf}>(y) && (!std::get<{jf}>(x) || {better})) {{ {' '.join(moves)} "
                        f"std::get<{jf}>(z) = true; }}")
        body.append("return z;")
        mon = (f"parlay::binary_op([](const {ret_type}& x, const {ret_type}& y) {{ {' '.join(body)} }}, "
               f"{ret_type}({', '.join(ids)}))")
    edits += continue_edits(facts, f"return {ret_expr};")
    stmts = decls + body_lines(site, facts, edits) + [f"return {ret_expr};"]
    r = names.get("partial")
    lines = list(fr.prologue)
    lines += call_with_lambda(f"const auto {r} = parlay::reduce(parlay::delayed_tabulate({fr.count}, ",
                              lam(fr.pos_param, fr.pos_bind, stmts, ret=ret_type), f"), {mon});")
    if not tuple_form:
        lines += _guarded_fold(ops[0], vars_[0], r, fr.count)
    else:
        for j, (v, o) in enumerate(zip(vars_, ops)):
            lines += _guarded_fold(o, v, f"std::get<{j}>({r})", fr.count)
        for ax, op, jv, ji, jf in axes:
            upd = ("<" if ax.kind == "min" else ">") + ("" if ax.strict else "=")
            moves = [f"{ax.value_var} = std::get<{jv}>({r});"] + (
                [f"{ax.index_var} = std::get<{ji}>({r});"] if ji is not None else [])
            lines += [f"if (std::get<{jf}>({r}) && std::get<{jv}>({r}) {upd} {ax.value_var}) {{"] + indent(moves) + ["}"]
    lines += fr.epilogue
    accs = slots if not axes else vars_ + [ax.value_var for ax in facts.argextremes]
    return Candidate(
        loop_text=place(site, lines), includes=[PRIM, DELAYED] + (["<tuple>"] if tuple_form else [])
        + std_includes(*ops, *(op for _ax, op, *_r in axes)), origin="rule:reduce-shadowed",
        description=("delayed reduce where each iteration runs the original body on private accumulators "
                     f"({', '.join(accs)}) initialised to their identities, combined as one tuple monoid"),
        params={"sequence": "delayed", "form": "shadowed", "vars": len(accs)},
    )


def _argext_only(site: ParsedSite, facts: LoopFacts) -> bool:
    """True when the body is declarations and the one argmin/argmax ``if`` (nothing else to run)."""
    stmts = top_statements(site, facts)
    return (len(facts.argextremes) == 1 and not facts.reductions and bool(stmts) and stmts[-1].type == "if_statement"
            and all(st.type == "declaration" for st in stmts[:-1]) and stmts[-1].start_point[0] == facts.argextremes[0].line
            and not facts.writes_at_index and not facts.writes_computed and not facts.pushes)


def argext_candidates(site: ParsedSite, facts: LoopFacts, fr: Frame) -> list[Candidate]:
    """``parlay::min_element``/``max_element`` over a delayed sequence, and a pair reduce.

    ``min_element`` returns the first position on ties, which matches a strict
    comparison (``<``); for a non-strict loop (``<=``, last index wins) the
    pair-reduce variant, which keeps the later index on ties, comes first (and
    ``min_element`` is not offered when a filter decides which iterations take
    part: a filtered-out position would tie with a real one). Iterations the
    filter rejects contribute the monoid's identity: position ``count`` in the
    pair reduce, which any real position beats. Any other body (more
    accumulators, writes) gets the tuple reduction of :func:`_shadowed`.
    """
    if not _argext_only(site, facts):
        return [_shadowed(site, facts, fr, _group(facts))]
    ax = facts.argextremes[0]
    names = fr.names.fork()
    VT = site.value_type(ax.value_var)
    cmp = "<" if ax.kind == "min" else ">"
    upd = cmp if ax.strict else cmp + "="
    ident = identity(ReductionOp.MIN if ax.kind == "min" else ReductionOp.MAX, VT)
    vals, it, pos, v = names.get("values"), names.get("it"), names.get("pos"), names.get("v")
    x = names.get("operand")
    keep = [f"({ax.filter})"] if ax.filter else []
    keep += [f"{x} == {x}"] if _floating(site, ax.value_var) else []  # a NaN never wins the loop's comparison
    value = f"{' && '.join(keep)} ? {x} : {ident}" if keep else x
    seq = lam(fr.pos_param, fr.pos_bind, [*ax.prelude, f"const {VT} {x} = {ax.expr};", f"return {value};"], ret=VT)

    def store_index(pos_expr: str) -> list[str]:
        """``idx = i`` (or the loop's own cast of ``i``) for the winning position."""
        if not ax.index_var:
            return []
        at = fr.index_at(pos_expr)
        value = replace_name(ax.index_expr, fr.var, f"({at})") if ax.index_expr else at
        return [f"{ax.index_var} = {value};"]

    out = []
    if ax.strict or ax.filter is None:
        elem = "parlay::min_element" if ax.kind == "min" else "parlay::max_element"
        lines = list(fr.prologue)
        lines += call_with_lambda(f"const auto {vals} = parlay::delayed_tabulate({fr.count}, ", seq, ");")
        lines += [f"if ({fr.count} > 0) {{"]
        body = [f"const auto {it} = {elem}({vals});",
                f"const size_t {pos} = static_cast<size_t>({it} - {vals}.begin());",
                f"const {VT} {v} = {vals}[{pos}];",
                f"if ({v} {upd} {ax.value_var}) {{"]
        body += indent([f"{ax.value_var} = {v};"] + store_index(pos))
        body += ["}"]
        lines += indent(body) + ["}"] + fr.epilogue
        out.append(Candidate(loop_text=place(site, lines), includes=[PRIM, DELAYED], origin=f"rule:{ax.kind}-element",
                             description=f"{elem} over a delayed sequence of `{ax.expr}` (first position on ties)",
                             params={"sequence": "delayed", "ties": "first"}))
    # pair reduce: (value, position); position `count` marks an iteration that does not take part
    P = f"std::pair<{VT}, size_t>"
    better = f"y.first {cmp} x.first ? y : x" if ax.strict else f"x.first {cmp} y.first ? x : y"
    best = names.get("best")
    lines = list(fr.prologue)
    pair = f"{P}({x}, {fr.pos_param})"
    ret = f"{' && '.join(keep)} ? {pair} : {P}({ident}, {fr.count})" if keep else pair
    seq2 = lam(fr.pos_param, fr.pos_bind, [*ax.prelude, f"const {VT} {x} = {ax.expr};", f"return {ret};"], ret=P)
    lines += call_with_lambda(f"const {P} {best} = parlay::reduce(parlay::delayed_tabulate({fr.count}, ", seq2,
                              f"), parlay::binary_op([&](const {P}& x, const {P}& y) {{ return y.second == {fr.count} "
                              f"? x : x.second == {fr.count} ? y : {better}; }}, {P}({ident}, {fr.count})));")
    lines += [f"if ({best}.second < {fr.count} && {best}.first {upd} {ax.value_var}) {{"]
    lines += indent([f"{ax.value_var} = {best}.first;"] + store_index(best + ".second"))
    lines += ["}"] + fr.epilogue
    out.append(Candidate(loop_text=place(site, lines), includes=[PRIM, DELAYED, "<utility>", "<limits>"],
                         origin=f"rule:arg{ax.kind}-pair-reduce",
                         description=("reduce of (value, position) pairs with a monoid that keeps the "
                                      f"{'earlier' if ax.strict else 'later'} position on ties"),
                         params={"sequence": "delayed", "ties": "first" if ax.strict else "last"}))
    if not ax.strict:
        out.reverse()
    return out
