"""Compile and link C++ with a content-addressed cache.

Objects are cached by ``sha256(source, flags, toolchain identity)`` at
``<cache>/objects/<key[:2]>/<key>.o``; executables by the keys of their
objects and the link flags at ``<cache>/exes/<key[:2]>/<key>``. Failures are
cached too (``<key>.json`` with ``ok: false`` and the compiler's stderr), so
a failing candidate is never compiled twice. Timeouts and cancellations are
not cached. Safe to use from several threads: a per-key lock makes
concurrent requests for the same key compile once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

from pydantic import BaseModel, Field

from .discovery import Toolchain
from .models import ToolchainMissing
from .sandbox import SAFE_PATH, RunLimits, run_sandboxed

OPT_FLAGS: list[str] = ["-std=c++17", "-O3", "-pthread"]
"""Optimized build of original and candidate (timing, differential tests)."""

TSAN_FLAGS: list[str] = [
    "-std=c++17", "-O1", "-g", "-fno-inline", "-fno-omit-frame-pointer", "-fsanitize=thread", "-pthread",
]
"""ThreadSanitizer build; use :func:`tsan_flags` to add ``-Wno-tsan`` where the compiler takes it."""

OPT_LINK_FLAGS: list[str] = ["-pthread"]
TSAN_LINK_FLAGS: list[str] = ["-fsanitize=thread", "-pthread"]

STDERR_KEEP_CHARS = 16_000
_MAX_COMPILER_OUTPUT = 64 << 20  # objects with -g can be large; bound them anyway


class CompileOutcome(BaseModel):
    """Result of a compile or link.

    ``output_path`` is the cached object/executable (``None`` on failure);
    ``command`` the compiler command as run; ``seconds`` the compile time
    (0 when ``cached``). ``stderr`` holds diagnostics, cut to
    :data:`STDERR_KEEP_CHARS`. ``first_error`` is the first ``error:`` line
    (for a link, the first undefined-reference line), keeping its
    ``file:line:col:`` prefix, which is split into ``error_file``,
    ``error_line1`` (the compiler's 1-based line) and ``error_col1``.
    ``key`` is the cache key.
    """

    ok: bool
    output_path: str | None = None
    command: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False
    stderr: str = ""
    first_error: str | None = None
    error_file: str | None = None
    error_line1: int | None = None
    error_col1: int | None = None
    key: str = ""
    timed_out: bool = False
    cancelled: bool = False


_LOC_ERROR_RE = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)?\s*(?:fatal )?error:")
_LINK_ERROR_RE = re.compile(r"undefined reference|multiple definition|cannot find -l")


def first_error(stderr: str) -> tuple[str | None, str | None, int | None, int | None]:
    """``(line, file, line1, col1)`` of the first error in compiler/linker output.

    Prefers a located ``file:line[:col]: error:`` line, then a linker error
    (undefined reference, multiple definition), then any line containing
    ``error:``. All ``None`` when there is none.
    """
    lines = stderr.splitlines()
    for ln in lines:
        m = _LOC_ERROR_RE.match(ln)
        if m:
            col = m.group("col")
            return ln.strip(), m.group("file"), int(m.group("line")), int(col) if col else None
    for ln in lines:
        if _LINK_ERROR_RE.search(ln):
            return ln.strip(), None, None, None
    for ln in lines:
        if "error:" in ln:
            return ln.strip(), None, None, None
    return None, None, None, None


def _trim(text: str, keep: int = STDERR_KEEP_CHARS) -> str:
    if len(text) <= keep:
        return text
    return text[:keep] + f"\n[... parevo: {len(text) - keep} more characters of compiler output ...]\n"


#: Limits of every compile and link: bounded time, memory and output, in the sandbox.
COMPILER_MEMORY_BYTES = 8 << 30


def compiler_limits(timeout_s: float) -> RunLimits:
    """The :class:`RunLimits` of a compile or link taking at most ``timeout_s`` seconds: 8 GiB of
    address space (a ParlayLib translation unit peaks near 1 GiB), objects up to 64 MiB."""
    return RunLimits(timeout_s=timeout_s, memory_bytes=COMPILER_MEMORY_BYTES, file_bytes=_MAX_COMPILER_OUTPUT)


@functools.lru_cache(maxsize=None)
def _accepts_flag(cxx: str, flag: str) -> bool:
    """True when ``cxx`` takes ``flag`` silently (no warning, exit 0); the probe runs in the sandbox."""
    try:
        res = run_sandboxed([cxx, flag, "-xc++", "-fsyntax-only", "-"], stdin=b"",
                            env_extra={"PATH": os.environ.get("PATH", SAFE_PATH)}, limits=compiler_limits(30))
    except OSError:
        return False
    return res.ok and not res.stderr.strip()


def tsan_flags(toolchain: Toolchain) -> list[str]:
    """:data:`TSAN_FLAGS`, plus ``-Wno-tsan`` when the compiler accepts it (g++ 12+)."""
    flags = list(TSAN_FLAGS)
    if toolchain.cxx and toolchain.cxx_kind == "gcc" and _accepts_flag(toolchain.cxx, "-Wno-tsan"):
        flags.append("-Wno-tsan")
    return flags


def opt_flags(toolchain: Toolchain) -> list[str]:  # noqa: ARG001 - same for every compiler today
    """:data:`OPT_FLAGS` for ``toolchain``."""
    return list(OPT_FLAGS)


def _publish(built: Path, out: Path) -> None:
    """Move ``built`` (in a run's folder) to ``out`` in the cache atomically: copied next to ``out``
    when they lie on different file systems, then renamed."""
    try:
        os.replace(built, out)
        return
    except OSError:
        pass
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
    try:
        shutil.copy2(built, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


class Compiler:
    """Compiles sources and links objects for one :class:`Toolchain`, cached on disk.

    ``stats`` counts ``compiles`` and ``links`` actually run, ``cache_hits``,
    and ``compile_seconds`` spent compiling and linking.
    """

    def __init__(self, toolchain: Toolchain, cache_dir: str | Path):
        if not toolchain.cxx:
            raise ToolchainMissing("No C++ compiler found: install g++ (`apt-get install g++`) or set CXX.")
        self.toolchain = toolchain
        self.cache_dir = Path(cache_dir)
        self.stats: dict[str, float] = {"compiles": 0, "links": 0, "cache_hits": 0, "compile_seconds": 0.0}
        self._stats_lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    # -------------------------------------------------------------- helpers

    def _key_lock(self, key: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def _bump(self, **deltas: float) -> None:
        with self._stats_lock:
            for k, v in deltas.items():
                self.stats[k] = self.stats.get(k, 0) + v

    def include_flags(self) -> list[str]:
        """``-I<parlay include>`` when the toolchain has ParlayLib, else empty."""
        return [f"-I{self.toolchain.parlay_include}"] if self.toolchain.parlay_include else []

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", SAFE_PATH)}

    def _readable(self) -> list[str]:
        """What the compiler must read besides its arguments: ParlayLib's include folder."""
        return [self.toolchain.parlay_include] if self.toolchain.parlay_include else []

    @staticmethod
    def _read_meta(meta_path: Path) -> dict | None:
        try:
            return json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _write_meta(meta_path: Path, data: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=meta_path.parent, prefix=".meta-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, meta_path)

    def _cached(self, out: Path, meta_path: Path, key: str) -> CompileOutcome | None:
        meta = self._read_meta(meta_path)
        if meta is None:
            return None
        if meta.get("ok") and not out.exists():
            return None  # object evicted: rebuild
        self._bump(cache_hits=1)
        fe = first_error(meta.get("stderr", ""))
        return CompileOutcome(
            ok=bool(meta.get("ok")), output_path=str(out) if meta.get("ok") else None,
            command=meta.get("command", []), seconds=0.0, cached=True, stderr=_trim(meta.get("stderr", "")),
            first_error=fe[0], error_file=fe[1], error_line1=fe[2], error_col1=fe[3], key=key,
        )

    def _build(
        self, kind: str, key: str, out: Path, argv_before_out: list[str], *, timeout_s: float,
        cancel: threading.Event | None, cwd: str, stat: str,
    ) -> CompileOutcome:
        """Run the compiler in the sandbox, writing into ``cwd`` (its one writable folder), then
        publish the output into the cache atomically."""
        meta_path = out.with_suffix(".json") if out.suffix else out.parent / f"{out.name}.json"
        tmp_out = Path(cwd) / f"out{out.suffix}"
        command = [*argv_before_out, "-o", str(out)]
        run = run_sandboxed(
            [*argv_before_out, "-o", str(tmp_out)], cwd=cwd, env_extra=self._env(),
            readable=self._readable(), limits=compiler_limits(timeout_s), cancel=cancel,
        )
        self._bump(**{stat: 1, "compile_seconds": run.wall_s})
        stderr = run.stderr
        try:
            if run.cancelled or run.timed_out:
                what = "cancelled" if run.cancelled else f"{kind} timed out after {timeout_s:g} s"
                return CompileOutcome(ok=False, command=command, seconds=run.wall_s, stderr=_trim(stderr),
                                      first_error=what, key=key, timed_out=run.timed_out, cancelled=run.cancelled)
            ok = run.ok and tmp_out.exists()
            if not run.ok and run.returncode is None:
                stderr += f"\n[parevo: compiler {run.describe()}]"
            if ok:
                _publish(tmp_out, out)
            self._write_meta(meta_path, {"ok": ok, "command": command, "stderr": stderr, "seconds": run.wall_s})
            fe = first_error(stderr)
            if not ok and fe[0] is None:
                fe = (f"{kind} failed: {run.describe()}", None, None, None)
            return CompileOutcome(
                ok=ok, output_path=str(out) if ok else None, command=command, seconds=run.wall_s, cached=False,
                stderr=_trim(stderr), first_error=fe[0], error_file=fe[1], error_line1=fe[2], error_col1=fe[3],
                key=key,
            )
        finally:
            tmp_out.unlink(missing_ok=True)

    # -------------------------------------------------------------- API

    def object_key(self, source: str, flags: list[str]) -> str:
        """Cache key (64 hex) of compiling ``source`` with ``flags`` on this toolchain."""
        payload = json.dumps({"kind": "object", "source": source, "flags": list(flags),
                              "toolchain": self.toolchain.identity})
        return hashlib.sha256(payload.encode()).hexdigest()

    def compile_object(
        self, source: str, flags: list[str], *, label: str = "", timeout_s: float = 300,
        cancel: threading.Event | None = None,
    ) -> CompileOutcome:
        """Compile ``source`` (C++ text) with ``flags`` plus ``-I<parlay>`` and ``-c``.

        ``label`` names the temporary ``.cpp`` (letters, digits, ``_-.``; for
        messages only, not part of the key). ``timeout_s`` bounds the compile
        (seconds); ``cancel`` aborts it. Returns a cached outcome when the same
        source, flags and toolchain were compiled before (also for failures).
        Never raises for a compile error.
        """
        key = self.object_key(source, flags)
        out = self.cache_dir / "objects" / key[:2] / f"{key}.o"
        meta_path = out.with_suffix(".json")
        with self._key_lock(key):
            hit = self._cached(out, meta_path, key)
            if hit is not None:
                return hit
            out.parent.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", label) or "tu"
            with tempfile.TemporaryDirectory(prefix="parevo-cc-") as tmp:
                src = Path(tmp) / f"{name.removesuffix('.cpp')}.cpp"
                src.write_text(source)
                argv = [self.toolchain.cxx, *self.include_flags(), *flags, "-c", str(src)]
                return self._build("compile", key, out, argv, timeout_s=timeout_s, cancel=cancel, cwd=tmp,
                                   stat="compiles")

    def _object_identity(self, path: str) -> str:
        p = Path(path)
        objects_root = (self.cache_dir / "objects").resolve()
        try:
            if p.resolve().parent.parent == objects_root and re.fullmatch(r"[0-9a-f]{64}", p.stem):
                return p.stem
        except OSError:
            pass
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return "sha256:" + h.hexdigest()

    def link(
        self, objects: list[str], flags: list[str], *, timeout_s: float = 120,
        cancel: threading.Event | None = None,
    ) -> CompileOutcome:
        """Link object files into an executable with ``flags`` (e.g. :data:`TSAN_LINK_FLAGS`).

        Cached by the objects' cache keys (content hash for objects outside the
        cache), the flags and the toolchain. Raises ``FileNotFoundError`` when an
        object file does not exist; link errors are reported in the outcome.
        """
        ids = [self._object_identity(o) for o in objects]
        payload = json.dumps({"kind": "exe", "objects": ids, "flags": list(flags), "toolchain": self.toolchain.identity})
        key = hashlib.sha256(payload.encode()).hexdigest()
        out = self.cache_dir / "exes" / key[:2] / key
        meta_path = out.parent / f"{key}.json"
        with self._key_lock(key):
            hit = self._cached(out, meta_path, key)
            if hit is not None:
                return hit
            out.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="parevo-ld-") as tmp:
                argv = [self.toolchain.cxx, *[str(Path(o).resolve()) for o in objects], *flags]
                return self._build("link", key, out, argv, timeout_s=timeout_s, cancel=cancel, cwd=tmp,
                                   stat="links")

    def build_executable(
        self, source: str, flags: list[str], link_flags: list[str], *, label: str = "",
        timeout_s: float = 300, cancel: threading.Event | None = None,
    ) -> CompileOutcome:
        """Compile one self-contained ``source`` and link it.

        Returns the failing step's outcome on error, else the link's outcome with
        ``seconds`` summed over both steps and ``cached`` True only when both were.
        """
        obj = self.compile_object(source, flags, label=label, timeout_s=timeout_s, cancel=cancel)
        if not obj.ok or obj.output_path is None:
            return obj
        exe = self.link([obj.output_path], link_flags, timeout_s=timeout_s, cancel=cancel)
        return exe.model_copy(update={"seconds": obj.seconds + exe.seconds, "cached": obj.cached and exe.cached})
