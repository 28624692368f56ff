"""Where a search finds its first match: the input spec's ``match_position`` and ``match_rate``.

Random inputs put the first match of a test such as ``a[i] > t`` within the
first few elements, so the serial loop returns at once and no parallel search
can be faster; a program whose data matches late (or never) is then measured
on inputs it never sees. A function's spec table can say what the data is
like (``toolchain/INPUTS.md``, "Searches"):

* ``match_position = "n / 2"`` (a size expression): no iteration before that
  position matches, the one at it does;
* ``match_rate = 0.001``: each iteration matches with that probability (0: none).

:func:`placement_lines` returns the C++ statements the harness section runs
at the end of ``parevo_create``: for each iteration of the selected search
loop it evaluates the loop's own condition (its prefix declarations included)
on the generated parameters and, while the outcome is not the wanted one,
draws the elements the condition reads at the loop index again (64 tries at
most, from the parameter's own value plan). The loop must be a search
(``if (…) break/return``) counting up by one or a range-based ``for`` over a
parameter, and its condition may read the function's parameters only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import HarnessError
from .site import ParsedSite
from .sizes import parse_expr
from .syntax import captures, identifiers, node_text, strip_parens

if TYPE_CHECKING:  # the emitter imports this module
    from .harness import _Emitter

TRIES = 64


def placement_lines(em: "_Emitter") -> list[str]:
    """The placement statements for ``em``'s plan (``[]`` when the spec asks for none).

    Raises:
        HarnessError: the spec asks for a placement the loop does not allow (not a search, a condition
            over locals of the function, no element read at the loop index).
    """
    plan, site = em.plan, em.site
    if plan.match_position is None and plan.match_rate is None:
        return []
    from .facts import analyze  # the facts read the same site

    where = f"the input spec's match_{'position' if plan.match_position is not None else 'rate'} for " \
            f"`{site.function_name}`"
    facts = analyze(site)
    if facts.search is None or facts.normalized or not (facts.range_var or (facts.index_var and facts.step == 1)):
        raise HarnessError(f"{where}: the selected loop is not a search (`if (…) break;` or `return`) over an index "
                           "counting up by one or a range-based for loop, so there is no match to place")
    src = site.src
    body = site.body_node
    ifs = [n for n in captures("(if_statement) @if", body).get("if", []) if n.start_point[0] == facts.search.line]
    if not ifs:
        raise HarnessError(f"{where}: parevo could not find the search's condition")
    cond = ifs[0].child_by_field_name("condition")
    prefix = [n for n in body.named_children if n.type == "declaration" and n.end_byte <= ifs[0].start_byte] \
        if body.type == "compound_statement" else []
    params = {p.name: p for p in plan.params}
    declared = {node_text(n, src) for d in prefix for n in captures("(init_declarator declarator: (identifier) @n)",
                                                                      d).get("n", [])}
    var = facts.range_var or facts.index_var or ""
    used = {node_text(n, src) for n in identifiers(cond)} | {node_text(n, src) for d in prefix
                                                              for n in identifiers(d)}
    foreign = sorted(used - set(params) - declared - {var})
    if foreign:
        raise HarnessError(f"{where}: the search's condition uses `{', '.join(foreign)}`, not parameters of the "
                           "function: parevo can place matches only for conditions over parameters")
    # elements the condition reads at the loop index: draw them again
    redraw: list[str] = []
    if facts.range_var:
        rng = strip_parens(site.loop_node.child_by_field_name("right"))
        if rng is None or rng.type != "identifier" or node_text(rng, src) not in params:
            raise HarnessError(f"{where}: the range-based for loop does not run over a parameter")
        redraw.append(node_text(rng, src))
    else:
        for n in captures("(subscript_expression) @s", cond).get("s", []) + [
                s for d in prefix for s in captures("(subscript_expression) @s", d).get("s", [])]:
            base = strip_parens(n.child_by_field_name("argument"))
            idx = n.child_by_field_name("indices")
            ix = strip_parens(idx.named_children[0]) if idx is not None and idx.named_child_count == 1 else None
            if base is not None and base.type == "identifier" and ix is not None and ix.type == "identifier" and \
                    node_text(ix, src) == var and node_text(base, src) in params:
                name = node_text(base, src)
                if name not in redraw:
                    redraw.append(name)
    if not redraw:
        raise HarnessError(f"{where}: the search's condition reads no element of a parameter at `{var}`")
    return _lines(em, site, facts, cond, prefix, redraw, params, var)


def _lines(em, site: ParsedSite, facts, cond, prefix, redraw, params, var) -> list[str]:
    src = site.src
    plan = em.plan
    L = ["  { // input spec: place the search's matches"]
    for p in plan.params:
        L.append(f"    auto& {p.name} = pv_in->a.p{p.index}; (void){p.name};")
    if facts.range_var:
        rng = redraw[0]
        L.append(f"    const long long pv_lo = 0, pv_hi = static_cast<long long>({rng}.size());")
        bind = f"const auto& {facts.range_var} = {rng}[static_cast<std::size_t>(pv_k)];"
        at = "static_cast<std::size_t>(pv_k)"
    else:
        T = facts.index_type or "long long"
        L.append(f"    const long long pv_lo = static_cast<long long>({facts.lower}), "
                 f"pv_hi = static_cast<long long>({facts.upper});")
        bind = f"const {T} {var} = static_cast<{T}>(pv_lo + pv_k);"
        at = "static_cast<std::size_t>(pv_lo + pv_k)"
    decls = " ".join(node_text(d, src) for d in prefix)
    L.append(f"    auto pv_match = [&](long long pv_k) -> bool {{ {bind} {decls} return static_cast<bool>("
             f"{node_text(cond, src)}); }};")
    if plan.match_position is not None:
        L.append(f"    const long long pv_first = {em.size_cxx(plan.match_position)};")
        want = "pv_k == pv_first ? 1 : (pv_k < pv_first ? 0 : -1)"
    else:
        L.append("    parevo::rng pv_rate(pv_seed, 4099u);")
        want = f"(parevo::draw_real<double>(pv_rate, 0.0, 1.0) < {float(plan.match_rate)!r}) ? 1 : 0"
    L.append("    for (long long pv_k = 0; pv_k < pv_hi - pv_lo; ++pv_k) {")
    L.append(f"      const int pv_want = {want};")
    L.append("      if (pv_want < 0) continue;")
    L.append(f"      for (int pv_try = 0; pv_try < {TRIES} && pv_match(pv_k) != (pv_want == 1); ++pv_try) {{")
    for name in redraw:
        p = params[name]
        elem = p.decl.type.element_at(1)
        L.append(f"        {{ parevo::rng pv_r(pv_seed * 31u + static_cast<std::uint64_t>(pv_try), "
                 f"static_cast<unsigned>(pv_k) * 977u + {p.index}u);")
        L += em.fill_leaf(f"pv_in->a.p{p.index}[{at}]", elem, p, (), "          ")
        L.append("        }")
    L.append("      }")
    L.append("    }")
    L.append("  }")
    return L


def check_expression(text: str | int | None, where: str) -> str | None:
    """``text`` as a size expression (validated), or None."""
    if text is None:
        return None
    s = str(text)
    try:
        parse_expr(s)
    except ValueError as exc:
        raise HarnessError(f"{where}: match_position {s!r} is not a size expression ({exc})") from None
    return s


__all__ = ["TRIES", "check_expression", "placement_lines"]
