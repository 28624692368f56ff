"""ThreadSanitizer: run environment, and parsing of its reports.

:func:`tsan_env` gives the environment a TSan build runs with (ParlayLib
suppressions, reports written to ``<log_dir>/tsan.<pid>``, exit status 66 on a
report). :func:`parse_reports` turns report text into :class:`RaceReport`
objects whose accesses are mapped to the first stack frame inside the
user's (or candidate's) files; the SUMMARY line is kept but never used for
attribution, since with inlining it can point into ParlayLib's scheduler.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from .sandbox import RunLimits, RunOutcome, run_sandboxed

#: Exit status of a TSan binary that reported at least one warning.
TSAN_EXITCODE = 66

RAW_KEEP_CHARS = 8_000


def suppressions_path() -> str:
    """Absolute path of the packaged ``cpp/tsan.supp`` (ParlayLib's benign races)."""
    ref = resources.files("parevo.toolchain").joinpath("cpp", "tsan.supp")
    with resources.as_file(ref) as path:  # a real file for a normal or editable install
        return str(Path(path).resolve())


def tsan_env(log_dir: str | os.PathLike, threads: int) -> dict[str, str]:
    """Environment variables for running a TSan binary with ``threads`` ParlayLib workers.

    ``TSAN_OPTIONS``: ``exitcode=66``, ``allocator_may_return_null=1`` (an
    allocation over the run's memory limit fails as it would without TSan,
    instead of TSan exiting with 66 and no report), the packaged suppressions, reports to
    ``<log_dir>/tsan.<pid>``, ``halt_on_error=0``, ``second_deadlock_stack=1``,
    ``history_size=4``. ``PARLAY_NUM_THREADS``: ``threads`` (use 4 or more:
    races are missed often at 2).
    """
    options = {
        "exitcode": str(TSAN_EXITCODE),
        "allocator_may_return_null": "1",  # over the memory limit: NULL / bad_alloc, as without TSan
        "suppressions": suppressions_path(),
        "log_path": str(Path(log_dir).resolve() / "tsan"),
        "halt_on_error": "0",
        "second_deadlock_stack": "1",
        "history_size": "4",
    }
    return {
        "TSAN_OPTIONS": " ".join(f"{k}={v}" for k, v in options.items()),
        "PARLAY_NUM_THREADS": str(int(threads)),
    }


class Frame(BaseModel):
    """One stack frame of a report: ``line``/``col`` are 1-based as TSan prints
    them (``None`` when unknown); ``function``/``file`` ``None`` for ``<null>``."""

    function: str | None = None
    file: str | None = None
    line: int | None = None
    col: int | None = None

    def where(self) -> str:
        """``file:line[:col]`` (or ``?``) for messages."""
        if not self.file:
            return "?"
        parts = [self.file] + [str(x) for x in (self.line, self.col) if x is not None]
        return ":".join(parts)


class RaceAccess(BaseModel):
    """One memory access of a report: ``thread`` is ``"main"`` or ``"T<n>"``;
    ``previous`` marks TSan's "Previous ..." access; ``size`` in bytes."""

    op: Literal["read", "write"]
    size: int | None = None
    atomic: bool = False
    previous: bool = False
    thread: str
    frames: list[Frame] = Field(default_factory=list)


class RaceReport(BaseModel):
    """One ``WARNING: ThreadSanitizer:`` block.

    ``kind``: ``"data race"``, ``"heap-use-after-free"``, ... ``location``:
    what was accessed (``"Location is global 'sum' of size 8"``, a heap
    block), addresses removed. ``user_frames[i]`` is the first frame of
    ``accesses[i]`` inside one of the user files (``None`` when none is);
    ``attributable`` is True when at least one access has a user frame.
    ``summary`` is the SUMMARY line; ``raw`` the block, trimmed.
    """

    kind: str
    accesses: list[RaceAccess] = Field(default_factory=list)
    location: str | None = None
    user_frames: list[Frame | None] = Field(default_factory=list)
    attributable: bool = False
    summary: str = ""
    raw: str = ""

    def describe(self) -> str:
        """A one-line user-facing description naming both access sites where known."""
        parts = []
        for acc, uf in zip(self.accesses, self.user_frames):
            kind = f"{'atomic ' if acc.atomic else ''}{acc.op}"
            who = "main thread" if acc.thread == "main" else f"thread {acc.thread}"
            parts.append(f"{kind} by {who} at {uf.where() if uf else 'library code'}")
        loc = f" ({self.location.removeprefix('Location is ')})" if self.location else ""
        return f"{self.kind}{loc}: " + "; ".join(parts)


_WARNING_RE = re.compile(r"WARNING: ThreadSanitizer: (?P<kind>.+?)(?: \(pid=\d+\))?\s*$")
_ACCESS_RE = re.compile(
    r"^\s*(?P<prev>Previous )?(?P<atomic>[Aa]tomic )?(?P<op>[Rr]ead|[Ww]rite)"
    r"(?: of size (?P<size>\d+))?(?: at \S+)? by (?P<thread>main thread|thread T\d+)"
)
_FRAME_RE = re.compile(r"^\s*#(?P<n>\d+)\s+(?P<rest>.*?)\s*$")
_MODULE_RE = re.compile(r"\s*\((?:BuildId: [0-9a-fA-F]+)\)\s*$")
_MODULE_OFF_RE = re.compile(r"\s*\([^()\s]*\+0x[0-9a-fA-F]+\)\s*$")
_LOC_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")
_SECTION_RE = re.compile(r"^ {2}\S")  # a new section of the report (two-space indent)


def parse_frame(line: str) -> Frame | None:
    """Parse ``    #0 foo(int) /path/file.cpp:12:5 (exe+0x1234)``; ``None`` when not a frame line."""
    m = _FRAME_RE.match(line)
    if not m:
        return None
    rest = _MODULE_RE.sub("", m.group("rest"))
    rest = _MODULE_OFF_RE.sub("", rest)
    func, _, loc = rest.rpartition(" ")
    if not func:  # a single token: "<null>" or a bare function
        func, loc = rest, "<null>"
    frame = Frame(function=None if func in ("<null>", "") else func)
    lm = _LOC_RE.match(loc)
    if lm:
        frame.file = lm.group("file")
        frame.line = int(lm.group("line"))
        frame.col = int(lm.group("col")) if lm.group("col") else None
    elif loc != "<null>":
        frame.file = loc
    return frame


def _clean_location(text: str) -> str:
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)
    text = re.sub(r"\s*\([^()\s]*\+0x[0-9a-fA-F]+\)", "", text)
    return text.strip().rstrip(":.").strip()


class _UserFiles:
    """Matches frame files against the user's files: by normalized or resolved
    path, else by basename (never for ParlayLib or system headers)."""

    def __init__(self, files: list[str]):
        self.exact: set[str] = set()
        self.basenames: set[str] = set()
        for f in files:
            self.exact.add(os.path.normpath(f))
            try:
                self.exact.add(os.path.realpath(f))
            except OSError:
                pass
            self.basenames.add(os.path.basename(f))

    def exact_match(self, file: str) -> bool:
        norm = os.path.normpath(file)
        return norm in self.exact or os.path.realpath(norm) in self.exact

    def basename_match(self, file: str) -> bool:
        norm = os.path.normpath(file)
        if "/parlay/" in norm or norm.startswith(("/usr/include/", "/usr/lib/")) or "libsanitizer" in norm:
            return False
        return os.path.basename(norm) in self.basenames

    def first_user_frame(self, frames: list[Frame]) -> Frame | None:
        with_file = [f for f in frames if f.file]
        for f in with_file:
            if self.exact_match(f.file):
                return f
        for f in with_file:
            if self.basename_match(f.file):
                return f
        return None


def _split_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if "WARNING: ThreadSanitizer:" in line:
            current = [line]
            blocks.append(current)
            continue
        if current is None:
            continue
        if line.startswith("=================="):
            current = None
            continue
        current.append(line)
        if line.startswith("SUMMARY: ThreadSanitizer"):
            current = None
    return blocks


def parse_reports(text: str, user_files: list[str]) -> list[RaceReport]:
    """Parse every ``WARNING: ThreadSanitizer:`` block in ``text``.

    ``text`` is TSan output (a run's stderr and/or its log files, see
    :func:`read_logs`); ``user_files`` the paths that count as the user's or
    candidate's code (as they appear in ``#line`` directives). Identical
    blocks (same text) are reported once. Never raises on odd input: lines it
    does not understand are skipped.
    """
    matcher = _UserFiles(user_files)
    reports: list[RaceReport] = []
    seen: set[str] = set()
    for block in _split_blocks(text):
        raw = "\n".join(block)
        identity = re.sub(r"0x[0-9a-fA-F]+|pid=\d+|tid=\d+", "", raw)
        if identity in seen:
            continue
        seen.add(identity)
        m = _WARNING_RE.search(block[0])
        report = RaceReport(kind=m.group("kind") if m else block[0].strip())
        current: RaceAccess | None = None
        for line in block[1:]:
            if line.startswith("SUMMARY:"):
                report.summary = line.strip()
                current = None
                continue
            if _SECTION_RE.match(line):
                am = _ACCESS_RE.match(line)
                if am and line.rstrip().endswith(":"):
                    current = RaceAccess(
                        op="write" if am.group("op").lower() == "write" else "read",
                        size=int(am.group("size")) if am.group("size") else None,
                        atomic=bool(am.group("atomic")),
                        previous=bool(am.group("prev")),
                        thread="main" if am.group("thread") == "main thread" else am.group("thread").split()[-1],
                    )
                    report.accesses.append(current)
                else:
                    current = None
                    stripped = line.strip()
                    if stripped.startswith("Location is") and report.location is None:
                        report.location = _clean_location(stripped)
                continue
            if current is not None:
                frame = parse_frame(line)
                if frame is not None:
                    current.frames.append(frame)
        report.user_frames = [matcher.first_user_frame(a.frames) for a in report.accesses]
        report.attributable = any(f is not None for f in report.user_frames)
        report.raw = raw if len(raw) <= RAW_KEEP_CHARS else raw[:RAW_KEEP_CHARS] + "\n[... trimmed ...]"
        reports.append(report)
    return reports


def read_logs(log_dir: str | os.PathLike) -> str:
    """Concatenated text of the ``tsan.*`` report files in ``log_dir`` ('' when none)."""
    parts = []
    for path in sorted(Path(log_dir).glob("tsan*")):
        try:
            parts.append(path.read_text(errors="replace"))
        except OSError:
            continue
    return "\n".join(parts)


class TsanRun(BaseModel):
    """One run of a TSan binary: its outcome, the reports, and the thread count."""

    threads: int
    outcome: RunOutcome
    reports: list[RaceReport] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when the program exited 0 and TSan reported nothing."""
        return self.outcome.ok and not self.reports


#: What a ThreadSanitizer run may allocate beyond TSan's own shadow reservation, in bytes. TSan's
#: shadow and metadata take 4 to 5 times the memory the program touches (1 GiB touched: 5.2 GB
#: resident with g++ 12), so this bounds a TSan run near 6 GB resident.
TSAN_HEAP_BYTES = 1 << 30


def tsan_limits(reserved_bytes: int | None, *, timeout_s: float, heap_bytes: int = TSAN_HEAP_BYTES) -> RunLimits:
    """The :class:`RunLimits` of a ThreadSanitizer run.

    TSan reserves tens of TiB of address space for its shadow at start-up (``reserved_bytes``,
    measured by the discovery probe: ``Toolchain.tsan_reserved_bytes``), so ``RLIMIT_AS`` cannot
    bound it; ``RLIMIT_DATA`` counts that reservation once and then every allocation, so
    ``reserved_bytes + heap_bytes`` lets the program allocate ``heap_bytes`` and fails the
    allocation after (``malloc`` returns NULL, ``new`` throws). Without a measured reservation
    there is no data limit (the wall-clock timeout still applies).
    """
    data = reserved_bytes + heap_bytes if reserved_bytes else None
    return RunLimits(timeout_s=timeout_s, memory_bytes=None, data_bytes=data)


def run_tsan(
    argv: list[str], *, threads: int, user_files: list[str], timeout_s: float = 300,
    env_extra: dict[str, str] | None = None, cancel: threading.Event | None = None,
    log_dir: str | os.PathLike | None = None, reserved_bytes: int | None = None,
) -> TsanRun:
    """Run a TSan-instrumented program in the sandbox and parse its reports.

    ``threads`` sets ``PARLAY_NUM_THREADS``; reports are read from the log
    files and from stderr. ``log_dir`` defaults to a fresh temporary directory
    (removed afterwards). ``reserved_bytes`` (``Toolchain.tsan_reserved_bytes``)
    sets the memory limit (:func:`tsan_limits`). Raises ``FileNotFoundError``
    for a missing executable.
    """
    with tempfile.TemporaryDirectory(prefix="parevo-tsan-") as tmp:
        logs = Path(log_dir) if log_dir is not None else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        env = {**(env_extra or {}), **tsan_env(logs, threads)}
        outcome = run_sandboxed(argv, cwd=str(logs), env_extra=env, cancel=cancel,
                                limits=tsan_limits(reserved_bytes, timeout_s=timeout_s))
        text = read_logs(logs) + "\n" + outcome.stderr
        return TsanRun(threads=threads, outcome=outcome, reports=parse_reports(text, user_files))
