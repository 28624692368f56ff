"""Checkpoints of a loop's search, so an interrupted search resumes from its last generation.

One file per search key: ``<cache_dir>/searches/<key[:24]>/checkpoint.json``,
written atomically at the end of every generation. The key
(:func:`search_key`) covers what makes two searches the same search: the
loop's evaluation context (file, loop, plan, toolchain, flags, cascade
settings), the seed, the proposers (rules on or off, LLM endpoint and model)
and the search settings that steer its choices. Budgets are not part of it:
a search stopped by its budget can be resumed with a larger one.

A checkpoint holds the run id (its transcript goes on in the same file) and
the whole :class:`~parevo.evolution.state.SearchState` after the last completed
generation (random generator, records, population, notes, mutations, LLM
usage and position). ``finished`` is set when the search ended by itself (generations,
plateau, budget, exhaustion); a cancelled or crashed search leaves it unset,
and the next identical request resumes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from .state import SearchState

VERSION = 2  # 2: the state as one SearchState (version 1 checkpoints are ignored: the search starts afresh)


def search_key(context: str, seed: int, proposers: dict, settings: dict) -> str:
    """64-hex key of one search (see the module docstring)."""
    payload = json.dumps({"v": VERSION, "context": context, "seed": seed, "proposers": proposers,
                          "settings": settings}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class Checkpoint(BaseModel):
    """A search's identity (``key``, ``run_id``), whether it ``finished`` and its state."""

    version: int = VERSION
    key: str
    run_id: str
    finished: bool = False
    state: SearchState = Field(default_factory=SearchState)


def checkpoint_path(cache_dir: str | os.PathLike, key: str) -> Path:
    """Where the checkpoint of search ``key`` lives."""
    return Path(cache_dir) / "searches" / key[:24] / "checkpoint.json"


def save(path: Path, cp: Checkpoint) -> None:
    """Write ``cp`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cp-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(cp.model_dump_json())
    os.replace(tmp, path)


def load(path: Path, key: str) -> Checkpoint | None:
    """The checkpoint at ``path`` when it is readable and belongs to ``key``, else None."""
    try:
        cp = Checkpoint.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None
    if cp.version != VERSION or cp.key != key:
        return None
    return cp
