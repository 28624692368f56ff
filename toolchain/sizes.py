"""Symbolic sizes for the input plan: polynomials over size symbols and a tiny
expression language.

* :class:`Poly` is a polynomial with integer coefficients over symbols that
  stand for non-negative integers: ``len:x@0`` (length of parameter ``x``;
  ``@1`` = the inner level of a nested container), ``val:n`` (value of an
  integer parameter), ``last:off`` (last element of an offsets array). It is
  what interval evaluation of an index expression (``i*n + j``) produces.
* :class:`Iv` is an integer interval ``[lo, hi]`` (inclusive) with polynomial
  bounds, ``None`` for an unknown bound.
* Size expressions (``"n+1"``, ``"max(S0, 4)"``, ``"last(off)"``) are parsed by
  :func:`parse_expr` into a small AST of tuples and rendered to text or C++.

Grammar of size expressions (spec files and plans)::

    expr   := term (('+' | '-') term)*
    term   := factor (('*' | '/') factor)*
    factor := INT | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

Names: ``n`` (the size knob), ``m`` (secondary size), ``inner`` (default inner
length), ``S<k>`` (a size variable of the plan), a scalar parameter's name (its
value). Calls: ``len(p)`` (length of parameter ``p``), ``last(p)`` (last
element of offsets parameter ``p``), ``max(a, b, ...)``, ``min(a, b, ...)``.
Division is integer division.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Expr = tuple  # ("num", int) | ("sym", str) | ("bin", op, a, b) | ("call", name, (args...))


class Poly:
    """Integer polynomial over non-negative symbols. Immutable; monomials are sorted symbol tuples."""

    __slots__ = ("t",)

    def __init__(self, terms: dict[tuple[str, ...], int] | None = None):
        self.t = {k: v for k, v in (terms or {}).items() if v}

    @staticmethod
    def const(c: int) -> Poly:
        return Poly({(): c})

    @staticmethod
    def sym(s: str) -> Poly:
        return Poly({(s,): 1})

    def __add__(self, o: Poly) -> Poly:
        d = dict(self.t)
        for k, v in o.t.items():
            d[k] = d.get(k, 0) + v
        return Poly(d)

    def __neg__(self) -> Poly:
        return Poly({k: -v for k, v in self.t.items()})

    def __sub__(self, o: Poly) -> Poly:
        return self + (-o)

    def __mul__(self, o: Poly) -> Poly:
        d: dict[tuple[str, ...], int] = {}
        for k1, v1 in self.t.items():
            for k2, v2 in o.t.items():
                k = tuple(sorted(k1 + k2))
                d[k] = d.get(k, 0) + v1 * v2
        return Poly(d)

    def __eq__(self, o: object) -> bool:
        return isinstance(o, Poly) and self.t == o.t

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.t.items())))

    def __repr__(self) -> str:
        return f"Poly({self.render(lambda s: s)})"

    def syms(self) -> set[str]:
        return {s for k in self.t for s in k}

    @property
    def is_const(self) -> bool:
        return all(k == () for k in self.t)

    @property
    def const_value(self) -> int:
        return self.t.get((), 0)

    def nonneg(self) -> bool:
        """True when every coefficient is >= 0 (so the value is >= 0 for symbols >= 0)."""
        return all(v >= 0 for v in self.t.values())

    def dominates(self, o: Poly) -> bool:
        """``self >= o`` for every non-negative value of the symbols (coefficient-wise test)."""
        return (self - o).nonneg()

    def without_negative_const(self) -> Poly:
        """Drop a negative constant term (``n - 1`` -> ``n``): a safe over-approximation of a length."""
        if self.t.get((), 0) < 0 and not self.is_const:
            d = dict(self.t)
            del d[()]
            return Poly(d)
        return self

    def single_symbol(self) -> str | None:
        """The symbol S when the polynomial is ``S + c`` (c any constant), else None."""
        nonconst = [(k, v) for k, v in self.t.items() if k != ()]
        if len(nonconst) == 1 and len(nonconst[0][0]) == 1 and nonconst[0][1] == 1:
            return nonconst[0][0][0]
        return None

    def rename(self, f) -> Poly:
        d: dict[tuple[str, ...], int] = {}
        for k, v in self.t.items():
            nk = tuple(sorted(f(s) for s in k))
            d[nk] = d.get(nk, 0) + v
        return Poly(d)

    def render(self, name) -> str:
        """Text in the size-expression language; ``name(symbol) -> str``."""
        if not self.t:
            return "0"
        parts: list[tuple[int, str]] = []
        for k in sorted(self.t, key=lambda k: (-len(k), k)):
            v = self.t[k]
            body = "*".join(name(s) for s in k)
            if not body:
                parts.append((v, str(abs(v))))
            elif abs(v) == 1:
                parts.append((v, body))
            else:
                parts.append((v, f"{abs(v)}*{body}"))
        out = ""
        for i, (v, text) in enumerate(parts):
            if i == 0:
                out = ("-" if v < 0 else "") + text
            else:
                out += (" - " if v < 0 else " + ") + text
        return out

    def to_expr(self, name) -> Expr:
        return parse_expr(self.render(name))


@dataclass(frozen=True)
class Iv:
    """Integer interval ``[lo, hi]`` (inclusive); ``None`` = unknown bound."""

    lo: Poly | None
    hi: Poly | None

    @staticmethod
    def point(p: Poly) -> Iv:
        return Iv(p, p)

    def add(self, o: Iv) -> Iv:
        return Iv(_opt(self.lo, o.lo, Poly.__add__), _opt(self.hi, o.hi, Poly.__add__))

    def sub(self, o: Iv) -> Iv:
        return Iv(_opt(self.lo, o.hi, Poly.__sub__), _opt(self.hi, o.lo, Poly.__sub__))

    def mul(self, o: Iv) -> Iv:
        if self.lo is None or o.lo is None or not self.lo.nonneg() or not o.lo.nonneg():
            return Iv(None, None)
        return Iv(self.lo * o.lo, _opt(self.hi, o.hi, Poly.__mul__))


def _opt(a, b, f):
    return None if a is None or b is None else f(a, b)


# ------------------------------------------------------------------ expression language
_TOK = re.compile(r"\s*(\d+|[A-Za-z_][A-Za-z_0-9:@.]*|[-+*/(),])")


class ExprError(ValueError):
    """A size expression does not parse."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOK.match(text, pos)
        if not m:
            raise ExprError(f"unexpected {text[pos:]!r} in size expression {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_expr(text: str | int) -> Expr:
    """Parse a size expression (see module docstring). Raises :class:`ExprError`."""
    if isinstance(text, bool):
        raise ExprError(f"a size must be a number or an expression, not {text!r}")
    if isinstance(text, int):
        return ("num", text)
    toks = _tokens(str(text))
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        if pos >= len(toks):
            raise ExprError(f"size expression {text!r} ends too early")
        pos += 1
        return toks[pos - 1]

    def expr():
        a = term()
        while peek() in ("+", "-"):
            op = take()
            a = ("bin", op, a, term())
        return a

    def term():
        a = factor()
        while peek() in ("*", "/"):
            op = take()
            a = ("bin", op, a, factor())
        return a

    def factor():
        t = take()
        if t == "(":
            e = expr()
            if take() != ")":
                raise ExprError(f"missing ')' in size expression {text!r}")
            return e
        if t.isdigit():
            return ("num", int(t))
        if t == "-":
            return ("bin", "-", ("num", 0), factor())
        if re.match(r"[A-Za-z_]", t):
            if peek() == "(":
                take()
                args = [expr()]
                while peek() == ",":
                    take()
                    args.append(expr())
                if take() != ")":
                    raise ExprError(f"missing ')' in size expression {text!r}")
                if t not in ("len", "last", "max", "min"):
                    raise ExprError(f"unknown function {t}() in size expression {text!r} "
                                    "(use len, last, max or min)")
                return ("call", t, tuple(args))
            return ("sym", t)
        raise ExprError(f"unexpected {t!r} in size expression {text!r}")

    e = expr()
    if peek() is not None:
        raise ExprError(f"unexpected {peek()!r} in size expression {text!r}")
    return e


def render_expr(e: Expr) -> str:
    """Text of an expression AST (fully parenthesized only where needed)."""
    kind = e[0]
    if kind == "num":
        return str(e[1])
    if kind == "sym":
        return e[1]
    if kind == "call":
        return f"{e[1]}({', '.join(render_expr(a) for a in e[2])})"
    op, a, b = e[1], e[2], e[3]
    ra, rb = render_expr(a), render_expr(b)
    if op in ("*", "/"):
        if a[0] == "bin" and a[1] in "+-":
            ra = f"({ra})"
        if b[0] == "bin":
            rb = f"({rb})"
    elif op == "-" and b[0] == "bin" and b[1] in "+-":
        rb = f"({rb})"
    return f"{ra} {op} {rb}"


def expr_refs(e: Expr) -> tuple[set[str], set[str], set[str]]:
    """``(symbols, len_params, last_params)`` an expression mentions."""
    syms: set[str] = set()
    lens: set[str] = set()
    lasts: set[str] = set()

    def go(x):
        if x[0] == "sym":
            syms.add(x[1])
        elif x[0] == "bin":
            go(x[2])
            go(x[3])
        elif x[0] == "call":
            if x[1] in ("len", "last"):
                arg = x[2][0]
                if arg[0] != "sym":
                    raise ExprError(f"{x[1]}() takes a parameter name")
                (lens if x[1] == "len" else lasts).add(arg[1])
            else:
                for a in x[2]:
                    go(a)

    go(e)
    return syms, lens, lasts


def map_expr(e: Expr, f) -> Expr:
    """Rewrite every leaf/call with ``f(node) -> node | None`` (None keeps the node)."""
    r = f(e)
    if r is not None:
        return r
    if e[0] == "bin":
        return ("bin", e[1], map_expr(e[2], f), map_expr(e[3], f))
    if e[0] == "call" and e[1] in ("max", "min"):
        return ("call", e[1], tuple(map_expr(a, f) for a in e[2]))
    return e


def eval_expr(e: Expr, env: dict[str, int]) -> int | None:
    """Evaluate with symbol values from ``env``; ``None`` if a symbol or call is unknown."""
    kind = e[0]
    if kind == "num":
        return e[1]
    if kind == "sym":
        return env.get(e[1])
    if kind == "call":
        if e[1] in ("max", "min"):
            vals = [eval_expr(a, env) for a in e[2]]
            if any(v is None for v in vals):
                return None
            return max(vals) if e[1] == "max" else min(vals)  # type: ignore[type-var]
        return env.get(f"{e[1]}({e[2][0][1]})")
    a, b = eval_expr(e[2], env), eval_expr(e[3], env)
    if a is None or b is None:
        return None
    if e[1] == "+":
        return a + b
    if e[1] == "-":
        return a - b
    if e[1] == "*":
        return a * b
    return a // b if b else 0
