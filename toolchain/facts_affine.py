"""Affine subscripts: ``c0 + Σ c·atom + coef·k`` in the loop's iteration position ``k``.

The dependence test of :mod:`parevo.toolchain.facts_arrays` compares two
subscripts of the same array. It reads each as an affine form in the loop's
index (or in an index *alias*: a body local that the normalizer of
:mod:`parevo.toolchain.normalize` binds to ``base ± s·k``, as ``const int i =
… - k;`` for a loop that counts down), with loop-invariant atoms (``n``,
``a.size()``, a member) kept as symbols. Two subscripts with the same
coefficient and the same symbolic part differ by a constant: they name the
same element in iterations ``d`` apart (``d = Δc / coef``), or never when the
coefficient does not divide the difference (``a[2k]`` and ``a[2k + 1]``).
Anything else (different coefficients or symbols, an atom that varies in the
loop, a product of two variables) is unknown, which the caller treats as a
possible dependence. This is the classic single-index test with symbolic
constants (Allen & Kennedy, *Optimizing Compilers for Modern Architectures*,
§3.3, the strong SIV test).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .loop_body import norm
from .syntax import identifiers, int_literal, node_text, operator_of, strip_casts, strip_parens


@dataclass(frozen=True)
class Alias:
    """An index alias: the body local ``name`` equals ``base + coef·k`` in iteration ``k``, ``base`` a
    loop-invariant expression (C++ text, evaluated once at the loop's entry) and ``type`` the index's
    type; for the dependence test ``base`` is the symbol ``@name``."""

    name: str
    coef: int
    base: str = ""
    type: str = ""

    def value(self, k: str, base: str | None = None) -> str:
        """The C++ expression of the alias in iteration ``k`` (``base`` replaces the base's text, e.g. a
        name the rewrite gave it)."""
        T, b = self.type, base if base is not None else f"({self.base})"
        step = f" * {abs(self.coef)}" if abs(self.coef) != 1 else ""
        sign = "+" if self.coef > 0 else "-"
        return f"static_cast<{T}>({b} {sign} static_cast<{T}>({k}){step})"


@dataclass(frozen=True)
class Affine:
    """``const + Σ terms[atom]·atom + coef·k``; ``terms`` is a sorted tuple of (atom text, coefficient)."""

    coef: int
    terms: tuple[tuple[str, int], ...] = ()
    const: int = 0

    @property
    def injective(self) -> bool:
        """Distinct iterations name distinct elements (the coefficient is not zero)."""
        return self.coef != 0


#: What :func:`relation` returns when two subscripts can never name the same element.
NEVER = "never"


def relation(write: Affine | None, read: Affine | None) -> int | str | None:
    """How many iterations after the writer an access to the same element happens.

    0: the same iteration; ``d`` > 0: the read happens ``d`` iterations after
    the write of that element (a flow dependence at distance ``d``); ``d`` < 0:
    ``-d`` iterations before it (an anti-dependence); :data:`NEVER`: the two
    never meet; None: unknown.
    """
    if write is None or read is None or write.coef == 0 or write.coef != read.coef or write.terms != read.terms:
        return None
    diff = write.const - read.const
    if diff % write.coef != 0:
        return NEVER
    return diff // write.coef


@dataclass
class AffineReader:
    """Reads subscripts as :class:`Affine` forms.

    ``var`` is the loop index (coefficient 1 in its own units), ``aliases`` the
    index aliases by name, ``variant`` the names whose value changes inside the
    loop (body locals, written scalars): an atom mentioning one is not
    invariant, so the subscript is unknown.
    """

    src: bytes
    var: str | None
    aliases: dict[str, Alias] = field(default_factory=dict)
    variant: set[str] = field(default_factory=set)

    def read(self, node: Node | None) -> Affine | None:
        """The affine form of ``node``, or None."""
        got = self._lin(node, 0)
        if got is None:
            return None
        coef, terms, const = got
        return Affine(coef=coef, terms=tuple(sorted((k, v) for k, v in terms.items() if v)), const=const)

    def _lin(self, node: Node | None, depth: int) -> tuple[int, dict[str, int], int] | None:
        node = strip_casts(strip_parens(node))
        if node is None or depth > 64:
            return None
        lit = int_literal(node, self.src)
        if lit is not None:
            return 0, {}, lit
        text = node_text(node, self.src)
        if node.type == "identifier":
            if text == self.var:
                return 1, {}, 0
            if text in self.aliases:
                a = self.aliases[text]
                return a.coef, {f"@{text}": 1}, 0
        if node.type == "binary_expression" and operator_of(node, self.src) in ("+", "-", "*"):
            op = operator_of(node, self.src)
            left = self._lin(node.child_by_field_name("left"), depth + 1)
            right = self._lin(node.child_by_field_name("right"), depth + 1)
            if left is not None and right is not None:
                if op == "*":
                    for (c, t, k), other in ((left, right), (right, left)):
                        if c == 0 and not t:  # a literal factor
                            oc, ot, ok = other
                            return oc * k, {a: v * k for a, v in ot.items()}, ok * k
                    return self._atom(node, text)
                sign = 1 if op == "+" else -1
                terms = dict(left[1])
                for a, v in right[1].items():
                    terms[a] = terms.get(a, 0) + sign * v
                return left[0] + sign * right[0], terms, left[2] + sign * right[2]
            return self._atom(node, text)
        if node.type == "unary_expression" and node.child_count == 2 and node.children[0].type in ("-", "+"):
            inner = self._lin(node.children[1], depth + 1)
            if inner is None:
                return None
            s = -1 if node.children[0].type == "-" else 1
            return s * inner[0], {a: s * v for a, v in inner[1].items()}, s * inner[2]
        return self._atom(node, text)

    def _atom(self, node: Node, text: str) -> tuple[int, dict[str, int], int] | None:
        """A loop-invariant sub-expression kept as a symbol, else None."""
        names = {node_text(n, self.src) for n in identifiers(node)}
        if node.type == "identifier":
            names.add(text)
        if self.var in names or names & set(self.aliases) or names & self.variant:
            return None
        if node.type in ("call_expression", "subscript_expression", "assignment_expression", "update_expression"):
            if node.type != "call_expression" or not _is_size_call(node, self.src):
                return None
        return 0, {norm(text): 1}, 0


def _is_size_call(node: Node, src: bytes) -> bool:
    """``x.size()`` (a container's size: invariant when the loop does not resize it)."""
    fn = node.child_by_field_name("function")
    args = node.child_by_field_name("arguments")
    return (fn is not None and fn.type == "field_expression" and args is not None and args.named_child_count == 0
            and node_text(fn.child_by_field_name("field"), src) == "size")


__all__ = ["Affine", "AffineReader", "Alias", "NEVER", "relation"]
