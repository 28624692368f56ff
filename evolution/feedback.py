"""Structured feedback on an evaluated candidate, in the candidate's own terms, for prompts.

Raw logs are summarized, never pasted: a compile failure becomes its first
error with the line of the candidate it points at; a wrong output becomes the
input size, seed, output, index, expected and actual values; a race becomes
the variable, both accesses (read or write, atomic or not, which thread) with
their lines and text; a timing becomes the speedup against the thread count,
the CPU utilization inside the calls and what that says about where the time
goes.

Line mapping: the harness puts ``#line`` directives around the candidate so
its first line carries the replaced span's first line number
(:func:`parevo.toolchain.harness.variant_source`); file line ``F`` inside the
candidate is candidate line ``F - first + 1``. Lines past the candidate's end
keep their original numbers; when a candidate is longer than the span it
replaces, a line number in the overlap is taken to be the candidate's.

Nothing here depends on wall-clock time or caching state, so a replay (whose
verdicts come from the evaluation cache) builds the same prompts.
"""

from __future__ import annotations

import os
import re

from parevo.toolchain.adversarial import case_label
from parevo.toolchain.harness import HARNESS_FILE
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.snippet import assigned_variable
from parevo.toolchain.timing import fmt_seconds
from parevo.toolchain.verdicts import StageVerdict

from .candidates import Candidate
from .result import CandidateRecord

_LOC_PREFIX = re.compile(r"^[^\s:][^:]*:\d+:(?:\d+:)?\s*")
_REQUIRED = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:\d+:)?\s+required from here")


class LineMap:
    """Maps file lines (1-based) to lines of a candidate's text and back to text."""

    def __init__(self, site: ParsedSite, cand: Candidate):
        span = site.function if cand.function_text is not None else site.loop
        self.first = span.start_line + 1
        self.lines = cand.code.strip("\n").split("\n")
        self.site = site
        self.path = os.path.abspath(site.path)

    def is_user_file(self, file: str | None) -> bool:
        """True when ``file`` names the user's file (as the compiler or TSan printed it)."""
        if not file:
            return False
        return os.path.normpath(file) in (os.path.normpath(self.path), os.path.normpath(self.site.path)) or (
            os.path.basename(file) == os.path.basename(self.path) and "/parlay/" not in file)

    def describe(self, line1: int | None) -> str:
        """``line 3 of the candidate: `text``` or ``line 14 of the file (outside the candidate): `text```."""
        if line1 is None:
            return "an unknown line"
        k = line1 - self.first + 1
        if 1 <= k <= len(self.lines):
            return f"line {k} of the candidate: `{self.lines[k - 1].strip()}`"
        src = self.site.source.split("\n")
        text = src[line1 - 1].strip() if 1 <= line1 <= len(src) else ""
        return f"line {line1} of the file, outside the candidate" + (f": `{text}`" if text else "")


def _first_message(first_error: str | None) -> str:
    return _LOC_PREFIX.sub("", first_error or "").strip() or "the compiler failed"


def compile_feedback(site: ParsedSite, cand: Candidate, v: StageVerdict) -> str:
    """The first compiler error, where it is in the candidate, and how many errors followed."""
    out = v.compile
    lm = LineMap(site, cand)
    if out is None:
        return f"did not compile: {v.summary}"
    if out.timed_out:
        return "the compiler timed out (the candidate is too heavy to compile: avoid deep template nesting)"
    msg = _first_message(out.first_error)
    n_err = len(re.findall(r"\berror:", out.stderr or "")) or 1
    more = f" ({n_err - 1} more error{'s' if n_err > 2 else ''} followed)" if n_err > 1 else ""
    if (out.error_file or "") == HARNESS_FILE:
        return (f"compile error in the parevo test harness, which calls `{site.qualified_name}` with its "
                f"original signature: {msg}{more}. Keep the function's name, parameters and return type.")
    if lm.is_user_file(out.error_file):
        return f"compile error at {lm.describe(out.error_line1)}:\n  {msg}{more}"
    # an error inside a header (ParlayLib, the standard library): point at the user's line that instantiated it
    where = ""
    for ln in (out.stderr or "").splitlines():
        m = _REQUIRED.match(ln)
        if m and lm.is_user_file(m.group("file")):
            where = f", instantiated from {lm.describe(int(m.group('line')))}"
    hdr = os.path.basename(out.error_file) if out.error_file else "a header"
    return f"compile error inside {hdr}{where}:\n  {msg}{more}"


def test_feedback(v: StageVerdict) -> str:
    """Wrong output (size, seed, which output, index, expected, got) or the crash/hang."""
    mm = v.mismatch
    if mm is None:
        return f"failed the differential test against the original: {v.feedback or v.summary}"
    lines = [f"wrong output at input size {case_label(mm.n, mm.seed)}:"]
    if mm.kind == "length":
        lines.append(f"  `{mm.name}` has {mm.got}, expected {mm.expected}")
    elif mm.kind == "missing":
        lines.append(f"  `{mm.name}` {mm.got}")
    else:
        idx = f" at index {mm.index}" if mm.index is not None else ""
        lines.append(f"  output `{mm.output}`{idx}: expected {mm.expected}, got {mm.got}")
    if mm.count > 1:
        lines.append(f"  ({mm.count} values of this output differ in this case)")
    return "\n".join(lines)


def race_feedback(site: ParsedSite, cand: Candidate, v: StageVerdict) -> str:
    """The first race: the variable, both accesses with their lines, threads and operations."""
    if not v.races:
        return f"ThreadSanitizer: {v.summary}"
    lm = LineMap(site, cand)
    rep = v.races[0]
    var = ""
    if rep.location:
        m = re.search(r"'([^']+)'", rep.location)
        where = rep.location.removeprefix("Location is ").strip().rstrip(".")
        var = f" on `{m.group(1)}`" if m else f" ({where})"
        if not m:
            guess = _written_variable(lm, rep)
            if guess:
                var = f" on `{guess}` ({where})"
    runs = f"{v.runs} run{'s' if v.runs != 1 else ''}"
    lines = [f"data race{var} found by ThreadSanitizer ({runs}, {len(v.races)} report(s)):"]
    for acc, frame in zip(rep.accesses, rep.user_frames):
        op = ("atomic " if acc.atomic else "") + acc.op
        who = "the main thread" if acc.thread == "main" else f"thread {acc.thread}"
        kind = "previous " if acc.previous else ""
        where = lm.describe(frame.line) if frame is not None else "library code (no frame in your code)"
        lines.append(f"  {kind}{op} by {who} at {where}")
    lines.append("  Two iterations touch the same memory without synchronization: give each task its own "
                 "accumulator or output slot and combine afterwards (reduce, scan, per-block partials), "
                 "or use an atomic operation.")
    return "\n".join(lines)


def _written_variable(lm: LineMap, rep) -> str | None:
    """The variable assigned on the line of the race's write access (``s`` in ``s += x;``), if any."""
    for acc, frame in zip(rep.accesses, rep.user_frames):
        if acc.op != "write" or frame is None or frame.line is None:
            continue
        k = frame.line - lm.first
        text = lm.lines[k] if 0 <= k < len(lm.lines) else ""
        name = assigned_variable(text)
        if name:
            return name
    return None


def time_feedback(v: StageVerdict) -> str:
    """Speedup against the thread count with the medians, its interval and what the verdict was."""
    t = v.timing
    if t is None:
        return v.feedback or v.summary
    verdict = {"faster": "faster", "inconclusive": "of UNDECIDED speed (the machine was too noisy; it is timed "
                                                   "again later)"}.get(t.outcome or "", "NOT faster enough to be "
                                                                                         "offered")
    split = ""
    if t.factors is not None:
        f = t.factors
        split = (f"; {f.algorithmic:.2f}x from the algorithm (one worker), {f.parallel:.2f}x from the threads "
                 f"(parallel efficiency {f.efficiency:.0%})")
    return (f"verified (same outputs, no race) and {verdict}: {t.speedup:.2f}x on {t.threads} threads "
            f"(ideal {t.threads}x) at n = {t.n:,}; per call: original {fmt_seconds(t.original_median)}, "
            f"candidate {fmt_seconds(t.candidate_median)} ({t.rounds} rounds, {t.interval_text}){split}")


def profile_feedback(rec: CandidateRecord) -> str:
    """CPU utilization inside the calls and what it says about where the time goes."""
    p = rec.stage("profile")
    t = rec.stage("time")
    if p is None or p.profile is None or t is None or t.timing is None:
        return ""
    prof, tim = p.profile, t.timing
    util = prof.call_utilization if prof.call_utilization is not None else prof.cpu_utilization
    if util is None:
        return ""
    threads = max(tim.threads, 1)
    lines = [f"profile ({prof.profiler}): inside the calls {util:.2f} of {threads} CPUs busy "
             f"(utilization {util / threads:.0%})"]
    inflation = util / max(tim.speedup, 1e-9)
    if util / threads < 0.7:
        lines.append(f"  where the time goes: the workers are idle {1 - util / threads:.0%} of the time: too "
                     "little parallel work per task, a serial part, or load imbalance; coarser tasks or "
                     "less serial work help")
    elif inflation > 1.3:
        lines.append(f"  where the time goes: the workers are busy but do {inflation:.1f}x the original's CPU "
                     "work: temporaries (materialized sequences), atomics, false sharing or scheduling "
                     "overhead; delayed sequences, fewer passes and coarser granularity help")
    else:
        lines.append("  where the time goes: busy workers doing about the original's work: the remaining limit "
                     "is likely memory bandwidth or the thread count")
    if tim.input_bytes and tim.candidate_median > 0:
        gbs = tim.input_bytes / tim.candidate_median / 1e9
        lines.append(f"  the candidate streams its {tim.input_bytes / 2**20:.1f} MiB of inputs at {gbs:.1f} GB/s")
    return "\n".join(lines)


def record_feedback(site: ParsedSite, rec: CandidateRecord) -> str:
    """Feedback for any record: the failing stage's evidence, or timing and profile when verified."""
    stage = rec.rejected_stage
    if stage == "compile":
        return compile_feedback(site, rec.candidate, rec.stage("compile"))
    if stage == "test":
        return test_feedback(rec.stage("test"))
    if stage == "race":
        v = rec.stage("race")
        if v is not None and not v.races and v.compile is not None and not v.compile.ok:
            return f"the ThreadSanitizer build failed: {_first_message(v.compile.first_error)}"
        return race_feedback(site, rec.candidate, v)
    parts = []
    t = rec.stage("time")
    if t is not None:
        parts.append(time_feedback(t))
    prof = profile_feedback(rec)
    if prof:
        parts.append(prof)
    if not parts:
        return rec.reason or "no evaluation figures"
    return "\n".join(parts)


def figures(rec: CandidateRecord) -> str:
    """One line of figures for the best-candidates list of a prompt."""
    t = rec.stage("time")
    if t is None or t.timing is None:
        return f"fitness {rec.fitness:.2f}"
    tm = t.timing
    p = rec.stage("profile")
    util = ""
    if p is not None and p.profile is not None and p.profile.call_utilization is not None:
        util = f", {p.profile.call_utilization:.2f} CPUs busy"
    verdict = ("faster" if rec.faster else "timing undecided: not offered yet" if tm.outcome == "inconclusive"
               else "not reliably faster: not offered")
    return f"{tm.speedup:.2f}x on {tm.threads} threads at n = {tm.n:,} ({tm.interval_text}, {verdict}{util})"
