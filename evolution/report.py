"""Render an :class:`EvolutionResult` for people: plain text (CLI) and Markdown (hover).

Every figure carries its provenance: speedup with threads, input size n, runs,
medians and spread, compiler and flags, ParlayLib version.
"""

from __future__ import annotations

from parevo.toolchain.timing import fmt_seconds

from .result import CandidateRecord, EvolutionResult


def evidence_lines(result: EvolutionResult) -> list[str]:
    """The winner's evidence, one fact per line (empty when nothing won)."""
    best, t = result.best, result.best_timing
    if best is None or t is None:
        return []
    lines = [
        f"speedup: {t.speedup:.2f}x on {t.threads} threads (range {t.speedup_low:.2f}x-{t.speedup_high:.2f}x "
        f"from quartiles); parallel efficiency {t.speedup / t.threads:.0%}",
        f"input size: n = {t.n:,} ({t.input_bytes / 2**20:.1f} MiB of inputs; {size_origin(t)})",
        f"runs: {len(t.candidate_samples)} per variant ({t.rounds} interleaved rounds x {t.repeats}); "
        f"median original {fmt_seconds(t.original_median)}, rewrite {fmt_seconds(t.candidate_median)}, "
        f"spread ±{t.spread * 50:.0f}%",
    ]
    test = best.stage("test")
    race = best.stage("race")
    if test:
        lines.append(f"correctness: {test.summary}")
    if race:
        lines.append(f"races: {race.summary}")
    prof = best.stage("profile")
    if prof:
        lines.append(f"profile: {prof.summary}")
    tc = result.toolchain
    if tc:
        lines.append(f"compiler: {tc.compiler_version} ({tc.compiler}) {' '.join(tc.flags)}")
        lines.append(f"ParlayLib: {tc.parlay_version or 'unknown version'} at {tc.parlay_include}")
    lines.append(f"rewrite: {best.candidate.origin} — {best.candidate.description}")
    return lines


def size_origin(t) -> str:
    """How the timing size was chosen, for people: given by the user (:attr:`TimingResult.n_note`)
    or calibrated."""
    return ("n" + t.n_note) if t.n_note else "calibrated: doubled until one call of the original took the target time"


def rejected_line(rec: CandidateRecord) -> str:
    """``origin [id] verdict: reason`` for a candidate that did not win; the verdict names what happened
    (``wrong output``, ``crash``, ``out of memory``, ``hang``, ``sanitizer crash``, ``data race``, ``not
    faster``...; :data:`~parevo.toolchain.verdicts.Verdict`), not only the stage it happened at."""
    failed = rec.stage(rec.rejected_stage) if rec.rejected_stage else None
    label = failed.label if failed is not None else (rec.rejected_stage or "")
    return f"{rec.candidate.origin} [{rec.id}] {label}: {rec.reason}"


def summary_line(result: EvolutionResult) -> str:
    """One line for a diagnostic or a status bar."""
    t = result.best_timing
    if t is not None:
        return (f"ParlayLib rewrite verified: {t.speedup:.2f}x faster on {t.threads} threads "
                f"(n = {t.n:,}, median of {len(t.candidate_samples)} runs)")
    return result.message


def render_text(result: EvolutionResult, *, show_diff: bool = True) -> str:
    """The CLI report: diff, evidence, rejected candidates, search figures."""
    out: list[str] = []
    loc = f"{result.path}:{result.loop_start_line + 1}"
    out.append(f"{loc}: {result.function}: {result.pattern} loop")
    if result.status == "verified":
        out.append(summary_line(result))
        if show_diff:
            out.append("")
            out.append(result.diff.rstrip("\n"))
            out.append("")
        out.append("evidence:")
        out.extend("  " + ln for ln in evidence_lines(result))
    else:
        out.append(result.message)
    others = [r for r in result.candidates if r.id != result.best_id]
    if others:
        out.append(f"other candidates ({len(others)}):")
        for r in others:
            if r.rejected_stage:
                out.append("  rejected: " + rejected_line(r))
                failed = r.stage(r.rejected_stage)
                out.extend(f"    stderr: {ln}" for ln in (failed.stderr_tail[-3:] if failed is not None else []))
            else:
                out.append(f"  verified: {r.candidate.origin} [{r.id}] {r.speedup:.2f}x (slower than the winner)")
    if result.candidates:
        ttf = (f"{result.time_to_first_verified:.1f} s" if result.time_to_first_verified is not None else "none")
        per = result.compile_seconds / result.compiles if result.compiles else 0.0
        out.append(
            f"search: {len(result.candidates)} candidates in {result.seconds_total:.1f} s, first verified at {ttf}; "
            f"{result.compiles} compiles ({per:.1f} s each), {result.cache_hits} cache hits"
        )
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
    """The evolutionary search's figures: generations, stop reason, evaluation cache, LLM, run, notes."""
    s = result.search
    out: list[str] = []
    if result.candidates or s.generations:
        to_best = f", best after {s.evaluations_to_best} evaluations" if s.evaluations_to_best else ""
        resumed = (f", resumed after generation {s.resumed_from_generation}"
                   if s.resumed_from_generation is not None else "")
        out.append(f"{s.strategy}: {s.generations} generation{'s' if s.generations != 1 else ''}, "
                   f"{s.evaluations} evaluations{to_best}; stopped by {s.stopped_by or '?'}{resumed}")
        retimed = f"; {s.retimed} verified hits timed again" if s.retimed else ""
        out.append(f"evaluation cache: {s.eval_cache_hits} of {s.eval_cache_lookups} lookups hit "
                   f"({s.eval_cache_hit_rate:.0%} hit rate{retimed})")
    if result.llm is not None:
        out.append(llm_line(result))
    if result.run_id:
        where = f" ({result.transcript_path})" if result.transcript_path else ""
        out.append(f"run {result.run_id}{where}; replay with: parevo evolve --replay {result.run_id}")
    out.extend(f"note: {n}" for n in result.notes)
    return out


def render_markdown(result: EvolutionResult) -> str:
    """The hover: evidence, rejected candidates and the rewrite, in Markdown."""
    md = [f"**parevo** — {summary_line(result)}", ""]
    ev = evidence_lines(result)
    if ev:
        md += [f"- {ln}" for ln in ev] + [""]
    others = [r for r in result.candidates if r.id != result.best_id]
    if others:
        md.append(f"**{len(result.candidates)} candidates tried**; not chosen:")
        md += [f"- `{r.candidate.origin}`: {r.reason or f'{r.speedup:.2f}x'}" for r in others]
        md.append("")
    best = result.best
    if best is not None:
        md += ["```cpp", best.candidate.code.strip("\n"), "```"]
    s = result.search
    if result.candidates:
        md.append(f"_search: {s.generations} generations, {s.evaluations} evaluations, evaluation cache hit rate "
                  f"{s.eval_cache_hit_rate:.0%}" + (f"; LLM {result.llm.model}, {result.llm.tokens:,} tokens"
                                                    if result.llm is not None else "; rules and parameter mutations")
                  + "_")
    return "\n".join(md)
