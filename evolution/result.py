"""The result of a search: every candidate, every stage, the winner and its evidence."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from parevo.toolchain.bound import LoopBound
from parevo.toolchain.evaluate import Baseline
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import ParsedSite, SiteInfo
from parevo.toolchain.splice import StaleEdits, TextEdit, rebase_edits
from parevo.toolchain.timing import TimingResult
from parevo.toolchain.verdicts import StageVerdict

from .candidates import Candidate

Status = Literal["verified", "none-verified", "not-parallelizable", "cancelled", "error"]


class CandidateRecord(BaseModel):
    """One evaluated candidate: its stages in order and where it stopped.

    ``verified`` means compiled, outputs equal to the original's and
    ThreadSanitizer clean; ``faster`` that it also passed the timing stage.
    Only a verified and faster candidate can win. ``at_seconds`` is when its
    evaluation ended, counted from the start of the search.
    """

    id: str
    candidate: Candidate
    stages: list[StageVerdict] = Field(default_factory=list)
    verified: bool = False
    faster: bool = False
    speedup: float | None = None
    rejected_stage: str | None = None
    reason: str | None = None
    at_seconds: float = 0.0
    generation: int = 0
    cached: bool = False

    @property
    def fitness(self) -> float:
        """Search fitness: the measured speedup of a verified candidate, 0 when not verified.

        A verified candidate slower than the original keeps its (below 1)
        speedup so the search can still improve on it; it never wins.
        """
        return float(self.speedup or 0.0) if self.verified else 0.0

    def with_measurements(self, stages: list[StageVerdict]) -> "CandidateRecord":
        """A copy whose timing and profile stages are ``stages`` (the correctness stages kept), with
        ``faster``, ``speedup``, ``rejected_stage`` and ``reason`` following the new timing verdict.

        For a verified record only: compile, test and race verdicts are facts about the code; timing
        is a measurement of the machine at one moment.
        """
        kept = [s for s in self.stages if s.stage not in ("time", "profile")]
        new = self.model_copy(update={"stages": kept + list(stages), "faster": False, "speedup": None,
                                      "rejected_stage": None, "reason": None})
        tv = next((s for s in stages if s.stage == "time"), None)
        if tv is not None and tv.timing is not None:
            new.speedup = tv.timing.speedup
        if tv is not None and tv.passed:
            new.faster = True
        elif tv is not None:
            new.rejected_stage, new.reason = "time", tv.summary
        return new

    def stage(self, name: str) -> StageVerdict | None:
        """The verdict of stage ``name``, if the candidate reached it."""
        return next((s for s in self.stages if s.stage == name), None)

    @property
    def rejection(self) -> str:
        """What stopped the candidate (``""`` when nothing did): the failing stage's verdict
        (``compile error``, ``wrong output``, ``crash``, ``data race``, ``not faster``, ``timing
        inconclusive``...: :data:`~parevo.toolchain.verdicts.Verdict`)."""
        if not self.rejected_stage:
            return ""
        failed = self.stage(self.rejected_stage)
        if failed is None:
            return self.rejected_stage
        if failed.verdict is None and failed.timing is not None and failed.timing.outcome == "inconclusive":
            return "timing inconclusive"
        return failed.label


class MutationRecord(BaseModel):
    """One attempt of a mutation operator, successful or not.

    ``operator``: ``rules`` (generation 0), ``param:<knob>``, ``llm:improve``,
    ``llm:fix``, ``llm:combine``. ``candidate_id`` is set when it produced a
    candidate (``duplicate`` when that candidate had been evaluated already);
    otherwise ``failure`` says why (no code in the reply, an edit that does not
    apply, an edit outside the function, the endpoint failed...), and that
    reason was fed back to the next prompt.
    """

    generation: int
    operator: str
    parent_ids: list[str] = Field(default_factory=list)
    candidate_id: str | None = None
    duplicate: bool = False
    failure: str | None = None
    llm_call: int | None = None


LLMState = Literal["up", "slow", "down", "not contacted"]


class LLMUsage(BaseModel):
    """What the LLM proposer did: endpoint, calls, retries, tokens (prompt + completion), and the
    endpoint's state as the search saw it.

    ``reply_seconds`` sums the wall time of the calls that got a reply (retries included);
    ``slow_calls`` counts those that took longer than ``slow_s`` seconds (half the client's
    timeout). ``down`` says why the endpoint was given up on (unreachable, refused, failing),
    ``last_error`` the last failed call's reason.
    """

    base_url: str | None = None
    model: str | None = None
    calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    token_budget: int = 0
    replayed: bool = False
    reply_seconds: float = 0.0
    slow_calls: int = 0
    slow_s: float | None = None
    down: str | None = None
    last_error: str | None = None

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def replies(self) -> int:
        """Calls that got a reply."""
        return self.calls - self.failed_calls

    @property
    def state(self) -> LLMState:
        """``not contacted`` (no call made), ``down`` (given up on, or every call failed), ``slow``
        (a reply took longer than ``slow_s``), else ``up``."""
        if self.calls == 0:
            return "not contacted"
        if self.down is not None or self.replies == 0:
            return "down"
        return "slow" if self.slow_calls else "up"

    def describe(self) -> str:
        """The state as a phrase with its evidence: ``down (cannot reach http://…: Connection refused)``."""
        state = self.state
        if state == "not contacted":
            return "never contacted"
        if state == "down":
            return f"down ({self.down or self.last_error or 'every call failed'})"
        mean = self.reply_seconds / max(1, self.replies)
        if state == "slow":
            return (f"slow ({self.slow_calls} of {self.replies} replies took over {self.slow_s or 0:g} s; "
                    f"mean {mean:.1f} s)")
        return f"up (mean reply {mean:.1f} s)"


class QuietRetime(BaseModel):
    """The wait for a quiet machine after a search whose timings were inconclusive because the machine
    was busy (:func:`parevo.evolution.quiet.search_when_quiet`).

    ``waited_s``: seconds waited; ``quiet``: at least ``needed_cores`` cores were idle for the quiet
    window (``idle_cores``: at the last reading, None where ``/proc/stat`` is not exposed); ``why``
    when not: ``timeout``, ``cancelled``, ``yielded`` (another search wanted the machine) or
    ``unknown`` (idle cores cannot be read). ``pending``: the candidates that waited; ``load``: the
    machine during their timings; ``first_*``: the search that waited (``first_seconds``: its wall
    seconds). ``second_status``: the search
    run once quiet (None when none ran); ``kept_first``: it verified nothing, so the first search's
    rewrite stands; ``second_error``: why it failed (the first search's result stands).
    """

    waited_s: float
    quiet: bool
    why: str = ""
    idle_cores: float | None = None
    needed_cores: float = 0.0
    pending: int = 0
    load: str = ""
    first_run_id: str | None = None
    first_status: str = ""
    first_best_speedup: float | None = None
    first_seconds: float = 0.0
    second_status: str | None = None
    kept_first: bool = False
    second_error: str | None = None

    def describe(self) -> str:
        """One sentence for the report and the hover."""
        what = f"{self.pending} candidate{'s' if self.pending != 1 else ''}"
        load = f" ({self.load})" if self.load else ""
        first = f"run {self.first_run_id}" if self.first_run_id else "the first search"
        if self.quiet and self.second_error:
            ended = "was interrupted" if self.second_error == "interrupted" else f"failed ({self.second_error})"
            return (f"waited {self.waited_s:.0f} s for a quiet machine to time {what} again, but the search run then "
                    f"{ended}; {first}'s result stands")
        if self.quiet and self.kept_first:
            return (f"waited {self.waited_s:.0f} s for a quiet machine to time {what} again; the search run then "
                    f"verified nothing better, so the rewrite of {first} stands")
        if self.quiet:
            return (f"timed on a quiet machine after waiting {self.waited_s:.0f} s ({self.idle_cores or 0:.1f} cores "
                    f"idle): {first} timed {what} while the machine was busy{load}; correctness verdicts came from "
                    "the evaluation cache")
        if self.why == "cancelled":
            return f"cancelled after waiting {self.waited_s:.0f} s for a quiet machine to time {what} again"
        if self.why == "yielded":
            return (f"stopped waiting for a quiet machine after {self.waited_s:.0f} s: another search needed it; "
                    f"run again to time {what} again")
        if self.why == "unknown":
            return "the machine's idle cores cannot be read here (/proc/stat): no wait for a quiet machine"
        return (f"waited {self.waited_s:.0f} s for {self.needed_cores:.1f} idle cores to time {what} again: the "
                f"machine stayed busy{load}; run again when it is quieter")


class SearchInfo(BaseModel):
    """How the search ran: strategy, generations, why it stopped, cache figures.

    ``stopped_by``: ``generations``, ``plateau``, ``evaluations``, ``time``,
    ``tokens``, ``cancelled``, ``exhausted`` (no new candidate could be
    proposed), ``transcript`` (a replay reached the end of its transcript),
    ``bound`` (the best rewrite came within 10 % of ``bound``, the loop's
    bound on this machine; ``stop_note`` says it in words), ``busy`` (a search
    without an LLM whose rule candidates were all timed while the machine was
    busy, so their figures and their mutations' could not be compared;
    ``stop_note`` says it). ``bound`` is the
    loop's bound for the best rewrite even when the search stopped for another
    reason (None when nothing was verified or in a replay). ``inconclusive``
    counts candidates whose timing stayed inconclusive (never offered, never
    called "not faster"); ``retimed_inconclusive`` how many timings were
    repeated because the last was inconclusive. ``quiet``: the wait for a
    quiet machine after the search (None when there was none).
    ``evaluations_to_best`` counts records up to and including the winner.
    ``eval_cache_hit_rate`` = ``eval_cache_hits / eval_cache_lookups``: a hit
    is a candidate whose verdicts came from the evaluation cache (an earlier
    run, or a duplicate proposal within this one). ``retimed`` counts hits
    whose correctness came from the cache but whose timing this run measured
    again (every verified hit outside a replay).
    """

    strategy: str = "evolve"
    generations: int = 0
    stopped_by: str | None = None
    evaluations: int = 0
    evaluations_to_best: int | None = None
    eval_cache_lookups: int = 0
    eval_cache_hits: int = 0
    eval_cache_hit_rate: float = 0.0
    retimed: int = 0
    resumed_from_generation: int | None = None
    replay_of: str | None = None
    replay_diverged: bool = False
    bound: LoopBound | None = None
    stop_note: str = ""
    inconclusive: int = 0
    retimed_inconclusive: int = 0
    quiet: QuietRetime | None = None


class ToolchainInfo(BaseModel):
    """How every figure was produced: compiler, flags, ParlayLib, profiler."""

    compiler: str
    compiler_version: str
    flags: list[str]
    tsan_flags: list[str]
    parlay_include: str | None
    parlay_version: str | None
    profiler: str | None


class LoopResult(BaseModel):
    """What every result about one loop carries: where the loop is and which text it was
    computed for. ``loop_start_line``/``loop_end_line`` are 0-based; ``content_hash``
    is the SHA-256 of the enclosing function (results go stale when it changes),
    ``source_sha256`` that of the whole file the result's edits apply to; ``site``
    the site's spans in that file (what :func:`~parevo.toolchain.splice.rebase_edits`
    checks a later version of the document against)."""

    message: str = ""
    path: str
    function: str
    loop_start_line: int
    loop_end_line: int
    content_hash: str
    source_sha256: str = ""
    site: SiteInfo | None = None


class EvolutionResult(LoopResult):
    """Everything a search found for one loop; serialized as the ``--json`` report.

    ``best_id`` names the winning record (verified and faster, highest median
    speedup). ``edits`` are the minimal edits of the user's file for the
    winner, in byte spans of the file whose SHA-256 is ``source_sha256`` (a front
    door applies them to a later version of the document with
    :meth:`edits_for`), ``diff`` their unified diff. Times are seconds from the search
    start; ``time_to_first_verified`` is None when nothing was verified.
    ``continuing`` is True on the results published while the search still
    runs (a better rewrite may replace it).
    """

    status: Status
    seed: int
    threads: int
    pattern: str
    facts: LoopFacts | None = None
    toolchain: ToolchainInfo | None = None
    baseline: Baseline | None = None
    candidates: list[CandidateRecord] = Field(default_factory=list)
    best_id: str | None = None
    edits: list[TextEdit] = Field(default_factory=list)
    diff: str = ""
    seconds_total: float = 0.0
    time_to_first_verified: float | None = None
    compile_seconds: float = 0.0
    compiles: int = 0
    cache_hits: int = 0
    proposers: list[str] = Field(default_factory=list)
    run_id: str | None = None
    transcript_path: str | None = None
    search: SearchInfo = Field(default_factory=SearchInfo)
    llm: LLMUsage | None = None
    mutations: list[MutationRecord] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    continuing: bool = False

    @property
    def best(self) -> CandidateRecord | None:
        """The winning record, if any."""
        return next((c for c in self.candidates if c.id == self.best_id), None)

    def edits_for(self, site: ParsedSite) -> list[TextEdit]:
        """The winner's edits at their place in ``site`` (the current document's parse of this loop).

        Raises:
            StaleEdits: nothing verified, the result predates sites in results, or the loop or its
                function changed (content hash).
        """
        if self.best is None or not self.edits:
            raise StaleEdits("this result holds no verified rewrite")
        if self.site is None:
            raise StaleEdits("this result was stored by an older parevo; run the search again")
        return rebase_edits(self.edits, self.site, site)

    @property
    def best_timing(self) -> TimingResult | None:
        """The winner's timing: the one source of the speedup every front door shows (the action
        title, the diagnostic, the hover, the CLI report); ``None`` when nothing won."""
        best = self.best
        verdict = best.stage("time") if best is not None else None
        return verdict.timing if verdict is not None else None
