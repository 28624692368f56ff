"""Render an :class:`EvolutionResult` for people: plain text (CLI) and Markdown (hover, ``:ParevoReport``).

Both read the same way, top to bottom, in the same words:

1. one headline: what was found (speedup, threads, its 95 % interval), or
   that nothing was, with the candidates counted by the stage that stopped them;
2. one provenance line: compiler and version, flags, ParlayLib version,
   threads, n and where it came from, rounds, how the interval was computed;
3. the rewrite (diff or code) and its evidence: the speedup split into
   algorithm and threads, the loop's bound, correctness, races, profile;
4. the other candidates grouped by the stage that stopped them (compile,
   differential test, race check, timing), each on one line with its verdict
   and one short reason (and the failing run's last stderr lines);
5. when nothing was verified, what to try next;
6. the search's figures (candidates per minute, stop reason, caches).

Operator names (``rule:``, ``mut:``, ``llm:``) are explained in
:data:`OPERATORS_HELP`, which ``parevo evolve --help`` and the README show.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from parevo.toolchain.timing import fmt_seconds

from .result import CandidateRecord, EvolutionResult

OPERATORS_HELP = """\
candidate names in reports:
  rule:NAME     a rewrite rule: the loop's pattern mapped to a ParlayLib primitive
                (e.g. rule:reduce-delayed = parlay::reduce over a delayed sequence)
  mut:KNOB      a parameter mutation of an earlier candidate (granularity, block
                size, delayed or materialized sequence, primitive variant)
  llm:KIND      a rewrite by the LLM: rewrite (first attempt), improve (a verified
                candidate), fix (a failed one, given its error), combine (two)
timing verdicts: faster (the 95% interval of the speedup is above the threshold),
  not faster (below it, measured on a quiet enough machine), inconclusive (machine
  busy or too noisy: timed again later, never offered and never called not faster)"""

_ORDER = ("compile error", "wrong output", "crash", "out of memory", "hang", "sanitizer crash", "sanitizer report",
          "data race", "not checkable", "not faster", "timing inconclusive", "profile", "slower")


def _timing(rec: CandidateRecord):
    t = rec.stage("time")
    return t.timing if t is not None else None


def headline(result: EvolutionResult) -> str:
    """One line: the verified rewrite and its interval, or why there is none."""
    best = result.best
    if best is not None:
        t = _timing(best)
        line = (f"ParlayLib rewrite verified: {t.speedup:.2f}x faster on {t.thread_text} "
                f"({t.interval_text}, n = {t.n:,})")
        return line + ("; search continuing" if result.continuing else "")
    return result.message


def provenance_line(result: EvolutionResult) -> str:
    """Compiler and version, flags, ParlayLib, threads, n and its origin, rounds, interval method."""
    tc = result.toolchain
    parts = []
    if tc is not None:
        parts.append(f"compiler: {tc.compiler_version} ({tc.compiler}) {' '.join(tc.flags)}")
        parts.append(f"ParlayLib: {tc.parlay_version or 'unknown version'}")
    best = result.best
    t = _timing(best) if best is not None else None
    if t is None:
        timed = [x for x in (_timing(r) for r in result.candidates) if x is not None]
        t = timed[0] if timed else None
    if t is not None:
        parts.append(f"{t.thread_text}; n = {t.n:,} ({size_origin(t)})")
        if t.outcome is not None:
            parts.append(f"{t.rounds} rounds x {t.repeats} calls, interleaved; {t.confidence:.0%} interval by "
                         "bootstrap over the rounds")
        else:
            parts.append(f"{t.rounds} rounds x {t.repeats} calls; range from quartiles")
    elif result.baseline is not None:
        b = result.baseline
        parts.append(f"{result.threads} threads; n = {b.n:,}")
    return "; ".join(parts)


def size_origin(t) -> str:
    """How the timing size was chosen, for people: given by the user or the program
    (:attr:`TimingResult.n_note`), or calibrated."""
    return ("n" + t.n_note) if t.n_note else "calibrated: doubled until one call of the original took the target time"


def speedup_line(t) -> str:
    """``1.84x on 2 threads = 1.02x from the algorithm x 1.80x from 2 threads (parallel efficiency 90%)``."""
    line = f"{t.speedup:.2f}x on {t.thread_text} ({t.interval_text})"
    f = t.factors
    if f is not None:
        line += (f" = {f.algorithmic:.2f}x from the algorithm (one worker) x {f.parallel:.2f}x from "
                 f"{t.thread_text}; parallel efficiency {f.efficiency:.0%}"
                 + (" (measured above the thread count: cache effects or noise)" if f.superlinear else ""))
    return line


def evidence_lines(result: EvolutionResult) -> list[str]:
    """The winner's evidence, one fact per line (empty when nothing won)."""
    best, t = result.best, result.best_timing
    if best is None or t is None:
        return []
    lines = [f"speedup: {speedup_line(t)}"]
    b = result.search.bound
    if b is not None:
        stop = result.search.stop_note or (f"{t.speedup / b.bound:.0%} of the {b.describe()}")
        lines.append(f"bound: {stop}")
    lines += [
        f"input size: n = {t.n:,} ({t.input_bytes / 2**20:.1f} MiB of inputs; {size_origin(t)})",
        f"runs: {t.rounds} interleaved rounds x {t.repeats} calls per variant; median original "
        f"{fmt_seconds(t.original_median)}, rewrite {fmt_seconds(t.candidate_median)}, spread ±{t.spread * 50:.0f}%"
        + (f"; machine: {t.machine}" if t.machine else ""),
    ]
    for label, stage in (("correctness", "test"), ("races", "race"), ("profile", "profile")):
        v = best.stage(stage)
        if v is not None:
            lines.append(f"{label}: {v.summary}")
    lines.append(f"rewrite: {best.candidate.origin} — {best.candidate.description}")
    return lines


def summary_line(result: EvolutionResult) -> str:
    """One line for a diagnostic or a status bar."""
    t = result.best_timing
    if t is not None:
        return (f"ParlayLib rewrite verified: {t.speedup:.2f}x faster on {t.thread_text} "
                f"(n = {t.n:,}, median of {len(t.candidate_samples)} runs)"
                + (f"; {t.interval_text}" if t.outcome is not None else "")
                + ("; search continuing" if result.continuing else ""))
    return result.message


def _short_reason(rec: CandidateRecord) -> str:
    kind = rec.rejection
    t = _timing(rec)
    if kind in ("not faster", "timing inconclusive") and t is not None and t.outcome is not None:
        return f"{t.speedup:.2f}x ({t.interval_text})" + (f": {t.why}" if t.why and kind != "not faster" else "")
    reason = rec.reason or ""
    return reason if len(reason) <= 140 else reason[:137] + "..."


def rejected_line(rec: CandidateRecord) -> str:
    """``origin [id] verdict: reason`` for a candidate that did not win, on one line; the verdict names
    what happened (``wrong output``, ``crash``, ``out of memory``, ``hang``, ``sanitizer crash``, ``data
    race``, ``not faster``, ``timing inconclusive``...; :data:`~parevo.toolchain.verdicts.Verdict`), not
    only the stage it happened at."""
    return f"{rec.candidate.origin} [{rec.id}] {rec.rejection or 'rejected'}: {rec.reason}"


#: The cascade's stages as the report names them, in cascade order.
STAGE_TITLES = {
    "compile": "at compile",
    "test": "at the differential test (outputs against the original)",
    "race": "at the race check (ThreadSanitizer)",
    "time": "at timing",
    "profile": "at profiling",
}


def rejected_groups(result: EvolutionResult) -> list[tuple[str, list[str]]]:
    """Candidates that did not win, grouped by the stage that stopped them (compile, differential
    test, race check, timing; then verified rewrites slower than the winner), each on one line with
    its verdict (what happened: ``compile error``, ``wrong output``, ``crash``, ``data race``, ``not
    faster``, ``timing inconclusive``...) and one short reason, followed by the last lines the failing
    run wrote to stderr: ``(title, lines)``; the title counts the group's verdicts
    (``rejected at timing (3: 2 not faster, 1 timing inconclusive)``)."""
    groups: dict[str, list[str]] = defaultdict(list)
    verdicts: dict[str, list[str]] = defaultdict(list)
    for r in result.candidates:
        if r.id == result.best_id:
            continue
        kind = r.rejection or "slower"
        if kind == "slower" or not r.rejected_stage:
            groups["slower"].append(f"{r.candidate.origin} [{r.id}] {r.speedup or 0:.2f}x (slower than the winner)")
            continue
        stage = r.rejected_stage
        verdicts[stage].append(kind)
        groups[stage].append(f"{r.candidate.origin} [{r.id}] {kind}: {_short_reason(r)}")
        failed = r.stage(stage)
        groups[stage] += [f"  stderr: {ln}" for ln in (failed.stderr_tail[-3:] if failed is not None else [])]
    order = list(STAGE_TITLES) + ["slower"]
    out = []
    for stage in sorted(groups, key=lambda k: (order.index(k) if k in order else len(order), k)):
        n = sum(1 for ln in groups[stage] if not ln.startswith("  "))
        if stage == "slower":
            out.append((f"verified, slower than the winner ({n})", groups[stage]))
            continue
        counts = Counter(verdicts[stage])
        what = ", ".join(f"{c} {k}" for k, c in sorted(counts.items(), key=lambda kv: (
            _ORDER.index(kv[0]) if kv[0] in _ORDER else len(_ORDER), kv[0])))
        out.append((f"rejected {STAGE_TITLES.get(stage, 'at ' + stage)} ({n}: {what})", groups[stage]))
    return out


def next_steps(result: EvolutionResult) -> list[str]:
    """What to try when nothing was verified (empty otherwise)."""
    if result.status == "verified" or not result.candidates:
        return []
    kinds = {r.rejection for r in result.candidates if r.rejected_stage}
    timed = [t for t in (_timing(r) for r in result.candidates) if t is not None]
    out = []
    if "timing inconclusive" in kinds:
        load = next((t.machine for t in timed if t.outcome == "inconclusive" and t.machine), "")
        waited = result.search.quiet is not None or result.search.replay_of is not None
        out.append("run again when the machine is quieter" + (f" (during the timings: {load})" if load else "")
                   + ("" if waited else ", or let parevo wait for it (--wait-quiet SECONDS; in the editors, the "
                      "quietWait setting)")
                   + "; inconclusive timings are never offered and never called not faster")
    if "not faster" in kinds and timed:
        t = timed[0]
        out.append(f"time at your program's own size with --timing-n N (now n = {t.n:,}, {size_origin(t)}): a "
                   "larger n gives the threads more work per fork-join")
        out.append(f"give it more threads with --threads N (timed on {t.thread_text}) on a machine with more cores")
    if kinds - {"not faster", "timing inconclusive"} and "llm" not in result.proposers:
        out.append("configure an LLM endpoint (--llm-model, --llm-base-url) so failed candidates are fixed from "
                   "their compiler, output and race evidence")
    if result.search.stopped_by in ("time", "evaluations"):
        out.append(f"a larger budget (--budget, --max-candidates): the search stopped by {result.search.stopped_by}")
    return out


def render_text(result: EvolutionResult, *, show_diff: bool = True) -> str:
    """The CLI report (see the module docstring)."""
    out: list[str] = []
    loc = f"{result.path}:{result.loop_start_line + 1}"
    out.append(f"{loc}: {result.function}: {result.pattern} loop")
    out.append(headline(result))
    prov = provenance_line(result)
    if prov:
        out.append(prov)
    if result.status == "verified":
        if show_diff:
            out += ["", result.diff.rstrip("\n"), ""]
        out.append("evidence:")
        out.extend("  " + ln for ln in evidence_lines(result))
    for title, lines in rejected_groups(result):
        out.append(f"{title}:")
        out.extend("  " + ln for ln in lines)
    steps = next_steps(result)
    if steps:
        out.append("what to try next:")
        out.extend("  - " + s for s in steps)
    out.extend(search_lines(result))
    return "\n".join(out)


#: Failure texts of LLM mutations whose call failed (no reply to use): not "unusable replies".
CALL_FAILURES = ("LLM unavailable:", "LLM call failed:")


def llm_line(result: EvolutionResult) -> str:
    """The LLM endpoint's state and figures: ``LLM: m at URL: down (cannot reach …); 1 call (1 failed, …)``.

    The state is always said: ``up``, ``slow``, ``down`` (with the reason) or ``never contacted``
    (with what stopped the search first). Unusable replies count replies that came back and could
    not be used; a call that failed is a failed call, not an unusable reply.
    """
    u = result.llm
    assert u is not None
    llm_muts = [m for m in result.mutations if m.operator.startswith("llm:")]
    unusable = sum(1 for m in llm_muts if m.failure and not m.failure.startswith(CALL_FAILURES))
    dup = sum(1 for m in llm_muts if m.duplicate)
    state = u.describe()
    if u.state == "not contacted":
        state += f" (the search stopped by {result.search.stopped_by or '?'} before an LLM mutation was due)"
    return (f"LLM: {u.model} at {u.base_url or 'https://api.openai.com/v1'}: {state}; {u.calls} calls "
            f"({u.retries} retries, {u.failed_calls} failed), {u.tokens:,} of {u.token_budget:,} tokens; "
            f"{unusable} unusable replies, {dup} duplicates" + (" (replayed)" if u.replayed else ""))


def search_lines(result: EvolutionResult) -> list[str]:
    """The search's figures: candidates per minute, stop reason, caches, LLM, run, notes."""
    s = result.search
    out: list[str] = []
    if result.candidates:
        ttf = (f"{result.time_to_first_verified:.1f} s" if result.time_to_first_verified is not None else "none")
        per_min = len(result.candidates) / max(result.seconds_total, 1e-9) * 60
        stop = s.stop_note or f"stopped by {s.stopped_by or '?'}"
        resumed = (f", resumed after generation {s.resumed_from_generation}"
                   if s.resumed_from_generation is not None else "")
        out.append(f"search: {len(result.candidates)} candidates in {result.seconds_total:.1f} s "
                   f"({per_min:.1f} per minute), first verified at {ttf}; {s.strategy}, {s.generations} "
                   f"generation{'s' if s.generations != 1 else ''}; {stop}{resumed}")
        per = result.compile_seconds / result.compiles if result.compiles else 0.0
        retimed = f", {s.retimed} of them timed again" if s.retimed else ""
        out.append(f"caches: {result.compiles} compiles ({per:.1f} s each), {result.cache_hits} objects reused "
                   f"from the compile cache (same source and flags); {s.eval_cache_hits} of {s.eval_cache_lookups} "
                   f"candidates answered by the evaluation cache (verdicts of earlier runs{retimed})"
                   + (f"; {s.retimed_inconclusive} inconclusive timings repeated" if s.retimed_inconclusive else ""))
    if s.quiet is not None:
        out.append(f"quiet machine: {s.quiet.describe()}")
    if result.llm is not None:
        out.append(llm_line(result))
    if result.run_id:
        where = f" ({result.transcript_path})" if result.transcript_path else ""
        out.append(f"run {result.run_id}{where}; replay with: parevo evolve --replay {result.run_id}")
    out.extend(f"note: {n}" for n in result.notes)
    return out


def render_markdown(result: EvolutionResult) -> str:
    """The hover and ``:ParevoReport``: the same sections and words as :func:`render_text`, in Markdown."""
    md = [f"**parevo** — {headline(result)}", ""]
    prov = provenance_line(result)
    if prov:
        md += [f"_{prov}_", ""]
    ev = evidence_lines(result)
    if ev:
        md += [f"- {ln}" for ln in ev] + [""]
    best = result.best
    if best is not None:
        md += ["```cpp", best.candidate.code.strip("\n"), "```", ""]
    groups = rejected_groups(result)
    if groups:
        md.append(f"**{len(result.candidates)} candidates tried**; not chosen:")
        for title, lines in groups:
            md.append(f"- {title}:")
            for ln in lines:
                if ln.startswith("  stderr: "):
                    md.append(f"    - stderr: `{ln[len('  stderr: '):].replace('`', chr(39))}`")
                else:
                    origin, _, rest = ln.partition(" ")
                    md.append(f"  - `{origin}` {rest}")
        md.append("")
    steps = next_steps(result)
    if steps:
        md.append("**What to try next:**")
        md += [f"- {s}" for s in steps]
        md.append("")
    md += [f"_{ln}_" for ln in search_lines(result) if not ln.startswith(("run ", "note: "))]
    return "\n".join(md).rstrip("\n")
