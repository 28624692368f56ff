"""Hover on a loop: the evidence behind parevo's result, in Markdown. Pure."""

from __future__ import annotations

from lsprotocol import types

from parevo.evolution.report import render_markdown
from parevo.toolchain.tsan import RaceReport

from .diagnostics import race_message, variable_of
from .store import LoopRecord

MAX_FRAMES = 4


def _short(text: str | None, n: int = 70) -> str:
    text = text or "?"
    return text if len(text) <= n else text[: n - 3] + "..."


def compact_report(report: RaceReport, frames: int = MAX_FRAMES) -> list[str]:
    """A race report cut down for reading: each access with its first frames, the location."""
    out = [f"WARNING: ThreadSanitizer: {report.kind}"]
    for acc in report.accesses:
        who = "main thread" if acc.thread == "main" else f"thread {acc.thread}"
        size = f" of size {acc.size}" if acc.size else ""
        prev = "Previous " if acc.previous else ""
        out.append(f"  {prev}{'atomic ' if acc.atomic else ''}{acc.op}{size} by {who}:")
        for k, fr in enumerate(acc.frames[:frames]):
            out.append(f"    #{k} {_short(fr.function, 50)} {_short(fr.where(), 70)}")
        if len(acc.frames) > frames:
            out.append(f"    ... {len(acc.frames) - frames} more frames")
    if report.location:
        out.append(f"  {report.location}")
    return out


def races_markdown(record: LoopRecord) -> str:
    """Markdown for a race check: verdict, each race with both accesses, the first raw report."""
    rc = record.race_check
    assert rc is not None
    md = [f"**parevo** — {rc.message}", ""]
    if rc.races:
        for rep in rc.races:
            md.append(f"- {race_message(rep, 0)}" + (f" (variable `{variable_of(rep)}`)" if variable_of(rep) else ""))
        md.append("")
        md += ["ThreadSanitizer report (first frames of each access):", "```text",
               *compact_report(rc.races[0]), "```", ""]
    if rc.unattributed:
        md.append(f"{rc.unattributed} report(s) outside your code were ignored (library internals).")
    if rc.toolchain:
        md.append(f"compiler: {rc.toolchain.compiler_version} {' '.join(rc.toolchain.tsan_flags)}")
    md.append(f"runs: {rc.runs} at {rc.threads} threads, n = {rc.n:,}; {rc.seconds_total:.1f} s")
    return "\n".join(md)


def hover_markdown(record: LoopRecord) -> str:
    """The hover text of a record (stale records say so first)."""
    if record.kind == "races" and record.race_check is not None:
        text = races_markdown(record)
    elif record.kind == "evolve" and record.evolution is not None:
        text = render_markdown(record.evolution)
    else:
        text = f"**parevo** could not run on this loop: {record.error}"
    if record.stale:
        text = f"*Stale:* {record.stale}; run parevo on this loop again.\n\n" + text
    return text


def hover_for(record: LoopRecord, rng: types.Range) -> types.Hover:
    """The LSP hover for ``record``, covering ``rng`` (the loop)."""
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hover_markdown(record)),
                       range=rng)
