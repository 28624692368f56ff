"""Results on disk, one JSON file per loop, keyed by the loop's content hash.

Pure (no LSP): a :class:`LoopRecord` holds what a search (or race check)
found for one loop together with the text it was computed on, the function's
text and the loop's place in it. :func:`locate` finds that loop again in a
document whose text has since changed: the record applies while the
function's text is still present verbatim (so the content hash still holds);
edit the loop or its function and the record no longer locates.

A :class:`ResultStore` is a directory of records (``<key>.json``), written
atomically, loaded once and kept in memory. Every record is signed with this
user's key (:mod:`.signing`) when written; a record read back unsigned,
mis-signed (edited, or made by someone else) or without the toolchain its
figures were measured with is kept only to say so (``untrusted``): it is never
offered, and its claims (rewrite, figures, dependencies) are never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from parevo.evolution.racecheck import RaceCheckResult
from parevo.evolution.result import EvolutionResult
from parevo.toolchain.files import UnreadableFile, read_text
from parevo.toolchain.site import ParsedSite

from . import signing

log = logging.getLogger(__name__)

FORMAT = 1

#: Largest result file read back (bytes); a record with every candidate's evidence is well below.
RECORD_MAX_BYTES = 64 << 20

#: What the loop of an untrusted record shows (hint diagnostic and hover).
UNTRUSTED_MESSAGE = ("a stored result for this loop was not produced by parevo on this machine; "
                     "run Parallelize to verify it here")

RecordKind = Literal["evolve", "races", "error"]


def loop_key(content_hash: str, loop_offset: int) -> str:
    """The store key of a loop: its function's content hash and its offset in the function."""
    return f"{content_hash[:40]}-{loop_offset}"


#: Suffix of a race check's key: a loop keeps its race check beside its search result, so a search
#: (or its "already parallel" note) never hides a race, and only a new race check replaces it.
RACES_SUFFIX = "-races"


def record_key(loop: str, kind: str) -> str:
    """The store key of a ``kind`` record of the loop keyed ``loop``."""
    return loop + RACES_SUFFIX if kind == "races" else loop


class Anchor(BaseModel):
    """Where a loop sits: its function's text, and character offsets.

    ``function_offset`` is the function's start in the file text it was read
    from (a hint when the same text occurs twice); ``loop_offset`` and
    ``loop_length`` count characters from the function's start.
    """

    path: str
    content_hash: str
    function_text: str
    function_offset: int
    loop_offset: int
    loop_length: int
    loop_start_line: int

    @property
    def key(self) -> str:
        """The store key of this loop."""
        return loop_key(self.content_hash, self.loop_offset)


def anchor_of(site: ParsedSite) -> Anchor:
    """The :class:`Anchor` of a loop site (byte spans turned into character offsets)."""
    src = site.source.encode("utf-8")

    def chars(b: int) -> int:
        return len(src[:b].decode("utf-8", errors="ignore"))

    fstart = chars(site.function.start_byte)
    lstart = chars(site.loop.start_byte)
    lend = chars(site.loop.end_byte)
    return Anchor(path=site.path, content_hash=site.content_hash, function_text=site.function_text,
                  function_offset=fstart, loop_offset=lstart - fstart, loop_length=lend - lstart,
                  loop_start_line=site.loop.start_line)


class LoopRecord(BaseModel):
    """What parevo found for one loop.

    ``kind``: ``evolve`` (``evolution`` set), ``races`` (``race_check`` set) or
    ``error`` (``error`` holds the user-facing message; never persisted).
    ``deps`` maps each file the result depends on (headers, compile
    database, input spec) to its SHA-256 when the result was made (``None``:
    it did not exist). ``stale`` says why the result no longer holds.
    ``race_fix``: an ``evolve`` record whose search ran on the serial meaning
    of the user's racy parallel loop (the *Fix data race* action); its
    rewrite replaces the parallel loop.
    ``untrusted`` (never written) says why a record read from disk is not
    trusted: not signed with this user's key, or lacking its toolchain.
    """

    format: int = FORMAT
    kind: RecordKind
    anchor: Anchor
    evolution: EvolutionResult | None = None
    race_check: RaceCheckResult | None = None
    error: str | None = None
    deps: dict[str, str | None] = Field(default_factory=dict)
    stale: str | None = None
    race_fix: bool = False
    saved_at: float = Field(default_factory=time.time)
    untrusted: str | None = Field(default=None, exclude=True)

    @property
    def key(self) -> str:
        """The store key: the loop's (:func:`loop_key`), with :data:`RACES_SUFFIX` for a race check."""
        return record_key(self.anchor.key, self.kind)

    @property
    def path(self) -> str:
        """The file the loop is in."""
        return self.anchor.path

    @property
    def applicable(self) -> bool:
        """True when this record holds a trusted, verified, measured rewrite that is not stale."""
        return (self.kind == "evolve" and self.stale is None and self.untrusted is None
                and self.evolution is not None and self.evolution.status == "verified"
                and self.evolution.toolchain is not None and self.evolution.best_timing is not None)

    def missing_provenance(self) -> str | None:
        """Why this record lacks what every trusted claim carries (its toolchain), or ``None``."""
        if self.kind == "evolve" and self.evolution is not None and self.evolution.status == "verified":
            if self.evolution.toolchain is None:
                return "it lacks the toolchain its figures were measured with"
            if self.evolution.best_timing is None:
                return "its rewrite has no timing"
        if (self.kind == "races" and self.race_check is not None and self.race_check.status in ("races", "clean")
                and self.race_check.toolchain is None):
            return "it lacks the toolchain its race check ran with"
        return None


@dataclass(frozen=True)
class Located:
    """A record's loop found in the current text: character offsets and 0-based lines.

    ``line_delta`` is how far the loop moved since the record was made (add it
    to a line of the old text inside the function).
    """

    start: int
    end: int
    function_start: int
    function_end: int
    start_line: int
    end_line: int
    line_delta: int

    def contains_line(self, line: int) -> bool:
        """True when 0-based ``line`` is one of the loop's lines."""
        return self.start_line <= line <= self.end_line


def locate(anchor: Anchor, source: str) -> Located | None:
    """Find the anchored loop in ``source``; ``None`` when its function's text is gone."""
    text = anchor.function_text
    hits = []
    at = source.find(text)
    while at != -1 and len(hits) < 16:
        hits.append(at)
        at = source.find(text, at + 1)
    if not hits:
        return None
    fstart = min(hits, key=lambda h: abs(h - anchor.function_offset))
    start = fstart + anchor.loop_offset
    end = start + anchor.loop_length
    start_line = source.count("\n", 0, start)
    end_line = start_line + source.count("\n", start, end)
    return Located(start=start, end=end, function_start=fstart, function_end=fstart + len(text),
                   start_line=start_line, end_line=end_line, line_delta=start_line - anchor.loop_start_line)


def file_digest(path: str) -> str | None:
    """SHA-256 of a regular file's bytes, ``None`` when it cannot be read or is not a regular file
    (a FIFO or a device is never read: it could block or never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        h = hashlib.sha256()
        with os.fdopen(os.dup(fd), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def changed_deps(record: LoopRecord) -> list[str]:
    """The dependency files whose content differs from when ``record`` was made."""
    return [p for p, digest in record.deps.items() if file_digest(p) != digest]


class ResultStore:
    """A directory of :class:`LoopRecord` files, loaded once, kept in memory.

    Writes are atomic (temporary file then rename) and signed; a corrupt file
    is skipped with a log line, never raised; an untrusted one (see the module
    docstring) is kept with ``untrusted`` set and a log line, and never
    hides a trusted record of the same loop.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self._records: dict[str, LoopRecord] | None = None
        self._lock = threading.RLock()  # loaded from a worker thread and from the event loop

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self) -> dict[str, LoopRecord]:
        """All records, read from disk on the first call."""
        with self._lock:
            return self._load()

    def _load(self) -> dict[str, LoopRecord]:
        if self._records is None:
            records: dict[str, LoopRecord] = {}
            if self.directory.is_dir():
                for f in sorted(self.directory.glob("*.json")):
                    rec = _read_record(f)
                    if rec is None or rec.format != FORMAT or rec.kind == "error":
                        continue
                    old = records.get(rec.key)
                    if old is None or old.untrusted is not None:
                        records[rec.key] = rec
            self._records = records
        return self._records

    def loaded(self) -> list[LoopRecord]:
        """The records loaded so far (none before the first :meth:`load`); never reads the disk."""
        with self._lock:
            return list((self._records or {}).values())

    def for_path(self, path: str) -> list[LoopRecord]:
        """Records of loops in file ``path`` (compared after normalization)."""
        norm = os.path.normpath(path)
        return [r for r in self.load().values() if os.path.normpath(r.path) == norm]

    def get(self, key: str) -> LoopRecord | None:
        """The record stored under ``key``."""
        return self.load().get(key)

    def put(self, record: LoopRecord) -> None:
        """Store ``record`` (replacing the loop's previous one) in memory and, signed, on disk.

        Raises:
            ValueError: ``record`` is untrusted (it is never signed).
            OSError: the file cannot be written, or the signing key cannot be made
                (:class:`~parevo.server.signing.SigningKeyError`); the record stays in memory.
        """
        if record.untrusted is not None:
            raise ValueError(f"refusing to sign the untrusted result of {record.path}: {record.untrusted}")
        self.load()[record.key] = record
        if record.kind == "error":
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        body = json.loads(record.model_dump_json())
        body[signing.SIGNATURE_FIELD] = signing.sign(body)
        data = json.dumps(body)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.directory)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(data)
            os.replace(tmp, self._file(record.key))
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def mark_stale(self, key: str, why: str) -> LoopRecord | None:
        """Mark the record ``key`` stale (persisted); returns it, or ``None`` if absent or already stale."""
        rec = self.load().get(key)
        if rec is None or rec.stale is not None or rec.untrusted is not None:
            return None
        rec.stale = why
        self.put(rec)
        return rec

    def remove(self, key: str) -> None:
        """Forget the record ``key``."""
        self.load().pop(key, None)
        try:
            self._file(key).unlink()
        except OSError:
            pass


def _read_record(f: Path) -> LoopRecord | None:
    """The record in file ``f`` with its trust checked (``None``, logged, when it is unreadable).

    An untrusted record keeps only what locating its loop needs: its claims (rewrite, figures,
    dependency paths) are dropped so nothing acts on them.
    """
    try:
        data = json.loads(read_text(f, max_bytes=RECORD_MAX_BYTES))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        problem = signing.verify(data)
        data.pop(signing.SIGNATURE_FIELD, None)
        rec = LoopRecord.model_validate(data)
    except (UnreadableFile, ValueError, ValidationError) as e:
        log.warning("skipping unreadable result %s: %s", f, str(e)[:200])
        return None
    problem = problem or rec.missing_provenance()
    if problem is not None:
        log.warning("parevo: %s (%s: %s, for %s); it is not offered", UNTRUSTED_MESSAGE, f, problem, rec.path)
        rec = LoopRecord(kind=rec.kind, anchor=rec.anchor, format=rec.format, untrusted=problem)
    return rec


def dump_summary(records: list[LoopRecord]) -> str:
    """A short JSON summary of records (for logs)."""
    return json.dumps([{"key": r.key, "kind": r.kind, "path": r.path, "stale": r.stale} for r in records])
