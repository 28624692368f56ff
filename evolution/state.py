"""The state of one loop's search, as one typed model.

:class:`SearchState` is everything the search carries from one generation to
the next: the generation counter and plateau count, why it stopped, the random
generator's state, every record in evaluation order, the population's grid and
fix queue, the pending feedback notes, the mutation log, the LLM's usage and
position in its exchanges. The controller (:mod:`parevo.evolution.controller`)
reads and updates it in place; a checkpoint (:mod:`parevo.evolution.checkpoint`)
stores it whole and a resume loads it whole, so a new field needs no copying
code anywhere.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, Field

from .population import PopulationState
from .result import CandidateRecord, LLMUsage, MutationRecord


class SearchState(BaseModel):
    """One search's state after a completed generation (see the module docstring).

    ``generation`` is the last generation started (0 = the rule-based one);
    ``stall`` counts generations whose best fitness did not improve by
    ``SearchSettings.min_improvement``; ``best_fitness`` is the best verified
    speedup so far (0 before one). ``rng_state`` is ``random.Random.getstate()``
    as JSON lists; ``records`` every evaluated candidate in order (shared with
    the :class:`~parevo.evolution.search.CascadeRunner`); ``population`` the
    MAP-Elites grid and fix queue by id; ``notes`` the feedback for the next
    prompt; ``llm_seq`` the number of LLM exchanges made; ``llm_active`` False
    once the endpoint was found unavailable; ``result_notes`` notes for the
    user's report; ``pending`` the ids of verified candidates whose timing was
    inconclusive, to be timed again (shared with the runner too).
    """

    generation: int = 0
    stall: int = 0
    best_fitness: float = 0.0
    stopped_by: str | None = None
    rng_state: list = Field(default_factory=list)
    records: list[CandidateRecord] = Field(default_factory=list)
    population: PopulationState = Field(default_factory=PopulationState)
    notes: list[str] = Field(default_factory=list)
    mutations: list[MutationRecord] = Field(default_factory=list)
    llm_usage: LLMUsage = Field(default_factory=LLMUsage)
    llm_seq: int = 0
    llm_active: bool = True
    result_notes: list[str] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list)

    def save_rng(self, rng: random.Random) -> None:
        """Store ``rng``'s state (JSON-friendly lists)."""
        version, internal, gauss = rng.getstate()
        self.rng_state = [version, list(internal), gauss]

    def load_rng(self, rng: random.Random) -> None:
        """Set ``rng`` to the stored state (no-op when none was stored)."""
        if self.rng_state:
            version, internal, gauss = self.rng_state
            rng.setstate((version, tuple(internal), gauss))
