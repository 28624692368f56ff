"""Symbolic sizes for the input plan: typed size symbols, polynomials over them, and the size
expression language.

* :class:`Sym` is a size symbol standing for a non-negative integer: the length
  of a parameter's container at a nesting level (``Sym.len("x", 0)``; level 1 =
  the inner level of a nested container), the value of an integer parameter
  (``Sym.val("n")``), the last element of an offsets array (``Sym.last("off")``).
* :class:`Poly` is a polynomial with integer coefficients over symbols. It is
  what interval evaluation of an index expression (``i*n + j``) produces.
* :class:`Iv` is an integer interval ``[lo, hi]`` (inclusive) with polynomial
  bounds, ``None`` for an unknown bound.
* Size expressions (``"n+1"``, ``"max(S0, 4)"``, ``"last(off)"``) are parsed by
  :func:`parse_expr` into a small typed tree (:class:`Num`, :class:`Name`,
  :class:`Ref`, :class:`Bin`, :class:`Call`) and rendered to text or C++.

The expression language is a whitelisted subset of Python's expression syntax,
parsed with :mod:`ast` (no evaluation of user text; a C++ name that is a Python
keyword, such as a parameter ``in``, is still a name)::

    expr := INT | NAME | expr ('+' | '-' | '*' | '/') expr | '-' expr | '(' expr ')'
          | ('len' | 'last' | 'max' | 'min') '(' expr (',' expr)* ')'

Names: ``n`` (the size knob), ``m`` (secondary size), ``inner`` (default inner
length), ``S<k>`` (a size variable of the plan), a scalar parameter's name (its
value). Calls: ``len(p)`` (length of parameter ``p``), ``last(p)`` (last
element of offsets parameter ``p``), ``max(a, b, ...)``, ``min(a, b, ...)``.
Division is integer division (``-x`` is ``0 - x``). Anything else (``**``,
``//``, attributes, floats, keywords) is refused with a sentence naming it.
"""

from __future__ import annotations

import ast
import io
import keyword
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Union

MAX_EXPR_CHARS = 400


@dataclass(frozen=True, order=True)
class Sym:
    """A size symbol: ``kind`` ``len`` (``param``'s length at nesting ``level``), ``val`` (the value
    of integer parameter ``param``) or ``last`` (the last element of offsets array ``param``)."""

    kind: Literal["last", "len", "val"]
    param: str
    level: int = 0

    @staticmethod
    def len(param: str, level: int = 0) -> Sym:
        return Sym("len", param, level)

    @staticmethod
    def val(param: str) -> Sym:
        return Sym("val", param)

    @staticmethod
    def last(param: str) -> Sym:
        return Sym("last", param)

    def __str__(self) -> str:
        return f"len:{self.param}@{self.level}" if self.kind == "len" else f"{self.kind}:{self.param}"


Monomial = tuple[Sym, ...]


class Poly:
    """Integer polynomial over non-negative symbols. Immutable; monomials are sorted symbol tuples."""

    __slots__ = ("t",)

    def __init__(self, terms: dict[Monomial, int] | None = None):
        self.t = {k: v for k, v in (terms or {}).items() if v}

    @staticmethod
    def const(c: int) -> Poly:
        return Poly({(): c})

    @staticmethod
    def sym(s: Sym) -> Poly:
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
        d: dict[Monomial, int] = {}
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
        return f"Poly({self.render(str)})"

    def syms(self) -> set[Sym]:
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

    def single_symbol(self) -> Sym | None:
        """The symbol S when the polynomial is ``S + c`` (c any constant), else None."""
        nonconst = [(k, v) for k, v in self.t.items() if k != ()]
        if len(nonconst) == 1 and len(nonconst[0][0]) == 1 and nonconst[0][1] == 1:
            return nonconst[0][0][0]
        return None

    def render(self, name: Callable[[Sym], str]) -> str:
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

    def to_expr(self, name: Callable[[Sym], str]) -> Expr:
        """The size expression of this polynomial, symbols spelled by ``name``."""
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


@dataclass(frozen=True)
class Num:
    """An integer literal."""

    value: int


@dataclass(frozen=True)
class Name:
    """A name: ``n``, ``m``, ``inner``, a size variable ``S<k>`` or a scalar parameter."""

    name: str


@dataclass(frozen=True)
class Ref:
    """A size symbol inside an expression (a spec's names resolved against the function)."""

    sym: Sym


@dataclass(frozen=True)
class Bin:
    """``left op right`` with ``op`` one of ``+ - * /`` (``/`` is integer division)."""

    op: Literal["+", "-", "*", "/"]
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    """``fn(args...)`` with ``fn`` one of ``len``, ``last``, ``max``, ``min``."""

    fn: Literal["len", "last", "max", "min"]
    args: tuple[Expr, ...]


Expr = Union[Num, Name, Ref, Bin, Call]


class ExprError(ValueError):
    """A size expression does not parse."""


_BINOPS: dict[type, Literal["+", "-", "*", "/"]] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CALLS = ("len", "last", "max", "min")


def parse_expr(text: str | int) -> Expr:
    """Parse a size expression (see module docstring) with :mod:`ast` and a whitelist of its nodes.

    Raises:
        ExprError: the text is not a size expression (the message quotes what is not allowed).
    """
    if isinstance(text, bool):
        raise ExprError(f"a size must be a number or an expression, not {text!r}")
    if isinstance(text, int):
        return Num(text)
    s = str(text).strip()
    if len(s) > MAX_EXPR_CHARS:
        raise ExprError(f"size expression {s[:40]!r}... is longer than {MAX_EXPR_CHARS} characters")
    if not s:
        raise ExprError("empty size expression")
    try:
        code, renamed = _python_names(s)
        tree = ast.parse(code, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, tokenize.TokenError):
        raise ExprError(f"size expression {s!r} does not parse (use + - * /, parentheses, len(p), last(p), "
                        "max(...), min(...))") from None
    return _from_ast(tree.body, s, renamed)


def _python_names(text: str) -> tuple[str, dict[str, str]]:
    """``text`` with C++ names that are Python keywords (a parameter called ``in``) renamed, so
    :func:`ast.parse` reads them as names; and the renaming."""
    renamed: dict[str, str] = {}
    toks = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        string = tok.string
        if tok.type == tokenize.NAME and keyword.iskeyword(string):
            alias = f"_parevo_name_{string}"
            renamed[alias] = string
            string = alias
        toks.append((tok.type, string))
    return tokenize.untokenize(toks), renamed


def _from_ast(node: ast.expr, text: str, renamed: dict[str, str]) -> Expr:
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value >= 0:
        return Num(node.value)
    if isinstance(node, ast.Name):
        return Name(renamed.get(node.id, node.id))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return Bin(_BINOPS[type(node.op)], _from_ast(node.left, text, renamed), _from_ast(node.right, text, renamed))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return Bin("-", Num(0), _from_ast(node.operand, text, renamed))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords and node.args:
        if node.func.id not in _CALLS:
            raise ExprError(f"unknown function {node.func.id}() in size expression {text!r} "
                            "(use len, last, max or min)")
        if not any(isinstance(a, ast.Starred) for a in node.args):
            return Call(node.func.id, tuple(_from_ast(a, text, renamed) for a in node.args))  # type: ignore
    shown = ast.unparse(node)
    for alias, name in renamed.items():
        shown = shown.replace(alias, name)
    raise ExprError(f"unexpected {shown!r} in size expression {text!r}")


def render_expr(e: Expr) -> str:
    """Text of an expression (parenthesized only where needed)."""
    if isinstance(e, Num):
        return str(e.value)
    if isinstance(e, Name):
        return e.name
    if isinstance(e, Ref):
        return str(e.sym)
    if isinstance(e, Call):
        return f"{e.fn}({', '.join(render_expr(a) for a in e.args)})"
    ra, rb = render_expr(e.left), render_expr(e.right)
    if e.op in ("*", "/"):
        if isinstance(e.left, Bin) and e.left.op in "+-":
            ra = f"({ra})"
        if isinstance(e.right, Bin):
            rb = f"({rb})"
    elif e.op == "-" and isinstance(e.right, Bin) and e.right.op in "+-":
        rb = f"({rb})"
    return f"{ra} {e.op} {rb}"


def expr_refs(e: Expr) -> tuple[set[str], set[str], set[str]]:
    """``(names, len_params, last_params)`` an expression mentions.

    Raises:
        ExprError: ``len``/``last`` is given something other than a parameter name.
    """
    names: set[str] = set()
    lens: set[str] = set()
    lasts: set[str] = set()
    todo = [e]
    while todo:
        x = todo.pop()
        if isinstance(x, Name):
            names.add(x.name)
        elif isinstance(x, Bin):
            todo += [x.left, x.right]
        elif isinstance(x, Call):
            if x.fn in ("len", "last"):
                arg = x.args[0]
                if not isinstance(arg, Name) or len(x.args) != 1:
                    raise ExprError(f"{x.fn}() takes a parameter name")
                (lens if x.fn == "len" else lasts).add(arg.name)
            else:
                todo += list(x.args)
    return names, lens, lasts


def map_expr(e: Expr, f: Callable[[Expr], Expr | None]) -> Expr:
    """Rewrite every leaf and ``len``/``last`` call with ``f(node) -> node | None`` (None keeps the node)."""
    r = f(e)
    if r is not None:
        return r
    if isinstance(e, Bin):
        return Bin(e.op, map_expr(e.left, f), map_expr(e.right, f))
    if isinstance(e, Call) and e.fn in ("max", "min"):
        return Call(e.fn, tuple(map_expr(a, f) for a in e.args))
    return e


def eval_expr(e: Expr, env: dict[str, int]) -> int | None:
    """Evaluate with name values from ``env`` (``len(p)``/``last(p)`` looked up by that text);
    ``None`` if a name or call is unknown."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Name):
        return env.get(e.name)
    if isinstance(e, Ref):
        return env.get(str(e.sym))
    if isinstance(e, Call):
        if e.fn in ("max", "min"):
            vals = [eval_expr(a, env) for a in e.args]
            if any(v is None for v in vals):
                return None
            return max(vals) if e.fn == "max" else min(vals)  # type: ignore[type-var]
        return env.get(render_expr(e))
    a, b = eval_expr(e.left, env), eval_expr(e.right, env)
    if a is None or b is None:
        return None
    if e.op == "+":
        return a + b
    if e.op == "-":
        return a - b
    if e.op == "*":
        return a * b
    return a // b if b else 0
