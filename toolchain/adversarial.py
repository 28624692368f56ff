"""Adversarial value classes of the differential test.

Random values in [-1, 1) or [-10, 10] never hold a NaN, an overflow or a tie,
and a rewrite can differ from the original exactly there: a reassociated
``max`` that lets a NaN through, a sum in a wider type where the original
wraps, an argmin that keeps the last of equal values, a histogram whose
blocks collide when every key falls in one bucket. The differential test
therefore also runs every case class below, at small sizes, wherever the
original's semantics leave a value free (a plain input value: not an index,
a divisor, an argument of ``sqrt``/``log``, a character, an offset, a value the
input spec constrains):

==============  =====================================================================
class           values (``cpp/parevo_harness.h``: ``draw_free_real``, ``draw_free_int``,
                ``draw_index``, ``draw_bool``)
==============  =====================================================================
nan             floating values: 1 in 8 is a quiet NaN
inf             floating values: 1 in 8 is +Inf or -Inf
negative-zero   floating values: 1 in 4 is -0.0, 1 in 4 is +0.0
subnormal       floating values: 1 in 2 is subnormal (either sign)
int-extremes    integers: 1 in 2 is MIN, MAX, MIN+1, MAX-1 or +-(MAX/2+1), so sums overflow
                (unsigned types: 0, 1, MAX, MAX-1, MAX/2+1; their wrap must match)
ties            every free value is one of three values: equal keys, repeated minima
all-equal       every free value of a parameter is the same (first index must win)
one-bucket      every index value of a parameter is the same (all keys in one bucket)
==============  =====================================================================

A case's class rides in the top byte of its seed (:func:`case_seed`), so the
driver and the C ABI stay as they are; the harness counts the adversarial
values it drew (``adversarial <k>`` in the dump), and a class that drew none
for a loop does not apply to it. Outputs are compared with the same
NaN-aware tolerance as every case (:mod:`parevo.toolchain.outputs`). Where
the original itself fails on a class (a crash, an exception, a hang) or has
undefined behaviour there (a signed overflow found by UBSan), the class is
not held against candidates and the evidence says why.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

#: Bit position of the class in a case's seed.
CLASS_SHIFT = 56
_SEED_MASK = (1 << CLASS_SHIFT) - 1


class ValueClass(BaseModel):
    """One adversarial class: ``id`` (its number in the seed), ``name`` (stable, in reports and
    JSON) and ``label`` (for people)."""

    id: int
    name: str
    label: str


CLASSES: tuple[ValueClass, ...] = (
    ValueClass(id=1, name="nan", label="NaN"),
    ValueClass(id=2, name="inf", label="±Inf"),
    ValueClass(id=3, name="negative-zero", label="−0.0"),
    ValueClass(id=4, name="subnormal", label="subnormal floats"),
    ValueClass(id=5, name="int-extremes", label="INT_MIN/INT_MAX and overflowing sums"),
    ValueClass(id=6, name="ties", label="ties"),
    ValueClass(id=7, name="all-equal", label="all-equal values"),
    ValueClass(id=8, name="one-bucket", label="all keys in one bucket"),
)
BY_ID = {c.id: c for c in CLASSES}

ClassStatus = Literal["tested", "not applicable", "original fails", "undefined behaviour"]


class ClassCheck(BaseModel):
    """What became of one class for one loop: ``status`` ``tested`` (its cases are compared),
    ``not applicable`` (the loop has no value the class changes), ``original fails`` (the original
    crashed, threw or hung on it) or ``undefined behaviour`` (UBSan found it in the original, e.g.
    a signed overflow); ``detail`` says how, ``cases`` the ``"n:seed"`` keys tested."""

    name: str
    label: str
    status: ClassStatus
    detail: str = ""
    cases: list[str] = []


def case_seed(seed: int, class_id: int) -> int:
    """The seed the driver gets for ``seed`` in class ``class_id`` (0 = ordinary values)."""
    return (seed & _SEED_MASK) | (class_id << CLASS_SHIFT)


def split_seed(seed: int) -> tuple[int, ValueClass | None]:
    """``(seed, class)`` of a driver seed (``None`` for ordinary values)."""
    return seed & _SEED_MASK, BY_ID.get(seed >> CLASS_SHIFT)


def case_label(n: int, seed: int) -> str:
    """``n = 17 (seed 2)``, or ``n = 17 (seed 2, NaN values)`` for an adversarial case."""
    base, cls = split_seed(seed)
    return f"n = {n} (seed {base}" + (f", {cls.label}" if cls is not None else "") + ")"


def class_cases(sizes: list[int], seeds: list[int], min_n: int = 0) -> dict[str, list[str]]:
    """The ``"n:seed"`` case keys of every class: each size (at least ``min_n``) with each seed."""
    return {c.name: [f"{n}:{case_seed(s, c.id)}" for n in sizes if n >= min_n for s in seeds] for c in CLASSES}


def describe_classes(checks: list[ClassCheck]) -> str:
    """One clause for the test stage's evidence: which classes were tested and which were not, and why."""
    tested = [c.label for c in checks if c.status == "tested"]
    parts = [("adversarial values: " + ", ".join(tested)) if tested else "no adversarial value class applies"]
    skipped = [c for c in checks if c.status in ("original fails", "undefined behaviour")]
    parts += [f"{c.label} not held against the rewrite ({c.detail})" for c in skipped]
    na = [c.label for c in checks if c.status == "not applicable"]
    if na and tested:
        parts.append("not applicable: " + ", ".join(na))
    return "; ".join(parts)


__all__ = ["CLASSES", "CLASS_SHIFT", "ClassCheck", "ValueClass", "case_label", "case_seed", "class_cases",
           "describe_classes", "split_seed"]
