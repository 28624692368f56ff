"""Run transcripts: every prompt and reply of a search, for replay and audit.

A transcript is a JSON-lines file, ``<cache_dir>/runs/<run id>/transcript.jsonl``
(the CLI also copies it next to ``--json``). Each line is one record, a
pydantic model told apart by its ``type`` field (:data:`TranscriptRecord`, a
discriminated union). In order:

* :class:`RunRecord` (``"run"``): the request, the file's text and the input
  spec's text, enough to re-run the search without the file on disk;
* :class:`PreparedRecord` (``"prepared"``): the original's figures;
* :class:`Exchange` (``"llm"``): one completion (or its failure) as the search saw it;
* :class:`MutationEntry` (``"mutation"``), :class:`GenerationRecord` (``"generation"``,
  the population at the end of a generation), :class:`MeasuredRecord`
  (``"measured"``: timing and profile verdicts this run measured),
  :class:`ResumeRecord` (``"resume"``), :class:`SupersedeRecord` (``"supersede"``:
  exchanges from ``from_seq`` on were discarded on resume) and
  :class:`EndRecord` (``"end"``).

:meth:`Transcript.read` validates every line; a line that is not one of these
records raises :class:`TranscriptError` naming the file and line. Transcripts
written before the records were typed have the same fields and read unchanged.

:class:`TranscriptLLM` is the LLM the search talks to: it first serves the
exchanges it was given (a replay, or the unfinished generation of a resumed
search), in order, checking each prompt's SHA-256, and then, when it has a
live client, calls it and records the exchange. A replay has no live client
and never touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from parevo.toolchain.evaluate import Baseline
from parevo.toolchain.models import ParevoError
from parevo.toolchain.site import SiteInfo
from parevo.toolchain.verdicts import StageVerdict

from .llm import ChatReply, LLMClient, LLMError, LLMUnavailable
from .result import LLMUsage, MutationRecord

VERSION = 1


def runs_dir(cache_dir: str | os.PathLike) -> Path:
    """``<cache_dir>/runs``: one folder per run."""
    return Path(cache_dir) / "runs"


def new_run_id() -> str:
    """A fresh run id: UTC date and time plus 6 random hex digits (``20250101-120000-1a2b3c``)."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def transcript_path(cache_dir: str | os.PathLike, run_id: str) -> Path:
    """Where the transcript of ``run_id`` lives."""
    return runs_dir(cache_dir) / run_id / "transcript.jsonl"


def resolve_run(run: str, cache_dir: str | os.PathLike) -> Path:
    """The transcript file for ``run``: a path to a ``.jsonl`` file or a folder holding one,
    or a run id under ``cache_dir``.

    Raises:
        FileNotFoundError: nothing matches (the message lists where it looked).
    """
    p = Path(run)
    if p.is_file():
        return p
    if p.is_dir() and (p / "transcript.jsonl").is_file():
        return p / "transcript.jsonl"
    q = transcript_path(cache_dir, run)
    if q.is_file():
        return q
    raise FileNotFoundError(f"no transcript for run {run!r} (looked for the file {p} and for {q})")


def prompt_sha(messages: list[dict]) -> str:
    """SHA-256 (hex) of the messages as sent."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# ------------------------------------------------------------------ records
class RunRecord(BaseModel):
    """The first record: what was asked (``request``: an ``EvolveRequest`` as JSON), the loop's
    site in the file's text (``site``; runs recorded before it name ``path`` and ``line`` in the
    request), the file's text, the input spec's text, the search settings, the evaluation context
    and the checkpoint key."""

    type: Literal["run"] = "run"
    run_id: str
    version: int = VERSION
    request: dict
    site: SiteInfo | None = None
    source: str | None = None
    input_spec_text: str | None = None
    settings: dict = Field(default_factory=dict)
    context: str = ""
    search_key: str = ""


class PreparedRecord(BaseModel):
    """The original loop's figures (timing size, check cases) as this run prepared them."""

    type: Literal["prepared"] = "prepared"
    baseline: Baseline


class Exchange(BaseModel):
    """One recorded completion (``"llm"``): the prompt as sent and its SHA-256, the reply or the
    failure (``error_kind``: ``"error"`` or ``"unavailable"``), token usage, attempts, seconds."""

    type: Literal["llm"] = "llm"
    seq: int
    generation: int = 0
    operator: str = ""
    parent_ids: list[str] = Field(default_factory=list)
    prompt_sha256: str
    messages: list[dict] = Field(default_factory=list)
    reply: str | None = None
    error: str | None = None
    error_kind: str | None = None
    usage: dict = Field(default_factory=dict)
    attempts: int = 1
    seconds: float = 0.0


class MutationEntry(MutationRecord):
    """One mutation attempt (a :class:`MutationRecord`) as a transcript record."""

    type: Literal["mutation"] = "mutation"


class GenerationRecord(BaseModel):
    """The population at the end of a generation: evaluations so far, the best candidate and its
    fitness (verified speedup), LLM tokens so far, generations without improvement (``stall``)."""

    type: Literal["generation"] = "generation"
    generation: int
    evaluations: int
    best_id: str | None = None
    best_fitness: float = 0.0
    tokens: int = 0
    stall: int = 0


class ResumeRecord(BaseModel):
    """A resumed search continues this transcript after ``generation`` (``evaluations`` records)."""

    type: Literal["resume"] = "resume"
    generation: int
    evaluations: int


class SupersedeRecord(BaseModel):
    """The recorded exchanges from ``from_seq`` on no longer apply (a resume whose prompts changed)."""

    type: Literal["supersede"] = "supersede"
    from_seq: int = 0


class MeasuredRecord(BaseModel):
    """The timing and profile verdicts this run measured for candidate ``id`` (a replay shows them).

    ``retime`` is None for the candidate's first measurement in this run; ``"generation"`` for a
    re-timing of an inconclusive timing at the end of ``generation``, ``"end"`` for one at the end of
    the search: a replay applies them at the same points.
    """

    type: Literal["measured"] = "measured"
    id: str
    stages: list[StageVerdict] = Field(default_factory=list)
    retime: Literal["generation", "end"] | None = None
    generation: int = 0


class EndRecord(BaseModel):
    """How the run ended: status, why the search stopped, generations, evaluations, the winner,
    LLM tokens and the evaluation cache's counters."""

    type: Literal["end"] = "end"
    status: str
    stopped_by: str | None = None
    generations: int = 0
    evaluations: int = 0
    best_id: str | None = None
    best_speedup: float | None = None
    tokens: int = 0
    eval_cache: dict = Field(default_factory=dict)


TranscriptRecord = Annotated[
    Union[RunRecord, PreparedRecord, Exchange, MutationEntry, GenerationRecord, ResumeRecord, SupersedeRecord,
          MeasuredRecord, EndRecord],
    Field(discriminator="type"),
]
_RECORD = TypeAdapter(TranscriptRecord)


class TranscriptError(ParevoError):
    """A transcript line is not a parevo transcript record (message: file, line and what is wrong)."""


def _problem(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ()))
    return f"{first.get('msg', 'invalid')}" + (f" (at {where})" if where else "")


class Transcript:
    """Append-only JSON-lines file of :data:`TranscriptRecord` (thread-safe; each record flushed at once)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, record: BaseModel) -> None:
        """Append ``record`` (one of the :data:`TranscriptRecord` models)."""
        line = record.model_dump_json()
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()

    @staticmethod
    def read(path: str | os.PathLike) -> list[TranscriptRecord]:
        """Every record of the file, validated (a truncated last line, left by a crash, is ignored).

        Raises:
            OSError: the file cannot be read.
            TranscriptError: a line is not JSON or not a transcript record (unknown ``type``,
                missing or mistyped field); the message names the file and line.
        """
        with open(path, encoding="utf-8") as fh:
            lines = [(k + 1, ln.strip()) for k, ln in enumerate(fh) if ln.strip()]
        out: list[TranscriptRecord] = []
        for i, (lineno, line) in enumerate(lines):
            try:
                data = json.loads(line)
            except json.JSONDecodeError as e:
                if i == len(lines) - 1:
                    break  # the last write was cut short
                raise TranscriptError(f"{path}, line {lineno}: not a parevo transcript (not JSON: {e.msg})") from None
            try:
                out.append(_RECORD.validate_python(data))
            except ValidationError as e:
                kind = data.get("type") if isinstance(data, dict) else None
                raise TranscriptError(f"{path}, line {lineno}: not a parevo transcript record"
                                      + (f" of type {kind!r}" if kind else "") + f": {_problem(e)}") from None
        return out


def exchanges(records: list[TranscriptRecord]) -> list[Exchange]:
    """The effective exchanges of a transcript, in order (superseded ones dropped)."""
    out: list[Exchange] = []
    for r in records:
        if isinstance(r, Exchange):
            out.append(r)
        elif isinstance(r, SupersedeRecord):
            out = [e for e in out if e.seq < r.from_seq]
    return out


class TranscriptExhausted(LLMError):
    """A replay needs a completion its transcript does not have."""


class TranscriptLLM:
    """The search's LLM: recorded exchanges first, then (optionally) a live client.

    Args:
        recorded: exchanges to serve in order (a replay: all of them; a resume:
            those after the checkpoint).
        live: the live client, or None (replay: no network at all).
        transcript: where to record live exchanges (None: not recorded).
        usage: the token and call counters to update (shared with the result).
        start_seq: sequence number of the first exchange served or made.

    ``diverged`` becomes True when a served exchange was recorded for a
    different prompt (its SHA-256 differs): a replay then goes on serving in
    order; a resumed search discards the rest of the recorded exchanges and
    goes live.
    """

    def __init__(self, recorded: list[Exchange], live: LLMClient | None, transcript: Transcript | None,
                 usage: LLMUsage, start_seq: int = 0):
        self.pending = list(recorded)
        self.live = live
        self.transcript = transcript
        self.usage = usage
        self.seq = start_seq
        self.diverged = False

    @property
    def offline(self) -> bool:
        """True when no live client stands behind the recorded exchanges."""
        return self.live is None

    def _count(self, prompt_tokens: int, completion_tokens: int, attempts: int, failed: bool,
               seconds: float = 0.0, error: str | None = None) -> None:
        u = self.usage
        u.calls += 1
        u.retries += max(0, attempts - 1)
        u.prompt_tokens += prompt_tokens
        u.completion_tokens += completion_tokens
        if failed:
            u.failed_calls += 1
            u.last_error = error
            return
        u.reply_seconds += seconds
        if u.slow_s is not None and seconds > u.slow_s:
            u.slow_calls += 1

    def _serve(self, ex: Exchange) -> ChatReply:
        u = ex.usage or {}
        pt, ct = int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0))
        self._count(pt, ct, ex.attempts, ex.error is not None, ex.seconds or 0.0, ex.error)
        if ex.error is not None:
            cls = LLMUnavailable if ex.error_kind == "unavailable" else LLMError
            raise cls(ex.error, attempts=ex.attempts)
        return ChatReply(text=ex.reply or "", prompt_tokens=pt, completion_tokens=ct, attempts=ex.attempts,
                         seconds=ex.seconds)

    def complete(self, messages: list[dict], *, generation: int, operator: str, parent_ids: list[str],
                 max_tokens: int | None = None, seed: int | None = None) -> tuple[int, ChatReply]:
        """One completion: ``(sequence number, reply)``.

        Raises:
            LLMError, LLMUnavailable: the call failed (live or as recorded).
            TranscriptExhausted: no recorded exchange is left and there is no live client.
            LLMCancelled: cancelled while waiting.
        """
        sha = prompt_sha(messages)
        if self.pending:
            ex = self.pending[0]
            if ex.prompt_sha256 != sha:
                self.diverged = True
                if self.live is not None:  # resume: the recorded rest no longer applies
                    if self.transcript is not None:
                        self.transcript.write(SupersedeRecord(from_seq=self.seq))
                    self.pending = []
            if self.pending:
                self.pending.pop(0)
                seq = self.seq
                self.seq += 1
                return seq, self._serve(ex)
        if self.live is None:
            raise TranscriptExhausted("the transcript has no more LLM replies")
        seq = self.seq
        self.seq += 1
        rec = Exchange(seq=seq, generation=generation, operator=operator, parent_ids=list(parent_ids),
                       prompt_sha256=sha, messages=messages)
        try:
            reply = self.live.chat(messages, max_tokens=max_tokens, seed=seed)
        except LLMError as e:
            self._count(0, 0, e.attempts, True, error=str(e))
            rec.error, rec.attempts = str(e), e.attempts
            rec.error_kind = "unavailable" if isinstance(e, LLMUnavailable) else "error"
            if self.transcript is not None:
                self.transcript.write(rec)
            raise
        self._count(reply.prompt_tokens, reply.completion_tokens, reply.attempts, False, reply.seconds)
        rec.reply, rec.attempts, rec.seconds = reply.text, reply.attempts, round(reply.seconds, 3)
        rec.usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                     "estimated": reply.estimated_usage}
        if self.transcript is not None:
            self.transcript.write(rec)
        return seq, reply
