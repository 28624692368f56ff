"""Typed verdicts of the evaluation cascade.

Each stage (compile → test → race → time → profile) returns a
:class:`StageVerdict` holding its evidence and two texts: ``summary``, one line
for a user, and ``feedback``, a short structured text a proposer (rule or LLM)
can act on. The first failing stage ends a candidate.

A failing verdict also says *how* it failed (:data:`Verdict`): a stage is where
a candidate stopped, the verdict is what happened there. A candidate that ran
out of memory during the differential test is not "wrong output", a
ThreadSanitizer run that crashed is not a "data race", a hang is not a
mismatch. :func:`classify_run` reads a finished run (exit status, signal,
timeout, the driver's exit codes of ``cpp/driver.cpp`` and the sanitizer's
messages) and names it; every failing verdict keeps the candidate's own last
stderr lines (:func:`stderr_tail`).
"""

from __future__ import annotations

import re
import signal as _signal
from typing import Literal

from pydantic import BaseModel, Field

from .compiler import CompileOutcome
from .outputs import Mismatch
from .profile import ProfileResult
from .sandbox import RunOutcome
from .timing import TimingResult
from .tsan import TSAN_EXITCODE, RaceReport

Stage = Literal["compile", "test", "race", "time", "profile"]
STAGES: tuple[Stage, ...] = ("compile", "test", "race", "time", "profile")

Verdict = Literal[
    "passed", "compile error", "wrong output", "crash", "out of memory", "hang", "sanitizer crash",
    "sanitizer report", "data race", "not faster", "timing inconclusive", "not checkable",
]
"""What happened to a candidate at a stage.

* ``passed``; ``compile error`` (compile stage or the ThreadSanitizer build);
* ``wrong output``: an output differs from the original's (test stage);
* ``crash``: the run died by a signal, threw an exception or exited non-zero;
* ``out of memory``: ``std::bad_alloc`` (driver exit code 7) or the sanitizer's allocator gave up;
* ``hang``: killed at the run's timeout;
* ``sanitizer crash``: the ThreadSanitizer build crashed (a signal, a sanitizer ``ERROR``/``CHECK``,
  a non-zero exit without a report);
* ``sanitizer report``: ThreadSanitizer reported something other than a data race in user code
  (heap-use-after-free, a signal-unsafe call, a thread leak...);
* ``data race``: ThreadSanitizer reported a data race with a user frame;
* ``not faster``: the timing stage's measurement (the speedup's interval below the threshold, on a
  machine quiet enough to tell: :func:`parevo.toolchain.timing.decide`);
* ``timing inconclusive``: the timing could not decide (the machine was busy, or the rounds too
  noisy); never offered and never "not faster": the search times it again;
* ``not checkable``: the stage could not run the candidate where it would show what the stage
  checks (a race check needs a size at which every worker runs blocks of its own).
"""

#: The label a verdict without an explicit ``verdict`` gets from its failing stage (older records).
STAGE_FAILURE: dict[str, Verdict] = {"compile": "compile error", "test": "wrong output", "race": "data race",
                                     "time": "not faster", "profile": "crash"}

#: Exit code of the driver when ``std::bad_alloc`` escaped (``cpp/driver.cpp``).
EXIT_OUT_OF_MEMORY = 7
#: Exit code of the driver when the function threw another exception.
EXIT_EXCEPTION = 5

STDERR_TAIL_LINES = 6

_OOM = re.compile(r"std::bad_alloc|out of memory|failed to allocate|allocation-size-too-big|"
                  r"exceeds maximum supported size|cannot allocate memory", re.I)
_SANITIZER_CRASH = re.compile(r"ThreadSanitizer:DEADLYSIGNAL|ERROR: ThreadSanitizer|ThreadSanitizer: CHECK failed|"
                              r"Sanitizer CHECK failed|FATAL: ThreadSanitizer")


def stderr_tail(text: str, lines: int = STDERR_TAIL_LINES, width: int = 240) -> list[str]:
    """The last ``lines`` non-empty lines of a run's stderr, each cut to ``width`` characters."""
    out = [ln.rstrip()[:width] for ln in text.splitlines() if ln.strip()]
    return out[-lines:]


_SANITIZER_LINE = re.compile(r"^(==\d+==|\s*#\d+ |SUMMARY: |ThreadSanitizer|WARNING: ThreadSanitizer|\s{2,}\S|"
                             r"={10,}|Location is|Mutex |Thread T\d+|Previous |[A-Z][a-z]+ of size \d+)")


def sanitizer_tail(text: str, lines: int = STDERR_TAIL_LINES) -> list[str]:
    """The candidate's own last stderr lines from a sanitizer run (stack frames and report lines
    dropped), then the sanitizer's headline (``==12==ERROR: ThreadSanitizer: SEGV on ...``)."""
    own = [ln for ln in stderr_tail(text, lines=10_000) if not _SANITIZER_LINE.match(ln)]
    head = next((ln.strip()[:240] for ln in text.splitlines() if _SANITIZER_CRASH.search(ln)
                 and "DEADLYSIGNAL" not in ln), "")
    return own[-(lines - 1):] + ([head] if head else [])


def with_tail(text: str, tail: list[str]) -> str:
    """``text`` plus the last stderr line (``; stderr: ...``) when ``text`` does not hold it already."""
    last = tail[-1].strip() if tail else ""
    if not last or last[-60:] in text:
        return text
    return f"{text}; stderr: {last[:200]}"


def signal_name(sig: int | None) -> str:
    """``SIGSEGV`` for 11 (``signal N`` when the number has no name)."""
    if sig is None:
        return "?"
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def classify_run(res: RunOutcome, *, sanitizer: bool = False, timeout_s: float | None = None) -> tuple[Verdict, str]:
    """Name a run that did not end with exit status 0: ``(verdict, what happened)``.

    ``sanitizer`` marks a ThreadSanitizer build (its crashes are ``sanitizer crash``; a report's
    exit status 66 alone is not a crash: the caller decides with the parsed reports).
    ``timeout_s`` is the run's limit, for the message. The second element is one short clause,
    e.g. ``"killed by SIGSEGV"`` or ``"did not finish within 20 s"``.
    """
    err = res.stderr or ""
    if res.timed_out:
        limit = f"{timeout_s:.0f} s" if timeout_s is not None else f"{res.wall_s:.0f} s"
        return "hang", f"did not finish within {limit}"
    if res.returncode == EXIT_OUT_OF_MEMORY or (_OOM.search(err) and (res.returncode or res.signal)):
        line = next((ln.strip() for ln in reversed(err.splitlines()) if _OOM.search(ln)), "")
        return "out of memory", line[:200] or "ran out of memory"
    if sanitizer and (res.signal is not None or _SANITIZER_CRASH.search(err)
                      or (res.returncode not in (0, TSAN_EXITCODE, None))):
        what = f"killed by {signal_name(res.signal)}" if res.signal is not None else (
            f"exited with status {res.returncode}")
        line = next((re.sub(r"^==\d+==", "", ln.strip()) for ln in err.splitlines()
                     if _SANITIZER_CRASH.search(ln) and "DEADLYSIGNAL" not in ln), "")
        return "sanitizer crash", what + (f" ({line[:160]})" if line else "")
    if res.signal is not None:
        return "crash", f"killed by {signal_name(res.signal)}"
    if res.returncode == EXIT_EXCEPTION:
        line = next((ln.strip() for ln in reversed(err.splitlines()) if "threw" in ln), "")
        return "crash", line.removeprefix("parevo driver: ")[:200] or "the function threw an exception"
    return "crash", f"exited with status {res.returncode}"


class RaceRun(BaseModel):
    """One ThreadSanitizer run of the race stage: input size ``n`` (elements), ``workers``
    (ParlayLib threads), wall ``seconds``, and how it ended (``passed``, ``data race``,
    ``sanitizer crash``...)."""

    n: int
    workers: int
    seconds: float = 0.0
    verdict: Verdict = "passed"


class StageVerdict(BaseModel):
    """Outcome of one cascade stage for one candidate.

    ``seconds`` is the wall time the stage took (0 for a cache hit).
    ``verdict`` says what happened (:data:`Verdict`; ``None`` in records written before it
    existed: :attr:`label` then derives it from the stage); ``stderr_tail`` holds the last
    stderr lines of the failing run (the candidate's own messages, the sanitizer's).
    Evidence fields are filled by the stage that owns them: ``compile``
    (compile and race stages), ``mismatch``, ``cases`` and ``classes`` (test: the input
    classes tested, see :mod:`parevo.toolchain.adversarial`), ``races`` and
    ``unattributed_races``, ``runs``, ``n`` (the largest input size it ran at) and
    ``race_runs`` (every run: size, workers, seconds, outcome) (race),
    ``timing`` (time), ``profile`` (profile). ``notes`` are facts a user should know
    about a passing verdict (cases not held against the candidate and why).
    """

    stage: Stage
    passed: bool
    seconds: float = 0.0
    summary: str
    feedback: str = ""
    verdict: Verdict | None = None
    stderr_tail: list[str] = Field(default_factory=list)
    compile: CompileOutcome | None = None
    mismatch: Mismatch | None = None
    cases: int = 0
    classes: list[str] = Field(default_factory=list)
    races: list[RaceReport] = Field(default_factory=list)
    unattributed_races: list[RaceReport] = Field(default_factory=list)
    runs: int = 0
    n: int = 0
    race_runs: list[RaceRun] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    timing: TimingResult | None = None
    profile: ProfileResult | None = None

    @property
    def label(self) -> Verdict:
        """What happened: ``verdict`` when set, else ``passed`` or the stage's usual failure."""
        if self.verdict is not None:
            return self.verdict
        return "passed" if self.passed else STAGE_FAILURE[self.stage]
