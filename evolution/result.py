"""The result of a search: every candidate, every stage, the winner and its evidence."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from parevo.toolchain.evaluate import Baseline
from parevo.toolchain.models import LoopFacts
from parevo.toolchain.splice import TextEdit
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

    def stage(self, name: str) -> StageVerdict | None:
        """The verdict of stage ``name``, if the candidate reached it."""
        return next((s for s in self.stages if s.stage == name), None)


class ToolchainInfo(BaseModel):
    """How every figure was produced: compiler, flags, ParlayLib, profiler."""

    compiler: str
    compiler_version: str
    flags: list[str]
    tsan_flags: list[str]
    parlay_include: str | None
    parlay_version: str | None
    profiler: str | None


class EvolutionResult(BaseModel):
    """Everything a search found for one loop; serialized as the ``--json`` report.

    ``best_id`` names the winning record (verified and faster, highest median
    speedup). ``edits`` are the minimal edits of the user's file for the
    winner against the file whose SHA-256 is ``source_sha256``, ``diff`` their
    unified diff. Times are seconds from the search
    start; ``time_to_first_verified`` is None when nothing was verified.
    """

    status: Status
    message: str = ""
    path: str
    function: str
    loop_start_line: int
    loop_end_line: int
    content_hash: str
    source_sha256: str = ""
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

    @property
    def best(self) -> CandidateRecord | None:
        """The winning record, if any."""
        return next((c for c in self.candidates if c.id == self.best_id), None)
