"""The race fix: a verified ParlayLib rewrite of a racy parallel loop's serial meaning.

A parallel loop with a data race computes something its author did not
mean. What they meant is its serial meaning (the same body run as a serial
loop, :func:`parevo.toolchain.serial_meaning.serial_meaning`); :func:`fix_race`
searches that loop with the usual cascade (:func:`~parevo.evolution.engine.evolve`:
compile, outputs equal to the serial loop, ThreadSanitizer clean, faster,
profiled), so what it offers is correct, race-free and measured.
:func:`fix_source` puts the verified rewrite in place of the *parallel* loop:
the user's function becomes exactly the serial-meaning function with the
rewrite spliced in (the program that was verified), less the empty lines
that stood for removed pragmas.
"""

from __future__ import annotations

import threading

from parevo.toolchain.discovery import Toolchain
from parevo.toolchain.facts import analyze
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.serial_meaning import SerialMeaning, serial_meaning
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.splice import TextEdit, apply_edits, rewrite_edits

from .engine import EvolveRequest, evolve
from .result import EvolutionResult
from .search import ProgressFn


class FixChanged(Exception):
    """The racy loop no longer has the serial meaning the fix was verified for (re-run the fix)."""


def serial_site(site: ParsedSite) -> tuple[ParsedSite, SerialMeaning]:
    """The site of the serial meaning of the racy loop at ``site`` (its own text, parsed once), and that meaning.

    Raises:
        NoSerialMeaning: see :func:`~parevo.toolchain.serial_meaning.serial_meaning`.
    """
    sm = serial_meaning(site)
    return find_loop(sm.source, site.path, sm.line), sm


def fix_race(site: ParsedSite, req: EvolveRequest, progress: ProgressFn | None = None,
             cancel: threading.Event | None = None, toolchain: Toolchain | None = None) -> EvolutionResult:
    """Search a verified ParlayLib rewrite of the serial meaning of the racy loop at ``site``.

    Returns the search's :class:`EvolutionResult` (its loop, content hash and edits are the serial
    meaning's: :func:`fix_source` puts the rewrite in place of the racy loop), with a note saying
    what was made serial.

    Raises:
        NoSerialMeaning: the parallel construct cannot be made serial (the message says why).
        as :func:`~parevo.evolution.engine.evolve` otherwise.
    """
    serial, sm = serial_site(site)
    result = evolve(serial, analyze(serial), req, progress, cancel, toolchain=toolchain)
    result.notes.insert(0, f"race fix: searched the serial meaning of {', '.join(sm.replaced)} (the same body "
                           "run as a serial loop); every candidate was checked against it")
    return result


def fix_source(site: ParsedSite, result: EvolutionResult) -> str:
    """The user's new file text: the racy loop at ``site`` replaced by ``result``'s verified rewrite.

    Raises:
        FixChanged: the racy loop's serial meaning is no longer the function the rewrite was verified in.
        ValueError: ``result`` holds no verified rewrite.
    """
    best = result.best
    if best is None:
        raise ValueError("the race fix holds no verified rewrite")
    serial, sm = serial_site(site)
    if serial.content_hash != result.content_hash:
        raise FixChanged("the loop changed since its fix was verified; run Fix data race again")
    c = best.candidate
    edits = rewrite_edits(serial, c.loop_text, c.includes, function_text=c.function_text)
    data = sm.source.encode("utf-8")
    starts = [0] + [k + 1 for k, b in enumerate(data) if b == 0x0A]
    for line in sorted(sm.blank_lines, reverse=True):
        if line + 1 >= len(starts):
            continue
        lo, hi = starts[line], starts[line + 1]  # the placeholder line, with its newline
        if data[lo:hi].strip():
            continue
        inside = [e for e in edits if e.start_byte <= lo and hi <= e.end_byte]
        if inside:  # in a replaced span (a function-level rewrite): the same relative line, if still empty
            e = inside[0]
            rel = data[e.start_byte:lo].count(b"\n")
            lines = e.new_text.split("\n")
            if rel < len(lines) and not lines[rel].strip() and rel + 1 < len(lines):
                e.new_text = "\n".join(lines[:rel] + lines[rel + 1:])
            continue
        if any(lo < e.end_byte and e.start_byte < hi for e in edits):
            continue  # overlaps an edit's edge: leave it
        edits.append(TextEdit(start_byte=lo, end_byte=hi, new_text="", role="other"))
    return apply_edits(sm.source, edits)
