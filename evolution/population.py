"""The program database of one loop's search: a MAP-Elites grid plus the failures worth fixing.

MAP-Elites (Mouret & Clune, "Illuminating search spaces by mapping elites",
2015) keeps, for every cell of a grid of behaviour features, the best
candidate seen with those features, so the population stays diverse instead of
collapsing onto one kind of rewrite. OpenEvolve uses the same scheme (per
island); one loop's search is small (tens of candidates), so parevo keeps a
single grid and no islands.

Features of a candidate (:func:`features`), read from its text:

* **primitive**: the main ParlayLib primitive, most specific first
  (``histogram``, ``scan``, ``filter``/``pack``, ``count_if``/``find_if``,
  ``reduce``, ``tabulate``/``map``, ``blocked_for``, ``parallel_for``,
  ``par_do``; ``std::thread``/``atomic`` for hand-rolled code; ``other``),
  suffixed ``/delayed`` or ``/materialized`` when it consumes a delayed
  (``delayed_tabulate``, ``delayed_map``, ``delayed::``, ``iota``) or a
  materialized (``tabulate``, ``map``) sequence;
* **grain**: the granularity class, from an explicit granularity argument or
  a block size: ``auto`` (none given), ``fine`` (1-64), ``medium`` (65-4096),
  ``coarse`` (above 4096).

Fitness (:attr:`CandidateRecord.fitness`) is the verified speedup, 0 when the
candidate is not verified (did not compile, wrong output, data race). Only
verified candidates (fitness > 0) enter the grid; a cell keeps the higher
fitness, the earlier candidate on ties.

Parent selection (:meth:`Population.select_parent`) follows OpenEvolve's
exploitation/exploration/random split: with probability ``exploit`` (0.7) a
tournament of ``tournament`` (3) elites drawn from the grid, the fittest
winning (pressure towards the best); with ``explore`` (0.2) a uniformly
random occupied cell (diversity: a slow cell is as likely as a fast one);
otherwise a uniformly random evaluated candidate, verified or not. All draws
come from the caller's ``random.Random``, so a seed fixes every choice.

Failures (compile, test, race) are kept in a queue for the "fix this failure"
operator, each at most ``max_fix_attempts`` times, the least-tried first.
"""

from __future__ import annotations

import random
import re

from pydantic import BaseModel, Field

from .candidates import Candidate
from .cpptext import find_calls, int_literal
from .result import CandidateRecord

_PRIMITIVES: list[tuple[str, str]] = [
    ("histogram", r"\bhistogram_by_(index|key)\b|\breduce_by_key\b|\bgroup_by_key\b"),
    ("scan", r"\bscan(_inclusive)?(_inplace)?\s*\("),
    ("filter", r"\bfilter(_into)?\s*\(|\bpack(_index|_into)?\s*\("),
    ("count_if", r"\bcount_if\s*\(|\bcount\s*\("),
    ("find_if", r"\bfind_if(_index)?\s*\(|\bfind\s*\(|\bany_of\b|\ball_of\b|\bnone_of\b"),
    ("minmax", r"\b(min|max|minmax)_element\s*\("),
    ("sort", r"\b(stable_|integer_)?sort(_inplace)?\s*\("),
    ("reduce", r"\breduce\s*\("),
    ("tabulate", r"\btabulate\s*\(|\bparlay::map\s*\(|\bdelayed_map\s*\("),
    ("blocked_for", r"\bblocked_for\s*\("),
    ("parallel_for", r"\bparallel_for\s*\("),
    ("par_do", r"\bpar_do\s*\(|\bparallel_do\s*\("),
    ("threads", r"\bstd::(thread|async|atomic)\b|#\s*pragma\s+omp"),
]
_DELAYED = re.compile(r"\bdelayed_(tabulate|map|seq)\b|\bdelayed::|\biota\s*\(")
_MATERIALIZED = re.compile(r"(?<![\w:])(parlay::)?(tabulate|map)\s*\(")


def _explicit_grain(text: str) -> int | None:
    """The first literal granularity of a ``parallel_for``/``tabulate``/``map`` or block size of a
    ``blocked_for`` in ``text``."""
    for call in find_calls(text, r"(parlay::)?(parallel_for|blocked_for|tabulate|map)"):
        k = 2 if call.name.endswith("blocked_for") else (3 if call.name.endswith("parallel_for") else 2)
        if len(call.args) > k:
            v = int_literal(call.arg(text, k))
            if v is not None:
                return v
    return None


def grain_class(value: int | None) -> str:
    """``auto`` (None or 0), ``fine`` (1-64), ``medium`` (65-4096), ``coarse`` (above)."""
    if not value:
        return "auto"
    if value <= 64:
        return "fine"
    if value <= 4096:
        return "medium"
    return "coarse"


def features(cand: Candidate) -> tuple[str, str]:
    """The MAP-Elites cell of ``cand``: ``(primitive[/form], grain)`` (see the module docstring)."""
    text = re.sub(r"//[^\n]*", "", cand.code)
    prim = next((name for name, pat in _PRIMITIVES if re.search(pat, text)), "other")
    if prim in ("reduce", "scan", "filter", "count_if", "find_if", "minmax", "histogram"):
        if _DELAYED.search(text):
            prim += "/delayed"
        elif _MATERIALIZED.search(text):
            prim += "/materialized"
    grain: int | None = None
    for key in ("granularity", "block", "min_block"):
        v = cand.params.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            grain = v
            break
    if grain is None:
        grain = _explicit_grain(text)
    return prim, grain_class(grain)


class PopulationState(BaseModel):
    """What a checkpoint stores of a :class:`Population` (ids only; records are stored beside)."""

    cells: dict[str, str] = Field(default_factory=dict)
    fix_queue: list[str] = Field(default_factory=list)
    fix_attempts: dict[str, int] = Field(default_factory=dict)


class Population:
    """MAP-Elites grid of verified candidates and a queue of failures to fix.

    Args:
        exploit, explore: parent-selection probabilities (the rest is random).
        tournament: elites drawn for an exploitation tournament.
        max_fix_attempts: "fix" attempts per failed candidate.
    """

    def __init__(self, *, exploit: float = 0.7, explore: float = 0.2, tournament: int = 3,
                 max_fix_attempts: int = 2):
        self.exploit = exploit
        self.explore = explore
        self.tournament = tournament
        self.max_fix_attempts = max_fix_attempts
        self.records: dict[str, CandidateRecord] = {}
        self.order: list[str] = []
        self._pos: dict[str, int] = {}
        self.cells: dict[tuple[str, str], str] = {}
        self.fix_queue: list[str] = []
        self.fix_attempts: dict[str, int] = {}

    # ------------------------------------------------------------------ update
    def add(self, rec: CandidateRecord) -> bool:
        """Record an evaluated candidate; returns True when it became its cell's elite."""
        if rec.id in self.records:
            return False
        self.records[rec.id] = rec
        self._pos[rec.id] = len(self.order)
        self.order.append(rec.id)
        if rec.fitness <= 0:
            if rec.rejected_stage in ("compile", "test", "race"):
                self.fix_queue.append(rec.id)
            return False
        cell = features(rec.candidate)
        cur = self.cells.get(cell)
        if cur is None or rec.fitness > self.records[cur].fitness:
            self.cells[cell] = rec.id
            return True
        return False

    # ----------------------------------------------------------------- queries
    def elites(self) -> list[CandidateRecord]:
        """Cell elites, fittest first (ties: earlier first)."""
        recs = [self.records[i] for i in self.cells.values()]
        return sorted(recs, key=lambda r: (-r.fitness, self._pos[r.id]))

    def best(self) -> CandidateRecord | None:
        """The fittest verified candidate (not necessarily faster than the original)."""
        el = self.elites()
        return el[0] if el else None

    def best_fitness(self) -> float:
        """Fitness of :meth:`best` (0.0 when nothing is verified)."""
        b = self.best()
        return b.fitness if b else 0.0

    def top(self, k: int) -> list[CandidateRecord]:
        """The ``k`` fittest verified candidates over all cells (for prompts)."""
        ok = [self.records[i] for i in self.order if self.records[i].fitness > 0]
        return sorted(ok, key=lambda r: (-r.fitness, self._pos[r.id]))[:k]

    # --------------------------------------------------------------- selection
    def select_parent(self, rng: random.Random) -> CandidateRecord | None:
        """One parent: tournament among elites, a random cell, or any record (see the docstring)."""
        if not self.order:
            return None
        elites = self.elites()
        r = rng.random()
        if elites and r < self.exploit:
            drawn = [elites[rng.randrange(len(elites))] for _ in range(min(self.tournament, len(elites)))]
            return max(drawn, key=lambda x: (x.fitness, -self._pos[x.id]))
        if elites and r < self.exploit + self.explore:
            cells = sorted(self.cells)
            return self.records[self.cells[cells[rng.randrange(len(cells))]]]
        return self.records[self.order[rng.randrange(len(self.order))]]

    def select_pair(self, rng: random.Random) -> tuple[CandidateRecord, CandidateRecord] | None:
        """Two elites from different cells for a crossover (None with fewer than two cells)."""
        elites = self.elites()
        if len(elites) < 2:
            return None
        first = elites[0] if rng.random() < self.exploit else elites[rng.randrange(len(elites))]
        others = [e for e in elites if e.id != first.id]
        return first, others[rng.randrange(len(others))]

    def next_failure(self) -> CandidateRecord | None:
        """The failure with the fewest fix attempts so far (the most recent on ties), or None when every
        failure has had ``max_fix_attempts``; counts the attempt."""
        open_ = [r for r in self.fix_queue if self.fix_attempts.get(r, 0) < self.max_fix_attempts]
        if not open_:
            return None
        rid = min(reversed(open_), key=lambda r: self.fix_attempts.get(r, 0))
        self.fix_attempts[rid] = self.fix_attempts.get(rid, 0) + 1
        return self.records[rid]

    def has_failures(self) -> bool:
        """True when some failure may still be fixed."""
        return any(self.fix_attempts.get(r, 0) < self.max_fix_attempts for r in self.fix_queue)

    # ------------------------------------------------------------- checkpoint
    def state(self) -> PopulationState:
        """The grid and fix queue as ids (records are checkpointed separately)."""
        return PopulationState(cells={"|".join(k): v for k, v in self.cells.items()},
                               fix_queue=list(self.fix_queue), fix_attempts=dict(self.fix_attempts))

    @classmethod
    def restore(cls, records: list[CandidateRecord], state: PopulationState, **kw) -> "Population":
        """Rebuild from checkpointed ``records`` (evaluation order) and ``state``."""
        pop = cls(**kw)
        for rec in records:
            pop.records[rec.id] = rec
            pop._pos[rec.id] = len(pop.order)
            pop.order.append(rec.id)
        pop.cells = {tuple(k.split("|", 1)): v for k, v in state.cells.items() if v in pop.records}
        pop.fix_queue = [r for r in state.fix_queue if r in pop.records]
        pop.fix_attempts = dict(state.fix_attempts)
        return pop
