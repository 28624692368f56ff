"""Read the driver's output dumps and compare original against candidate.

The dump format (written by ``parevo_harness.h``; one token group per line)::

    case <n> <seed>
    adversarial <k>        (optional) the inputs hold k adversarial values (toolchain/adversarial.py)
    out <name>             an output ("return" is the return value), then one value:
      d <x> | f <x> | l <x>          double (%.17g) / float (%.9g) / long double
      i <k> | u <k> | b <0|1> | c <code>   signed / unsigned / bool / char
      [ <count>  <values...>  ]      a sequence
      { <fields>  . <name> <value> ... }   a struct (pair: first/second; complex: re/im)
    end

A case without its ``end`` line (the process died inside it) is returned with
``complete = False``.

Comparison (:func:`compare`): integers, chars and bools exactly; NaN equals
NaN; infinities by sign; floating values with

    |got - expected| <= atol + rtol * max(|expected|, |got|)

per precision (:class:`Tolerance`):

* ``double`` (and ``long double``): ``rtol = 1e-9``, ``atol = 1e-9``.
  Reassociating a sum of 10^5 values in [-1, 1] (pairwise, blocked, serial)
  changed the result by at most 9e-13 relative / 6e-12 absolute in
  measurements (10^6: 4e-11 absolute), three orders of magnitude inside the
  tolerance; a missing or extra element of typical size ~0.5 changes a sum of
  10^5 positive values by 1e-5 relative, four orders above it. Absolute
  tolerances alone (ParEval's 1e-6) fail on large reassociated sums;
  relative tolerances alone fail when a sum cancels to ~0.
* ``float``: ``rtol = 1e-4``, ``atol = 1e-3``. Float sums of 10^5 values
  reassociate to 5e-3 absolute / 7e-4 relative (cancelling case); with these
  values the worst measured reassociation used half the tolerance. A missing
  element is caught reliably at the small and medium check sizes (n <= 10^3),
  less so at 10^5: the checks always include small sizes.

The first mismatching leaf (in dump order) is reported, with the count of all
mismatching leaves of that case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from .adversarial import case_label

RETURN_NAME = "return"


@dataclass(slots=True)
class Leaf:
    """A scalar output value: ``kind`` is one of ``d f l i u b c``; ``text`` as dumped."""

    kind: str
    value: float | int
    text: str


@dataclass
class Seq:
    """A sequence of values (vector, array, pointer buffer, string)."""

    items: list[Any] = field(default_factory=list)
    count: int = 0


@dataclass
class Struct:
    """A struct value: fields in declaration order."""

    fields: dict[str, Any] = field(default_factory=dict)


class CaseOutput(BaseModel):
    """All outputs of one ``(n, seed)`` case, in dump order.

    ``outputs`` maps an output name (``return`` for the return value, else the
    parameter's name) to its value tree (:class:`Leaf`, :class:`Seq`,
    :class:`Struct`). ``complete`` is False when the case has no ``end`` line.
    ``adversarial`` counts the adversarial values its inputs held (``seed``
    carries the value class, :func:`~parevo.toolchain.adversarial.split_seed`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    n: int
    seed: int
    outputs: dict[str, Any]
    complete: bool = True
    adversarial: int = 0


class Tolerance(BaseModel):
    """Floating tolerances per precision: ``|g - e| <= atol + rtol * max(|e|, |g|)``."""

    rtol_double: float = 1e-9
    atol_double: float = 1e-9
    rtol_float: float = 1e-4
    atol_float: float = 1e-3


class Mismatch(BaseModel):
    """The first difference between expected and actual outputs of one case.

    ``output`` labels the place (``return value``, ``out[17]``, ``pts[3].x``,
    ``A[2][5]``, or ``out: length 12 vs 13``); ``name`` is the output's name;
    ``index`` the outermost element index (``None`` for a scalar or a length
    difference); ``expected``/``got`` are display texts; ``count`` is how many
    leaves differ in that case (at least 1).
    """

    n: int
    seed: int
    output: str
    name: str
    index: int | None = None
    expected: str
    got: str
    count: int = 1
    kind: str = "value"

    def describe(self) -> str:
        """A user-facing sentence, e.g. ``wrong output at n = 17 (seed 2): out[5] expected 3.5, got 4``
        (``(seed 2, NaN)`` for a case of an adversarial value class)."""
        head = f"wrong output at {case_label(self.n, self.seed)}: "
        if self.kind == "length":
            body = f"{self.name} has {self.got}, expected {self.expected}"
        elif self.kind == "missing":
            body = f"{self.name} {self.got}"
        else:
            body = f"{self.output} expected {self.expected}, got {self.got}"
        more = self.count - 1
        if more > 0:
            body += f" (and {more} more value{'s' if more > 1 else ''} differ)"
        return head + body


class DumpError(ValueError):
    """The dump text does not follow the format (a harness bug, not a user error)."""


# ------------------------------------------------------------------ parsing
_CONVERT = {"d": float, "f": float, "l": float, "i": int, "u": int, "b": int, "c": int}


def _leaf(kind: str, text: str) -> Leaf:
    convert = _CONVERT.get(kind)
    if convert is None:
        raise DumpError(f"unknown value kind {kind!r}")
    return Leaf(kind, convert(text), text)


class DumpedSeq:
    """A sequence kept as dumped (its lines between ``[ <count>`` and the matching ``]``) and parsed only
    when read: two runs that dumped the same text hold the same values, so a 2-D grid's 10^6 values or a
    vector of 2.6 x 10^5 particle structs compare as text in milliseconds instead of being parsed in
    seconds (a map's outputs are bit-identical; only a reassociated reduction's differ, and those are
    parsed). ``items`` gives what :class:`Seq` holds: leaves, structs, nested sequences."""

    __slots__ = ("lines", "count", "_items")

    def __init__(self, lines: list[str], count: int):
        self.lines = lines
        self.count = count
        self._items: list[Any] | None = None

    @property
    def items(self) -> list[Any]:
        """The parsed elements (parsed on first read). Raises :class:`DumpError` on malformed text."""
        if self._items is None:
            if _scalar_lines(self.lines):
                self._items = [_leaf(ln[0], ln[2:]) for ln in self.lines]
            else:
                items, k, n = [], 0, len(self.lines)
                try:
                    while k < n:
                        v, k = _value(self.lines, k)
                        items.append(v)
                except EOFError:
                    raise DumpError("a sequence ends inside an element") from None
                self._items = items
        return self._items

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DumpedSeq):
            return self.count == other.count and self.lines == other.lines
        return isinstance(other, Seq) and self.count == other.count and self.items == other.items

    def __repr__(self) -> str:
        return f"DumpedSeq({self.count} elements)"


def _scalar_lines(lines: list[str]) -> bool:
    """Whether every line is a leaf of a known kind (``d 0.25``, ``i -3``); values are checked when read."""
    return all(ln[1:2] == " " and ln[:1] in _CONVERT for ln in lines)


def _closing(lines: list[str], i: int) -> int | None:
    """The index of the ``]`` that closes the ``[`` at ``lines[i]`` (nesting followed by the first character:
    ``[``/``{`` open, ``]``/``}`` close; a leaf's value is a number, a field line starts with ``.``), or
    None when the text ends first (an unfinished case)."""
    depth = 0
    for j in range(i, len(lines)):
        c = lines[j][:1]
        if c == "[" or c == "{":
            depth += 1
        elif c == "]" or c == "}":
            depth -= 1
            if depth == 0:
                return j
        elif not c:
            return None
    return None


def _value(lines: list[str], i: int) -> tuple[Any, int]:
    """The value starting at ``lines[i]`` and the index after it. Raises EOFError at the end of the text,
    :class:`DumpError` on a line that fits nowhere."""
    nlines = len(lines)
    if i >= nlines or not lines[i]:
        raise EOFError
    ln = lines[i]
    tag = ln[0]
    if tag == "[":
        count = int(ln[2:])
        end = _closing(lines, i)
        if end is not None:
            return DumpedSeq(lines[i + 1:end], count), end + 1
        i += 1
        items: list[Any] = []
        while True:
            if i >= nlines or not lines[i]:
                raise EOFError
            if lines[i][0] == "]":
                return Seq(items, count), i + 1
            v, i = _value(lines, i)
            items.append(v)
    if tag == "{":
        i += 1
        fields: dict[str, Any] = {}
        while True:
            if i >= nlines or not lines[i]:
                raise EOFError
            if lines[i][0] == "}":
                return Struct(fields), i + 1
            if not lines[i].startswith(". "):
                raise DumpError(f"line {i + 1}: expected a field, got {lines[i][:40]!r}")
            name = lines[i][2:]
            v, i = _value(lines, i + 1)
            fields[name] = v
    if len(ln) < 3 or ln[1] != " ":
        raise DumpError(f"line {i + 1}: unexpected {ln[:40]!r}")
    return _leaf(tag if ln[:2] != "l " else "l", ln[2:]), i + 1


def parse_dump(text: str) -> list[CaseOutput]:
    """Parse a driver ``check`` dump into cases (the last may be incomplete). Sequences are kept as
    dumped and parsed when read (:class:`DumpedSeq`).

    Raises:
        DumpError: malformed text (a line that fits nowhere).
    """
    lines = text.split("\n")
    cases: list[CaseOutput] = []
    i = 0
    nlines = len(lines)

    while i < nlines:
        ln = lines[i]
        if not ln:
            i += 1
            continue
        if not ln.startswith("case "):
            raise DumpError(f"line {i + 1}: expected 'case <n> <seed>', got {ln[:40]!r}")
        parts = ln.split()
        case = CaseOutput(n=int(parts[1]), seed=int(parts[2]), outputs={}, complete=False)
        cases.append(case)
        i += 1
        try:
            while i < nlines:
                ln = lines[i]
                if ln == "end":
                    case.complete = True
                    i += 1
                    break
                if ln.startswith("case "):
                    break
                if ln.startswith("adversarial "):
                    case.adversarial = int(ln.split()[1])
                    i += 1
                    continue
                if not ln.startswith("out "):
                    if not ln:
                        raise EOFError
                    raise DumpError(f"line {i + 1}: expected 'out <name>', got {ln[:40]!r}")
                name = ln[4:]
                v, i = _value(lines, i + 1)
                case.outputs[name] = v
        except EOFError:
            break
    return cases


# ------------------------------------------------------------------ comparison
def _label(name: str) -> str:
    return "return value" if name == RETURN_NAME else name


def _show(leaf: Leaf) -> str:
    if leaf.kind == "b":
        return "true" if leaf.value else "false"
    if leaf.kind == "c":
        c = int(leaf.value)
        return repr(chr(c)) if 32 <= c < 127 else str(c)
    if leaf.kind in ("d", "f", "l"):
        v = float(leaf.value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(v) if leaf.kind != "f" else f"{v:.9g}"
    return str(leaf.value)


def leaf_equal(e: Leaf, g: Leaf, tol: Tolerance) -> bool:
    """Whether two leaves match (see module docstring for the rule)."""
    if e.kind in ("d", "f", "l") or g.kind in ("d", "f", "l"):
        a, b = float(e.value), float(g.value)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        if "f" in (e.kind, g.kind):
            rtol, atol = tol.rtol_float, tol.atol_float
        else:
            rtol, atol = tol.rtol_double, tol.atol_double
        return abs(a - b) <= atol + rtol * max(abs(a), abs(b))
    return e.value == g.value


class _Walk:
    def __init__(self, tol: Tolerance):
        self.tol = tol
        self.first: tuple[str, int | None, str, str, str] | None = None  # label, index, exp, got, kind
        self.count = 0

    def note(self, label: str, index: int | None, exp: str, got: str, kind: str = "value") -> None:
        self.count += 1
        if self.first is None:
            self.first = (label, index, exp, got, kind)

    def cmp(self, e: Any, g: Any, label: str, index: int | None) -> None:
        if isinstance(e, Leaf) and isinstance(g, Leaf):
            if not leaf_equal(e, g, self.tol):
                self.note(label, index, _show(e), _show(g))
            return
        if isinstance(e, DumpedSeq) and isinstance(g, DumpedSeq) and e.lines == g.lines:
            return  # the same text: the same values
        if isinstance(e, (Seq, DumpedSeq)) and isinstance(g, (Seq, DumpedSeq)):
            if len(e.items) != len(g.items):
                self.note(f"{label}: length {len(e.items)} vs {len(g.items)}", index,
                          f"length {len(e.items)}", f"length {len(g.items)}", "length")
                return
            for k, (a, b) in enumerate(zip(e.items, g.items)):
                self.cmp(a, b, f"{label}[{k}]", k if index is None else index)
            return
        if isinstance(e, Struct) and isinstance(g, Struct):
            for fname, a in e.fields.items():
                if fname not in g.fields:
                    self.note(f"{label}.{fname}", index, "a value", "nothing", "missing")
                    continue
                self.cmp(a, g.fields[fname], f"{label}.{fname}", index)
            return
        self.note(label, index, _shape(e), _shape(g), "shape")


def _shape(v: Any) -> str:
    if isinstance(v, Leaf):
        return _show(v)
    if isinstance(v, (Seq, DumpedSeq)):
        return f"a sequence of {len(v.items)}"
    if isinstance(v, Struct):
        return "a struct"
    return "nothing"


def compare(expected: CaseOutput, got: CaseOutput, tol: Tolerance | None = None) -> Mismatch | None:
    """The first difference between two cases' outputs, or ``None`` when they match.

    Outputs are compared by name in the expected case's order; an output the
    candidate did not write, or an incomplete candidate case, is a mismatch.
    """
    tol = tol or Tolerance()
    n, seed = expected.n, expected.seed
    if not got.complete:
        return Mismatch(n=n, seed=seed, output="(case did not finish)", name="the run",
                        expected="a complete case", got="stopped before the end of the case", kind="missing")
    w = _Walk(tol)
    first_name = None
    for name, ev in expected.outputs.items():
        before = w.count
        if name not in got.outputs:
            w.note(_label(name), None, "a value", "is missing from the candidate's outputs", "missing")
        else:
            w.cmp(ev, got.outputs[name], _label(name), None)
        if w.count > before and first_name is None:
            first_name = name
    if w.first is None:
        return None
    label, index, exp, gotv, kind = w.first
    return Mismatch(n=n, seed=seed, output=label, name=_label(first_name or ""), index=index, expected=exp,
                    got=gotv, count=w.count, kind=kind)
