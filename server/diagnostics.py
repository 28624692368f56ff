"""Results → LSP diagnostics. Pure: no server, no I/O.

Codes (``source`` is always ``parevo``):

* ``parevo.speedup`` (Information, on the loop header): a verified rewrite,
  with its speedup, threads and input size.
* ``parevo.not-parallelizable`` / ``parevo.none-verified`` (Information): why
  nothing could be offered, with ``relatedInformation`` at the other lines
  involved (loop-carried dependence, a candidate's race).
* ``parevo.race`` (Warning): a data race found in the user's own parallel
  loop, named (``total``, ``out[idx[i]]``), one diagnostic on each access's
  expression (one for both when they are the same expression), each with
  ``relatedInformation`` at the other access; ``data.memory`` is the name.
* ``parevo.race-free`` (Information): ThreadSanitizer found nothing.
* ``parevo.error`` (Warning): the search could not run (harness, toolchain, ...).
* ``parevo.stale`` (Hint): a result whose inputs changed; run parevo again.
* ``parevo.untrusted`` (Hint): a stored result this user's parevo did not sign
  (cloned, edited, or made elsewhere): never offered; run parevo to verify here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types

from parevo.evolution.racecheck import RaceCheckResult
from parevo.evolution.report import summary_line
from parevo.evolution.result import EvolutionResult
from parevo.toolchain.race_sites import AccessSite, location_name, same_file
from parevo.toolchain.tsan import Frame, RaceReport

from .convert import char_to_position, line_range
from .store import UNTRUSTED_MESSAGE, Located, LoopRecord

SOURCE = "parevo"

CODE_SPEEDUP = "parevo.speedup"
CODE_NOT_PARALLELIZABLE = "parevo.not-parallelizable"
CODE_NONE_VERIFIED = "parevo.none-verified"
CODE_RACE = "parevo.race"
CODE_RACE_FREE = "parevo.race-free"
CODE_ERROR = "parevo.error"
CODE_STALE = "parevo.stale"
CODE_CANCELLED = "parevo.cancelled"
CODE_UNTRUSTED = "parevo.untrusted"

MAX_RELATED = 8


def _location(uri: str, source: str, line: int, encoding: str) -> types.Location:
    return types.Location(uri=uri, range=line_range(source, line, encoding))


def shown_path(file: str | None, root: str | None) -> str:
    """A frame's file for people: relative to the workspace ``root`` when inside it, else its base name
    (a harness or system file in a temporary folder means nothing to the user)."""
    if not file:
        return "?"
    norm = os.path.normpath(file)
    if "/parlay/" in norm:  # ParlayLib's own headers: parlay/scheduler.h
        return "parlay/" + norm.rsplit("/parlay/", 1)[1]
    if root:
        try:
            rel = os.path.relpath(os.path.abspath(file), os.path.abspath(root))
        except ValueError:
            rel = None
        if rel is not None and not rel.startswith(".."):
            return rel
    return os.path.basename(file)


def variable_of(report: RaceReport) -> str | None:
    """The variable a race report's location names (``'sum'`` in ``global 'sum' of size 8``)."""
    return location_name(report)


def _who(thread: str) -> str:
    return "the main thread" if thread == "main" else f"thread {thread}"


def _access_text(report: RaceReport, i: int, text_at: Callable[[Frame], str | None] | None = None) -> str:
    acc = report.accesses[i]
    frame = report.user_frames[i] if i < len(report.user_frames) else None
    where = f"line {frame.line}" if frame is not None and frame.line else "library code"
    if text_at is not None and frame is not None and frame.line:
        where = text_at(frame) or where
    return f"{'atomic ' if acc.atomic else ''}{acc.op} by {_who(acc.thread)} at {where}"


def race_message(report: RaceReport, i: int, text_at: Callable[[Frame], str | None] | None = None,
                 memory: str | None = None) -> str:
    """The message of the diagnostic at access ``i`` of ``report``: the memory and both
    operations (thread and place; ``text_at(frame)`` may describe the place, e.g. with its code)."""
    var = memory or variable_of(report)
    what = f"on `{var}`" if var else (f"({report.location.removeprefix('Location is ')})" if report.location else "")
    others = [j for j in range(len(report.accesses)) if j != i]
    text = f"{report.kind} {what}: {_access_text(report, i, text_at)}".replace("  ", " ")
    if others:
        text += " conflicts with " + ", ".join(_access_text(report, j, text_at) for j in others)
    return text


def _race_diagnostics(record: LoopRecord, rc: RaceCheckResult, loc: Located, uri: str, path: str,
                      source: str, encoding: str, root: str | None) -> list[types.Diagnostic]:
    """One Warning per distinct access site in this file: the expression that raced (the whole line when
    the check predates expression sites), named, related to the other access(es)."""
    out: list[types.Diagnostic] = []
    lines = source.split("\n")

    def char_range(site: AccessSite) -> types.Range:
        return types.Range(start=char_to_position(source, loc.function_start + site.start, encoding),
                           end=char_to_position(source, loc.function_start + site.end, encoding))

    for k, rep in enumerate(rc.races):
        rs = rc.sites[k] if k < len(rc.sites) else None
        frames = list(rep.user_frames) + [None] * (len(rep.accesses) - len(rep.user_frames))
        sites = (list(rs.accesses) if rs is not None else []) + [None] * len(rep.accesses)

        def place(i: int) -> tuple[types.Location | None, str]:
            """Where access ``i`` is (None: not in a file) and how to say it (``line 12``, ``util.h:40``)."""
            site, frame = sites[i], frames[i]
            if site is not None:
                r = char_range(site)
                return types.Location(uri=uri, range=r), f"line {r.start.line + 1}"
            if frame is None or not frame.line:
                return None, "library code"
            if same_file(frame.file, path):
                n = frame.line - 1 + loc.line_delta
                return _location(uri, source, n, encoding), f"line {n + 1}"
            p = os.path.abspath(frame.file or "")
            at = types.Position(line=frame.line - 1, character=0)
            return (types.Location(uri=Path(p).as_uri(), range=types.Range(start=at, end=at)),
                    f"{shown_path(frame.file, root)}:{frame.line}")

        places = [place(i) for i in range(len(rep.accesses))]
        memory = (rs.memory if rs is not None else None) or variable_of(rep)
        on = f"`{memory}`" if memory else (rep.location.removeprefix("Location is ") if rep.location else
                                            "shared memory")
        done: list[types.Range] = []
        for i, acc in enumerate(rep.accesses):
            where, _ = places[i]
            if where is None or where.uri != uri or where.range in done:
                continue
            done.append(where.range)
            here = [j for j in range(len(rep.accesses)) if places[j][0] is not None
                    and places[j][0].uri == uri and places[j][0].range == where.range]
            mine = " and ".join(f"{'atomic ' if rep.accesses[j].atomic else ''}{rep.accesses[j].op} by "
                                f"{_who(rep.accesses[j].thread)}" for j in here)
            others = [j for j in range(len(rep.accesses)) if j not in here]
            if others:
                theirs = ", ".join(f"{'atomic ' if rep.accesses[j].atomic else ''}{rep.accesses[j].op} by "
                                   f"{_who(rep.accesses[j].thread)} at {places[j][1]}" for j in others)
                message = f"{rep.kind} on {on}: {mine} here conflicts with {theirs}"
            else:
                code = lines[where.range.start.line].strip() if where.range.start.line < len(lines) else ""
                message = f"{rep.kind} on {on}: {mine} conflict here" + (f" (`{code[:60]}`)" if code else "")
            related = []
            for j in range(len(rep.accesses)):
                other, said = places[j]
                if other is None or (j in here and len(here) == 1):
                    continue
                a = rep.accesses[j]
                related.append(types.DiagnosticRelatedInformation(
                    location=other, message=f"{'atomic ' if a.atomic else ''}{a.op} by {_who(a.thread)} "
                                            f"({said})"))
            out.append(types.Diagnostic(
                range=where.range, message=message, severity=types.DiagnosticSeverity.Warning, source=SOURCE,
                code=CODE_RACE, related_information=related or None,
                data={"key": record.key, "memory": memory}))
    return out


def evolution_line(result: EvolutionResult, race_fix: bool = False) -> str:
    """One line for a search's outcome (its diagnostic, the progress end, a status bar); a race fix says so and
    that its speedup is over the serial loop."""
    if not race_fix:
        return summary_line(result)
    best = result.best
    if best is not None:
        t = best.stage("time").timing
        return (f"race fix verified: {t.speedup:.2f}x faster than the serial loop on {t.threads} threads, race-free "
                f"(ParlayLib rewrite; n = {t.n:,}, median of {len(t.candidate_samples)} runs)")
    return f"race fix: {result.message}"


def _facts_related(result: EvolutionResult, loc: Located, uri: str, source: str,
                   encoding: str) -> list[types.DiagnosticRelatedInformation]:
    facts = result.facts
    if facts is None:
        return []
    related: list[types.DiagnosticRelatedInformation] = []
    seen: set[tuple[int, str]] = set()

    def add(line: int, message: str) -> None:
        line += loc.line_delta
        if (line, message) not in seen and len(related) < MAX_RELATED:
            seen.add((line, message))
            related.append(types.DiagnosticRelatedInformation(location=_location(uri, source, line, encoding),
                                                              message=message))

    for dep in facts.dependences:
        add(dep.write_line, f"`{dep.var}` written here")
        add(dep.read_line, f"`{dep.var}` read here, by a later iteration")
    if not related:
        for line in facts.reason_lines:
            add(line, facts.reason or "involved here")
    return related


def _candidate_related(result: EvolutionResult, loc: Located, uri: str, path: str, source: str,
                       encoding: str) -> list[types.DiagnosticRelatedInformation]:
    related: list[types.DiagnosticRelatedInformation] = []
    for rec in result.candidates:
        race = rec.stage("race")
        if race is None or race.passed:
            continue
        for rep in race.races[:1]:
            for i, frame in enumerate(rep.user_frames):
                if frame is None or not frame.line or not same_file(frame.file, path):
                    continue
                if len(related) >= MAX_RELATED:
                    return related
                related.append(types.DiagnosticRelatedInformation(
                    location=_location(uri, source, frame.line - 1 + loc.line_delta, encoding),
                    message=f"{rec.candidate.origin}: {race_message(rep, i)}"))
    return related


def diagnostics_for(record: LoopRecord, loc: Located, uri: str, path: str, source: str,
                    encoding: str = types.PositionEncodingKind.Utf16,
                    root: str | None = None) -> list[types.Diagnostic]:
    """The diagnostics of one located record in document ``uri`` (text ``source``); ``root`` (the
    workspace folder) makes other files' paths relative in messages."""
    header = line_range(source, loc.start_line, encoding)
    data = {"key": record.key}
    if record.untrusted is not None:
        return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Hint, source=SOURCE,
                                 code=CODE_UNTRUSTED, data=data, message=UNTRUSTED_MESSAGE)]
    if record.stale is not None:
        what = "result" if record.kind != "races" else "race check"
        base = ""
        if record.kind == "evolve" and record.evolution is not None:
            base = ": " + summary_line(record.evolution)
        elif record.kind == "races" and record.race_check is not None:
            base = ": " + record.race_check.message
        return [types.Diagnostic(
            range=header, severity=types.DiagnosticSeverity.Hint, source=SOURCE, code=CODE_STALE, data=data,
            message=f"stale parevo {what} ({record.stale}); run parevo on this loop again{base}")]
    if record.kind == "error":
        return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Warning, source=SOURCE,
                                 code=CODE_ERROR, data=data, message=f"parevo could not run: {record.error}")]
    if record.kind == "races" and record.race_check is not None:
        rc = record.race_check
        if rc.status == "races":
            diags = _race_diagnostics(record, rc, loc, uri, path, source, encoding, root)
            if diags:
                return diags
            return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Warning, source=SOURCE,
                                     code=CODE_RACE, data=data, message=rc.message)]
        if rc.status == "clean":
            return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Information, source=SOURCE,
                                     code=CODE_RACE_FREE, data=data, message=rc.message)]
        if rc.status == "error":
            return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Warning, source=SOURCE,
                                     code=CODE_ERROR, data=data, message=f"race check failed: {rc.message}")]
        return []
    res = record.evolution
    if res is None:
        return []
    if res.status == "verified" and res.best is not None:
        return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Information, source=SOURCE,
                                 code=CODE_SPEEDUP, data=data, message=evolution_line(res, record.race_fix))]
    if res.status == "not-parallelizable":
        related = _facts_related(res, loc, uri, source, encoding)
        return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Information, source=SOURCE,
                                 code=CODE_NOT_PARALLELIZABLE, data=data, message=evolution_line(res, record.race_fix),
                                 related_information=related or None)]
    if res.status in ("none-verified", "error"):
        related = _facts_related(res, loc, uri, source, encoding) + _candidate_related(
            res, loc, uri, path, source, encoding)
        return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Information, source=SOURCE,
                                 code=CODE_NONE_VERIFIED if res.status == "none-verified" else CODE_ERROR,
                                 data=data, message=evolution_line(res, record.race_fix),
                                 related_information=related[:MAX_RELATED] or None)]
    return []
