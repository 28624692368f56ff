"""Run transcripts: every prompt and reply of a search, for replay and audit.

A transcript is a JSON-lines file, ``<cache_dir>/runs/<run id>/transcript.jsonl``
(the CLI also copies it next to ``--json``). Records, in order:

* ``{"type": "run", "run_id", "version", "request": EvolveRequest, "source", "input_spec_text",
  "settings"}``: enough to re-run the search (the file's text and the input
  spec are stored, so a replay does not depend on the file on disk);
* ``{"type": "prepared", "baseline": Baseline}``: the original's figures;
* ``{"type": "llm", "seq", "generation", "operator", "parent_ids", "prompt_sha256", "messages",
  "reply", "error", "error_kind", "usage": {...}, "attempts", "seconds"}``: one
  completion (or its failure) as the search saw it;
* ``{"type": "mutation", ...}`` (a :class:`MutationRecord`), ``{"type": "generation", ...}``
  (population summary at the end of a generation), ``{"type": "resume", ...}``,
  ``{"type": "supersede", "from_seq"}`` (exchanges from ``from_seq`` on were
  discarded on resume) and ``{"type": "end", "status", "stopped_by", "generations",
  "evaluations", "best_id", ...}``.

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

from pydantic import BaseModel, Field

from .llm import ChatReply, LLMClient, LLMError, LLMUnavailable
from .result import LLMUsage

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


class Transcript:
    """Append-only JSON-lines writer (thread-safe; each record flushed at once)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, record: dict) -> None:
        """Append ``record`` (a JSON-serializable dict with a ``type``)."""
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()

    @staticmethod
    def read(path: str | os.PathLike) -> list[dict]:
        """Every complete record of the file (a truncated last line is ignored)."""
        out = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out


class Exchange(BaseModel):
    """One recorded completion (see the ``llm`` record in the module docstring)."""

    seq: int
    generation: int = 0
    operator: str = ""
    parent_ids: list[str] = Field(default_factory=list)
    prompt_sha256: str
    messages: list[dict] = Field(default_factory=list)
    reply: str | None = None
    error: str | None = None
    error_kind: str | None = None  # "error" | "unavailable"
    usage: dict = Field(default_factory=dict)
    attempts: int = 1
    seconds: float = 0.0


def exchanges(records: list[dict]) -> list[Exchange]:
    """The effective exchanges of a transcript, in order (superseded ones dropped)."""
    out: list[Exchange] = []
    for r in records:
        if r.get("type") == "llm":
            out.append(Exchange.model_validate({k: v for k, v in r.items() if k != "type"}))
        elif r.get("type") == "supersede":
            cut = int(r.get("from_seq", 0))
            out = [e for e in out if e.seq < cut]
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

    def _count(self, prompt_tokens: int, completion_tokens: int, attempts: int, failed: bool) -> None:
        self.usage.calls += 1
        self.usage.retries += max(0, attempts - 1)
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        if failed:
            self.usage.failed_calls += 1

    def _serve(self, ex: Exchange) -> ChatReply:
        u = ex.usage or {}
        pt, ct = int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0))
        self._count(pt, ct, ex.attempts, ex.error is not None)
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
                        self.transcript.write({"type": "supersede", "from_seq": self.seq})
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
        rec = {"type": "llm", "seq": seq, "generation": generation, "operator": operator,
               "parent_ids": parent_ids, "prompt_sha256": sha, "messages": messages}
        try:
            reply = self.live.chat(messages, max_tokens=max_tokens, seed=seed)
        except LLMError as e:
            self._count(0, 0, e.attempts, True)
            rec.update(reply=None, error=str(e), attempts=e.attempts,
                       error_kind="unavailable" if isinstance(e, LLMUnavailable) else "error")
            if self.transcript is not None:
                self.transcript.write(rec)
            raise
        self._count(reply.prompt_tokens, reply.completion_tokens, reply.attempts, False)
        rec.update(reply=reply.text, error=None, attempts=reply.attempts, seconds=round(reply.seconds, 3),
                   usage={"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                          "estimated": reply.estimated_usage})
        if self.transcript is not None:
            self.transcript.write(rec)
        return seq, reply
