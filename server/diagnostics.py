"""Results → LSP diagnostics. Pure: no server, no I/O.

Codes (``source`` is always ``parevo``):

* ``parevo.speedup`` (Information, on the loop header): a verified rewrite,
  with its speedup, threads and input size.
* ``parevo.not-parallelizable`` / ``parevo.none-verified`` (Information): why
  nothing could be offered, with ``relatedInformation`` at the other lines
  involved (loop-carried dependence, a candidate's race).
* ``parevo.race`` (Warning): a data race found in the user's own parallel
  loop, one diagnostic at each access site, each pointing at the other access.
* ``parevo.race-free`` (Information): ThreadSanitizer found nothing.
* ``parevo.error`` (Warning): the search could not run (harness, toolchain, ...).
* ``parevo.stale`` (Hint): a result whose inputs changed; run parevo again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from lsprotocol import types

from parevo.evolution.report import summary_line
from parevo.evolution.result import EvolutionResult
from parevo.toolchain.tsan import Frame, RaceReport

from .convert import line_range
from .store import Located, LoopRecord

SOURCE = "parevo"

CODE_SPEEDUP = "parevo.speedup"
CODE_NOT_PARALLELIZABLE = "parevo.not-parallelizable"
CODE_NONE_VERIFIED = "parevo.none-verified"
CODE_RACE = "parevo.race"
CODE_RACE_FREE = "parevo.race-free"
CODE_ERROR = "parevo.error"
CODE_STALE = "parevo.stale"
CODE_CANCELLED = "parevo.cancelled"

MAX_RELATED = 8


def _same_file(a: str | None, b: str) -> bool:
    if not a:
        return False
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


def _location(uri: str, source: str, line: int, encoding: str) -> types.Location:
    return types.Location(uri=uri, range=line_range(source, line, encoding))


def variable_of(report: RaceReport) -> str | None:
    """The variable a race report's location names (``'sum'`` in ``global 'sum' of size 8``)."""
    if report.location:
        m = re.search(r"'([^']+)'", report.location)
        if m:
            return m.group(1)
    return None


def _access_text(report: RaceReport, i: int, text_at: Callable[[Frame], str | None] | None = None) -> str:
    acc = report.accesses[i]
    who = "the main thread" if acc.thread == "main" else f"thread {acc.thread}"
    frame = report.user_frames[i] if i < len(report.user_frames) else None
    where = f"line {frame.line}" if frame is not None and frame.line else "library code"
    if text_at is not None and frame is not None and frame.line:
        where = text_at(frame) or where
    prev = "previous " if acc.previous else ""
    return f"{prev}{'atomic ' if acc.atomic else ''}{acc.op} by {who} at {where}"


def race_message(report: RaceReport, i: int, text_at: Callable[[Frame], str | None] | None = None) -> str:
    """The message of the diagnostic at access ``i`` of ``report``: the variable and both
    operations (thread and place; ``text_at(frame)`` may describe the place, e.g. with its code)."""
    var = variable_of(report)
    what = f"on `{var}`" if var else (f"({report.location.removeprefix('Location is ')})" if report.location else "")
    others = [j for j in range(len(report.accesses)) if j != i]
    text = f"{report.kind} {what}: {_access_text(report, i, text_at)}".replace("  ", " ")
    if others:
        text += " conflicts with " + ", ".join(_access_text(report, j, text_at) for j in others)
    return text


def _race_diagnostics(record: LoopRecord, reports: list[RaceReport], loc: Located, uri: str, path: str,
                      source: str, encoding: str, severity: types.DiagnosticSeverity,
                      prefix: str = "") -> list[types.Diagnostic]:
    """One diagnostic per access site in this file, related to the other access(es)."""
    out: list[types.Diagnostic] = []
    seen: set[tuple[int, int]] = set()

    def shifted(frame: Frame) -> int:
        return frame.line - 1 + loc.line_delta

    lines = source.split("\n")

    def text_at(frame: Frame) -> str | None:
        if not _same_file(frame.file, path):
            return f"{os.path.basename(frame.file or '?')}:{frame.line}"
        n = shifted(frame)
        code = lines[n].strip() if 0 <= n < len(lines) else ""
        return f"line {n + 1}" + (f" (`{code[:60]}`)" if code else "")

    for rep in reports:
        frames = list(rep.user_frames) + [None] * (len(rep.accesses) - len(rep.user_frames))
        for i, frame in enumerate(frames):
            if frame is None or not frame.line or not _same_file(frame.file, path):
                continue
            line = shifted(frame)
            message = prefix + race_message(rep, i, text_at)
            if (id(rep), line) in seen:  # both accesses on one line: one diagnostic there
                continue
            seen.add((id(rep), line))
            related = []
            for j, other in enumerate(frames):
                if j == i or other is None or not other.line:
                    continue
                if _same_file(other.file, path):
                    where = _location(uri, source, shifted(other), encoding)
                else:
                    where = types.Location(uri="file://" + os.path.abspath(other.file), range=types.Range(
                        start=types.Position(line=other.line - 1, character=0),
                        end=types.Position(line=other.line - 1, character=0)))
                related.append(types.DiagnosticRelatedInformation(
                    location=where, message=_access_text(rep, j, text_at) + (f" in {other.function}" if other.function
                                                                            else "")))
            col = (frame.col - 1) if frame.col else None
            out.append(types.Diagnostic(
                range=line_range(source, line, encoding, col=col), message=message,
                severity=severity, source=SOURCE, code=CODE_RACE, related_information=related or None,
                data={"key": record.key}))
    return out


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
                if frame is None or not frame.line or not _same_file(frame.file, path):
                    continue
                if len(related) >= MAX_RELATED:
                    return related
                related.append(types.DiagnosticRelatedInformation(
                    location=_location(uri, source, frame.line - 1 + loc.line_delta, encoding),
                    message=f"{rec.candidate.origin}: {race_message(rep, i)}"))
    return related


def diagnostics_for(record: LoopRecord, loc: Located, uri: str, path: str, source: str,
                    encoding: str = types.PositionEncodingKind.Utf16) -> list[types.Diagnostic]:
    """The diagnostics of one located record in document ``uri`` (text ``source``)."""
    header = line_range(source, loc.start_line, encoding)
    data = {"key": record.key}
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
            diags = _race_diagnostics(record, rc.races, loc, uri, path, source, encoding,
                                      types.DiagnosticSeverity.Warning)
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
                                 code=CODE_SPEEDUP, data=data, message=summary_line(res))]
    if res.status == "not-parallelizable":
        related = _facts_related(res, loc, uri, source, encoding)
        return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Information, source=SOURCE,
                                 code=CODE_NOT_PARALLELIZABLE, data=data, message=res.message,
                                 related_information=related or None)]
    if res.status in ("none-verified", "error"):
        related = _facts_related(res, loc, uri, source, encoding) + _candidate_related(
            res, loc, uri, path, source, encoding)
        return [types.Diagnostic(range=header, severity=types.DiagnosticSeverity.Information, source=SOURCE,
                                 code=CODE_NONE_VERIFIED if res.status == "none-verified" else CODE_ERROR,
                                 data=data, message=res.message,
                                 related_information=related[:MAX_RELATED] or None)]
    return []
