"""Loop facts: what a selected loop reads and writes, its pattern, and why not.

``analyze(site)`` reads the nodes of a :class:`~parevo.toolchain.site.ParsedSite`
(the loop, its body, the function; types from the site's declarations) and
fills a :class:`~parevo.toolchain.models.LoopFacts`:

* the header (index variable, bounds, step; range-for element and range),
  read by :mod:`parevo.toolchain.loop_header`;
* scalar reductions with their monoid (``s += e``, ``s = s * e``,
  ``s = std::min(s, e)``, ``if (e < s) s = e;``, counts, ``if (!p) ok =
  false;`` …), argmin/argmax, scans, first-match searches;
* array writes at the loop index (a map), at computed indices (a histogram
  when the update is associative, a write conflict when it is a plain
  assignment), reads, ``push_back`` (a filter), early exits and calls;
* loop-carried dependences (``x[i] = x[i-1] * a + b[i]``; a scalar carried
  from one iteration to the next that is not a reduction).

The classification is a syntactic dependence test in the spirit of the
classic ones (Allen & Kennedy, *Optimizing Compilers for Modern
Architectures*, ch. 2-3: distance vectors for ``a[i±k]``; scalar reduction and
privatisation recognition as in OpenMP auto-parallelisers). It is
conservative where it can be cheaply (unknown indices into an array that is
also written make the loop sequential) and leaves aliasing and the effects of
unknown calls to the dynamic verification (differential test and
ThreadSanitizer).
"""

from __future__ import annotations

from tree_sitter import Node

from .facts_affine import Affine, AffineReader, Alias
from .facts_arrays import ArrayFacts
from .facts_frontier import frontier_loop
from .facts_relax import relaxation_loop
from .facts_nest import inner_parallel_loops
from .facts_sort import sort_idiom
from .facts_stl import algorithm_facts
from .facts_scalars import ScalarFacts
from .facts_shared import SharedFacts
from .loop_body import collect_body
from .normalize import normalize
from .loop_header import Header, read_for_header, read_range_header
from .models import (
    Call,
    IndexAlias,
    EarlyExit,
    LoopFacts,
    Push,
    Search,
)
from .site import ParsedSite
from .syntax import (
    block_statements,
    callee_name,
    captures,
    condition_value,
    declarator_name,
    identifiers,
    if_guards,
    line_of,
    node_text,
    span_of,
    statement_of,
)

PURE_FUNCTIONS = frozenset(
    """sqrt cbrt sin cos tan asin acos atan atan2 sinh cosh tanh asinh acosh atanh exp exp2 expm1
    log log2 log10 log1p pow hypot abs fabs labs llabs min max fmin fmax floor ceil round lround
    llround trunc fmod remainder copysign erf erfc tgamma lgamma isnan isinf isfinite signbit
    sqrtf sinf cosf expf logf powf fabsf floorf ceilf fminf fmaxf fma clamp size static_cast
    popcount __builtin_popcount __builtin_popcountll __builtin_clz __builtin_ctz""".split()
)
IMPURE_FUNCTIONS = frozenset(
    """printf fprintf sprintf snprintf puts putchar fputs fwrite fflush scanf fscanf getchar rand srand
    random drand48 exit abort perror system time clock malloc free realloc""".split()
)
PUSH_METHODS = frozenset({"push_back", "emplace_back"})


# --------------------------------------------------------------------------- analysis


class _Analysis(ArrayFacts, ScalarFacts, SharedFacts):
    """One analysis run over one loop; ``facts`` is filled by ``run``."""

    def __init__(self, site: ParsedSite, aliases: dict[str, Alias] | None = None):
        self.site = site
        self.aliases = dict(aliases or {})
        self.alias_decls: dict[str, Node] = {}  # the normalized body's declarations of the aliases
        self.loop = site.loop_node
        self.src = site.src
        self.reader = site.reader
        self.f = LoopFacts()
        self.problems: list[tuple[str, list[int]]] = []  # (reason, lines)
        self.conflicts: list[tuple[str, list[int]]] = []
        self.claimed: set[int] = set()  # ids of write nodes explained by a pattern

    # ----- small utilities
    def t(self, node: Node | None) -> str:
        """Source text of ``node`` ("" for None)."""
        return node_text(node, self.src) if node is not None else ""

    def guard_text(self, guards: list[tuple[Node, bool]]) -> str | None:
        """The conjunction of guard conditions (``!(c)`` for an else branch), or None."""
        parts = []
        for g, neg in guards:
            ct = self.t(condition_value(g.child_by_field_name("condition"))).strip()
            parts.append(f"!({ct})" if neg else ct)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else " && ".join(f"({p})" for p in parts)

    def loc(self, idx: Node | None) -> Affine | None:
        """The subscript ``idx`` as an affine form in the iteration (:mod:`parevo.toolchain.facts_affine`):
        the loop index and its aliases are the variable, loop-invariant names symbols."""
        return self.affine.read(idx)

    def own_element(self, a: Affine | None) -> bool:
        """``a`` names the iteration's own index (``i``, or an alias ``i`` of a normalized loop)."""
        return a is not None and a.const == 0 and (
            (a.coef == 1 and not a.terms) or (len(a.terms) == 1 and a.terms[0][1] == 1
                                              and a.terms[0][0][1:] in self.aliases))

    def offset(self, idx: Node | None) -> int | None:
        """k when ``idx`` is the loop index plus the constant k (``i``, ``i + k``, ``k + i``, ``i - k``)."""
        a = self.loc(idx)
        return a.const if a is not None and a.coef == 1 and not a.terms else None

    def is_alias_decl(self, stmt: Node) -> bool:
        """``stmt`` declares an index alias of the normalized loop (a rewrite binds it itself)."""
        return any(stmt.id == d.id for d in self.alias_decls.values())

    def type_of(self, name: str) -> str:
        """The value type of a variable declared before the loop (:meth:`ParsedSite.value_type`)."""
        return self.site.value_type(name)

    def used_after_loop(self, name: str) -> bool:
        """True when ``name`` appears in the enclosing function after the loop."""
        key = name.encode("utf-8")
        return any(n.start_byte >= self.loop.end_byte and n.text == key
                   for n in identifiers(self.site.function_node))

    # ----- entry
    def run(self) -> LoopFacts:
        """Fill and return the facts: header, body events, arrays, scalars, then the decision."""
        f = self.f
        loop = self.loop
        if self.site.loop_kind == "algorithm":
            self.f = algorithm_facts(self.site)
            return self.f
        if loop.type == "call_expression":
            f.already_parallel = True
            f.pattern = "unknown"
            f.reason = (f"the selection is already parallel (`{self.t(loop.child_by_field_name('function'))}` "
                        f"at line {line_of(loop) + 1}); parevo can check it for data races")
            f.reason_lines = [line_of(loop)]
            return f
        if loop.type in ("while_statement", "do_statement"):
            return self.while_loop()
        if loop.type == "for_statement":
            idiom, self.sort_why = sort_idiom(self.site)
            if idiom is not None:
                self.set_body(loop.child_by_field_name("body"))
                f.sort, f.pattern, f.parallelizable = idiom, "sort", True
                return f
            h = read_for_header(loop, self.src, self.reader, self.site.decl_of)
        else:
            h = read_range_header(loop, self.src)
        self.apply_header(h)
        self.header = h
        body = h.body
        if body is None:
            f.pattern = "unknown"
            f.reason = "the loop has no body"
            return f
        self.set_body(body)
        if self.check_already_parallel():
            return f
        if h.problem:
            f.pattern = "unknown"
            f.reason = h.problem
            f.reason_lines = [line_of(loop)]
            return f
        for st in block_statements(body)[:len(self.aliases)]:
            names = [self.t(declarator_name(d)) for d in st.children_by_field_name("declarator")] \
                if st.type == "declaration" else []
            if len(names) == 1 and names[0] in self.aliases:
                self.alias_decls[names[0]] = st
        ev = collect_body(body, self.src)
        f.inner_loops = ev.inner_loops
        f.body_locals = sorted(ev.declared)
        f.continues = [span_of(c) for c in ev.continues]
        self.private = set(ev.declared)
        if f.range_var and not h.range_is_reference:
            self.private.add(f.range_var)
        self.ev = ev
        written = {w.target.name for w in ev.writes if w.target.kind == "scalar"}
        self.affine = AffineReader(self.src, f.index_var if f.index_var else None, self.aliases,
                                   (set(ev.declared) - set(self.aliases)) | written)
        self.check_header_invariance(h)
        self.calls_and_effects()
        self.exits()
        self.arrays()
        self.scalars()
        self.decide()
        return f

    def while_loop(self) -> LoopFacts:
        """A ``while``/``do … while`` loop: a frontier processed level by level, a relaxation repeated
        until nothing changes (:mod:`parevo.toolchain.facts_graph`), else the reason."""
        f, loop = self.f, self.loop
        self.set_body(loop.child_by_field_name("body"))
        if self.check_already_parallel():
            return f
        frontier, why_f = frontier_loop(self.site, PURE_FUNCTIONS)
        relax, why_r = (None, None) if frontier is not None else relaxation_loop(self.site, PURE_FUNCTIONS)
        if frontier is not None or relax is not None:
            f.frontier, f.relaxation = frontier, relax
            f.pattern = "frontier" if frontier is not None else "relaxation"
            f.parallelizable = True
            return f
        kind = "while" if loop.type == "while_statement" else "do-while"
        f.pattern = "unknown"
        f.reason = (f"this {kind} loop is neither counted, nor a frontier processed level by level ({why_f}), nor "
                    f"a relaxation repeated until nothing changes ({why_r}); parevo rewrites those and `for` loops")
        f.reason_lines = [line_of(loop)]
        self.offer_inner()
        return f

    def set_body(self, body: Node | None) -> None:
        """Record the body node, its span and text."""
        if body is None:
            return
        self.body = body
        self.f.body = span_of(body)
        self.f.body_text = self.t(body)

    def apply_header(self, h: Header) -> None:
        """Copy the normalised header into the facts."""
        f = self.f
        f.index_var, f.index_type, f.lower, f.upper, f.step = h.index_var, h.index_type, h.lower, h.upper, h.step
        f.index_unsigned = h.index_unsigned
        f.index_declared_outside = h.declared_outside
        f.range_var, f.range_var_type, f.range_expr = h.range_var, h.range_var_type, h.range_expr
        self.range_ref = h.range_is_reference

    def check_already_parallel(self) -> bool:
        """Mark an OpenMP pragma above the loop or parallel calls/threads in its body."""
        f = self.f
        prev = self.loop.prev_named_sibling
        if prev is not None and prev.type == "preproc_call" and "omp" in self.t(prev) and (
            "for" in self.t(prev) or "parallel" in self.t(prev)
        ) and prev.end_point[0] >= self.loop.start_point[0] - 1:
            f.already_parallel = True
            f.reason = (f"the loop is already parallel (`{self.t(prev).strip()}` at line {line_of(prev) + 1}); "
                        "parevo can check it for data races")
            f.reason_lines = [line_of(prev), line_of(self.loop)]
        else:
            got = captures("[(call_expression) (preproc_call) (type_identifier) (qualified_identifier)] @n",
                           self.body).get("n", [])
            for n in got:
                if n.type == "call_expression":
                    fn = self.t(n.child_by_field_name("function"))
                    name = callee_name(n)
                    if name in ("parallel_for", "par_do", "blocked_for") or (
                        name == "for_each" and "execution::par" in self.t(n)
                    ) or fn in ("std::async",):
                        f.already_parallel = True
                        f.reason = (f"the loop body is already parallel (`{fn}` at line {line_of(n) + 1}); "
                                    "parevo can check it for data races")
                        f.reason_lines = [line_of(n)]
                        break
                if n.type == "preproc_call" and "omp" in self.t(n):
                    f.already_parallel = True
                    f.reason = (f"the loop body is already parallel (`{self.t(n).strip()}` at line "
                                f"{line_of(n) + 1}); parevo can check it for data races")
                    f.reason_lines = [line_of(n)]
                    break
                if n.type in ("type_identifier", "qualified_identifier") and self.t(n) in ("std::thread",
                                                                                            "std::jthread"):
                    f.already_parallel = True
                    f.reason = (f"the loop starts threads (`{self.t(n)}` at line {line_of(n) + 1}); parevo can "
                                "check it for data races")
                    f.reason_lines = [line_of(n)]
                    break
        if f.already_parallel:
            f.pattern = "unknown"
            f.parallelizable = False
        return f.already_parallel

    def check_header_invariance(self, h: Header) -> None:
        """Bounds and index must not change inside the body."""
        var = self.f.index_var
        written = {w.target.name for w in self.ev.writes if w.target.kind == "scalar"}
        for w in self.ev.writes:
            if var and w.target.kind == "scalar" and w.target.name == var:
                self.problems.append((f"the loop body changes the index `{var}` at line {line_of(w.node) + 1}: "
                                      "the iterations are not known before the loop runs", [line_of(w.node)]))
        for bnode in h.bound_nodes:
            for idn in identifiers(bnode):
                nm = self.t(idn)
                if nm in written and nm != var:
                    self.problems.append((f"the loop bound `{self.t(bnode)}` uses `{nm}`, which the body changes:"
                                          " the number of iterations is not known before the loop runs",
                                          [line_of(self.loop)]))
        pushed = {self.t(obj) for (_c, nm, obj) in self.ev.calls if obj is not None and nm in PUSH_METHODS}
        for bnode in h.bound_nodes:
            bt = self.t(bnode)
            for p in pushed:
                if p and p in bt:
                    self.problems.append((f"the loop bound `{bt}` depends on `{p}`, which the body grows",
                                          [line_of(self.loop)]))

    # ----- calls, pushes, side effects
    def calls_and_effects(self) -> None:
        """Record calls and pushes; flag I/O, impure calls, throws and shared-container mutation."""
        f = self.f
        for call, name, obj in self.ev.calls:
            line = line_of(call)
            base = name.split("::")[-1].split("<")[0]
            if obj is not None:
                objname = self.t(obj)
                root_name = objname.split("[")[0].split(".")[0].split("->")[0]
                if root_name in self.private:  # an object of this iteration
                    if base not in PUSH_METHODS:
                        f.calls.append(Call(name=f"{objname}.{base}", line=line, pure=False))
                    continue
                kind = self.member_call(call, base, obj, root_name)  # facts_shared: conflicts, elements
                if kind == "push":
                    args = call.child_by_field_name("arguments")
                    guards = self.guards_of(call)
                    stmt = statement_of(call, self.body)
                    f.pushes.append(Push(container=objname, value=self.t(args)[1:-1].strip(),
                                         conditional=bool(guards), condition=self.guard_text(guards), line=line,
                                         span=span_of(stmt)))
                    continue
                f.calls.append(Call(name=f"{objname}.{base}", line=line, pure=kind == "read"))
                continue
            pure = base in PURE_FUNCTIONS
            f.calls.append(Call(name=name, line=line, pure=pure))
            if base in IMPURE_FUNCTIONS:
                self.problems.append((f"the loop calls `{name}` at line {line + 1}: its effects depend on the "
                                      "order of the iterations", [line]))
        if self.ev.streams:
            n = self.ev.streams[0]
            self.problems.append((f"the loop does I/O (`{self.t(n)}` at line {line_of(n) + 1}): the output order "
                                  "depends on the order of the iterations", [line_of(n)]))
        if self.ev.throws:
            n = self.ev.throws[0]
            self.problems.append((f"the loop can throw at line {line_of(n) + 1}: parallel iterations cannot stop "
                                  "at the same point", [line_of(n)]))
        if len(f.pushes) > 1:
            self.problems.append(("the loop appends to containers in more than one place "
                                  f"(lines {', '.join(str(p.line + 1) for p in f.pushes)}): parevo rewrites one "
                                  "`push_back` per iteration", [p.line for p in f.pushes]))

    def guards_of(self, node: Node) -> list[tuple[Node, bool]]:
        """The ``if`` statements (and branch) between the body and ``node``, outermost first."""
        return if_guards(node, self.body)

    # ----- early exits and search
    def exits(self) -> None:
        """Record early exits; a single ``if (c) break/return`` becomes a search, others a problem."""
        f = self.f
        for node, kind, guards in self.ev.exits:
            value = None
            if kind == "return" and node.named_child_count:
                value = self.t(node.named_children[0])
            f.early_exits.append(EarlyExit(kind=kind, value=value, condition=self.guard_text(self.guards_of(node)),
                                           line=line_of(node), span=span_of(node)))
        if not f.early_exits:
            return
        s = self.match_search()
        if s is not None:
            f.search = s
            return
        e = f.early_exits[0]
        self.problems.append((f"early exit: `{e.kind}` at line {e.line + 1} leaves the loop, so later iterations "
                              "run only if earlier ones did not exit; parevo rewrites a single `if (…) break;` or "
                              "`if (…) return …;` search", [e.line]))

    def match_search(self) -> Search | None:
        """The :class:`Search` when the body is declarations then one exiting ``if``."""
        f = self.f
        if len(f.early_exits) != 1 or f.early_exits[0].kind == "goto" or f.pushes:
            return None
        stmts = block_statements(self.body)
        if not stmts or stmts[-1].type != "if_statement":
            return None
        ifs = stmts[-1]
        if ifs.child_by_field_name("alternative") is not None:
            return None
        prefix = [p for p in stmts[:-1] if not self.is_alias_decl(p)]
        if any(p.type != "declaration" for p in prefix):
            return None
        cons = ifs.child_by_field_name("consequence")
        block = block_statements(cons)
        if not block or block[-1].type not in ("break_statement", "return_statement"):
            return None
        # the block may assign scalars before leaving; nothing else in the loop may write
        for w in self.ev.writes:
            if not (cons.start_byte <= w.node.start_byte < cons.end_byte) and w.target.name not in self.private:
                return None
            if w.target.kind == "scalar" and w.target.name not in self.private:
                self.claimed.add(w.node.id)
        for s_ in block[:-1]:
            if s_.type != "expression_statement":
                return None
        cond = self.t(condition_value(ifs.child_by_field_name("condition"))).strip()
        last = block[-1]
        kind = "break" if last.type == "break_statement" else "return"
        acts = block if kind == "return" else block[:-1]
        action = "\n".join(self.t(a) for a in acts)
        value = self.t(last.named_children[0]) if kind == "return" and last.named_child_count else None
        return Search(kind=kind, condition=cond, prefix="\n".join(self.t(p) for p in prefix), action=action,
                      value=value, line=line_of(ifs))

    # ----- decision
    def decide(self) -> None:
        """Choose the pattern, ``parallelizable`` and the user-facing reason; a sequential loop whose inner
        loops can run in parallel becomes an ``inner`` nest (:mod:`parevo.toolchain.facts_nest`)."""
        self.classify()
        f = self.f
        if not f.parallelizable and getattr(self, "sort_why", None):
            f.reason = f"{self.sort_why} ({f.reason})" if f.reason else self.sort_why
        if f.pattern in ("sequential", "unknown") and not f.parallelizable and not f.already_parallel \
                and f.inner_loops:
            self.offer_inner()

    def offer_inner(self) -> None:
        """Keep the selected loop sequential (its reason in ``sequential_outer``) and offer its parallel inner loops."""
        f = self.f
        inner = inner_parallel_loops(self.site, analyze)
        if not inner:
            return
        f.inner_parallel = inner
        f.sequential_outer = f.reason
        f.pattern = "inner"
        f.parallelizable = True
        f.reason = None

    def classify(self) -> None:
        """Choose the pattern, ``parallelizable`` and the user-facing reason of the selected loop itself."""
        f = self.f
        problems = list(self.problems)
        if f.dependences:
            d = f.dependences[0]
            f.pattern = "sequential"
            f.parallelizable = False
            f.reason = d.description
            f.reason_lines = sorted({d.write_line, d.read_line})
            return
        if self.conflicts:
            f.pattern = "sequential"
            f.parallelizable = False
            f.reason, f.reason_lines = self.conflicts[0]
            return
        if problems:
            f.pattern = "sequential" if not f.early_exits or f.search is None else "unknown"
            f.parallelizable = False
            f.reason, f.reason_lines = problems[0]
            return
        histogram = any(a.op != "=" for a in f.writes_computed)
        if f.search is not None:
            f.pattern = "search"
        elif f.pushes:
            others = f.writes_at_index or f.writes_computed or f.reductions or f.argextremes or f.scan
            if others:
                f.pattern = "unknown"
                f.reason = (f"the loop both appends to `{f.pushes[0].container}` and updates other data; parevo "
                            "rewrites a filter only when appending is all the loop does")
                f.reason_lines = [f.pushes[0].line]
                return
            f.pattern = "filter"
        elif f.scan is not None:
            f.pattern = "scan"
        elif f.argextremes and not f.reductions:
            f.pattern = "argminmax"
        elif histogram:
            f.pattern = "histogram"
        elif f.reductions:
            f.pattern = "reduction"
        elif f.inner_loops:
            f.pattern = "nest"
        elif f.writes_at_index or any(not c.pure for c in f.calls):
            f.pattern = "map"
        else:
            f.pattern = "unknown"
            f.reason = "the loop has no effect parevo can see: it writes no array, scalar or container"
            f.reason_lines = [line_of(self.loop)]
            return
        order_matters = f.pattern in ("scan", "filter", "search", "argminmax")
        if f.step is not None and f.step != 1 and order_matters:
            f.parallelizable = False
            f.reason = (f"the index `{f.index_var}` steps by {f.step}: parevo rewrites order-dependent patterns "
                        f"({f.pattern}) only for loops that count up by one")
            f.reason_lines = [line_of(self.loop)]
            return
        f.parallelizable = True


def analyze(site: ParsedSite) -> LoopFacts:
    """Compute the :class:`LoopFacts` of the loop of ``site`` (see :func:`analyze_site`), on its normalized
    form when :func:`parevo.toolchain.normalize.normalize` rewrites it (a loop that counts down or steps by
    more than one, a counted ``while``): ``normalized`` then says how it was read, ``aliases`` names the
    index aliases, and spans index the normalized site's text (the rules read the same normalized site)."""
    nz = normalize(site)
    if nz is None:
        return analyze_site(site)
    an = _Analysis(nz.site, nz.aliases)
    f = an.run()
    f.normalized = nz.note
    f.aliases = [IndexAlias(name=a.name, type=a.type, base=a.base, coef=a.coef,
                            decl=span_of(an.alias_decls[a.name]) if a.name in an.alias_decls else None)
                 for a in nz.aliases.values()]
    return f


def analyze_site(site: ParsedSite) -> LoopFacts:
    """Compute the :class:`LoopFacts` of the loop of ``site`` (its nodes; nothing is parsed again).

    Returns facts with ``pattern`` one of ``map``, ``reduction``,
    ``argminmax``, ``histogram``, ``scan``, ``filter``, ``search``, ``nest``,
    ``sequential`` (a loop-carried dependence or write conflict; ``reason`` says
    which, with 1-based lines) or ``unknown`` (parevo cannot tell; ``reason``
    says why). Lines in ``reason_lines`` and in the fact lists are 0-based.
    """
    return _Analysis(site).run()


__all__ = ["analyze", "PURE_FUNCTIONS", "IMPURE_FUNCTIONS"]
