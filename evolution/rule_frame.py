"""Text building blocks shared by the rule-based proposers.

A rewrite replaces the loop by a block ``{ … }`` whose iterations run in a
ParlayLib primitive. :class:`Frame` says how to iterate: the iteration count,
the lambda parameter and the statement that rebinds the loop's own index
variable (with its own type and lower bound), so the loop's body text can be
reused unchanged. :func:`body_lines` extracts the body text with optional
replacements and relative indentation. Generated names never collide with an
identifier of the enclosing function (:class:`Names`).

All texts are relative: the first line of a candidate starts at column 0 and
nested lines are indented by two spaces per level; the splicer re-indents the
candidate to the loop's column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from parevo.toolchain.snippet import is_identifier, is_number, is_plain_count, replace_name, unused_constants
from parevo.toolchain.syntax import words
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import ParsedSite

IND = "  "
_SIZE_T = ("size_t", "std::size_t")


class Names:
    """Fresh identifiers that no identifier of the enclosing function uses."""

    def __init__(self, site: ParsedSite):
        self.used = words(site.function_node)

    def fork(self) -> "Names":
        """A copy: names taken from it do not affect this one (one per candidate)."""
        other = Names.__new__(Names)
        other.used = set(self.used)
        return other

    def get(self, base: str) -> str:
        """``base`` if unused, else ``base_``, ``base_2`` … (then reserved)."""
        cand, k = base, 1
        while cand in self.used:
            cand = f"{base}_" if k == 1 else f"{base}_{k}"
            k += 1
        self.used.add(cand)
        return cand


@dataclass
class Frame:
    """How a rewrite enumerates the loop's iterations.

    ``count`` is a ``size_t`` expression for the number of iterations;
    ``prologue`` declares what it needs (evaluated once, before the parallel
    call). Position form: a lambda taking ``pos_param`` (0 … count-1) starts
    with ``pos_bind`` (``int i = lo + static_cast<int>(k);``, empty when the
    parameter is the index itself). Index form (for ``parallel_for``): call
    ``parallel_for(start, end, …)`` with a lambda taking ``index_param`` and
    starting with ``index_bind``. ``index_at(p)`` is the index value at
    position ``p``; ``epilogue`` restores an index declared before the loop.
    """

    prologue: list[str]
    count: str
    pos_param: str
    pos_bind: str
    start: str
    end: str
    index_param: str
    index_bind: str
    index_type: str
    var: str
    index_at_fmt: str
    epilogue: list[str] = field(default_factory=list)
    names: Names | None = None
    first: str | None = None
    #: ``pos_bind`` for another position variable (None when ``pos_bind`` is empty).
    bind_of: Callable[[str], str] | None = None

    def bind_at(self, pos: str) -> list[str]:
        """Statements binding the loop's variables (index, aliases) for the position ``pos`` (a ``size_t``
        variable of a serial loop inside a rewrite)."""
        if self.pos_param == self.var:  # the position is the index itself
            return [f"size_t {self.var} = {pos};"] + ([self.pos_bind] if self.pos_bind else [])
        return [self.bind_of(pos)] if self.bind_of is not None else []

    def index_at(self, pos: str) -> str:
        """Expression of the loop index at iteration position ``pos`` (a ``size_t`` expression)."""
        if pos.strip() == "0" and self.first is not None:
            return self.first
        return self.index_at_fmt.format(p=pos)


def build_frame(site: ParsedSite, facts: LoopFacts, names: Names) -> Frame | None:
    """The :class:`Frame` of a counted or range-based ``for`` loop, or None.

    None when the header was not normalised (``facts.index_var`` and
    ``facts.range_var`` both missing). The index aliases of a normalized loop
    (``facts.aliases``: ``const int i = base - k;``) are bound by the frame:
    their bases are evaluated once in the prologue and every lambda's binding
    declares them, so a template may use any text of the body.
    """
    fr = _frame(site, facts, names)
    if fr is None or not facts.aliases:
        return fr
    binds = []
    for a in facts.aliases:
        base = names.get(f"{a.name}_base")
        fr.prologue.append(f"const {a.type} {base} = {a.base};")
        binds.append((a, base))

    def bound(bind: str, k: str) -> str:
        decls = [f"const {a.type} {a.name} = {_alias_value(a, k, base)};" for a, base in binds]
        return " ".join(([bind] if bind else []) + decls)

    plain = fr.bind_of
    fr.bind_of = lambda p: bound(plain(p) if plain is not None else "", p)
    fr.pos_bind = bound(fr.pos_bind, fr.pos_param)
    fr.index_bind = bound(fr.index_bind, fr.index_param)
    return fr


def _alias_value(a, k: str, base: str) -> str:
    """``base ± k·|coef|`` in the alias's type."""
    step = f" * {abs(a.coef)}" if abs(a.coef) != 1 else ""
    return f"static_cast<{a.type}>({base} {'+' if a.coef > 0 else '-'} static_cast<{a.type}>({k}){step})"


def alias_decl_edits(facts: LoopFacts) -> list[tuple[int, int, str]]:
    """Edits removing the normalized body's alias declarations (the frame binds the aliases)."""
    return [(a.decl.start_byte, a.decl.end_byte, "") for a in facts.aliases if a.decl is not None]


def expand_aliases(text: str, facts: LoopFacts, k: str) -> str:
    """``text`` with every index alias replaced by its value in iteration ``k`` (for code outside a lambda)."""
    for a in facts.aliases:
        text = replace_name(text, a.name, f"({_alias_value(a, k, f'({a.base})')})")
    return text


def _frame(site: ParsedSite, facts: LoopFacts, names: Names) -> Frame | None:
    if facts.range_var and facts.range_expr:
        k = names.get("k")
        rexpr = facts.range_expr.strip()
        prologue = []
        if is_identifier(rexpr):
            rng, at_range = rexpr, rexpr
        else:
            rng = names.get("range")
            prologue.append(f"auto&& {rng} = {rexpr};")
            at_range = f"std::begin({rng})"

        def range_bind(p: str) -> str:
            return f"{facts.range_var_type} {facts.range_var} = {at_range}[{p}];"

        bind = range_bind(k)
        count = f"std::size({rng})"
        return Frame(prologue=prologue, count=count, pos_param=k, pos_bind=bind, start="0", end=count,
                     index_param=k, index_bind=bind, index_type="size_t", var=facts.range_var,
                     index_at_fmt="{p}", names=names, bind_of=range_bind)
    if not facts.index_var or facts.lower is None or facts.upper is None or not facts.step:
        return None
    var, T = facts.index_var, (facts.index_type or f"decltype({facts.index_var})").strip()
    L, U, S = facts.lower.strip(), facts.upper.strip(), facts.step
    unsigned = facts.index_unsigned
    exact = T in _SIZE_T
    prologue: list[str] = []
    epilogue: list[str] = []
    lit_lo = is_number(L)
    if S == 1 and L == "0" and unsigned and not facts.index_declared_outside:
        if is_plain_count(U):
            count = U
        else:
            hi = names.get("n_iter")
            prologue.append(f"const size_t {hi} = {U};")
            count = hi
        def cast_bind(p: str) -> str:
            return f"{T} {var} = static_cast<{T}>({p});"

        if exact:
            param, bind = var, ""
        else:
            param = names.get("k")
            bind = cast_bind(param)
        return Frame(prologue=prologue, count=count, pos_param=param, pos_bind=bind, start="0", end=count,
                     index_param=param, index_bind=bind, index_type=T, var=var,
                     index_at_fmt="{p}" if exact else f"static_cast<{T}>({{p}})", names=names, first="0",
                     bind_of=None if exact else cast_bind)
    hi = names.get("hi")
    if lit_lo:
        lo = L
    else:
        lo = names.get("lo")
        prologue.append(f"const {T} {lo} = {L};")
    prologue.append(f"const {T} {hi} = {U};")
    k = names.get("k")
    step = abs(S)
    if step == 1 and lo == "0":
        count = f"({hi} > 0 ? static_cast<size_t>({hi}) : size_t(0))"
    elif step == 1:
        count = f"({hi} > {lo} ? static_cast<size_t>({hi} - {lo}) : size_t(0))"
    else:
        count = f"({hi} > {lo} ? static_cast<size_t>(({hi} - {lo} + {step - 1}) / {step}) : size_t(0))"
    n_name = names.get("n_iter")
    prologue.append(f"const size_t {n_name} = {count};")
    count = n_name
    if S == 1 and lo == "0":
        at = f"static_cast<{T}>({{p}})"
    elif S > 0:
        at = f"static_cast<{T}>({lo} + static_cast<{T}>({{p}})" + (f" * {step})" if step != 1 else ")")
    else:
        at = f"static_cast<{T}>({hi} - 1 - static_cast<{T}>({{p}})" + (f" * {step})" if step != 1 else ")")
    pos_bind = f"{T} {var} = {at.format(p=k)};"
    if facts.index_declared_outside:
        final = at.format(p=count)
        epilogue.append(f"{var} = {final};")
    if S == 1 and lit_lo and not facts.index_declared_outside:
        # index form: parallel_for(lo, end) hands the lambda the index value itself
        end = f"{hi}" if unsigned else f"({hi} > {lo} ? {hi} : {lo})"
        if exact:
            iparam, ibind = var, ""
        else:
            iparam = names.get("j") if k == var else k
            ibind = f"{T} {var} = static_cast<{T}>({iparam});"
        start = lo
    else:
        start, end, iparam, ibind = "0", count, k, pos_bind
    return Frame(prologue=prologue, count=count, pos_param=k, pos_bind=pos_bind, start=start, end=end,
                 index_param=iparam, index_bind=ibind, index_type=T, var=var, index_at_fmt=at,
                 epilogue=epilogue, names=names, first=lo if S > 0 else None,
                 bind_of=lambda p: f"{T} {var} = {at.format(p=p)};")


def dedent_block(text: str) -> list[str]:
    """Lines of ``text`` with common indentation removed and blank edges dropped."""
    lines = text.split("\n")
    first = lines[0].strip()
    rest = lines[1:]
    while rest and not rest[-1].strip():
        rest.pop()
    ind = min((len(ln) - len(ln.lstrip()) for ln in rest if ln.strip()), default=0)
    out = ([first] if first else []) + [ln[ind:] if ln.strip() else "" for ln in rest]
    while out and not out[0].strip():
        out.pop(0)
    return out


def span_lines(site: ParsedSite, span, replace: list[tuple[int, int, str]] | None = None, *,
               strip_braces: bool = False) -> list[str]:
    """The text of ``span`` (a :class:`~parevo.toolchain.models.Span` of the site's file) as relatively
    indented lines, with ``replace`` edits ``(start_byte, end_byte, new_text)`` in file byte offsets inside
    it applied (right to left); ``strip_braces`` drops the braces of a block ``{ … }``."""
    src = site.src
    b0, b1 = span.start_byte, span.end_byte
    data = src[b0:b1]
    for s, e, new in sorted(replace or [], key=lambda r: r[0], reverse=True):
        data = data[: s - b0] + new.encode("utf-8") + data[e - b0 :]
    text = data.decode("utf-8")
    if strip_braces and text.startswith("{") and text.rstrip().endswith("}"):
        text = text[1 : text.rstrip().rfind("}")]
    else:
        text = text.strip()
    return dedent_block(text)


def body_lines(site: ParsedSite, facts: LoopFacts, replace: list[tuple[int, int, str]] | None = None) -> list[str]:
    """The statements of the loop body, braces removed, relatively indented.

    ``replace`` holds (start_byte, end_byte, new_text) edits in file byte
    offsets inside the body (applied right to left).
    """
    assert facts.body is not None
    # scalars declared before the loop but private to each iteration get an iteration-local copy
    private = [f"std::remove_reference_t<decltype({v})> {v};  // private to the iteration"
               for v in facts.private_scalars]
    return private + span_lines(site, facts.body, (replace or []) + alias_decl_edits(facts), strip_braces=True)


def continue_edits(facts: LoopFacts, new_text: str) -> list[tuple[int, int, str]]:
    """Edits turning each top-level ``continue;`` into ``new_text`` (e.g. ``return;``)."""
    return [(c.start_byte, c.end_byte, new_text) for c in facts.continues]


def indent(lines: list[str], level: int = 1) -> list[str]:
    """Indent non-blank ``lines`` by ``level`` steps of two spaces."""
    pad = IND * level
    return [pad + ln if ln.strip() else "" for ln in lines]


def lam(param: str, bind: str, stmts: list[str], ret: str | None = None, capture: str = "&") -> list[str]:
    """A lambda ``[&](size_t param) -> ret { bind; stmts }`` as lines (last line ends with ``}``)."""
    head = f"[{capture}](size_t {param})" + (f" -> {ret}" if ret else "") + " {"
    inner = ([bind] if bind else []) + stmts
    return [head] + indent(inner) + ["}"]


def call_with_lambda(prefix: str, lam_lines: list[str], suffix: str) -> list[str]:
    """``prefix`` + lambda + ``suffix`` folded onto lines: ``f(a, [&](…) {`` … ``});``."""
    return [prefix + lam_lines[0]] + lam_lines[1:-1] + [lam_lines[-1] + suffix]


def drop_unused_decls(lines: list[str]) -> list[str]:
    """Remove top-level ``const T name = …;`` lines whose name nothing else uses (read from their parse:
    :func:`parevo.toolchain.snippet.unused_constants`), until none is left (a dropped constant may have
    been the only user of another)."""
    lines = list(lines)
    while True:
        unused = unused_constants(lines)
        if not unused:
            return lines
        lines = [ln for j, ln in enumerate(lines) if j not in unused]


def wrap(lines: list[str]) -> str:
    """The candidate's loop text: ``{`` + indented ``lines`` + ``}`` (unused prologue constants dropped)."""
    return "\n".join(["{"] + indent(drop_unused_decls(lines)) + ["}"])
