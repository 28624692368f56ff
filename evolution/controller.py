"""The search loop of one loop: generations of proposals, evaluations and selection.

Generation 0 evaluates the rule-based candidates (:mod:`parevo.evolution.rules`);
when no rule applies and an LLM is configured, it asks the LLM for first
rewrites instead. Each later generation proposes ``children`` candidates, one
operator per slot, drawn with the search's own ``random.Random(seed)``:

* with an LLM available: "fix this failure" (probability ``p_fix``, when a
  compile/test/race failure may still be fixed), "combine these two"
  (``p_combine``, two elites of different MAP-Elites cells), else a parent
  chosen by :meth:`Population.select_parent` and, with probability ``p_llm``,
  "improve this candidate" (or "fix" when the parent is not verified),
  otherwise a rule-based parameter mutation;
* without one: a parameter mutation (:mod:`parevo.evolution.mutations`) of a
  selected parent, retried on other parents when every neighbour has been
  evaluated already.

The children are then evaluated by the :class:`CascadeRunner` (compile phase
and measure phase kept apart; answers from the evaluation cache when the
candidate was seen before), added to the population, and the generation is
checkpointed; between generations, candidates whose timing was
inconclusive are timed again when the machine is quiet. The search stops at
``generations``, on a plateau (the best fitness has not improved by
``min_improvement``, beyond the low end of its timing's confidence interval,
for ``patience`` generations; for one generation when the best rewrite is
already within :data:`NEAR_BOUND` of the loop's bound, where little headroom
is left to find, or when no LLM proposes candidates), when the best verified
rewrite comes within 10 % of the loop's bound (``bound``), when a budget runs
out (wall seconds, evaluations, LLM tokens), when nothing new can be proposed
(``exhausted``), on cancel, or, in a replay, when the transcript has no reply
left. Its whole state is one :class:`~parevo.evolution.state.SearchState`.

``strategy="best-of-n"`` is the baseline the search must beat: the same
proposers sampled independently, without selection or feedback: N draws from
the rule candidates and their one-step parameter mutations (no LLM), or the
rule candidates plus independent first-rewrite LLM samples.

Every LLM reply that yields no new candidate is recorded as a
:class:`MutationRecord` with its reason and, when the model can act on it, put
in the next prompt (``notes``): nothing is silently dropped.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import ParsedSite

from . import checkpoint as ckpt
from .candidates import Candidate
from .llm import LLMCancelled, LLMError, LLMUnavailable
from .mutations import param_mutations
from .population import Population
from .prompts import PromptBuilder
from .responses import parse_reply
from .result import CandidateRecord, LLMUsage, MutationRecord
from .search import CascadeRunner, ProgressEvent
from .state import SearchState
from .transcript import GenerationRecord, MutationEntry, ResumeRecord, Transcript, TranscriptExhausted, TranscriptLLM


#: A best rewrite within this share of the loop's bound (2 threads: 1.60x or more) leaves at most
#: 25 % to gain: one generation without improvement ends the search instead of ``patience``.
NEAR_BOUND = 0.20
#: Generations without improvement that end a search with no LLM (rule candidates and their parameter
#: mutations only): a parameter mutation moves one knob of a rule candidate (granularity, block, sequence
#: form), a small neighbourhood the first generation already samples. Measured (stop 18's throughput
#: runs: 4 examples, 10 candidates each, rules only, quiet): the best came from generation 0 in 3 of 4.
#: With the rule candidates already within :data:`NEAR_BOUND` of the bound, none: the search ends after
#: them (stop 20, quiet traces: all_positive, count_if and sum_squares gained nothing measurable from a
#: generation of mutations; count_if's took 56 s, two blocked reductions each race-checked at n = 16 M).
RULES_ONLY_PATIENCE = 1


class SearchSettings(BaseModel):
    """Knobs of the search loop (probabilities in [0, 1]; see the module docstring).

    ``generations`` after generation 0; ``children`` proposals per
    generation; ``patience`` generations without a relative improvement of
    ``min_improvement`` end the search; ``token_budget`` bounds prompt plus
    completion tokens over the run; ``top_k`` best candidates shown in
    prompts; ``max_notes`` feedback items carried to the next prompt.
    """

    strategy: Literal["evolve", "best-of-n"] = "evolve"
    generations: int = 8
    children: int = 4
    patience: int = 3
    min_improvement: float = 0.02
    token_budget: int = 200_000
    p_fix: float = 0.3
    p_combine: float = 0.2
    p_llm: float = 0.7
    exploit: float = 0.7
    explore: float = 0.2
    tournament: int = 3
    max_fix_attempts: int = 2
    top_k: int = 3
    max_notes: int = 3
    parent_tries: int = 6

    def steering(self) -> dict:
        """The settings that steer choices (part of the checkpoint key; budgets are not)."""
        return self.model_dump(exclude={"generations", "token_budget"})


class _Stop(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SearchController:
    """Runs the generations of one loop's search.

    Args:
        site, facts: the loop and its analysis.
        runner: evaluates candidates (shared budget, cache, records).
        settings: the search knobs; ``seed`` seeds every random choice.
        seeds: generation-0 candidates (the rule-based ones; may be empty).
        llm: the LLM behind a transcript (None: no LLM configured).
        prompts: builds the LLM messages (required with ``llm``).
        usage: the LLM counters (shared with the result).
        transcript: where generation, mutation and end records go (None: nowhere).
        checkpoint: where to checkpoint after each generation (None: never), with
            ``key`` and ``run_id`` recorded in it.
        cancel: stops the search at the next check.
        model: the LLM's name, for candidate descriptions and messages.
    """

    def __init__(self, site: ParsedSite, facts: LoopFacts, runner: CascadeRunner, *, settings: SearchSettings,
                 seed: int, seeds: list[Candidate], llm: TranscriptLLM | None = None,
                 prompts: PromptBuilder | None = None, usage: LLMUsage | None = None,
                 transcript: Transcript | None = None, checkpoint: Path | None = None, key: str = "",
                 run_id: str = "", cancel: threading.Event | None = None, model: str = "",
                 on_event: Callable[[ProgressEvent], None] | None = None):
        self.site = site
        self.facts = facts
        self.runner = runner
        self.settings = settings
        self.seed = seed
        self.seeds = list(seeds)
        self.llm = llm
        self.prompts = prompts
        self.usage = usage or LLMUsage()
        self.transcript = transcript
        self.checkpoint = checkpoint
        self.key = key
        self.run_id = run_id
        self.cancel = cancel or runner.cancel
        self.model = model
        self.rng = random.Random(seed)
        self.population = Population(exploit=settings.exploit, explore=settings.explore,
                                     tournament=settings.tournament, max_fix_attempts=settings.max_fix_attempts)
        self.state = SearchState(llm_usage=self.usage, llm_active=llm is not None)
        self.state.records = runner.records  # one list: the runner appends, checkpoints store it
        self.state.pending = runner.pending  # inconclusive timings awaiting a quieter machine
        self.resumed_from: int | None = None
        self.taken: set[str] = set()

    # ------------------------------------------------------------ bookkeeping
    def _emit(self, stage: str, message: str) -> None:
        self.runner._emit(stage, message)

    def _log(self, m: MutationRecord) -> None:
        self.state.mutations.append(m)
        if self.transcript is not None:
            self.transcript.write(MutationEntry(**m.model_dump()))

    def _note(self, text: str) -> None:
        self.state.notes.append(text)
        del self.state.notes[: -self.settings.max_notes]

    def _take_notes(self) -> list[str]:
        notes, self.state.notes = self.state.notes, []
        return notes

    def restore(self, cp: ckpt.Checkpoint) -> None:
        """Continue from checkpoint ``cp``: its state becomes this search's state, and the live
        objects (random generator, runner records, population, LLM counters) are rebuilt from it.
        The LLM's recorded exchanges are positioned by the caller."""
        self.state = cp.state.model_copy(deep=True)
        st = self.state
        st.load_rng(self.rng)
        self.runner.records = st.records
        self.runner.pending = st.pending
        self.runner.seen = {r.id for r in st.records}
        self.runner.first_verified_at = next((r.at_seconds for r in st.records if r.faster), None)
        self.population = Population.restore(st.records, st.population, exploit=self.settings.exploit,
                                              explore=self.settings.explore, tournament=self.settings.tournament,
                                              max_fix_attempts=self.settings.max_fix_attempts)
        self.usage = st.llm_usage
        if self.llm is not None:
            self.llm.usage = st.llm_usage
        st.llm_active = self.llm is not None and st.llm_active
        self.resumed_from = st.generation
        if self.transcript is not None:
            self.transcript.write(ResumeRecord(generation=st.generation, evaluations=len(st.records)))

    def _save(self, finished: bool) -> None:
        if self.checkpoint is None:
            return
        st = self.state
        st.save_rng(self.rng)
        st.records = self.runner.records
        st.pending = self.runner.pending
        st.population = self.population.state()
        st.llm_seq = self.llm.seq if self.llm is not None else 0
        ckpt.save(self.checkpoint, ckpt.Checkpoint(key=self.key, run_id=self.run_id, finished=finished, state=st))

    # ---------------------------------------------------------------- the LLM
    def _tokens_left(self) -> int:
        return self.settings.token_budget - self.usage.tokens

    def _ask(self, kind: str, parent_ids: list[str], messages: list[dict]) -> tuple[int | None, str | None]:
        """One completion for operator ``llm:<kind>``: ``(call number, reply)``, or ``(n, None)`` when
        the call failed (recorded). Raises _Stop when the search must end."""
        if self._tokens_left() <= 0:
            raise _Stop("tokens")
        why = self.runner.out_of_budget()
        if why:
            raise _Stop(why)
        op = f"llm:{kind}"
        self._emit("llm", f"asking {self.model or 'the LLM'} to {kind} "
                          + (", ".join(parent_ids) if parent_ids else "the loop"))
        seq = self.llm.seq
        try:
            _, reply = self.llm.complete(messages, generation=self.state.generation, operator=op,
                                         parent_ids=parent_ids, max_tokens=self._tokens_left(),
                                         seed=self.seed * 1000 + seq)
        except LLMCancelled:
            raise _Stop("cancelled") from None
        except TranscriptExhausted:
            raise _Stop("transcript") from None
        except LLMUnavailable as e:
            self.state.llm_active = False
            self.usage.down = str(e)
            self.state.result_notes.append(f"the LLM endpoint is unavailable ({e}); continuing with rule-based "
                                     "candidates and parameter mutations only")
            self._log(MutationRecord(generation=self.state.generation, operator=op, parent_ids=parent_ids,
                                     failure=f"LLM unavailable: {e}", llm_call=seq))
            return seq, None
        except LLMError as e:
            self._log(MutationRecord(generation=self.state.generation, operator=op, parent_ids=parent_ids,
                                     failure=f"LLM call failed: {e}", llm_call=seq))
            return seq, None
        return seq, reply.text

    def _llm_child(self, kind: str, parent: Candidate | None, parent_ids: list[str],
                   messages: list[dict]) -> Candidate | None:
        seq, text = self._ask(kind, parent_ids, messages)
        if text is None:
            return None
        op = f"llm:{kind}"
        what = f"the {kind} task" + (f" for `{parent_ids[0]}`" if parent_ids else "")
        prop = parse_reply(text, self.site, parent, origin=op, parent_ids=parent_ids,
                           description=f"{kind} by {self.model or 'LLM'}"
                           + (f" of {' and '.join(parent_ids)}" if parent_ids else ""))
        if not prop.ok:
            self._log(MutationRecord(generation=self.state.generation, operator=op, parent_ids=parent_ids,
                                     failure=prop.failure + (f" ({prop.hint})" if prop.hint else ""), llm_call=seq))
            self._note(f"your reply to {what} could not be used: {prop.failure}"
                       + (f"\n  {prop.hint.replace(chr(10), chr(10) + '  ')}" if prop.hint else ""))
            return None
        cand = prop.candidate
        if cand.id in self.runner.seen or cand.id in self.taken:
            prior = next((r for r in self.runner.records if r.id == cand.id), None)
            self._log(MutationRecord(generation=self.state.generation, operator=op, parent_ids=parent_ids,
                                     candidate_id=cand.id, duplicate=True, llm_call=seq))
            if self.runner.cache is not None:
                self.runner.cache.count_hit()
            outcome = (f" ({prior.reason or 'verified'})" if prior is not None else "")
            self._note(f"your reply to {what} is the same program as candidate `{cand.id}`, evaluated "
                       f"already{outcome}: propose something different")
            return None
        self._log(MutationRecord(generation=self.state.generation, operator=op, parent_ids=parent_ids,
                                 candidate_id=cand.id, llm_call=seq))
        return cand

    def _best(self) -> list[CandidateRecord]:
        return self.population.top(self.settings.top_k)

    def _llm_first(self, notes: bool = True) -> Candidate | None:
        why = self.facts.reason or ("no rewrite rule applies to this loop" if not self.seeds else "")
        msgs = self.prompts.first(self._best(), self._take_notes() if notes else [], why=why)
        return self._llm_child("rewrite", None, [], msgs)

    def _llm_improve(self, parent: CandidateRecord) -> Candidate | None:
        msgs = self.prompts.improve(parent, self._best(), self._take_notes())
        return self._llm_child("improve", parent.candidate, [parent.id], msgs)

    def _llm_fix(self, failed: CandidateRecord) -> Candidate | None:
        msgs = self.prompts.fix(failed, self._best(), self._take_notes())
        return self._llm_child("fix", failed.candidate, [failed.id], msgs)

    def _llm_combine(self, a: CandidateRecord, b: CandidateRecord) -> Candidate | None:
        msgs = self.prompts.combine(a, b, self._best(), self._take_notes())
        return self._llm_child("combine", a.candidate, [a.id, b.id], msgs)

    # ------------------------------------------------------------- operators
    def _param(self, parent: CandidateRecord | None) -> Candidate | None:
        for _ in range(self.settings.parent_tries):
            if parent is None:
                return None
            options = [(op, c) for op, c in param_mutations(parent.candidate)
                       if c.id not in self.runner.seen and c.id not in self.taken and self.runner.checkable(c)]
            if options:
                op, child = options[self.rng.randrange(len(options))]
                self._log(MutationRecord(generation=self.state.generation, operator=op, parent_ids=[parent.id],
                                         candidate_id=child.id))
                return child
            parent = self.population.select_parent(self.rng)
        return None

    def _one(self) -> Candidate | None:
        """One child (or None) for the current generation."""
        pop = self.population
        if not pop.order:
            return self._llm_first() if self.state.llm_active else None
        s = self.settings
        r = self.rng.random()
        if self.state.llm_active:
            if r < s.p_fix and pop.has_failures():
                failed = pop.next_failure()
                if failed is not None:
                    return self._llm_fix(failed)
            if s.p_fix <= r < s.p_fix + s.p_combine:
                pair = pop.select_pair(self.rng)
                if pair is not None:
                    return self._llm_combine(*pair)
        parent = pop.select_parent(self.rng)
        if self.state.llm_active and self.rng.random() < s.p_llm and parent is not None:
            return self._llm_improve(parent) if parent.fitness > 0 else self._llm_fix(parent)
        return self._param(parent)

    def _propose(self) -> list[Candidate]:
        children: list[Candidate] = []
        for _ in range(self.settings.children):
            if self.cancel.is_set():
                raise _Stop("cancelled")
            child = self._one()
            if child is not None:
                children.append(child)
                self.taken.add(child.id)
        return children

    # ------------------------------------------------------------------ loop
    def _evaluate(self, cands: list[Candidate]) -> None:
        self.runner.generation = self.state.generation
        for rec in self.runner.run(cands):
            self.population.add(rec)
        self.taken.clear()

    def _end_generation(self) -> None:
        if self.runner.pending:
            self.runner.retime_pending()  # inconclusive timings, when the machine is quiet now
        best = self.population.best_fitness()
        if best > 0 and self._measurably_better(best):
            self.state.best_fitness, self.state.stall = best, 0
        elif self.state.generation > 0:
            self.state.stall += 1
        b = self.population.best()
        if self.transcript is not None:
            self.transcript.write(GenerationRecord(generation=self.state.generation,
                                                   evaluations=len(self.runner.records), best_id=b.id if b else None,
                                                   best_fitness=best, tokens=self.usage.tokens,
                                                   stall=self.state.stall))
        self._save(finished=False)

    def run(self) -> str:
        """Run (or continue) the search; returns why it stopped (also in ``stopped_by``)."""
        s = self.settings
        try:
            if self.resumed_from is None:
                self.state.generation = 0
                for c in self.seeds:
                    self._log(MutationRecord(generation=0, operator="rules", candidate_id=c.id))
                if s.strategy == "best-of-n":
                    self.state.stopped_by = self._best_of_n()
                    return self._finish()
                seeds = list(self.seeds)
                if not seeds and self.state.llm_active:
                    self._emit("generation", "generation 0: no rule applies; asking the LLM for first rewrites")
                    seeds = self._propose()
                self._evaluate(seeds)
                if self.runner.stopped_by:
                    self.state.stopped_by = self.runner.stopped_by
                    return self._finish()
                self._end_generation()
                if self.runner.stopped_by:
                    self.state.stopped_by = self.runner.stopped_by
                    return self._finish()
                if self._patience() == 0:  # no LLM, and the rule candidates are near the bound
                    self.state.stopped_by = "plateau"
                    return self._finish()
                if not self.state.llm_active and self._timed_on_a_busy_machine():
                    self.state.stopped_by = "busy"
                    return self._finish()
            while True:
                if self.state.generation >= s.generations:
                    self.state.stopped_by = "generations"
                    break
                why = self.runner.out_of_budget()
                if why:
                    self.state.stopped_by = why
                    break
                if self.state.llm_active and self._tokens_left() <= 0:
                    self.state.stopped_by = "tokens"
                    break
                self.state.generation += 1
                b = self.population.best()
                self._emit("generation", f"proposing {s.children} candidates for generation "
                                         f"{self.state.generation} of {s.generations}"
                                         + (f" (best so far {b.fitness:.2f}x)" if b else ""))
                children = self._propose()
                if not children and not self.state.llm_active:
                    self.state.stopped_by = "exhausted"
                    break
                self._evaluate(children)
                if self.runner.stopped_by:
                    self.state.stopped_by = self.runner.stopped_by
                    break
                self._end_generation()
                if self.runner.stopped_by:  # a re-timed candidate reached the bound
                    self.state.stopped_by = self.runner.stopped_by
                    break
                if self.state.stall >= self._patience():
                    self.state.stopped_by = "plateau"
                    break
        except _Stop as stop:
            self.state.stopped_by = stop.reason
        return self._finish()

    def _measurably_better(self, best: float) -> bool:
        """Whether the population's best fitness ``best`` improves on the last recorded one
        (``state.best_fitness``) by ``min_improvement``, beyond the noise of its measurement: the low end
        of its timing's confidence interval (:mod:`parevo.toolchain.timing`) must clear the bar, so a
        rewrite measured 1.46x [1.40x-1.71x] after a 1.44x one is no progress that resets the plateau."""
        bar = self.state.best_fitness * (1 + self.settings.min_improvement)
        if best <= bar:
            return False
        b = self.population.best()
        t = b.stage("time") if b is not None else None
        low = t.timing.speedup_low if t is not None and t.timing is not None and t.timing.outcome else best
        return self.state.best_fitness <= 0 or low > bar

    def _patience(self) -> int:
        """Generations without improvement that end the search: ``patience``; one when the best verified
        rewrite is within :data:`NEAR_BOUND` of the loop's bound, or when no LLM proposes candidates
        (:data:`RULES_ONLY_PATIENCE`); none (the rule candidates end the search) when both hold."""
        near = self._near_bound()
        if not self.state.llm_active:
            return 0 if near else min(self.settings.patience, RULES_ONLY_PATIENCE)
        return min(self.settings.patience, 1) if near else self.settings.patience

    def _near_bound(self) -> bool:
        """Whether the best verified rewrite is within :data:`NEAR_BOUND` of the loop's bound."""
        best = self.runner.best()
        bound = self.runner.bound(best) if best is not None and self.runner.bound is not None else None
        return bound is not None and (best.speedup or 0) >= (1 - NEAR_BOUND) * bound.bound

    def _timed_on_a_busy_machine(self) -> bool:
        """Whether every timing so far was taken while the machine was busy (:func:`parevo.toolchain.timing.decide`),
        inconclusive or not. Without an LLM the next generation is parameter mutations of these candidates,
        whose only use is a measurably faster variant, and on such a machine neither their figures nor the
        best's can be compared. Measured (2026-12-01, count_if beside one busy core, budget 120 s): its 4
        mutations took 70 s, two of them race-checked at n = 16 M, and all came out inconclusive; (2026-12-02,
        bench/noise.py beside one busy core) all_positive verified 2.24x under load (3.11x quiet) and its
        mutation generation took the search to 105 s, saxpy's to 92 s. Read from the recorded timings, not the
        machine now, so a replay decides the same; if the machine has become quiet, the re-timing at the end of
        the search times the inconclusive candidates at once, and a wait for a quiet machine
        (:mod:`parevo.evolution.quiet`) searches again."""
        timed = [t.timing for t in (r.stage("time") for r in self.runner.records)
                 if t is not None and t.timing is not None]
        return bool(timed) and all(t.busy for t in timed)

    def _finish(self) -> str:
        finished = self.state.stopped_by not in ("cancelled", "transcript")
        if self.state.stopped_by != "cancelled":
            self._save(finished=finished)
        return self.state.stopped_by or "generations"

    # ------------------------------------------------------------ best-of-N
    def _best_of_n(self) -> str:
        """Baseline: N independent draws from the same proposers, no selection (see the module docstring)."""
        n = self.runner.budget.evaluations
        self.state.generation = 1
        if self.state.llm_active:
            draws = list(self.seeds)
            while len(draws) < n:
                try:
                    child = self._llm_first(notes=False)
                except _Stop as stop:
                    self._evaluate(draws)
                    return stop.reason
                if child is not None and child.id not in {c.id for c in draws}:
                    draws.append(child)
                elif not self.state.llm_active:
                    break
        else:
            pool: list[Candidate] = []
            ids: set[str] = set()
            for c in self.seeds + [m for s in self.seeds for _, m in param_mutations(s)]:
                if c.id not in ids:
                    ids.add(c.id)
                    pool.append(c)
            draws = self.rng.sample(pool, min(n, len(pool)))
            for c in draws:
                if c not in self.seeds:
                    self._log(MutationRecord(generation=1, operator=c.origin.replace("mut:", "param:"),
                                             parent_ids=[c.parent_id] if c.parent_id else [], candidate_id=c.id))
        self._evaluate(draws)
        return self.runner.stopped_by or ("evaluations" if len(self.runner.records) >= n else "exhausted")
