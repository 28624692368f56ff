"""Evaluation cache: a candidate evaluated once is never compiled or run again.

The compile cache (:mod:`parevo.toolchain.compiler`) already avoids
recompiling a translation unit; this cache sits one level up and stores the
whole cascade outcome of a candidate (every :class:`StageVerdict` with its
evidence, the speedup, where it stopped), so a candidate seen before, in this
run or an earlier one, costs one file read instead of minutes of compiling,
testing and race checking. Correctness verdicts are facts about the code and
are reused as they are; timing is a measurement of the machine at one moment,
so a later search times a verified hit again (its executable comes from the
compile cache) and stores the new figures here, while each run's transcript
keeps the figures that run measured: replays (``parevo evolve --replay``)
take verdicts from here and timings from the transcript.

Keys (SHA-256, hex):

* the **context** of a loop: the user's file text, the loop's byte span, the
  input plan, the toolchain identity (compiler, ParlayLib version and
  headers), the optimized and ThreadSanitizer flags and every
  :class:`EvalConfig` field (sizes, seeds, threads, rounds, tolerance...);
* the **candidate** within a context: its token stream from tree-sitter
  (:func:`parevo.toolchain.syntax.tokens`: comments and layout do not matter,
  every literal counts exactly as written), its level (loop or function) and
  its sorted includes, i.e. :attr:`Candidate.id`.

``VERSION`` is part of both keys and of every entry: version 1 keyed candidates
by a text normalization that stripped ``//`` inside string literals (two
programs could share a verdict), so its entries are never read again.

The calibrated timing size ``n`` is a measurement, not an input, and is not
part of the key; instead the first run of a context records its baseline
(``baseline.json``) and later runs time at that same ``n``
(:meth:`EvalCache.pin_baseline`), so cached and new figures compare.

Layout: ``<cache_dir>/evals/<context[:16]>/<candidate id>.json`` holding
``{"version", "context", "id", "record": CandidateRecord}``; writes are
atomic (temp file + ``os.replace``), so concurrent searches of the same loop
at worst evaluate a candidate twice. Cancelled evaluations are never stored
(they raise before a record exists); compile timeouts are not stored either.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from pydantic import ValidationError

from parevo.toolchain.evaluate import Baseline

from .candidates import Candidate
from .result import CandidateRecord

VERSION = 2


def context_key(*, source: str, loop_span: tuple[int, int], plan_json: str, toolchain_identity: str,
                flags: list[str], race_flags: list[str], config_json: str) -> str:
    """The 64-hex key of everything besides the candidate that decides its verdicts."""
    payload = json.dumps({
        "v": VERSION, "source": hashlib.sha256(source.encode()).hexdigest(), "loop": list(loop_span),
        "plan": plan_json, "toolchain": toolchain_identity, "flags": flags, "race_flags": race_flags,
        "config": config_json,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _cacheable(rec: CandidateRecord) -> bool:
    comp = rec.stage("compile")
    if comp is not None and comp.compile is not None and (comp.compile.timed_out or comp.compile.cancelled):
        return False
    return bool(rec.stages)


class EvalCache:
    """Cascade outcomes of one loop context, persisted under ``cache_dir``.

    Args:
        cache_dir: the parevo cache directory (``evals/`` is created below it).
        context: :func:`context_key` of the loop being searched.

    ``lookups``/``hits`` count :meth:`get` calls and the ones answered;
    ``hit_rate`` is their ratio (0.0 before any lookup). Thread-safe.
    """

    def __init__(self, cache_dir: str | os.PathLike, context: str):
        self.context = context
        self.root = Path(cache_dir) / "evals" / context[:16]
        self.lookups = 0
        self.hits = 0
        self._lock = threading.Lock()

    @property
    def hit_rate(self) -> float:
        """Hits per lookup (0.0 when nothing was looked up)."""
        return self.hits / self.lookups if self.lookups else 0.0

    def path(self, cand: Candidate) -> Path:
        """Where the outcome of ``cand`` is (or would be) stored."""
        return self.root / f"{cand.id}.json"

    def peek(self, cand: Candidate) -> CandidateRecord | None:
        """Like :meth:`get` but not counted (for reports and tests)."""
        try:
            data = json.loads(self.path(cand).read_text())
        except (OSError, ValueError):
            return None
        if data.get("version") != VERSION or data.get("context") != self.context or data.get("id") != cand.id:
            return None
        try:
            rec = CandidateRecord.model_validate(data["record"])
        except (KeyError, ValidationError):
            return None
        # the stored verdicts, attached to this proposal (its origin and parents may differ)
        return rec.model_copy(update={"candidate": cand, "id": cand.id, "cached": True})

    def get(self, cand: Candidate) -> CandidateRecord | None:
        """The stored outcome of ``cand`` (marked ``cached``), or None; counts a lookup."""
        rec = self.peek(cand)
        with self._lock:
            self.lookups += 1
            if rec is not None:
                self.hits += 1
        return rec

    def count_hit(self) -> None:
        """Count a lookup answered elsewhere (a duplicate proposal within the run)."""
        with self._lock:
            self.lookups += 1
            self.hits += 1

    def put(self, rec: CandidateRecord) -> bool:
        """Store ``rec``; returns False when it is not cacheable (compile timeout, no stages)."""
        if not _cacheable(rec):
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        stored = rec.model_copy(update={"cached": False, "generation": 0, "at_seconds": 0.0})
        data = {"version": VERSION, "context": self.context, "id": rec.id,
                "record": json.loads(stored.model_dump_json())}
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".eval-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.path(rec.candidate))
        return True

    # ------------------------------------------------------------ timing size
    def baseline(self) -> Baseline | None:
        """The baseline recorded by the first run of this context (its timing size ``n``), if any."""
        try:
            return Baseline.model_validate_json((self.root / "baseline.json").read_text())
        except (OSError, ValueError):
            return None

    def pin_baseline(self, fresh: Baseline) -> Baseline:
        """Keep one timing size per context: return ``fresh`` with the recorded ``n`` (and its input
        bytes and calibration) when an earlier run recorded one, else record ``fresh`` and return it.

        Calibration depends on the machine's load, so two runs can pick different sizes; pinning
        the first one keeps every candidate of a loop, cached or new, timed at the same ``n``.
        """
        old = self.baseline()
        if old is not None:
            return fresh.model_copy(update={"n": old.n, "input_bytes": old.input_bytes,
                                            "original_seconds": old.original_seconds,
                                            "repeats": old.repeats, "n_source": old.n_source, "n_origin": old.n_origin,
                                            "calibration": old.calibration})
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".baseline-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(fresh.model_dump_json())
        os.replace(tmp, self.root / "baseline.json")
        return fresh

    def stats(self) -> dict[str, float]:
        """``{"lookups", "hits", "hit_rate"}``."""
        return {"lookups": self.lookups, "hits": self.hits, "hit_rate": round(self.hit_rate, 4)}
