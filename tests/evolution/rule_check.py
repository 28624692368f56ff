"""Helpers for the rule tests: example sites and batched syntax-check sources.

``batch_source`` puts every candidate into one translation unit: each
candidate becomes its own copy of the enclosing function (renamed
``<name>__cand<k>``) placed right after the original, with the union of the
candidates' includes added at the top, so one ``g++ -fsyntax-only`` checks
them all.
"""

from __future__ import annotations

import re
from pathlib import Path

from parevo.evolution.candidates import Candidate
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.parsing import find_loop, find_marked_lines
from parevo.toolchain.splice import reindent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_site(name: str) -> ParsedSite:
    """The :class:`ParsedSite` of ``examples/<name>`` at its ``// parevo: select`` marker."""
    path = EXAMPLES / name
    src = path.read_text()
    marks = find_marked_lines(src)
    assert marks, f"{name} has no select marker"
    return find_loop(src, str(path), marks[0])


def site_from_text(src: str, line_marker: str = "parevo: select the loop below") -> ParsedSite:
    """A :class:`ParsedSite` for an inline test source, at its select marker."""
    lines = src.splitlines()
    line = next(i for i, ln in enumerate(lines) if line_marker in ln)
    return find_loop(src, "inline.cpp", line)


def function_copy(site: ParsedSite, cand: Candidate, suffix: str) -> str:
    """The enclosing function with the loop replaced by ``cand`` (or ``cand``'s whole function, for a
    function-level candidate) and the name suffixed."""
    fs, fe = site.function.start_byte, site.function.end_byte
    src = site.source.encode("utf-8")
    ls, le = site.loop.start_byte, site.loop.end_byte
    if cand.function_text is not None:
        text = cand.function_text
    else:
        text = (src[fs:ls] + reindent(cand.loop_text, site.indent).encode("utf-8") + src[le:fe]).decode("utf-8")
    name = site.function_name.split("::")[-1]
    return re.sub(rf"\b{re.escape(name)}(\s*\()", rf"{name}{suffix}\1", text, count=1)


def batch_source(site: ParsedSite, cands: list[Candidate]) -> str:
    """One source holding the original file plus one renamed function copy per candidate."""
    src = site.source.encode("utf-8")
    incs = []
    for c in cands:
        for i in c.includes:
            if i not in incs:
                incs.append(i)
    copies = "\n\n".join(function_copy(site, c, f"__cand{k}") for k, c in enumerate(cands))
    fe = site.function.end_byte
    body = src[:fe].decode("utf-8") + "\n\n" + copies + "\n" + src[fe:].decode("utf-8")
    return "".join(f"#include {i}\n" for i in incs) + body
