"""Shared pytest fixtures and hooks for parevo's tests.

Several engineers add to this file: add new fixtures, don't replace others'.

* Tests marked ``@pytest.mark.parlay`` need a C++ compiler and ParlayLib; when
  either is missing they are skipped with a loud reason, and the run ends
  with a warning saying how many did not run.
* ``parevo_cache_dir`` (session) is a compile/probe cache kept between runs
  under ``.pytest_cache`` (or ``$PAREVO_TEST_CACHE_DIR``), so ParlayLib
  translation units compile once per machine, not once per test run.
* ``toolchain`` and ``compiler`` (session) are the discovered toolchain and a
  :class:`~parevo.toolchain.compiler.Compiler` on that cache.
* ``PAREVO_PARLAYLIB_FROM`` points first-use installs of ParlayLib at a closed
  local port unless a test sets it: no test downloads from GitHub.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# ----------------------------------------------------------------- toolchain / ParlayLib

#: No test reaches the internet: an install of ParlayLib that a test does not point at its own
#: loopback server goes to a closed local port (connection refused, as without network).
os.environ.setdefault("PAREVO_PARLAYLIB_FROM", "http://127.0.0.1:9/no-internet-in-tests/parlaylib.tar.gz")

_PARLAY_STATE: dict[str, object] = {}


def _parlay_unavailable_reason() -> str | None:
    """Why ParlayLib tests cannot run here (``None`` when they can). Cheap: no probes."""
    if "reason" not in _PARLAY_STATE:
        try:
            from parevo.toolchain.discovery import DiscoverySettings, discover

            tc = discover(DiscoverySettings(), probe=False)
            if not tc.cxx:
                reason = "no C++ compiler found (install g++ or set CXX)"
            elif not tc.parlay_include:
                reason = "ParlayLib headers not found (install them or set PARLAYLIB_INCLUDE)"
            else:
                reason = None
        except Exception as exc:  # a broken discovery must not hide every other test
            reason = f"toolchain discovery failed: {exc!r}"
        _PARLAY_STATE["reason"] = reason
    return _PARLAY_STATE["reason"]  # type: ignore[return-value]


def pytest_collection_modifyitems(config, items):
    parlay_items = [item for item in items if item.get_closest_marker("parlay")]
    if not parlay_items:
        return
    reason = _parlay_unavailable_reason()
    if reason is None:
        return
    marker = pytest.mark.skip(reason=f"!!! PARLAYLIB TEST NOT RUN: {reason} !!!")
    for item in parlay_items:
        item.add_marker(marker)
    _PARLAY_STATE["skipped"] = len(parlay_items)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = _PARLAY_STATE.get("skipped")
    if skipped:
        terminalreporter.write_sep(
            "!", f"{skipped} ParlayLib tests were SKIPPED: {_PARLAY_STATE.get('reason')}", red=True, bold=True
        )


@pytest.fixture(scope="session")
def parevo_cache_dir(request, tmp_path_factory) -> Path:
    """Compile and probe cache shared by the whole session (and kept between runs)."""
    if os.environ.get("PAREVO_TEST_CACHE_DIR"):
        path = Path(os.environ["PAREVO_TEST_CACHE_DIR"])
        path.mkdir(parents=True, exist_ok=True)
        return path
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("parevo-cache"))
    return tmp_path_factory.mktemp("parevo-cache")


@pytest.fixture(scope="session")
def toolchain(parevo_cache_dir):
    """The discovered :class:`Toolchain` (probes cached in ``parevo_cache_dir``)."""
    from parevo.toolchain.discovery import DiscoverySettings, discover

    return discover(DiscoverySettings(cache_dir=str(parevo_cache_dir)))


@pytest.fixture(scope="session")
def compiler(toolchain, parevo_cache_dir):
    """A session-wide :class:`Compiler` whose objects persist in ``parevo_cache_dir``."""
    from parevo.toolchain.compiler import Compiler

    if not toolchain.cxx:
        pytest.skip("!!! no C++ compiler found: install g++ or set CXX !!!")
    return Compiler(toolchain, parevo_cache_dir)


# ----------------------------------------------------------------- harness builds (plain g++)


class HarnessBuild:
    """Compile variant translation units against the generic driver with plain ``g++``.

    The driver object is compiled once per flag set and session; objects and
    executables are cached by the hash of their source and flags in a session
    temporary directory. Used by the harness tests.
    """

    def __init__(self, root: Path, cxx: str = "g++"):
        self.root = root
        self.cxx = cxx
        self._drivers: dict[tuple[str, ...], Path] = {}

    def _key(self, *parts: str) -> str:
        import hashlib

        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]

    def driver(self, flags: tuple[str, ...] = ("-std=c++17", "-O2")) -> Path:
        """The driver object for ``flags`` (compiled on first use)."""
        import subprocess

        from parevo.toolchain.harness import driver_source

        if flags not in self._drivers:
            src = self.root / f"driver-{self._key(*flags)}.cpp"
            src.write_text(driver_source())
            obj = src.with_suffix(".o")
            subprocess.run([self.cxx, *flags, "-c", str(src), "-o", str(obj)], check=True,
                           capture_output=True, text=True)
            self._drivers[flags] = obj
        return self._drivers[flags]

    def compile(self, source: str, flags: tuple[str, ...] = ("-std=c++17", "-O2")):
        """Compile and link ``source``; returns ``(exe path or None, stderr)``."""
        import subprocess

        from parevo.toolchain.harness import harness_header_dir

        key = self._key(source, *flags)
        exe = self.root / f"v-{key}"
        if exe.exists():
            return exe, ""
        src = self.root / f"v-{key}.cpp"
        src.write_text(source)
        obj = src.with_suffix(".o")
        res = subprocess.run([self.cxx, *flags, "-I", str(harness_header_dir()), "-c", str(src), "-o", str(obj)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            return None, res.stderr
        link = subprocess.run([self.cxx, "-pthread", str(self.driver(flags)), str(obj), "-o", str(exe)],
                              capture_output=True, text=True)
        if link.returncode != 0:
            return None, link.stderr
        return exe, res.stderr

    def exe(self, source: str, flags: tuple[str, ...] = ("-std=c++17", "-O2")) -> Path:
        """Like :meth:`compile` but fails the test with the compiler's message."""
        exe, err = self.compile(source, flags)
        if exe is None:
            pytest.fail(f"variant did not compile:\n{err[:4000]}")
        return exe

    def run(self, exe: Path, *args: str, timeout: float = 120, env: dict | None = None):
        import subprocess

        e = dict(os.environ)
        e.setdefault("PARLAY_NUM_THREADS", "2")
        e.update(env or {})
        return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, env=e)

    def dump(self, exe: Path, mode: str, cases: list[str], **kw):
        """Run ``exe check|inputs`` on ``cases``; returns ``(parsed cases, CompletedProcess)``."""
        import tempfile

        from parevo.toolchain.outputs import parse_dump

        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            out = Path(tmp) / "out.txt"
            res = self.run(exe, mode, str(out), *cases, **kw)
            text = out.read_text() if out.exists() else ""
        return parse_dump(text), res


@pytest.fixture(scope="session")
def harness_build(tmp_path_factory) -> HarnessBuild:
    """A session-wide :class:`HarnessBuild` (skips when g++ is missing)."""
    import shutil

    if shutil.which("g++") is None:
        pytest.skip("!!! g++ not found: the harness tests need a C++ compiler !!!")
    return HarnessBuild(tmp_path_factory.mktemp("harness"))
