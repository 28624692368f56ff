"""Helpers for the rule tests: example sites and batched syntax-check sources.

``batch_source`` puts every candidate into one translation unit: each
candidate becomes its own copy of the enclosing function (renamed
``<name>__cand<k>``) placed right after the original, with the union of the
candidates' includes added at the top, so one ``g++ -fsyntax-only`` checks
them all.
"""

from __future__ import annotations

import os
import re
import subprocess
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


def gxx(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    """``$CXX`` (else ``g++``) with ``-std=c++17 -pthread`` and ``args``."""
    cxx = os.environ.get("CXX", "g++")
    return subprocess.run([cxx, "-std=c++17", "-pthread", *args], capture_output=True, text=True, timeout=timeout)


def run_differential(source: str, tmp: Path, flags: list[str]) -> list[str]:
    """Compile a differential driver (``-O1``) and run it with 1 and 4 ParlayLib workers; the ``MISMATCH``
    lines it printed (asserting it compiled, exited 0 and printed ``DONE`` each time)."""
    src, exe = tmp / "driver.cpp", tmp / "driver"
    src.write_text(source)
    r = gxx([*flags, "-O1", str(src), "-o", str(exe)], timeout=1200)
    assert r.returncode == 0, r.stderr[-4000:]
    mismatches = []
    for threads in ("1", "4"):
        out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PARLAY_NUM_THREADS": threads})
        assert out.returncode == 0, out.stderr[-2000:]
        lines = out.stdout.splitlines()
        assert lines and lines[-1].startswith("DONE")
        mismatches += [ln for ln in lines if ln.startswith("MISMATCH")]
    return mismatches


def differential_source(header: str, main: str, cases: list[tuple[str, str, ParsedSite, list[Candidate]]]) -> str:
    """One translation unit: ``header``, every case's function (``(name, source, site, candidates)``), its
    candidates as renamed copies, and ``main`` with ``CALLS`` replaced by one ``check`` per candidate."""
    incs: list[str] = []
    parts, calls = [], []
    for name, source, site, cands in cases:
        parts.append(source)
        for k, c in enumerate(cands):
            parts.append(function_copy(site, c, f"__cand{k}"))
            calls.append(f'  check("{name}#{k} {c.origin}", fn_{name}, fn_{name}__cand{k});')
            incs += [i for i in c.includes if i not in incs]
    return header + "".join(f"#include {i}\n" for i in incs) + "\n".join(parts) + main.replace("CALLS",
                                                                                              "\n".join(calls))
