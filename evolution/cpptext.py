"""Small C++ text utilities for mutations and features: calls and their top-level arguments.

Not a parser: a scanner that skips comments, string and character literals
and matches ``()``, ``[]`` and ``{}``, enough to find ``parlay::parallel_for(...)``
in a candidate and split its arguments at top-level commas (commas inside a
lambda body, a template argument list in parentheses or a nested call do not
split). Template angle brackets are not tracked: ``f(a<b, c>d)`` splits at the
comma, as a C++ parser would without type information.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")", "]", "}"}


def _skip_literal(text: str, i: int) -> int:
    """Index just past the comment or literal starting at ``i`` (``i`` itself when there is none)."""
    if text.startswith("//", i):
        j = text.find("\n", i)
        return len(text) if j < 0 else j
    if text.startswith("/*", i):
        j = text.find("*/", i + 2)
        return len(text) if j < 0 else j + 2
    if text[i] in "\"'":
        q = text[i]
        j = i + 1
        while j < len(text) and text[j] != q:
            j += 2 if text[j] == "\\" else 1
        return min(j + 1, len(text))
    return i


def matching(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` (-1 when unbalanced)."""
    stack: list[str] = []
    i = open_at
    while i < len(text):
        j = _skip_literal(text, i)
        if j != i:
            i = j
            continue
        c = text[i]
        if c in _OPEN:
            stack.append(_OPEN[c])
        elif c in _CLOSE:
            if not stack or stack[-1] != c:
                return -1
            stack.pop()
            if not stack:
                return i
        i += 1
    return -1


def split_args(text: str, open_at: int, close_at: int) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the top-level arguments between ``open_at`` and ``close_at``
    (whitespace trimmed; empty list for ``()``)."""
    spans = []
    depth = 0
    start = open_at + 1
    i = open_at + 1
    while i < close_at:
        j = _skip_literal(text, i)
        if j != i:
            i = j
            continue
        c = text[i]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c == "," and depth == 0:
            spans.append((start, i))
            start = i + 1
        i += 1
    spans.append((start, close_at))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        out.append((s, e))
    if len(out) == 1 and out[0][0] == out[0][1]:
        return []
    return out


@dataclass
class Call:
    """A call ``name(args)`` in a text: ``start`` of the name, the parentheses, the arguments."""

    name: str
    start: int
    open: int
    close: int
    args: list[tuple[int, int]]

    def arg(self, text: str, k: int) -> str:
        """The text of argument ``k``."""
        s, e = self.args[k]
        return text[s:e]


def code_mask(text: str) -> list[bool]:
    """``mask[i]`` is True when ``text[i]`` is code (not in a comment or a literal)."""
    mask = [True] * len(text)
    i = 0
    while i < len(text):
        j = _skip_literal(text, i)
        if j != i:
            for k in range(i, j):
                mask[k] = False
            i = j
        else:
            i += 1
    return mask


def find_calls(text: str, name_pattern: str) -> list[Call]:
    """Calls whose (possibly qualified) name matches ``name_pattern`` (a regex for the whole name,
    e.g. ``r"(parlay::)?parallel_for"``), in text order, outside comments and literals."""
    mask = code_mask(text)
    out = []
    for m in re.finditer(rf"(?<![\w:])(?:{name_pattern})\s*\(", text):
        if not mask[m.start()]:
            continue
        open_at = m.end() - 1
        close = matching(text, open_at)
        if close < 0:
            continue
        out.append(Call(name=text[m.start():open_at].strip(), start=m.start(), open=open_at, close=close,
                        args=split_args(text, open_at, close)))
    return out


def int_literal(text: str) -> int | None:
    """The value of a plain decimal integer literal (suffixes allowed), else None."""
    m = re.fullmatch(r"\s*(\d+)[uUlL]*\s*", text)
    return int(m.group(1)) if m else None
