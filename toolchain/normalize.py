"""Loops people write, rewritten on the syntax tree into the forward counted loop every rule reads.

``normalize(site)`` returns a :class:`Normalized` (a new
:class:`~parevo.toolchain.site.ParsedSite` whose loop is the rewritten one,
the index aliases it introduced and a sentence saying what was done) or
None when the loop is already a forward ``for`` loop stepping by one, or is
not one of these forms:

* a loop that counts down or steps by more than one (``for (int i = n - 1; i
  >= 0; --i)``, ``i += 2``, ``for (size_t i = n; i-- > 0; )``): it becomes a
  loop over the iteration position ``k`` counting up by one, whose body first
  binds the original index, ``const int i = (n - 1) + 1 - 1 - k;``, so the
  iterations run in the same order with the same index values; the analysis
  reads ``i`` as an index alias (:mod:`parevo.toolchain.facts_affine`), so a
  reverse early exit is a first match in position order (the last match in
  index order), a reverse copy a map, a reverse accumulation a scan;
* a counted ``while`` loop (``while (i < n) { …; ++i; }``, ``while (i-- > 0)
  …``) becomes the ``for`` loop it is (its index keeps its value at the loop's
  entry as lower bound), and a counted ``do … while`` the same ``for`` loop,
  whose rewrites are then wrapped as ``if (<condition>) <rewrite> else <the
  original do … while>``: a ``do`` loop runs once even when the condition is
  false at entry;
* a first-in first-out queue of vertices (``while (!q.empty()) { T u =
  q.front(); q.pop(); … q.push(v); … }``) becomes the frontier loop it is,
  level by level (:mod:`parevo.toolchain.normalize_queue`), whose rewrites
  start by moving the queue's contents into the first level; a ``do { … }
  while (!frontier.empty());`` becomes that ``while`` loop, guarded like a
  counted ``do`` loop.

The rewrite is a tree edit: the loop node's span is replaced by text built
from its nodes (header parts, body statements), placed so that every body
statement keeps its line, and the file is parsed again. Nothing outside the
loop changes, so a candidate written for the normalized loop replaces the
original loop as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from tree_sitter import Node

from .facts_affine import Alias
from .facts_frontier import nonempty_test
from .loop_header import read_for_header
from .normalize_queue import queue_levels
from .site import ParsedSite
from .syntax import (
    block_statements,
    captures,
    condition_value,
    conjuncts,
    find_loop_node,
    identifiers,
    node_text,
    operator_of,
    parse,
    strip_parens,
    words,
)


@dataclass(frozen=True)
class Normalized:
    """A normalized loop: ``site`` (the file with the loop rewritten, parsed), ``aliases`` (index
    aliases by name; empty for a ``while`` loop read as a ``for``), ``note`` (what was done, for
    reports), ``entry_test`` (for a ``do … while``: the condition a rewrite must be guarded by) and
    ``prelude`` (statements a rewrite starts with: for a queue loop, its contents moved to the first level)."""

    site: ParsedSite
    aliases: dict[str, Alias] = field(default_factory=dict)
    note: str = ""
    entry_test: str | None = None
    prelude: str = ""
    original_loop_text: str = ""
    original_indent: str = ""

    def wrap(self, loop_text: str) -> str:
        """A rewrite of the normalized loop as a rewrite of the original one (a ``do`` loop keeps its first
        run: ``if (test) { rewrite } else { original }``; a prelude goes first: ``{ prelude rewrite }``)."""
        if self.prelude:
            loop_text = "\n".join(["{"] + [f"  {ln}" if ln.strip() else "" for ln in
                                           (self.prelude + "\n" + loop_text).split("\n")] + ["}"])
        if self.entry_test is None:
            return loop_text
        ind = self.original_indent
        orig = [ln[len(ind):] if ln.startswith(ind) else ln for ln in self.original_loop_text.split("\n")]
        lines = (["{", f"  if ({self.entry_test}) {{"] + [f"    {ln}" if ln.strip() else "" for ln in loop_text.split("\n")]
                 + ["  } else {"] + [f"    {ln}" if ln.strip() else "" for ln in orig] + ["  }", "}"])
        return "\n".join(lines)


def _fresh(site: ParsedSite, base: str) -> str:
    used = words(site.function_node)
    name, k = base, 1
    while name in used:
        name = f"{base}_{k}"
        k += 1
    return name


def _rebuilt(site: ParsedSite, text: str, prefix: str = "") -> ParsedSite | None:
    """The site of ``text`` put in place of the loop (the file parsed again), after ``prefix`` (declarations the
    loop needs, on the loop's first line)."""
    from .parsing import build_site  # parsing builds sites from this module's output

    src = site.src
    start = site.loop.start_byte + len(prefix.encode("utf-8"))
    new_src = src[:site.loop.start_byte] + prefix.encode("utf-8") + text.encode("utf-8") + src[site.loop.end_byte:]
    source = new_src.decode("utf-8")
    tree = parse(source)
    loop = find_loop_node(tree.root_node, start, start + len(text.encode("utf-8")))
    if loop is None or loop.has_error:
        return None
    fn = loop.parent
    while fn is not None and fn.type != "function_definition":
        fn = fn.parent
    if fn is None:
        return None
    kind = {"for_statement": "for", "for_range_loop": "range_for", "while_statement": "while"}.get(loop.type)
    if kind is None:
        return None
    return build_site(source, site.path, tree, fn, loop, kind)


def _body_parts(site: ParsedSite, body: Node, head_end: int) -> tuple[str, str]:
    """(newlines keeping the body's first line, the body's statements' text without braces)."""
    src = site.src
    pad = "\n" * src.count(b"\n", head_end, body.start_byte)
    if body.type == "compound_statement":
        inner = src[body.start_byte + 1:body.end_byte - 1].decode("utf-8")
    else:
        inner = " " + src[body.start_byte:body.end_byte].decode("utf-8") + " "
    return pad, inner


def _used_after(site: ParsedSite, name: str) -> bool:
    key = name.encode("utf-8")
    return any(n.start_byte >= site.loop.end_byte and n.text == key for n in identifiers(site.function_node))


@dataclass(frozen=True)
class _Step:
    """One rewrite: the new site, what was done, a test a rewrite must be guarded by, the aliases."""

    site: ParsedSite
    note: str
    entry_test: str | None = None
    aliases: dict[str, Alias] = field(default_factory=dict)
    prelude: str = ""


def _counted(site: ParsedSite, h) -> tuple[str, str, str, str] | None:
    """``(type, lower, upper, iteration count)`` C++ texts of a counted header (the index must be declared in
    the header or unused after the loop: the rewrite does not leave it at its final value), else None."""
    if h.problem or not h.step or h.body is None or not h.index_var:
        return None
    if h.declared_outside and _used_after(site, h.index_var):
        return None
    T = (h.index_type or f"decltype({h.index_var})").strip()
    S = abs(h.step)
    lo, hi = f"static_cast<{T}>({h.lower})", f"static_cast<{T}>({h.upper})"
    count = (f"({hi} > {lo} ? static_cast<std::size_t>(({hi} - {lo}" + (f" + {S - 1}) / {S})" if S > 1 else "))")
             + " : std::size_t(0))")
    return T, lo, hi, count


def _positions(site: ParsedSite) -> _Step | None:
    """A ``for`` loop that counts down or steps by more than one, as a forward loop over positions."""
    loop, src = site.loop_node, site.src
    h = read_for_header(loop, src, site.reader, site.decl_of)
    if h.step == 1:
        return None
    got = _counted(site, h)
    if got is None:
        return None
    T, lo, hi, count = got
    k = _fresh(site, f"{h.index_var}_pos")
    alias = Alias(name=h.index_var, coef=h.step, base=lo if h.step > 0 else f"{hi} - 1", type=T)
    text = _position_loop(site, h.body, k, count, f"const {T} {h.index_var} = {alias.value(k)};")
    ns = _rebuilt(site, text)
    if ns is None:
        return None
    way = "counts down" if h.step < 0 else f"steps by {h.step}"
    return _Step(site=ns, aliases={h.index_var: alias},
                 note=(f"the loop {way}: read as a forward loop over the iteration position `{k}` binding "
                       f"`{h.index_var}` in each iteration (same order, same index values)"))


def _position_loop(site: ParsedSite, body: Node, k: str, count: str, binding: str,
                   block_edits: list[tuple[int, int, str]] | None = None) -> str:
    """``for (std::size_t k = 0; k < count; ++k) { binding BODY }`` with the body's lines kept."""
    loop, src = site.loop_node, site.src
    head_pad = "\n" * src.count(b"\n", loop.start_byte, body.start_byte)
    data = src[body.start_byte:body.end_byte]
    for a, b, new in sorted(block_edits or [], key=lambda e: e[0], reverse=True):
        data = data[:a - body.start_byte] + new.encode("utf-8") + data[b - body.start_byte:]
    text = data.decode("utf-8")
    inner = text[1:-1] if body.type == "compound_statement" else " " + text + " "
    return f"for (std::size_t {k} = 0; {k} < {count}; ++{k}){head_pad}{{ {binding}{inner}}}"


def _last_match(site: ParsedSite) -> _Step | None:
    """A loop whose last matching iteration decides scalars (``if (p(i)) pos = i;``): the same loop run from
    the end, stopping at its first match (a search)."""
    loop, src = site.loop_node, site.src
    body = loop.child_by_field_name("body")
    if body is None:
        return None
    stmts = block_statements(body)
    if not stmts or stmts[-1].type != "if_statement" or stmts[-1].child_by_field_name("alternative") is not None:
        return None
    if any(st.type != "declaration" for st in stmts[:-1]):
        return None
    ifs = stmts[-1]
    cons = ifs.child_by_field_name("consequence")
    assigned: list[str] = []
    for st in block_statements(cons):
        e = strip_parens(st.named_children[0]) if st.type == "expression_statement" and st.named_child_count else None
        left = strip_parens(e.child_by_field_name("left")) if e is not None and e.type == "assignment_expression" \
            else None
        if left is None or operator_of(e, src) != "=" or left.type != "identifier" or site.decl_of(
                node_text(left, src)) is None:
            return None
        assigned.append(node_text(left, src))
    if not assigned or len(set(assigned)) != len(assigned):
        return None
    if all(strip_parens(st.named_children[0].child_by_field_name("right")).type in (
            "true", "false", "number_literal", "char_literal") for st in block_statements(cons)):
        return None  # `if (p) found = true;` is a reduction (logical or), not a last match
    if any(n.text.decode("utf-8", errors="replace") in assigned for st in stmts[:-1] for n in identifiers(st)) or any(
            n.text.decode("utf-8", errors="replace") in assigned
            for n in identifiers(ifs.child_by_field_name("condition"))):
        return None
    for st in block_statements(cons):
        if any(n.text.decode("utf-8", errors="replace") in assigned for n in identifiers(st.named_children[0]
                                                                                       .child_by_field_name("right"))):
            return None
    if captures("[(break_statement) (return_statement) (goto_statement) (continue_statement) (throw_statement)] @x",
                body):
        return None
    brk = [(cons.end_byte - 1, cons.end_byte - 1, " break; ")] if cons.type == "compound_statement" else \
        [(cons.start_byte, cons.end_byte, "{ " + node_text(cons, src) + " break; }")]
    if loop.type == "for_range_loop":
        right = strip_parens(loop.child_by_field_name("right"))
        decl = loop.child_by_field_name("declarator")
        d = site.decl_of(node_text(right, src)) if right is not None and right.type == "identifier" else None
        if d is None or d.type.kind not in ("vector", "array", "string"):
            return None
        lparen = next((c for c in loop.children if c.type == "("), None)
        vdecl = src[lparen.end_byte:decl.end_byte].decode("utf-8").strip()
        rng = node_text(right, src)
        k = _fresh(site, "pos")
        text = _position_loop(site, body, k, f"std::size({rng})",
                              f"{vdecl} = {rng}[std::size({rng}) - 1 - {k}];", brk)
        ns = _rebuilt(site, text)
        return None if ns is None else _Step(site=ns, note=(
            f"the last element that matches decides `{', '.join(assigned)}`: read as a search from the end"))
    if loop.type != "for_statement":
        return None
    h = read_for_header(loop, src, site.reader, site.decl_of)
    got = _counted(site, h)
    if got is None:
        return None
    T, lo, hi, count = got
    S = abs(h.step)
    k = _fresh(site, f"{h.index_var}_pos")
    # the original visits first + step·j for j < count; from the end: last - step·k
    first = lo if h.step > 0 else f"{hi} - 1"
    last = f"static_cast<{T}>({first} {'+' if h.step > 0 else '-'} static_cast<{T}>({count} - 1)" + (
        f" * {S})" if S > 1 else ")")
    alias = Alias(name=h.index_var, coef=-h.step, base=last, type=T)
    text = _position_loop(site, h.body, k, count, f"const {T} {h.index_var} = {alias.value(k)};", brk)
    ns = _rebuilt(site, text)
    if ns is None:
        return None
    return _Step(site=ns, aliases={h.index_var: alias},
                 note=(f"the last iteration that matches decides `{', '.join(assigned)}`: read as a search from the "
                       f"end (iteration position `{k}` counts from the last index)"))


def _bound_conjunct(cond: Node, src: bytes) -> tuple[Node, list[Node]] | None:
    """The conjunct of ``cond`` comparing a variable with a bound (or ``i-- > b``) and the others."""
    parts = conjuncts(cond)
    if len(parts) < 2:
        return None
    for c in parts:
        if c.type == "binary_expression" and operator_of(c, src) in ("<", "<=", ">", ">=", "!="):
            sides = [strip_parens(c.child_by_field_name(f)) for f in ("left", "right")]
            if any(x is not None and (x.type == "identifier" or (x.type == "update_expression"))
                   for x in sides):
                return c, [x for x in parts if x.id != c.id]
    return None


def _flag_exit(site: ParsedSite, rest: list[Node], body: Node) -> tuple[str, list[tuple[int, int, str]]] | None:
    """``(flag, edits)`` when the extra conjunct is ``!flag`` and the body's last statement sets ``flag = true``
    in an ``if`` block (the loop ends after that iteration): the block gets a ``break``."""
    src = site.src
    if len(rest) != 1:
        return None
    r = strip_parens(rest[0])
    if r is None or r.type != "unary_expression" or r.children[0].type != "!":
        return None
    f = strip_parens(r.children[1])
    if f is None or f.type != "identifier":
        return None
    flag = node_text(f, src)
    d = site.decl_of(flag)
    if d is None or not d.type.is_bool:
        return None
    stmts = block_statements(body)
    if not stmts or stmts[-1].type != "if_statement" or stmts[-1].child_by_field_name("alternative") is not None:
        return None
    cons = stmts[-1].child_by_field_name("consequence")
    sets = [st for st in block_statements(cons) if st.type == "expression_statement" and st.named_child_count
            and (e := strip_parens(st.named_children[0])).type == "assignment_expression"
            and node_text(strip_parens(e.child_by_field_name("left")), src) == flag
            and strip_parens(e.child_by_field_name("right")).type == "true"]
    uses = [n for n in identifiers(body) if n.text == flag.encode()]
    if len(sets) != 1 or len(uses) != 1:
        return None
    edit = (cons.end_byte - 1, cons.end_byte - 1, " break; ") if cons.type == "compound_statement" else \
        (cons.start_byte, cons.end_byte, "{ " + node_text(cons, src) + " break; }")
    return flag, [edit]


def _split(site: ParsedSite) -> _Step | None:
    """A ``for`` loop whose condition adds tests to its bound (``i < n && !found``, ``i < n && a[i] != key``):
    the bound stays in the header; a ``!flag`` the body's last ``if`` sets becomes a ``break`` there (the
    rewrite is guarded by the flag being false at entry); other tests become ``if (!(test)) break;`` first."""
    loop, src = site.loop_node, site.src
    if loop.type != "for_statement":
        return None
    h = read_for_header(loop, src, site.reader, site.decl_of)
    cond = condition_value(loop.child_by_field_name("condition"))
    body = loop.child_by_field_name("body")
    if not h.problem or cond is None or body is None or not h.index_var:
        return None
    got = _bound_conjunct(cond, src)
    if got is None:
        return None
    bound, rest = got
    if h.declared_outside and _used_after(site, h.index_var) and _flag_exit(site, rest, body) is not None:
        return None  # the flag form leaves the index one past the match
    flag = _flag_exit(site, rest, body)
    edits: list[tuple[int, int, str]] = [(cond.start_byte, cond.end_byte, node_text(bound, src))]
    entry = None
    if flag is not None:
        edits += flag[1]
        entry = f"!{flag[0]}"
        note = f"the loop stops once `{flag[0]}` is set: read as a `break` where it is set"
    else:
        tests = " && ".join(node_text(r, src) for r in rest)
        at = body.start_byte + 1 if body.type == "compound_statement" else body.start_byte
        edits.append((at, at, f" if (!({tests})) break; " if body.type == "compound_statement" else
                      f"{{ if (!({tests})) break; "))
        if body.type != "compound_statement":
            edits.append((body.end_byte, body.end_byte, " }"))
        note = f"the loop also stops when `{tests}` fails: read as an early exit"
    data = src[loop.start_byte:loop.end_byte]
    for a, b, new in sorted(edits, key=lambda e: e[0], reverse=True):
        data = data[:a - loop.start_byte] + new.encode("utf-8") + data[b - loop.start_byte:]
    ns = _rebuilt(site, data.decode("utf-8"))
    if ns is None or read_for_header(ns.loop_node, ns.src, ns.reader, ns.decl_of).problem:
        return None
    return _Step(site=ns, note=note, entry_test=entry)


def _step_statement(stmt: Node, src: bytes) -> tuple[str, str] | None:
    """``(index, update text)`` when ``stmt`` is ``++i;``, ``i++;``, ``--i;``, ``i += c;``, ``i -= c;``."""
    if stmt.type != "expression_statement" or not stmt.named_child_count:
        return None
    e = strip_parens(stmt.named_children[0])
    if e.type == "update_expression":
        arg = strip_parens(e.child_by_field_name("argument"))
        if arg is not None and arg.type == "identifier":
            return node_text(arg, src), node_text(e, src)
    if e.type == "assignment_expression" and operator_of(e, src) in ("+=", "-="):
        left = strip_parens(e.child_by_field_name("left"))
        if left is not None and left.type == "identifier":
            return node_text(left, src), node_text(e, src)
    return None


def _own_continue(body: Node) -> bool:
    """A ``continue`` of this loop (not of a loop inside it) in ``body``."""
    from .syntax import captures, loop_depth

    return any(loop_depth(c, body.parent)[0] == 0 and not loop_depth(c, body.parent)[2]
               for c in captures("(continue_statement) @c", body).get("c", []))


def _while(site: ParsedSite) -> _Step | None:
    """A counted ``while``/``do … while`` loop as the ``for`` loop it is (its index starts at its value at the
    loop's entry): ``while (i-- > 0) …``, or ``while (<i compared with a bound> [&& tests]) { …; ++i; }``."""
    loop, src = site.loop_node, site.src
    if loop.type not in ("while_statement", "do_statement"):
        return None
    cond = condition_value(loop.child_by_field_name("condition"))
    body = loop.child_by_field_name("body")
    if cond is None or body is None:
        return None
    stmts = block_statements(body)
    var = update = None
    for c in conjuncts(cond):
        if c.type == "binary_expression":
            for side in (c.child_by_field_name("left"), c.child_by_field_name("right")):
                x = strip_parens(side)
                if x is not None and x.type == "update_expression" and operator_of(x, src) == "--" \
                        and x.children[0].type != "--":  # `i-- > 0` (a prefix `--i` tests the new value)
                    arg = strip_parens(x.child_by_field_name("argument"))
                    if arg is not None and arg.type == "identifier":
                        var, update = node_text(arg, src), ""
    last = None
    if var is None and stmts:
        got = _step_statement(stmts[-1], src)
        if got is not None and any(n.text == got[0].encode() for n in identifiers(cond)):
            (var, update), last = got, stmts[-1]
    if var is None or update is None or site.decl_of(var) is None or _own_continue(body):
        return None
    cond_text = " ".join(node_text(cond, src).split())
    if last is not None:  # the step leaves the body (its bytes become spaces: lines stay)
        data = src[body.start_byte:last.start_byte] + b" " * (last.end_byte - last.start_byte) + \
            src[last.end_byte:body.end_byte]
        new_body = data.decode("utf-8")
        if body.type != "compound_statement":
            new_body = "{" + new_body + "}"
    else:
        new_body = node_text(body, src)
    do = loop.type == "do_statement"
    head_end = loop.child_by_field_name("condition").end_byte if not do else loop.start_byte
    pad = "" if do else "\n" * src.count(b"\n", head_end, body.start_byte)
    text = f"for ({var} = {var}; {cond_text}; {update}){pad or ' '}{new_body}"
    ns = _rebuilt(site, text)
    if ns is None:
        return None
    kind = "do … while" if do else "while"
    return _Step(site=ns, note=f"the counted {kind} loop is read as `for (; {cond_text}; {update})`",
                 entry_test=cond_text if do else None)


def _queue(site: ParsedSite) -> _Step | None:
    """A queue of vertices processed first in, first out, as the frontier loop it is (``normalize_queue``)."""
    got = queue_levels(site, _fresh)
    ns = _rebuilt(site, got.loop, got.prefix) if got is not None else None
    return None if ns is None else _Step(site=ns, note=got.note, prelude=got.prelude)


def _do_frontier(site: ParsedSite) -> _Step | None:
    """``do { … } while (!frontier.empty());`` as the ``while`` loop it is when the frontier is not empty at entry
    (its rewrites are guarded by that test; an empty frontier runs the original ``do`` loop)."""
    loop, src = site.loop_node, site.src
    cond = condition_value(loop.child_by_field_name("condition"))
    body = loop.child_by_field_name("body")
    if loop.type != "do_statement" or body is None or nonempty_test(cond, src) is None:
        return None
    cond_text = " ".join(node_text(cond, src).split())
    ns = _rebuilt(site, f"while ({cond_text}) {node_text(body, src)}")
    return None if ns is None else _Step(site=ns, note=f"the do … while loop is read as `while ({cond_text})`",
                                         entry_test=cond_text)


_STEPS = (_while, _split, _last_match, _positions, _do_frontier, _queue)


@lru_cache(maxsize=64)
def normalize(site: ParsedSite) -> Normalized | None:
    """The normalized form of ``site``'s loop, or None (see the module docstring). Cached per site.

    Steps apply one after the other until none does (a ``while`` loop becomes a ``for`` loop, its extra
    tests early exits, a loop counting down a forward loop over positions); the steps that introduce
    index aliases end it.
    """
    cur, notes, tests, aliases, prelude = site, [], [], {}, ""
    for _ in range(len(_STEPS)):
        step = next((st for f in _STEPS if (st := f(cur)) is not None), None)
        if step is None:
            break
        cur = step.site
        notes.append(step.note)
        if step.entry_test:
            tests.append(step.entry_test)
        prelude = prelude or step.prelude
        if step.aliases:
            aliases = step.aliases
            break
    if cur is site:
        return None
    test = " && ".join(f"({t})" for t in tests) if len(tests) > 1 else (tests[0] if tests else None)
    return Normalized(site=cur, aliases=aliases, note="; ".join(notes), entry_test=test, prelude=prelude,
                      original_loop_text=site.loop_text, original_indent=site.indent)




__all__ = ["Normalized", "normalize"]
