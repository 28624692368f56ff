"""Tests of parevo.toolchain.discovery: compiler/ParlayLib search, probes, doctor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from parevo.toolchain import discovery
from parevo.toolchain.discovery import (
    PERF_HARDWARE,
    PERF_SOFTWARE,
    DiscoverySettings,
    Toolchain,
    compile_commands_includes,
    default_cache_dir,
    default_include_paths,
    discover,
    doctor,
    find_parlay,
    parlay_cmake_version,
    ParlayLibMissing,
    parlay_headers_sha256,
    require,
)
from parevo.toolchain.models import ToolchainMissing

HAS_GXX = shutil.which("g++") is not None


def _fake_parlay(root: Path, content: str = "// primitives\n") -> Path:
    """Create ``root/parlay/primitives.h`` (+ an internal header); return ``root``."""
    (root / "parlay" / "internal").mkdir(parents=True, exist_ok=True)
    (root / "parlay" / "primitives.h").write_text(content)
    (root / "parlay" / "internal" / "work_stealing_job.h").write_text("// internal\n")
    return root


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("PARLAYLIB_INCLUDE", "CXX", "CMAKE_PREFIX_PATH", "PAREVO_CACHE_DIR", "XDG_CACHE_HOME",
                "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PAREVO_DATA_DIR", str(tmp_path / "parevo-data"))  # no copy of parevo setup's
    return monkeypatch


# ------------------------------------------------------------------ fast, no compiler


@pytest.mark.fast
def test_default_cache_dir_precedence(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "parevo"
    clean_env.setenv("XDG_CACHE_HOME", "/x/cache")
    assert default_cache_dir() == Path("/x/cache/parevo")
    clean_env.setenv("PAREVO_CACHE_DIR", "/p/cache")
    assert default_cache_dir() == Path("/p/cache")


@pytest.mark.fast
def test_cmake_prefixes_default_from_env(clean_env):
    clean_env.setenv("CMAKE_PREFIX_PATH", "/a:/b")
    assert DiscoverySettings().cmake_prefixes == ["/a", "/b"]
    clean_env.delenv("CMAKE_PREFIX_PATH")
    assert DiscoverySettings().cmake_prefixes == []


@pytest.mark.fast
def test_compile_commands_includes_command_and_arguments(tmp_path):
    ws = tmp_path / "ws"
    (ws / "build").mkdir(parents=True)
    (ws / "compile_commands.json").write_text(json.dumps([
        {"directory": str(ws), "file": "a.cpp", "command": "g++ -Ithird_party/inc -I /abs/one -DX=1 -c a.cpp"},
    ]))
    (ws / "build" / "compile_commands.json").write_text(json.dumps([
        {"directory": str(ws / "build"), "file": "b.cpp",
         "arguments": ["clang++", "-isystem", "/sys/inc", "-isystem/sys/two", "-I../rel", "-include", "x.h", "b.cpp"]},
    ]))
    assert compile_commands_includes(str(ws)) == [
        str(ws / "third_party" / "inc"), "/abs/one", "/sys/inc", "/sys/two", str(ws / "rel"),
    ]


@pytest.mark.fast
def test_compile_commands_garbage_is_ignored(tmp_path):
    (tmp_path / "compile_commands.json").write_text("{not json")
    assert compile_commands_includes(str(tmp_path)) == []


@pytest.mark.fast
def test_find_parlay_order_setting_env_compile_commands_cmake(clean_env, tmp_path):
    setting = _fake_parlay(tmp_path / "setting")
    env = _fake_parlay(tmp_path / "env")
    ws = tmp_path / "ws"
    ws.mkdir()
    cc = _fake_parlay(tmp_path / "cc")
    (ws / "compile_commands.json").write_text(json.dumps([{"directory": str(ws), "arguments": ["g++", f"-I{cc}"]}]))
    prefix = tmp_path / "prefix"
    _fake_parlay(prefix / "include")

    def find(**kw):
        problems: list[str] = []
        s = DiscoverySettings(workspace=str(ws), cmake_prefixes=[str(prefix)], **kw)
        return find_parlay(s, None, problems), problems

    clean_env.setenv("PARLAYLIB_INCLUDE", str(env))
    assert find(parlay_include=str(setting)) == ((str(setting), "setting"), [])
    assert find() == ((str(env), "PARLAYLIB_INCLUDE"), [])
    clean_env.delenv("PARLAYLIB_INCLUDE")
    assert find() == ((str(cc), "compile_commands.json"), [])
    (ws / "compile_commands.json").unlink()
    assert find() == ((str(prefix / "include"), "cmake prefix"), [])


@pytest.mark.fast
def test_invalid_configured_paths_are_problems_and_search_continues(clean_env, tmp_path):
    good = _fake_parlay(tmp_path / "good")
    clean_env.setenv("PARLAYLIB_INCLUDE", str(tmp_path / "missing"))
    problems: list[str] = []
    # the setting points at parlay/ itself: a common mistake, with a hint
    s = DiscoverySettings(parlay_include=str(good / "parlay"), cmake_prefixes=[str(tmp_path)])
    (tmp_path / "include").symlink_to(good)
    found = find_parlay(s, None, problems)
    assert found == (str(tmp_path / "include"), "cmake prefix")
    assert len(problems) == 2
    assert "setting parlay_include" in problems[0] and "not parlay/ itself" in problems[0]
    assert "PARLAYLIB_INCLUDE" in problems[1]


@pytest.mark.fast
def test_parlay_not_found_anywhere(clean_env, tmp_path):
    problems: list[str] = []
    assert find_parlay(DiscoverySettings(cmake_prefixes=[str(tmp_path)]), None, problems) is None
    assert problems == []


@pytest.mark.fast
@pytest.mark.skipif(not HAS_GXX, reason="needs g++")
def test_system_parlay_can_be_ignored(clean_env, tmp_path):
    """The compiler's default include paths are searched unless ``system_parlay`` is off."""
    fake_cxx = tmp_path / "bin" / "c++"
    sys_inc = _fake_parlay(tmp_path / "sysinc")
    fake_cxx.parent.mkdir()
    fake_cxx.write_text("#!/bin/sh\necho '#include <...> search starts here:' >&2\n"
                        f"echo ' {sys_inc}' >&2\necho 'End of search list.' >&2\n")
    fake_cxx.chmod(0o755)
    problems: list[str] = []
    assert find_parlay(DiscoverySettings(), str(fake_cxx), problems) == (str(sys_inc), "default include paths")
    assert find_parlay(DiscoverySettings(system_parlay=False), str(fake_cxx), problems) is None


@pytest.mark.fast
def test_parlay_version_from_cmake_config(tmp_path):
    prefix = tmp_path / "prefix"
    _fake_parlay(prefix / "include")
    assert parlay_cmake_version(str(prefix / "include")) is None
    cfg = prefix / "lib64" / "cmake" / "Parlay"
    cfg.mkdir(parents=True)
    (cfg / "ParlayConfigVersion.cmake").write_text('set(PACKAGE_VERSION "2.3.3")\nif(...)\n')
    assert parlay_cmake_version(str(prefix / "include")) == "2.3.3"


@pytest.mark.fast
def test_headers_hash_covers_every_header(tmp_path):
    root = _fake_parlay(tmp_path / "inc")
    h1 = parlay_headers_sha256(str(root))
    assert len(h1) == 64 and h1 == parlay_headers_sha256(str(root))
    (root / "parlay" / "internal" / "work_stealing_job.h").write_text("// changed\n")
    assert parlay_headers_sha256(str(root)) != h1


@pytest.mark.fast
def test_identity_is_stable_and_sensitive():
    base = Toolchain(cxx="/usr/bin/g++", cxx_kind="gcc", cxx_version="g++ 12.2.0", parlay_include="/i",
                     parlay_version="2.3.3", parlay_headers_sha256="ab" * 32)
    same = base.model_copy()
    assert base.identity == same.identity and len(base.identity) == 16
    assert base.model_copy(update={"cxx_version": "g++ 13.1.0"}).identity != base.identity
    assert base.model_copy(update={"parlay_include": "/j"}).identity != base.identity
    assert base.model_copy(update={"parlay_headers_sha256": "cd" * 32}).identity != base.identity
    # probe cache key depends only on the compiler
    assert base.model_copy(update={"parlay_include": "/j"}).compiler_identity == base.compiler_identity


@pytest.mark.fast
def test_doctor_lists_every_missing_item_with_its_fix():
    report, ok = doctor(Toolchain(tsan_detail="no C++ compiler"))
    assert not ok
    assert "apt-get install g++" in report
    assert "parevo setup" in report and "PARLAYLIB_INCLUDE" in report
    assert "git clone https://github.com/cmuparlay/parlaylib && sudo cp -r" in report
    assert "libtsan2" in report
    assert report.count("[!!]") == 3
    assert "not ready" in report


@pytest.mark.fast
def test_doctor_ok_for_a_complete_toolchain():
    tc = Toolchain(cxx="/usr/bin/g++", cxx_kind="gcc", cxx_version="g++ 12", parlay_include="/usr/local/include",
                   parlay_found_via="default include paths", parlay_version="unknown (headers sha256:0123456789ab)",
                   tsan_ok=True, tsan_detail="works", perf=PERF_SOFTWARE, perf_path="/usr/bin/perf",
                   problems=["setting cxx = 'nope' is not a working compiler"])
    report, ok = doctor(tc)
    assert ok, report
    assert "[!!]" not in report
    assert "/usr/local/include/parlay (found via default include paths)" in report
    assert "headers sha256:0123456789ab" in report
    assert PERF_SOFTWARE in report
    assert "note: setting cxx" in report


@pytest.mark.fast
def test_require_raises_user_facing_errors():
    full = Toolchain(cxx="/usr/bin/g++", parlay_include="/usr/local/include", tsan_ok=True)
    require(full, parlay=True, tsan=True)  # no error
    with pytest.raises(ToolchainMissing, match="apt-get install g\\+\\+"):
        require(Toolchain())
    no_parlay = full.model_copy(update={"parlay_include": None, "problems": ["PARLAYLIB_INCLUDE = '/x' is empty"]})
    with pytest.raises(ParlayLibMissing, match="parevo setup") as err:
        require(no_parlay)
    assert err.value.problems == ["PARLAYLIB_INCLUDE = '/x' is empty"] and "PARLAYLIB_INCLUDE = '/x'" in str(err.value)
    require(no_parlay, parlay=False)
    no_tsan = full.model_copy(update={"tsan_ok": False, "tsan_detail": "cannot find -ltsan"})
    require(no_tsan)  # tsan not asked for
    with pytest.raises(ToolchainMissing, match="cannot find -ltsan.*libtsan2"):
        require(no_tsan, tsan=True)
    # ParlayLibMissing means "only ParlayLib": a broken TSan is reported first
    with pytest.raises(ToolchainMissing) as err:
        require(no_tsan.model_copy(update={"parlay_include": None}), tsan=True)
    assert not isinstance(err.value, ParlayLibMissing)


# ------------------------------------------------------------------ with the real compiler


@pytest.mark.fast
@pytest.mark.skipif(not HAS_GXX, reason="needs g++")
def test_compiler_search_setting_env_and_fallback(clean_env, tmp_path):
    problems: list[str] = []
    found = discovery.find_compiler(DiscoverySettings(cxx="g++"), problems)
    assert found is not None and found[0] == shutil.which("g++") and found[1] == "gcc"
    assert problems == []
    # a configured compiler that does not work is named, never silently replaced by another one
    clean_env.setenv("CXX", "/nonexistent/c++")
    found = discovery.find_compiler(DiscoverySettings(cxx="not-a-compiler-xyz"), problems)
    assert found is None
    assert problems == ["the configured compiler (setting cxx = 'not-a-compiler-xyz') is not a working C++ "
                        "compiler: not-a-compiler-xyz was not found (not an executable file, nor a command on PATH)"]
    problems.clear()
    assert discovery.find_compiler(DiscoverySettings(), problems) is None
    assert "environment variable CXX = '/nonexistent/c++'" in problems[0]
    for fake in ("/bin/echo", "/usr/bin/false"):  # runs, but is not a C++ compiler
        problems.clear()
        assert discovery.find_compiler(DiscoverySettings(cxx=fake), problems) is None, fake
        assert fake in problems[0] and "not a working C++ compiler" in problems[0]
    with pytest.raises(ToolchainMissing, match=r"setting cxx = '/usr/bin/false'.*unset it"):
        require(Toolchain(problems=problems))


@pytest.mark.fast
@pytest.mark.skipif(not HAS_GXX, reason="needs g++")
def test_default_include_paths_parsed():
    paths = default_include_paths(shutil.which("g++"))
    assert "/usr/include" in paths
    assert all(p == str(Path(p)) and ".." not in Path(p).parts for p in paths)


@pytest.mark.fast
@pytest.mark.skipif(not HAS_GXX, reason="needs g++")
def test_discover_caches_probes(clean_env, tmp_path, monkeypatch):
    calls = {"tsan": 0, "perf": 0}

    def fake_tsan(cxx, kind):
        calls["tsan"] += 1
        return True, "fake probe", 35 << 40

    def fake_perf(perf):
        calls["perf"] += 1
        return PERF_SOFTWARE

    monkeypatch.setattr(discovery, "probe_tsan", fake_tsan)
    monkeypatch.setattr(discovery, "probe_perf", fake_perf)
    monkeypatch.setattr(discovery.shutil, "which", lambda name, _w=shutil.which: "/usr/bin/perf" if name == "perf" else _w(name))
    settings = DiscoverySettings(cache_dir=str(tmp_path / "cache"))
    first = discover(settings)
    second = discover(settings)
    assert calls == {"tsan": 1, "perf": 1}
    assert first.tsan_ok and second.tsan_detail == "fake probe" and second.tsan_reserved_bytes == 35 << 40
    assert second.perf == PERF_SOFTWARE
    assert list((tmp_path / "cache" / "probes").glob("tsan-*.json"))
    # another compiler (identity) is probed again; the perf answer is shared
    if shutil.which("clang++"):
        discover(settings.model_copy(update={"cxx": "clang++"}))
        assert calls == {"tsan": 2, "perf": 1}


@pytest.mark.fast
@pytest.mark.skipif(not HAS_GXX, reason="needs g++")
def test_discover_without_probes_and_with_fake_parlay(clean_env, tmp_path):
    inc = _fake_parlay(tmp_path / "inc")
    tc = discover(DiscoverySettings(parlay_include=str(inc), cache_dir=str(tmp_path / "c")), probe=False)
    assert tc.cxx and Path(tc.cxx).is_absolute()
    assert tc.cxx_version and tc.cxx_kind in ("gcc", "clang")
    assert tc.parlay_include == str(inc) and tc.parlay_found_via == "setting"
    assert tc.parlay_version == f"unknown (headers sha256:{parlay_headers_sha256(str(inc))[:12]})"
    assert tc.tsan_ok is False and tc.tsan_detail == "not probed"
    assert not (tmp_path / "c").exists()


@pytest.mark.parlay
def test_real_toolchain_is_complete(toolchain):
    """On a provisioned machine everything parevo needs is found."""
    assert toolchain.cxx and toolchain.parlay_include
    assert (Path(toolchain.parlay_include) / "parlay" / "primitives.h").is_file()
    assert toolchain.tsan_ok, toolchain.tsan_detail
    report, ok = doctor(toolchain)
    assert ok, report


@pytest.mark.fast
@pytest.mark.skipif(not HAS_GXX, reason="needs g++")
def test_real_tsan_probe_detects_the_race():
    ok, detail, reserved = discovery.probe_tsan(shutil.which("g++"), "gcc")
    assert ok, detail
    assert reserved is not None and reserved > 1 << 40  # TSan reserves terabytes of shadow


@pytest.mark.fast
@pytest.mark.skipif(shutil.which("perf") is None, reason="needs perf")
def test_real_perf_probe_answers_something_consistent():
    answer = discovery.probe_perf(shutil.which("perf"))
    assert answer in (PERF_HARDWARE, PERF_SOFTWARE, None)
    if answer is not None:
        assert discovery.probe_perf("/bin/false") is None


def test_the_tsan_probe_runs_again_before_calling_thread_sanitizer_broken(monkeypatch):
    """A working runtime that once exits 0 without the report (seen once in CI, on a loaded run) is not
    called broken: the probe runs up to three times; a runtime that never reports is still refused."""
    from types import SimpleNamespace

    def fake(outcomes):
        runs = iter(outcomes)

        def run(argv, **kw):
            if "-fsanitize=thread" in argv:  # the build
                return SimpleNamespace(ok=True, stderr="", stdout="", returncode=0)
            code = next(runs)
            return SimpleNamespace(ok=code == 0, returncode=code, stdout="VmData: 4 kB\n",
                                   stderr="WARNING: ThreadSanitizer: data race" if code == 66 else "",
                                   describe=lambda: f"exited with status {code}")
        return run

    monkeypatch.setattr(discovery, "run_sandboxed", fake([0, 66]))
    assert discovery.probe_tsan("g++", "gcc") == (True, "ThreadSanitizer builds, runs and reports races", 4096)
    monkeypatch.setattr(discovery, "run_sandboxed", fake([0, 0, 0]))
    ok, detail, _ = discovery.probe_tsan("g++", "gcc")
    assert not ok and detail == "ThreadSanitizer probe did not report the race in 3 runs (exited with status 0)"
