"""Typed verdicts of the evaluation cascade.

Each stage (compile → test → race → time → profile) returns a
:class:`StageVerdict` holding its evidence and two texts: ``summary``, one line
for a user, and ``feedback``, a short structured text a proposer (rule or LLM)
can act on. The first failing stage ends a candidate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .compiler import CompileOutcome
from .outputs import Mismatch
from .profile import ProfileResult
from .timing import TimingResult
from .tsan import RaceReport

Stage = Literal["compile", "test", "race", "time", "profile"]
STAGES: tuple[Stage, ...] = ("compile", "test", "race", "time", "profile")


class StageVerdict(BaseModel):
    """Outcome of one cascade stage for one candidate.

    ``seconds`` is the wall time the stage took (0 for a cache hit).
    Evidence fields are filled by the stage that owns them: ``compile``
    (compile and race stages), ``mismatch`` and ``cases`` (test), ``races`` and
    ``unattributed_races``, ``runs`` and ``n``, the input size it ran at (race),
    ``timing`` (time), ``profile`` (profile).
    """

    stage: Stage
    passed: bool
    seconds: float = 0.0
    summary: str
    feedback: str = ""
    compile: CompileOutcome | None = None
    mismatch: Mismatch | None = None
    cases: int = 0
    races: list[RaceReport] = Field(default_factory=list)
    unattributed_races: list[RaceReport] = Field(default_factory=list)
    runs: int = 0
    n: int = 0
    timing: TimingResult | None = None
    profile: ProfileResult | None = None
