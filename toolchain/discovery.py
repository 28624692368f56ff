"""Find the C++ compiler, ParlayLib, ThreadSanitizer support and a profiler.

``discover()`` returns a :class:`Toolchain` describing what this machine
offers; ``doctor()`` turns it into a report for a user; ``require()`` raises
:class:`~parevo.toolchain.models.ToolchainMissing` (:class:`ParlayLibMissing`
for ParlayLib) with a message saying how to install what is missing. The
ThreadSanitizer and ``perf`` probes run once and are cached as JSON under the
cache directory. ParlayLib is searched in the user's own installations first,
then in the copy ``parevo setup`` installed (:mod:`.parlay_setup`); its version
comes from the CMake package, the record ``parevo setup`` wrote, or the table
of known releases' header hashes (:mod:`.parlay_release`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from .isolation import INSTALL_BWRAP, isolation
from .models import ToolchainMissing
from .parlay_release import MANUAL_WAYS, PINNED, known_version, parlay_headers_sha256, read_record, setup_prefix
from .sandbox import SAFE_PATH, RunLimits, run_sandboxed

ParlayVia = Literal["setting", "PARLAYLIB_INCLUDE", "compile_commands.json", "cmake prefix", "default include paths",
                    "parevo setup"]

PERF_HARDWARE = "perf stat (hardware counters)"
PERF_SOFTWARE = "perf stat (software counters)"

INSTALL_PARLAY = (
    f"run `parevo setup` (downloads ParlayLib {PINNED.version}, SHA-256 pinned, into parevo's data folder), "
    "or install it one of the ways `parevo setup --help` and the README list"
)
INSTALL_CXX = "install a C++17 compiler: `apt-get install g++` (or clang), or set CXX to its path"
INSTALL_TSAN = (
    "install the ThreadSanitizer runtime: `apt-get install libtsan2` for g++ 12 "
    "(or use clang++, whose runtime ships with it, by setting CXX=clang++)"
)

#: What to do about a configured compiler that does not work.
CONFIGURED_CXX_FIX = "point it at a C++ compiler (g++ or clang++), or unset it to use the one on PATH"

_PROBE_VERSION = 3  # bump to invalidate cached probe answers


def _env_cmake_prefixes() -> list[str]:
    return [p for p in os.environ.get("CMAKE_PREFIX_PATH", "").split(os.pathsep) if p]


class DiscoverySettings(BaseModel):
    """Where to look for tools; every field is optional.

    * ``cxx``: compiler name or path (else env ``CXX``, else ``g++``,
      ``clang++``, ``c++`` on ``PATH``).
    * ``parlay_include``: a directory containing ``parlay/primitives.h``.
    * ``workspace``: folder whose ``compile_commands.json`` (or
      ``build/compile_commands.json``) include paths are searched.
    * ``cmake_prefixes``: CMake install prefixes (``<prefix>/include`` is
      searched); defaults to env ``CMAKE_PREFIX_PATH``.
    * ``system_parlay``: accept a ParlayLib on the compiler's default include
      paths (``/usr/local/include``, ...); False ignores such a copy (an old
      version, or to test what happens without it).
    * ``cache_dir``: where probe results are cached (default
      :func:`default_cache_dir`).
    """

    cxx: str | None = None
    parlay_include: str | None = None
    workspace: str | None = None
    cmake_prefixes: list[str] = Field(default_factory=_env_cmake_prefixes)
    system_parlay: bool = True
    cache_dir: str | None = None


class Toolchain(BaseModel):
    """What this machine offers for building and checking ParlayLib code.

    ``cxx`` is an absolute path (``None`` when no compiler was found);
    ``cxx_version`` the first line of ``cxx --version``. ``parlay_include``
    is the directory that contains ``parlay/``; ``parlay_version`` and
    ``parlay_version_from`` (where the version comes from) are as
    :func:`parlay_version` gives them; ``parlay_headers_sha256``
    always hashes the header contents. ``tsan_reserved_bytes`` is the data
    segment of an empty TSan program (its shadow reservation, bytes; the base
    of a TSan run's memory limit). ``perf`` names the profiler that works
    (``None`` without ``perf``). ``problems`` lists configured paths that were
    invalid and other findings for the user.
    """

    cxx: str | None = None
    cxx_kind: Literal["gcc", "clang"] | None = None
    cxx_version: str | None = None
    parlay_include: str | None = None
    parlay_found_via: ParlayVia | None = None
    parlay_version: str | None = None
    parlay_version_from: str | None = None
    parlay_headers_sha256: str | None = None
    tsan_ok: bool = False
    tsan_detail: str = "not probed"
    tsan_reserved_bytes: int | None = None
    perf: str | None = None
    perf_path: str | None = None
    cache_dir: str | None = None
    problems: list[str] = Field(default_factory=list)

    @property
    def compiler_identity(self) -> str:
        """16-hex hash of the compiler path and version (probe cache key)."""
        return _short_hash(f"{self.cxx}\0{self.cxx_version}")

    @property
    def identity(self) -> str:
        """16-hex hash of compiler path+version and ParlayLib include+version+headers.

        Stable across runs while none of these change; used as the compile cache key.
        """
        return _short_hash(
            f"{self.cxx}\0{self.cxx_version}\0{self.parlay_include}\0{self.parlay_version}\0{self.parlay_headers_sha256}"
        )


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """parevo's cache directory: env ``PAREVO_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/parevo``, else ``~/.cache/parevo`` (not created here)."""
    if os.environ.get("PAREVO_CACHE_DIR"):
        return Path(os.environ["PAREVO_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "parevo"
    return Path.home() / ".cache" / "parevo"


# ---------------------------------------------------------------- compiler


def _run(argv: list[str], timeout: float = 30, input: str | None = None) -> subprocess.CompletedProcess | None:
    """Run a trusted tool (``cxx --version``, ``perf stat true``) with ``input`` on its stdin (default
    ``/dev/null``); ``None`` when it cannot be started or times out.

    It sees the machine as it is (an include folder in your home must show), so it runs in a
    process group rather than the namespaces, killed with everything it started on timeout and
    when parevo dies.
    """
    try:
        out = run_sandboxed(argv, sandbox=isolation("process-group"),
                            env_extra={"PATH": os.environ.get("PATH", SAFE_PATH)},
                            limits=RunLimits(timeout_s=timeout, memory_bytes=8 << 30),
                            stdin=input.encode() if input is not None else None)
    except OSError:
        return None
    if out.timed_out:
        return None
    code = out.returncode if out.returncode is not None else -(out.signal or 9)
    return subprocess.CompletedProcess(argv, code, out.stdout, out.stderr)


def _probe_compiler(candidate: str) -> tuple[str, str, str] | str:
    """(absolute path, kind, first ``--version`` line) when ``candidate`` is a working C++ compiler,
    else why not (a sentence naming it).

    Working means: it runs, ``--version`` answers, and it preprocesses C++ (``__cplusplus``
    expands to a number: ``/bin/echo`` or ``/usr/bin/false`` do not).
    """
    path = shutil.which(candidate)
    if path is None:
        return f"{candidate} was not found (not an executable file, nor a command on PATH)"
    path = os.path.abspath(path)
    res = _run([path, "--version"])
    if res is None:
        return f"{path} cannot be run"
    if res.returncode != 0 or not res.stdout.strip():
        return f"{path} --version exits with status {res.returncode}" + (
            f": {res.stderr.strip().splitlines()[-1][:200]}" if res.stderr.strip() else "")
    first = res.stdout.strip().splitlines()[0].strip()
    pre = _run([path, "-x", "c++", "-E", "-P", "-"], input="__cplusplus\n")
    value = pre.stdout.strip().rstrip("L") if pre is not None and pre.returncode == 0 else ""
    if not value.isdigit():
        return f"{path} ({first[:80]}) does not compile C++: it does not preprocess `__cplusplus`"
    kind = "clang" if "clang" in res.stdout.lower() else "gcc"
    return path, kind, first


def find_compiler(settings: DiscoverySettings, problems: list[str]) -> tuple[str, str, str] | None:
    """Pick the compiler: ``settings.cxx``, env ``CXX``, then ``g++``/``clang++``/``c++``.

    A configured compiler (the setting, else ``CXX``) that is not a working C++
    compiler is never replaced by another: ``None`` is returned and ``problems``
    says which one failed and why (:func:`require` then names it).
    Returns ``(path, kind, version line)`` or ``None``.
    """
    configured = [("setting cxx", settings.cxx), ("environment variable CXX", os.environ.get("CXX"))]
    for origin, value in configured:
        if not value:
            continue
        found = _probe_compiler(value)
        if isinstance(found, tuple):
            return found
        problems.append(f"the configured compiler ({origin} = {value!r}) is not a working C++ compiler: {found}")
        return None
    for name in ("g++", "clang++", "c++"):
        found = _probe_compiler(name)
        if isinstance(found, tuple):
            return found
    return None


def default_include_paths(cxx: str) -> list[str]:
    """The compiler's ``#include <...>`` search list (``cxx -xc++ -E -v /dev/null``), normalized."""
    res = _run([cxx, "-xc++", "-E", "-v", os.devnull])
    if res is None:
        return []
    paths: list[str] = []
    inside = False
    for line in (res.stderr + "\n" + res.stdout).splitlines():
        if line.startswith("#include <...> search starts here:"):
            inside = True
            continue
        if line.startswith("End of search list."):
            break
        if inside and line.startswith(" "):
            entry = line.strip().removesuffix(" (framework directory)")
            paths.append(os.path.normpath(entry))
    return paths


# ---------------------------------------------------------------- ParlayLib


def is_parlay_include(directory: str | os.PathLike) -> bool:
    """True when ``directory/parlay/primitives.h`` exists."""
    return (Path(directory) / "parlay" / "primitives.h").is_file()


def compile_commands_includes(workspace: str) -> list[str]:
    """``-I``/``-isystem`` directories of ``workspace``'s compile_commands.json
    (also looked for in ``workspace/build``), absolute, in first-seen order."""
    result: list[str] = []
    for db in (Path(workspace) / "compile_commands.json", Path(workspace) / "build" / "compile_commands.json"):
        try:
            entries = json.loads(db.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            args = entry.get("arguments")
            if not isinstance(args, list):
                try:
                    args = shlex.split(entry.get("command") or "")
                except ValueError:
                    continue
            base = entry.get("directory") or str(db.parent)
            for d in _include_dirs_from_args([str(a) for a in args]):
                full = os.path.normpath(os.path.join(base, d))
                if full not in result:
                    result.append(full)
    return result


def _include_dirs_from_args(args: list[str]) -> list[str]:
    dirs: list[str] = []
    it = iter(range(len(args)))
    for i in it:
        a = args[i]
        for opt in ("-isystem", "-I"):
            if a == opt and i + 1 < len(args):
                dirs.append(args[i + 1])
                next(it, None)
                break
            if a.startswith(opt) and len(a) > len(opt):
                dirs.append(a[len(opt) :])
                break
    return dirs


_VERSION_RE = re.compile(r'set\s*\(\s*PACKAGE_VERSION\s+"?([0-9][0-9A-Za-z.\-+]*)"?\s*\)')


def parlay_cmake_version(include_dir: str) -> str | None:
    """ParlayLib version from ``<prefix>/lib*/cmake/Parlay/ParlayConfigVersion.cmake``,
    where ``<prefix>`` is the parent of ``include_dir``; ``None`` when not installed by CMake."""
    prefix = Path(include_dir).parent
    patterns = ("lib*/cmake/Parlay/ParlayConfigVersion.cmake", "lib/*/cmake/Parlay/ParlayConfigVersion.cmake",
                "share/cmake/Parlay/ParlayConfigVersion.cmake")
    for pattern in patterns:
        for cfg in sorted(prefix.glob(pattern)):
            try:
                m = _VERSION_RE.search(cfg.read_text(errors="replace"))
            except OSError:
                continue
            if m:
                return m.group(1)
    return None


def parlay_version(include_dir: str, headers_sha256: str) -> tuple[str, str]:
    """``(version, where it comes from)`` of the ParlayLib in ``include_dir``.

    In order: the CMake package (:func:`parlay_cmake_version`); the record
    ``parevo setup`` wrote, while the headers still hash as recorded; the table
    of known releases' header hashes
    (:data:`~parevo.toolchain.parlay_release.KNOWN_HEADERS`); else ``unknown``,
    saying whether the headers were modified since ``parevo setup`` installed
    them or match no known release.
    """
    cmake = parlay_cmake_version(include_dir)
    if cmake:
        return cmake, "CMake package"
    record = read_record(include_dir)
    if record is not None and record.headers_sha256 == headers_sha256 and record.version != "unknown":
        return record.version, "installed by parevo setup"
    known = known_version(headers_sha256)
    if known:
        return known[0], f"headers of release {known[0]}, {known[1]}"
    if record is not None and record.headers_sha256 != headers_sha256:
        return (f"unknown (modified since parevo setup installed {record.version})",
                f"headers sha256:{headers_sha256[:12]} differ from those installed")
    return f"unknown (headers sha256:{headers_sha256[:12]})", "the headers match no known release"


def find_parlay(
    settings: DiscoverySettings, cxx: str | None, problems: list[str]
) -> tuple[str, ParlayVia] | None:
    """Search ParlayLib in the documented order; returns ``(include dir, how found)``.

    Order: ``settings.parlay_include``, env ``PARLAYLIB_INCLUDE``, the
    workspace's compile_commands.json include paths, ``<prefix>/include`` of
    the CMake prefixes, the compiler's default include paths (unless
    ``settings.system_parlay`` is False), then the copy ``parevo setup``
    installed. An invalid configured path is recorded in ``problems`` and the
    search goes on.
    """
    for origin, via, value in (
        ("setting parlay_include", "setting", settings.parlay_include),
        ("environment variable PARLAYLIB_INCLUDE", "PARLAYLIB_INCLUDE", os.environ.get("PARLAYLIB_INCLUDE")),
    ):
        if not value:
            continue
        if is_parlay_include(value):
            return os.path.abspath(value), via
        hint = " (point it at the directory that contains parlay/, not parlay/ itself)" if is_parlay_include(
            Path(value).parent
        ) else ""
        problems.append(f"{origin} = {value!r} has no parlay/primitives.h{hint}; searching elsewhere")
    if settings.workspace:
        for d in compile_commands_includes(settings.workspace):
            if is_parlay_include(d):
                return d, "compile_commands.json"
    for prefix in settings.cmake_prefixes:
        d = os.path.join(prefix, "include")
        if is_parlay_include(d):
            return os.path.abspath(d), "cmake prefix"
    if cxx and settings.system_parlay:
        for d in default_include_paths(cxx):
            if is_parlay_include(d):
                return d, "default include paths"
    own = setup_prefix() / "include"
    if is_parlay_include(own):
        return str(own.absolute()), "parevo setup"
    if read_record(own) is not None:
        problems.append(f"parevo setup's copy in {own / 'parlay'} is incomplete (no primitives.h); "
                        "run `parevo setup` again")
    return None


# ---------------------------------------------------------------- probes

_TSAN_PROBE = r"""
#include <cstdio>
#include <cstring>
#include <thread>
int shared_value = 0;
int main() {
  char line[256];
  if (FILE* f = std::fopen("/proc/self/status", "r")) {  // TSan's shadow reservation, for its memory limit
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, "VmData:", 7) == 0) std::printf("%s", line);
    std::fclose(f);
  }
  std::thread t([] { shared_value = 1; });
  shared_value = 2;
  t.join();
  return 0;
}
"""


#: Runs of the probe before ThreadSanitizer is called broken: once, in a CI run of stop 20, a working
#: runtime exited 0 without reporting the probe's race, and that single miss made parevo refuse every
#: search ("ThreadSanitizer does not work").
_TSAN_PROBE_RUNS = 3


def _cache_get(cache_dir: Path, name: str) -> dict | None:
    try:
        data = json.loads((cache_dir / "probes" / f"{name}.json").read_text())
        return data if data.get("probe_version") == _PROBE_VERSION else None
    except (OSError, ValueError):
        return None


def _cache_put(cache_dir: Path, name: str, data: dict) -> None:
    folder = cache_dir / "probes"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump({**data, "probe_version": _PROBE_VERSION}, fh)
        os.replace(tmp, folder / f"{name}.json")
    except OSError:
        pass  # a read-only cache only costs a re-probe


def probe_tsan(cxx: str, kind: str) -> tuple[bool, str, int | None]:
    """Compile and run a racy two-thread program with ``-fsanitize=thread -O1 -g`` (in the sandbox).

    Returns ``(ok, detail, reserved)``: ok when the program builds, runs and TSan
    reports the race (exit status 66); ``reserved`` is the program's data segment
    at the start of ``main`` (``VmData``, bytes): TSan's shadow reservation, the
    base of a TSan run's memory limit (about 35 TiB with g++ 12, 19 TiB with
    clang 14). Takes 1 to 3 s; see :func:`discover` for the cached version.
    """
    with tempfile.TemporaryDirectory(prefix="parevo-tsan-probe-") as tmp:
        src = Path(tmp) / "probe.cpp"
        exe = Path(tmp) / "probe"
        src.write_text(_TSAN_PROBE)
        flags = ["-std=c++17", "-fsanitize=thread", "-O1", "-g", "-pthread"]
        if kind == "gcc":
            flags.append("-Wno-tsan")
        build = run_sandboxed(
            [cxx, *flags, str(src), "-o", str(exe)], cwd=tmp,
            env_extra={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            limits=RunLimits(timeout_s=120, memory_bytes=None),
        )
        if not build.ok:
            first = next((ln for ln in build.stderr.splitlines() if "error" in ln.lower()), build.describe())
            return False, f"cannot build with -fsanitize=thread: {first.strip()}", None
        for _ in range(_TSAN_PROBE_RUNS):
            run = run_sandboxed(
                [str(exe)], cwd=tmp, env_extra={"TSAN_OPTIONS": "exitcode=66"},
                limits=RunLimits(timeout_s=60, memory_bytes=None),
            )
            m = re.search(r"^VmData:\s*(\d+)\s*kB", run.stdout, re.MULTILINE)
            reserved = int(m.group(1)) * 1024 if m else None
            if run.returncode == 66 and "WARNING: ThreadSanitizer" in run.stderr:
                return True, "ThreadSanitizer builds, runs and reports races", reserved
            if "FATAL: ThreadSanitizer" in run.stderr:
                line = next(ln for ln in run.stderr.splitlines() if "FATAL: ThreadSanitizer" in ln)
                return False, f"ThreadSanitizer runtime fails: {line.strip()}", None
        return False, (f"ThreadSanitizer probe did not report the race in {_TSAN_PROBE_RUNS} runs "
                       f"({run.describe()})"), None


def _perf_value(path: Path, event: str) -> str | None:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(",")
        if len(fields) >= 3 and fields[2].split(":")[0] == event:
            return fields[0]
    return None


def _is_number(text: str | None) -> bool:
    try:
        float(text or "")
        return True
    except ValueError:
        return False


def probe_perf(perf: str) -> str | None:
    """Which ``perf stat`` counters work: :data:`PERF_HARDWARE`, :data:`PERF_SOFTWARE` or ``None``."""
    with tempfile.TemporaryDirectory(prefix="parevo-perf-probe-") as tmp:
        out = Path(tmp) / "stat.csv"
        for event, answer in (("instructions", PERF_HARDWARE), ("task-clock", PERF_SOFTWARE)):
            res = _run([perf, "stat", "-x,", "-o", str(out), "-e", event, "true"], timeout=30)
            if res is not None and res.returncode == 0 and _is_number(_perf_value(out, event)):
                return answer
    return None


def _perf_key(perf: str) -> str:
    try:
        paranoid = Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip()
    except OSError:
        paranoid = "?"
    return "perf-" + _short_hash(f"{perf}\0{os.uname().release}\0{paranoid}")


# ---------------------------------------------------------------- discover


def discover(settings: DiscoverySettings | None = None, *, probe: bool = True) -> Toolchain:
    """Find compiler, ParlayLib, TSan support and profiler on this machine.

    Never raises for missing tools: they show as ``None``/``False`` fields and
    entries in ``problems`` (use :func:`require` or :func:`doctor`). With
    ``probe=False`` the TSan and perf probes are skipped (``tsan_detail`` says
    "not probed"); otherwise their cached answers are used, or they run once
    (1 to 3 s) and are cached under ``settings.cache_dir`` or
    :func:`default_cache_dir`.
    """
    settings = settings or DiscoverySettings()
    problems: list[str] = []
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    tc = Toolchain(cache_dir=str(cache_dir))

    found = find_compiler(settings, problems)
    if found:
        tc.cxx, tc.cxx_kind, tc.cxx_version = found

    parlay = find_parlay(settings, tc.cxx, problems)
    if parlay:
        tc.parlay_include, tc.parlay_found_via = parlay
        tc.parlay_headers_sha256 = parlay_headers_sha256(tc.parlay_include)
        tc.parlay_version, tc.parlay_version_from = parlay_version(tc.parlay_include, tc.parlay_headers_sha256)

    tc.perf_path = shutil.which("perf")
    if probe:
        if tc.cxx:
            key = "tsan-" + tc.compiler_identity
            cached = _cache_get(cache_dir, key)
            if cached is None:
                ok, detail, reserved = probe_tsan(tc.cxx, tc.cxx_kind or "gcc")
                cached = {"tsan_ok": ok, "tsan_detail": detail, "tsan_reserved_bytes": reserved}
                _cache_put(cache_dir, key, cached)
            tc.tsan_ok, tc.tsan_detail = bool(cached["tsan_ok"]), str(cached["tsan_detail"])
            tc.tsan_reserved_bytes = cached.get("tsan_reserved_bytes")
        else:
            tc.tsan_detail = "no C++ compiler"
        if tc.perf_path:
            key = _perf_key(tc.perf_path)
            cached = _cache_get(cache_dir, key)
            if cached is None:
                cached = {"perf": probe_perf(tc.perf_path)}
                _cache_put(cache_dir, key, cached)
            tc.perf = cached["perf"]
    tc.problems = problems
    return tc


# ---------------------------------------------------------------- doctor / require


def _python_requirements() -> list[tuple[str, str | None]]:
    """(distribution name, installed version or None) for parevo's runtime dependencies."""
    try:
        reqs = metadata.requires("parevo") or []
    except metadata.PackageNotFoundError:
        return []
    result = []
    for req in reqs:
        if "extra ==" in req:
            continue
        name = re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0]
        try:
            result.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            result.append((name, None))
    return result


def doctor(tc: Toolchain) -> tuple[str, bool]:
    """A multi-line report on the toolchain for a user, and whether parevo can work.

    ``ok`` is False when the compiler, ParlayLib, ThreadSanitizer or a
    required Python package is missing, or when the sandbox setting is
    ``strict`` and namespaces are unavailable; each missing item says how to
    install it. The ``sandbox`` line says which isolation runs candidates.
    """
    lines: list[str] = ["parevo doctor", ""]
    ok = True

    def item(good: bool, label: str, text: str, fix: str | None = None) -> None:
        lines.append(f"[{'ok' if good else '!!'}] {label}: {text}")
        if fix and not good:
            lines.append(f"     fix: {fix}")

    if tc.cxx:
        item(True, "C++ compiler", f"{tc.cxx} ({tc.cxx_version})")
    else:
        ok = False
        configured = next((p for p in tc.problems if p.startswith("the configured compiler")), None)
        if configured is not None:
            item(False, "C++ compiler", configured, CONFIGURED_CXX_FIX)
        else:
            item(False, "C++ compiler", "not found", INSTALL_CXX)

    if tc.tsan_ok:
        item(True, "ThreadSanitizer", tc.tsan_detail)
    else:
        ok = False
        item(False, "ThreadSanitizer", tc.tsan_detail, INSTALL_TSAN)

    if tc.parlay_include:
        item(True, "ParlayLib", f"{tc.parlay_include}/parlay (found via {tc.parlay_found_via}), version "
             f"{tc.parlay_version} ({tc.parlay_version_from})")
    else:
        ok = False
        item(False, "ParlayLib", "not found", INSTALL_PARLAY)
        lines.extend("     " + line for line in MANUAL_WAYS.splitlines())

    iso = isolation()
    if iso.refused:
        ok = False
    item(iso.strong, "sandbox", iso.describe() if iso.strong or not iso.reason else f"{iso.describe()} ({iso.reason})",
         INSTALL_BWRAP)

    if tc.perf:
        item(True, "Profiler", f"{tc.perf} ({tc.perf_path})")
    elif tc.perf_path:
        item(True, "Profiler", f"rusage only: {tc.perf_path} cannot count events here "
             "(check kernel.perf_event_paranoid)")
    else:
        item(True, "Profiler", "rusage only (install `perf` for counters: apt-get install linux-perf)")

    missing = []
    for name, version in _python_requirements():
        if version is None:
            missing.append(name)
    if missing:
        ok = False
        item(False, "Python packages", "missing " + ", ".join(missing), f"pip install {' '.join(missing)}")
    else:
        item(True, "Python packages", ", ".join(f"{n} {v}" for n, v in _python_requirements()) or "(parevo not installed)")

    for problem in tc.problems:
        lines.append(f"note: {problem}")
    lines.append("")
    lines.append("ready" if ok else "not ready: fix the items marked !!")
    return "\n".join(lines), ok


class ParlayLibMissing(ToolchainMissing):
    """ParlayLib was not found (everything else :func:`require` checks is there).

    ``problems`` are the discovery findings that explain why (an invalid
    configured path, ...). Front doors catch it to offer ``parevo setup``.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


def require(tc: Toolchain, *, parlay: bool = True, tsan: bool = False) -> None:
    """Raise :class:`ToolchainMissing` unless the compiler (and ParlayLib,
    and ThreadSanitizer when asked) are available; the message says how to fix it.

    Raises:
        ToolchainMissing: no compiler, or ThreadSanitizer does not work (checked first).
        ParlayLibMissing: only ParlayLib is missing.
    """
    if not tc.cxx:
        configured = next((p for p in tc.problems if p.startswith("the configured compiler")), None)
        if configured is not None:
            raise ToolchainMissing(f"{configured[0].upper()}{configured[1:]}. To fix: {CONFIGURED_CXX_FIX}.")
        raise ToolchainMissing(f"No C++ compiler found. To fix: {INSTALL_CXX}.")
    if tsan and not tc.tsan_ok:
        raise ToolchainMissing(f"ThreadSanitizer does not work with {tc.cxx}: {tc.tsan_detail}. To fix: {INSTALL_TSAN}.")
    if parlay and not tc.parlay_include:
        extra = f" ({'; '.join(tc.problems)})" if tc.problems else ""
        raise ParlayLibMissing(f"ParlayLib headers not found{extra}. To fix: {INSTALL_PARLAY}.", tc.problems)
