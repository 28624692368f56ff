"""Hover on a loop: the evidence behind parevo's results, in Markdown. Pure.

A loop can hold two results at once (a race check beside a search, see
:data:`parevo.server.store.RACES_SUFFIX`): the hover shows both, the race
first. Paths are relative to the workspace (ParlayLib's headers as
``parlay/...``), never a temporary folder.
"""

from __future__ import annotations

from lsprotocol import types

from parevo.evolution.report import next_steps, render_markdown
from parevo.evolution.result import EvolutionResult
from parevo.toolchain.tsan import RaceReport

from .diagnostics import shown_path, variable_of
from .store import UNTRUSTED_MESSAGE, LoopRecord

MAX_FRAMES = 4
TITLE_FIX = "Fix data race with ParlayLib"


def _short(text: str | None, n: int = 70) -> str:
    text = text or "?"
    return text if len(text) <= n else text[: n - 3] + "..."


def compact_report(report: RaceReport, frames: int = MAX_FRAMES, root: str | None = None) -> list[str]:
    """A race report cut down for reading: each access with its first frames (paths relative to ``root``),
    then what the memory is."""
    out: list[str] = []
    for acc in report.accesses:
        who = "main thread" if acc.thread == "main" else f"thread {acc.thread}"
        size = f" of size {acc.size}" if acc.size else ""
        prev = "previous " if acc.previous else ""
        out.append(f"{prev}{'atomic ' if acc.atomic else ''}{acc.op}{size} by {who}:")
        for k, fr in enumerate(acc.frames[:frames]):
            where = shown_path(fr.file, root) + "".join(f":{x}" for x in (fr.line, fr.col) if x is not None)
            out.append(f"  #{k} {_short(fr.function, 50)} {where}")
        if len(acc.frames) > frames:
            out.append(f"  ... {len(acc.frames) - frames} more frames")
    if report.location:
        out.append(report.location)
    return out


def races_markdown(record: LoopRecord, root: str | None = None) -> str:
    """Markdown for a race check: the verdict sentence, each race by name with both access sites,
    what to do, the first report's frames, and how it was measured."""
    rc = record.race_check
    assert rc is not None
    md = [f"**parevo** — {rc.message}", ""]
    if rc.races:
        for k, rep in enumerate(rc.races):
            rs = rc.sites[k] if k < len(rc.sites) else None
            name = (rs.memory if rs is not None else None) or variable_of(rep)
            accesses = []
            for i, acc in enumerate(rep.accesses):
                site = rs.accesses[i] if rs is not None and i < len(rs.accesses) else None
                frame = rep.user_frames[i] if i < len(rep.user_frames) else None
                who = "the main thread" if acc.thread == "main" else f"thread {acc.thread}"
                if site is not None:
                    where = f"`{site.text}` at line {site.line + 1}"
                elif frame is not None and frame.line:
                    where = f"{shown_path(frame.file, root)}:{frame.line}"
                else:
                    where = "library code"
                accesses.append(f"{'atomic ' if acc.atomic else ''}{acc.op} by {who} ({where})")
            md.append(f"- {rep.kind}" + (f" on `{name}`" if name else "") + ": " + " and ".join(accesses))
        md += ["", f"*{TITLE_FIX}* (code action) searches a verified ParlayLib rewrite of this loop's serial "
               "meaning: the same body run as a serial loop.", ""]
        md += ["ThreadSanitizer report (first frames of each access):", "```text",
               *compact_report(rc.races[0], root=root), "```", ""]
    if rc.unattributed:
        md.append(f"{rc.unattributed} report(s) outside your code were ignored (library internals).")
    if rc.toolchain:
        md.append(f"compiler: {rc.toolchain.compiler_version} {' '.join(rc.toolchain.tsan_flags)}")
    if rc.race_runs:
        sizes = ", ".join(f"{n:,}" for n in sorted({r.n for r in rc.race_runs}))
        workers = "/".join(str(w) for w in sorted({r.workers for r in rc.race_runs}))
        md.append(f"runs: {rc.runs} at n = {sizes} with {workers} workers; {rc.seconds_total:.1f} s")
    else:
        md.append(f"runs: {rc.runs} at {rc.threads} threads, n = {rc.n:,}; {rc.seconds_total:.1f} s")
    return "\n".join(md)


def _candidate_line(rec) -> str:
    """`` `origin`: why`` for a rejected candidate, named by its verdict once (reasons often start with it);
    an inconclusive timing is said as such, never as "not faster"."""
    label = rec.rejection or "rejected"
    reason = (rec.reason or "").strip()
    why = reason if reason.lower().startswith(label.split()[0].lower()) else f"{label}: {reason}"
    return f"`{rec.candidate.origin}`: {why}"


def none_verified_markdown(result: EvolutionResult) -> str:
    """Markdown for a search that verified nothing: one headline, then each candidate once, with the
    stage that rejected it and why (the diagnostic's message lists the first reasons; not repeated here)."""
    n = len(result.candidates)
    head = "no rewrite could be verified" + (f" ({result.facts.reason})" if result.facts and result.facts.reason
                                              else "")
    md = [f"**parevo** — {head}", ""]
    if n:
        md.append(f"**{n} candidate{'s' if n != 1 else ''} tried**; none was correct, race-free and faster:")
        md += [f"- {_candidate_line(r)}" for r in result.candidates]
        md.append("")
    steps = next_steps(result)
    if steps:
        md.append("**What to try next:**")
        md += [f"- {step}" for step in steps]
        md.append("")
    md += [f"- note: {note}" for note in result.notes]
    return "\n".join(md)


def hover_markdown(record: LoopRecord, root: str | None = None) -> str:
    """The hover text of a record (stale records say so first; an untrusted one shows nothing it claims)."""
    if record.untrusted is not None:
        return f"**parevo**: {UNTRUSTED_MESSAGE} ({record.untrusted})."
    if record.kind == "races" and record.race_check is not None:
        text = races_markdown(record, root)
    elif record.kind == "evolve" and record.evolution is not None:
        res = record.evolution
        text = none_verified_markdown(res) if res.status == "none-verified" else render_markdown(res)
        if record.race_fix:
            text = ("*This search is the race fix: it verified rewrites of the loop's serial meaning (the same "
                    "body run as a serial loop).*\n\n") + text
    else:
        text = f"**parevo** could not run on this loop: {record.error}"
    if record.stale:
        text = f"*Stale:* {record.stale}; run parevo on this loop again.\n\n" + text
    return text


def hover_for(records: list[LoopRecord], rng: types.Range, root: str | None = None) -> types.Hover:
    """The LSP hover for the ``records`` of one loop (race check first), covering ``rng`` (the loop)."""
    ordered = sorted(records, key=lambda r: 0 if r.kind == "races" else 1)
    value = "\n\n---\n\n".join(hover_markdown(r, root) for r in ordered)
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=value), range=rng)
