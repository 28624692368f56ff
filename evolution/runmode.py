"""How one search relates to its transcript: a live run records one, a replay plays one back.

The engine (:mod:`parevo.evolution.engine`) runs every search the same way and
asks its :class:`RunMode` for the parts that differ:

* :class:`LiveRun` (``evolve``): reads the input spec from disk, resumes an
  unfinished checkpoint of the same search or starts a new run with its own
  transcript, prepares the original now, times verified cache hits again and
  records what it measures, talks to the live LLM (after serving the exchanges
  an interrupted generation had already made) and writes the end record.
* :class:`ReplayRun` (``replay``): everything from a recorded transcript: the
  request, the file's text, the input spec, the original's figures (the
  evaluator is prepared only if a candidate is missing from the evaluation
  cache), the LLM replies (no network) and the run's own timings; it writes
  nothing (no transcript, no checkpoint) and says whether it diverged from the
  recording.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from parevo.toolchain.evaluate import Baseline, Evaluator
from parevo.toolchain.inputs import InputPlan, load_spec, plan_inputs
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.verdicts import StageVerdict

from . import checkpoint as ckpt
from .evalcache import EvalCache
from .llm import LLMClient, LLMSettings
from .result import CandidateRecord, LLMUsage
from .search import Budget, CascadeRunner, ProgressEvent, ProgressFn
from .transcript import (EndRecord, MeasuredRecord, PreparedRecord, RunRecord, Transcript, TranscriptError,
                         TranscriptLLM, TranscriptRecord, exchanges, new_run_id, transcript_path)


class RunMode:
    """The parts of a search that differ between a live run and a replay (see the module docstring).

    After :meth:`open`: ``run_id`` names the run, ``transcript`` is where records go (None: nowhere),
    ``resume_from`` is the checkpoint the search continues (None: from the start) and
    ``checkpoint_path`` where generations are checkpointed (None: never). ``replay_of`` is the
    recorded run's id for a replay, else None.
    """

    run_id: str = ""
    transcript: Transcript | None = None
    resume_from: ckpt.Checkpoint | None = None
    checkpoint_path: Path | None = None
    replay_of: str | None = None

    def plan(self, site: ParsedSite, spec_path: str | None) -> tuple[InputPlan, str | None]:
        """The input plan and the input spec's text (recorded in the transcript)."""
        raise NotImplementedError

    def open(self, *, cache_dir: str, key: str, resume: bool, head: RunRecord) -> None:
        """Fix the run's identity; ``head`` is the run record a new run starts its transcript with."""
        raise NotImplementedError

    def baseline(self, ev: Evaluator, evalcache: EvalCache, emit: ProgressFn, *, total: int,
                 start: float) -> tuple[Baseline, Callable[[], None] | None]:
        """The original's figures and a hook the runner calls before the first candidate it must
        evaluate for real (None: nothing to do).

        Raises:
            Cancelled: cancelled while preparing.
            BaselineFailed: the original cannot be run by the harness.
        """
        raise NotImplementedError

    def runner_options(self) -> dict:
        """Keyword arguments of the :class:`CascadeRunner` that differ (``retime``, ``timings``,
        ``on_measured``)."""
        raise NotImplementedError

    def llm(self, settings: LLMSettings, usage: LLMUsage, cancel: threading.Event) -> TranscriptLLM:
        """The LLM the search talks to."""
        raise NotImplementedError

    def diverged(self, llm: TranscriptLLM | None, runner: CascadeRunner) -> bool:
        """True when a replay left its recording (a prompt differed or a verdict was evaluated again)."""
        return False

    def notes(self, diverged: bool) -> list[str]:
        """Notes for the user's report about how this run was made."""
        return []

    def finish(self, end: EndRecord) -> None:
        """Record how the run ended."""


def prepare_now(ev: Evaluator, evalcache: EvalCache, emit: ProgressFn, *, total: int, start: float) -> Baseline:
    """Compile and run the original, fix the timing size (pinned per loop context) and say so.

    Raises:
        Cancelled, BaselineFailed: see :meth:`Evaluator.prepare`.
    """
    emit(ProgressEvent(stage="prepare", message="compiling the harness and the original loop", total=total,
                       elapsed=time.monotonic() - start))
    baseline = evalcache.pin_baseline(ev.prepare())
    ev.baseline = baseline
    how = "calibrated" if baseline.n_source == "calibrated" else f"from the {baseline.n_source}"
    emit(ProgressEvent(stage="prepare", message=f"timing size n = {baseline.n:,} ({how}, {baseline.repeats} calls "
                                                f"per round)", total=total, elapsed=time.monotonic() - start))
    return baseline


class LiveRun(RunMode):
    """A search that runs now and records itself (``llm_client`` replaces the client built from the
    settings: tests)."""

    def __init__(self, llm_client: LLMClient | None = None):
        self.llm_client = llm_client
        self._fresh = True

    def plan(self, site: ParsedSite, spec_path: str | None) -> tuple[InputPlan, str | None]:
        if spec_path is None:
            return plan_inputs(site, None), None
        spec = load_spec(spec_path)  # errors name the user's file
        return plan_inputs(site, spec), Path(spec_path).read_text()

    def open(self, *, cache_dir: str, key: str, resume: bool, head: RunRecord) -> None:
        self.checkpoint_path = ckpt.checkpoint_path(cache_dir, key)
        cp = ckpt.load(self.checkpoint_path, key) if resume else None
        if cp is not None and cp.finished:
            cp = None
        self.run_id = cp.run_id if cp is not None else new_run_id()
        self.transcript = Transcript(transcript_path(cache_dir, self.run_id))
        if cp is not None and not self.transcript.path.exists():
            cp = None  # its transcript is gone: the unfinished generation's replies cannot be served
        self.resume_from = cp
        self._fresh = cp is None
        if self._fresh:
            self.transcript.write(head.model_copy(update={"run_id": self.run_id}))

    def baseline(self, ev, evalcache, emit, *, total, start):
        baseline = prepare_now(ev, evalcache, emit, total=total, start=start)
        if self._fresh:
            self.transcript.write(PreparedRecord(baseline=baseline))
        return baseline, None

    def _measured(self, rec: CandidateRecord, retime: str | None) -> None:  # this run's own figures
        self.transcript.write(MeasuredRecord(id=rec.id, stages=[s for s in rec.stages
                                                                if s.stage in ("time", "profile")],
                                             retime=retime, generation=rec.generation))

    def runner_options(self) -> dict:
        return {"retime": True, "timings": None, "on_measured": self._measured, "retimings": None}

    def llm(self, settings, usage, cancel):
        live = self.llm_client or LLMClient(settings, cancel=cancel)
        cp = self.resume_from
        seq = cp.state.llm_seq if cp is not None else 0
        recorded = exchanges(Transcript.read(self.transcript.path))[seq:] if cp is not None else []
        return TranscriptLLM(recorded, live, self.transcript, usage, start_seq=seq)

    def finish(self, end: EndRecord) -> None:
        self.transcript.write(end)


class ReplayRun(RunMode):
    """A recorded search played back offline (see the module docstring); build it with :meth:`load`."""

    def __init__(self, path: Path, records: list[TranscriptRecord]):
        self.path = path
        self.records = records
        head = next((r for r in records if isinstance(r, RunRecord)), None)
        if head is None:
            raise TranscriptError(f"{path} is not a parevo run transcript (no run record)")
        self.head = head
        self.run_id = self.replay_of = head.run_id
        prepared = next((r for r in records if isinstance(r, PreparedRecord)), None)
        self.recorded_baseline = prepared.baseline if prepared is not None else None
        self.ends = [r for r in records if isinstance(r, EndRecord)]

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ReplayRun":
        """Read the transcript at ``path``.

        Raises:
            OSError: it cannot be read.
            TranscriptError: it is not a parevo run transcript (the message says where and why).
        """
        return cls(Path(path), Transcript.read(path))

    def limits(self, budget: Budget, generations: int) -> tuple[Budget, int]:
        """The replay's budget and generations, so it stops where the recorded run stopped.

        The search's own stops (generations, plateau, evaluations, tokens, exhaustion) recur by
        themselves; a stop by the clock, a cancel or the loop's bound (which depends on this
        machine's bandwidth) is reproduced by stopping after as many evaluations. The clock never
        stops a replay.
        """
        evaluations = budget.evaluations
        if self.ends:
            generations = self.ends[-1].generations
            if self.ends[-1].stopped_by in ("time", "cancelled", "bound"):
                evaluations = self.ends[-1].evaluations
        return Budget(seconds=math.inf, evaluations=evaluations), generations

    def timings(self) -> dict[str, list[StageVerdict]]:
        """The recorded run's own first timing and profile verdicts per candidate id."""
        out: dict[str, list[StageVerdict]] = {}
        for r in self.records:
            if isinstance(r, MeasuredRecord) and r.retime is None:
                out.setdefault(r.id, list(r.stages))
        return out

    def retimings(self, at_end: bool, generation: int) -> list[tuple[str, list[StageVerdict]]]:
        """The recorded run's re-timings of inconclusive candidates at the end of ``generation``
        (``at_end`` False) or of the search, in the order it made them."""
        kind = "end" if at_end else "generation"
        return [(r.id, list(r.stages)) for r in self.records if isinstance(r, MeasuredRecord)
                and r.retime == kind and (at_end or r.generation == generation)]

    def plan(self, site: ParsedSite, spec_path: str | None) -> tuple[InputPlan, str | None]:
        text = self.head.input_spec_text
        if text is None:
            return plan_inputs(site, None), None
        fd, tmp = tempfile.mkstemp(prefix="parevo-spec-", suffix=".toml")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            return plan_inputs(site, load_spec(tmp)), text
        finally:
            os.unlink(tmp)

    def open(self, *, cache_dir: str, key: str, resume: bool, head: RunRecord) -> None:
        pass  # a replay writes nothing and resumes nothing

    def baseline(self, ev, evalcache, emit, *, total, start):
        if self.recorded_baseline is None:
            return prepare_now(ev, evalcache, emit, total=total, start=start), None

        def lazy_prepare() -> None:  # a candidate the cache lost: prepare the evaluator after all
            ev.baseline = evalcache.pin_baseline(ev.prepare())
        return self.recorded_baseline, lazy_prepare

    def runner_options(self) -> dict:
        return {"retime": False, "timings": self.timings(), "on_measured": None, "retimings": self.retimings}

    def llm(self, settings, usage, cancel):
        return TranscriptLLM(exchanges(self.records), None, None, usage)

    def diverged(self, llm, runner) -> bool:
        return bool((llm is not None and llm.diverged) or runner.fresh > 0)

    def notes(self, diverged: bool) -> list[str]:
        return [f"replay of run {self.run_id}: LLM replies and timings from its transcript, verdicts from the "
                "evaluation cache" + (" (DIVERGED: a prompt or a verdict differed from the recording)"
                                      if diverged else "")]
