"""The program database of one loop's search: a MAP-Elites grid plus the failures worth fixing.

MAP-Elites (Mouret & Clune, "Illuminating search spaces by mapping elites",
2015) keeps, for every cell of a grid of behaviour features, the best
candidate seen with those features, so the population stays diverse instead of
collapsing onto one kind of rewrite. OpenEvolve uses the same scheme (per
island); one loop's search is small (tens of candidates), so parevo keeps a
single grid and no islands.

Features of a candidate (:func:`features`), read from its parse (calls found
by the call query; comments and string literals never count):

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

from pydantic import BaseModel, Field

from parevo.toolchain import syntax

from .candidate_syntax import CandidateTree
from .candidates import Candidate
from .result import CandidateRecord

#: primitive → the calls that show it (unqualified names, or qualified ones with ``::``), most specific first.
_PRIMITIVES: list[tuple[str, frozenset[str]]] = [
    ("histogram", frozenset({"histogram_by_index", "histogram_by_key", "reduce_by_key", "group_by_key"})),
    ("scan", frozenset({"scan", "scan_inclusive", "scan_inplace", "scan_inclusive_inplace"})),
    ("filter", frozenset({"filter", "filter_into", "pack", "pack_index", "pack_into"})),
    ("count_if", frozenset({"count_if", "count"})),
    ("find_if", frozenset({"find_if", "find_if_index", "find", "any_of", "all_of", "none_of"})),
    ("minmax", frozenset({"min_element", "max_element", "minmax_element"})),
    ("sort", frozenset({"sort", "stable_sort", "integer_sort", "sort_inplace", "stable_sort_inplace",
                        "integer_sort_inplace"})),
    ("reduce", frozenset({"reduce"})),
    ("tabulate", frozenset({"tabulate", "parlay::map", "delayed_map"})),
    ("blocked_for", frozenset({"blocked_for"})),
    ("parallel_for", frozenset({"parallel_for"})),
    ("par_do", frozenset({"par_do", "parallel_do"})),
]
#: names (anywhere, not only called) of hand-rolled threading.
_THREADS = frozenset({"std::thread", "std::async", "std::atomic", "std::jthread"})
#: names that show a delayed (lazy) sequence, besides any ``delayed::`` name and an ``iota`` call.
_DELAYED = frozenset({"delayed_tabulate", "delayed_map", "delayed_seq"})
#: callees that build a materialized sequence.
_MATERIALIZED = frozenset({"tabulate", "map", "parlay::tabulate", "parlay::map"})
_NAME_NODES = ("identifier", "qualified_identifier", "template_function", "type_identifier", "template_type")


def _names(t: CandidateTree) -> tuple[set[str], set[str], set[str], bool]:
    """``(calls, called, named, omp)``: the callees' qualified names, the callees' qualified and
    unqualified names, every name spelled (qualified and unqualified, types included), and
    whether an ``#pragma omp`` appears."""
    calls = {c.name for c in t.calls() if c.name}
    called = calls | {syntax.last_name(c) for c in calls}
    named: set[str] = set(called)
    omp = False
    for n in syntax.walk(t.root):
        if n.type in _NAME_NODES and (n.parent is None or n.parent.type not in _NAME_NODES):
            q = syntax.qualified_name(n, t.src)
            if q:
                named.update({q, syntax.last_name(q)})
        elif n.type == "preproc_call":
            directive, arg = n.child_by_field_name("directive"), n.child_by_field_name("argument")
            omp = omp or (directive is not None and t.node_text(directive).replace(" ", "") == "#pragma"
                          and arg is not None and t.node_text(arg).split()[:1] == ["omp"])
    return calls, called, named, omp


def _explicit_grain(t: CandidateTree) -> int | None:
    """The first literal granularity of a ``parallel_for``/``tabulate``/``map`` or block size of a
    ``blocked_for`` call in the candidate."""
    for call in t.calls():
        if call.name.replace("parlay::", "", 1) not in ("parallel_for", "blocked_for", "tabulate", "map"):
            continue
        k = 3 if call.short == "parallel_for" else 2
        if len(call.args) > k:
            v = syntax.int_literal(call.args[k], t.src)
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
    """The MAP-Elites cell of ``cand``: ``(primitive[/form], grain)`` (see the module docstring),
    read from the candidate's parse: its calls and the names it spells, never its comments or
    string literals."""
    t = cand.tree
    calls, called, named, omp = _names(t)
    prim = next((name for name, shows in _PRIMITIVES if shows & (named if name == "histogram" else called)), None)
    if prim is None:
        prim = "threads" if omp or _THREADS & named else "other"
    if prim in ("reduce", "scan", "filter", "count_if", "find_if", "minmax", "histogram"):
        if _DELAYED & named or "iota" in called or any("delayed::" in q for q in named):
            prim += "/delayed"
        elif _MATERIALIZED & calls:
            prim += "/materialized"
    grain: int | None = None
    for key in ("granularity", "block", "min_block"):
        v = cand.params.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            grain = v
            break
    if grain is None:
        grain = _explicit_grain(t)
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
