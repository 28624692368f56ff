"""Monoids for the reduction operators: ParlayLib monoid, identity, combine.

Each :class:`~parevo.toolchain.models.ReductionOp` is a monoid (an
associative operator with an identity); ``monoid.h`` in ParlayLib 2.3 names
``plus``, ``multiplies``, ``minimum``, ``maximum``, ``logical_and``,
``logical_or``, ``bit_and``, ``bit_or`` and ``bit_xor``.
"""

from __future__ import annotations

from parevo.toolchain.models import ReductionOp

_MONOID = {
    ReductionOp.ADD: "parlay::plus<{T}>()",
    ReductionOp.COUNT: "parlay::plus<{T}>()",
    ReductionOp.MUL: "parlay::multiplies<{T}>()",
    ReductionOp.MIN: "parlay::minimum<{T}>()",
    ReductionOp.MAX: "parlay::maximum<{T}>()",
    ReductionOp.AND: "parlay::logical_and<bool>()",
    ReductionOp.OR: "parlay::logical_or<bool>()",
    ReductionOp.BIT_AND: "parlay::bit_and<{T}>()",
    ReductionOp.BIT_OR: "parlay::bit_or<{T}>()",
    ReductionOp.BIT_XOR: "parlay::bit_xor<{T}>()",
}


def monoid(op: ReductionOp, T: str) -> str:
    """The ParlayLib monoid object for ``op`` over type ``T`` (``parlay::plus<double>()``)."""
    return _MONOID[op].format(T=T)


def identity(op: ReductionOp, T: str) -> str:
    """The identity of ``op`` over ``T`` as a C++ expression (±infinity for floating min/max)."""
    lim = f"std::numeric_limits<{T}>"
    return {
        ReductionOp.ADD: f"{T}(0)",
        ReductionOp.COUNT: f"{T}(0)",
        ReductionOp.MUL: f"{T}(1)",
        ReductionOp.MIN: f"({lim}::has_infinity ? {lim}::infinity() : {lim}::max())",
        ReductionOp.MAX: f"({lim}::has_infinity ? -{lim}::infinity() : {lim}::lowest())",
        ReductionOp.AND: "true",
        ReductionOp.OR: "false",
        ReductionOp.BIT_AND: f"static_cast<{T}>(~{T}(0))",
        ReductionOp.BIT_OR: f"{T}(0)",
        ReductionOp.BIT_XOR: f"{T}(0)",
    }[op]


def combine(op: ReductionOp, a: str, b: str) -> str:
    """The expression ``a ⊕ b`` for ``op``."""
    return {
        ReductionOp.ADD: f"{a} + {b}",
        ReductionOp.COUNT: f"{a} + {b}",
        ReductionOp.MUL: f"{a} * {b}",
        ReductionOp.MIN: f"std::min({a}, {b})",
        ReductionOp.MAX: f"std::max({a}, {b})",
        ReductionOp.AND: f"{a} && {b}",
        ReductionOp.OR: f"{a} || {b}",
        ReductionOp.BIT_AND: f"{a} & {b}",
        ReductionOp.BIT_OR: f"{a} | {b}",
        ReductionOp.BIT_XOR: f"{a} ^ {b}",
    }[op]


def update_stmt(op: ReductionOp, var: str, r: str) -> str:
    """The statement folding a reduced value ``r`` into ``var`` (``s += r;``)."""
    return {
        ReductionOp.ADD: f"{var} += {r};",
        ReductionOp.COUNT: f"{var} += {r};",
        ReductionOp.MUL: f"{var} *= {r};",
        ReductionOp.MIN: f"{var} = std::min({var}, {r});",
        ReductionOp.MAX: f"{var} = std::max({var}, {r});",
        ReductionOp.AND: f"{var} = {var} && {r};",
        ReductionOp.OR: f"{var} = {var} || {r};",
        ReductionOp.BIT_AND: f"{var} &= {r};",
        ReductionOp.BIT_OR: f"{var} |= {r};",
        ReductionOp.BIT_XOR: f"{var} ^= {r};",
    }[op]


def value_type(op: ReductionOp, T: str) -> str:
    """The type the reduction runs in (``bool`` for logical and/or)."""
    return "bool" if op in (ReductionOp.AND, ReductionOp.OR) else T
