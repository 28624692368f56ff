"""Why the user's own function failed on parevo's generated inputs, and the input-spec entry to write.

When the original (the function as the user wrote it) crashes, throws or hangs
on the inputs the harness generates, nothing can be verified: the inputs are
wrong for it, not the function. :func:`original_failure_message` says so in one
paragraph a user can act on:

* the stage (calibrating the input size, recording the original's outputs)
  and the input size and seed it ran at;
* how the run ended: the signal (``SIGABRT``, ``SIGSEGV``...), the uncaught C++
  exception (read from the C++ runtime's ``terminate called after throwing an
  instance of 'std::out_of_range'``), a time-out or an exit status, and the
  last lines of its standard error;
* the parameters involved: the generated parameters whose *values* the
  function uses as an index (``c[p[i]]``, ``c.at(p[e] - 1)``, directly or
  through a local ``int v = p[e];``), read from the function's syntax tree,
  with how they were generated (:class:`~parevo.toolchain.inputplan.InputPlan`);
  for a hang, the parameters that bound a loop;
* the input-spec entry (TOML, ``parevo.inputs.toml`` beside the file) for them:
  ``kind = "index"`` and ``index_of`` when the planner did not see the index
  use, else the value range to replace by the values the user's program passes;
  for a hang, ``timing_n``.
"""

from __future__ import annotations

import os
import re

from tree_sitter import Node

from .inputplan import InputPlan, ParamPlan
from .site import ParsedSite
from .syntax import captures, identifiers, int_literal, matches, node_text, operator_of, strip_casts
from .verdicts import stderr_tail

#: How many of the run's last standard-error lines the message quotes.
STDERR_LINES = 3

#: the C++ runtime's words for an exception nothing caught, and the driver's for one it caught
_UNCAUGHT = re.compile(r"terminate called after throwing an instance of '([^']+)'")
_CAUGHT = re.compile(r"parevo driver: the function threw an exception \(([^)]+)\)")
_SUBSCRIPTS = """
(subscript_expression argument: (_) @base indices: (subscript_argument_list) @index)
(call_expression function: (field_expression argument: (_) @base field: (field_identifier) @at
   (#eq? @at "at")) arguments: (argument_list) @index)
"""
_LOCALS = "(init_declarator declarator: (identifier) @name value: (_) @value)"
_LOOP_BOUNDS = """
(for_statement condition: (_) @cond)
(while_statement condition: (_) @cond)
(do_statement condition: (_) @cond)
"""


def how_it_ended(describe: str, stderr: str) -> str:
    """``describe`` (``killed by SIGABRT``) with the exception named: one nothing caught (the C++ runtime
    names it), or one the harness driver caught (``it threw std::out_of_range``)."""
    caught = _CAUGHT.search(stderr or "")
    if caught:
        return f"it threw {caught.group(1)} ({describe})"
    m = _UNCAUGHT.search(stderr or "")
    return f"{describe}, an uncaught {m.group(1)}" if m else describe


def _names(node: Node, src: bytes) -> set[str]:
    return {node_text(n, src) for n in identifiers(node)}


def _offset(index: Node, src: bytes) -> int:
    """``k`` when the index expression (the only argument in ``index``) is ``X + k`` or ``X - k``
    with ``k`` an integer literal (``ids[i] - 1``: ``-1``), else 0."""
    expr = strip_casts(index.named_children[0]) if index.named_child_count == 1 else None
    if expr is None or expr.type != "binary_expression":
        return 0
    op = operator_of(expr, src)
    right = int_literal(expr.child_by_field_name("right"), src)
    if op in ("+", "-") and right is not None:
        return right if op == "+" else -right
    left = int_literal(expr.child_by_field_name("left"), src)
    return left if op == "+" and left is not None else 0


def index_uses(site: ParsedSite) -> dict[str, list[tuple[str, int]]]:
    """Parameter name -> ``(container, k)`` for each container its values index, in source order,
    from the function's subscripts and ``.at()`` calls (``k``: the constant added to the value,
    :func:`_offset`); a local initialized from a parameter (``int v = dst[e];``) stands for it."""
    src = site.src
    body = site.function_node
    params = {p.name for p in site.params}
    via: dict[str, set[str]] = {}
    for m in matches(_LOCALS, body):
        hit = _names(m["value"][0], src) & params
        if hit:
            via.setdefault(node_text(m["name"][0], src), set()).update(hit)
    out: dict[str, list[tuple[str, int]]] = {}
    for m in matches(_SUBSCRIPTS, body):
        base, index = m["base"][0], m["index"][0]
        container = node_text(base, src).strip()
        used = _names(index, src)
        hit = (used & params) | {p for local in used for p in via.get(local, ())}
        hit.discard(container)
        for p in sorted(hit):
            use = (container, _offset(index, src))
            if use not in out.setdefault(p, []):
                out[p].append(use)
    return out


def loop_bound_params(site: ParsedSite) -> list[str]:
    """The parameters named in a loop condition of the function (source order, once each)."""
    params = [p.name for p in site.params]
    seen: list[str] = []
    for cond in captures(_LOOP_BOUNDS, site.function_node).get("cond", []):
        for name in sorted(_names(cond, site.src) & set(params), key=params.index):
            if name not in seen:
                seen.append(name)
    return seen


def _how_generated(p: ParamPlan, plan: InputPlan, n: int | None) -> str:
    """How the harness generated ``p``'s values, size variables spelled as the spec spells them."""
    v = p.values
    if v.kind == "index":
        sizes = {s.name: s.expr for s in plan.sizes}
        expr = sizes.get(v.bound or "", v.bound or "?")
        value = plan.size_at(n).get(v.bound or "") if n is not None else None
        return f"indices in [0, {expr}{f' = {value:,}' if value is not None else ''})"
    if v.kind == "offsets":
        return f"offsets with degrees in [0, {v.max_degree}]"
    if v.kind in ("const", "size"):
        return f"set to {v.value if v.kind == 'const' else v.bound}"
    if v.min is not None and v.max is not None:
        return f"values in [{v.min:g}, {v.max:g}]"
    return "generated values"


def _entry(fn: str, p: ParamPlan, uses: list[tuple[str, int]], how: str, plan: InputPlan, n: int | None) -> str:
    """The spec table for parameter ``p``: the index it is used as (shifted by the constant the function
    adds: ``min``/``max`` then), or its value range to replace."""
    head = f'["{fn}".{p.name}]' if "::" in fn else f"[{fn}.{p.name}]"
    container, k = uses[0]
    if k != 0:
        length = _length_at(container, plan, n)
        if length is not None:
            return (f"{head} min = {-k}, max = {length - 1 - k} (indices into {container}, whose length is "
                    f"{length:,} at this n, after the {'+' if k > 0 else '-'} {abs(k)})")
    if p.values.kind != "index":
        return f'{head} kind = "index", index_of = "{container}"'
    lo = 0 if p.values.kind == "index" else (p.values.min if p.values.min is not None else 0)
    return (f"{head} min = {lo:g}, max = ... (the smallest and largest values your program passes; "
            f"now {how})")


def _length_at(container: str, plan: InputPlan, n: int | None) -> int | None:
    """The generated length of parameter ``container`` at size ``n`` (None when unknown)."""
    if n is None:
        return None
    target = next((q for q in plan.params if q.name == container), None)
    if target is None or not target.lengths or target.lengths[0] is None:
        return None
    return plan.size_at(n).get(target.lengths[0])


def original_failure_message(site: ParsedSite, plan: InputPlan, stage: str, describe: str, stderr: str, *,
                             n: int | None = None, seed: int | None = None, timed_out: bool = False) -> str:
    """The paragraph for a user when the original function failed on generated inputs (module docstring).

    Args:
        site, plan: the loop's site and the input plan the harness generated from.
        stage: what parevo was doing (``"calibrating the input size"``).
        describe: how the run ended (:meth:`~parevo.toolchain.sandbox.RunOutcome.describe`).
        stderr: the run's standard error (its last lines are quoted).
        n, seed: the input size and seed it ran at, when known.
        timed_out: the run hung (the entry is then ``timing_n``).
    """
    fn = site.qualified_name
    at = ", ".join(x for x in (f"n = {n:,}" if n is not None else "", f"seed {seed}" if seed is not None else "") if x)
    parts = [f"the original function {fn}() failed on parevo's generated inputs while {stage}"
             f"{f' ({at})' if at else ''}: {how_it_ended(describe, stderr)}"]
    tail = [ln.strip() for ln in stderr_tail(stderr or "", lines=STDERR_LINES, width=200)]
    if tail:
        parts[0] += "; its last stderr lines: " + " | ".join(tail)
    plans = {p.name: p for p in plan.params}
    spec = f"parevo.inputs.toml beside {os.path.basename(site.path)} (see INPUTS.md)"
    if timed_out:
        bound = [p for p in loop_bound_params(site) if p in plans]
        involved = f"the parameters bounding its loops: {', '.join(bound)}" if bound else "no parameter bounds a loop"
        parts.append(f"Parameters involved: {involved}. If it is slow at this size rather than stuck, time it "
                     f"at the size your program uses: timing_n = <n> in {spec}, or --timing-n")
        return ". ".join(parts) + "."
    uses = {p: cs for p, cs in index_uses(site).items() if p in plans and not plans[p].built}
    if not uses:
        parts.append("No generated parameter is used as an index, so parevo cannot tell which input is wrong "
                     f"for it: give each parameter the values your program passes in {spec}")
        return ". ".join(parts) + "."
    how = {p: _how_generated(plans[p], plan, n) for p in uses}
    listed = "; ".join(f"{p} (its values index {', '.join(dict.fromkeys(c for c, _ in cs))}; generated as {how[p]})"
                       for p, cs in uses.items())
    entries = "; ".join(_entry(fn, plans[p], cs, how[p], plan, n) for p, cs in uses.items())
    parts.append(f"Parameters involved: {listed}. Write the values your program passes in {spec}: {entries}")
    return ". ".join(parts) + "."


__all__ = ["how_it_ended", "index_uses", "loop_bound_params", "original_failure_message"]
