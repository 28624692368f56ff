"""Tests of parevo.toolchain.compiler: content cache, errors, links, concurrency."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from parevo.toolchain.compiler import (
    OPT_FLAGS,
    OPT_LINK_FLAGS,
    TSAN_FLAGS,
    Compiler,
    first_error,
    tsan_flags,
)
from parevo.toolchain.discovery import Toolchain
from parevo.toolchain.sandbox import run_sandboxed

HAS_GXX = shutil.which("g++") is not None
needs_gxx = pytest.mark.skipif(not HAS_GXX, reason="needs g++")

LIB_SRC = """
#line 1 "/src/lib.cpp"
int twice(int x) { return 2 * x; }
"""
MAIN_SRC = """
#include <cstdio>
int twice(int x);
int main() { std::printf("%d\\n", twice(21)); return 0; }
"""
BROKEN_SRC = """
#line 40 "/home/user/loop.cpp"
int f() {
  return undeclared_thing + 1;
}
"""


def _gxx_toolchain(**kw) -> Toolchain:
    return Toolchain(cxx=shutil.which("g++"), cxx_kind="gcc", cxx_version="test g++", **kw)


@pytest.fixture
def fresh(tmp_path):
    """A Compiler on g++ with an empty cache (no ParlayLib needed)."""
    if not HAS_GXX:
        pytest.skip("needs g++")
    return Compiler(_gxx_toolchain(), tmp_path / "cache")


# ------------------------------------------------------------------ pure


@pytest.mark.fast
def test_first_error_gcc_and_clang_forms():
    gcc = (
        "/home/user/loop.cpp: In function 'int f()':\n"
        "/home/user/loop.cpp:41:10: error: 'undeclared_thing' was not declared in this scope\n"
        "/home/user/loop.cpp:50:3: error: second\n"
    )
    assert first_error(gcc) == (
        "/home/user/loop.cpp:41:10: error: 'undeclared_thing' was not declared in this scope",
        "/home/user/loop.cpp", 41, 10,
    )
    assert first_error("a.cpp:3:1: fatal error: parlay/x.h: No such file or directory\n")[1:] == ("a.cpp", 3, 1)
    assert first_error("b.cpp:7: error: no column\n")[1:] == ("b.cpp", 7, None)
    link = (
        "/usr/bin/ld: /tmp/main.o: in function `main':\nmain.cpp:(.text+0x5): undefined reference to `twice(int)'\n"
        "collect2: error: ld returned 1 exit status\n"
    )
    assert "undefined reference to `twice(int)'" in first_error(link)[0]
    assert first_error("cc1plus: error: unrecognized option\n")[0] == "cc1plus: error: unrecognized option"
    assert first_error("warning: only a warning\n") == (None, None, None, None)


@pytest.mark.fast
def test_flag_sets():
    assert OPT_FLAGS == ["-std=c++17", "-O3", "-pthread"]
    assert "-fsanitize=thread" in TSAN_FLAGS and "-fno-inline" in TSAN_FLAGS and "-O1" in TSAN_FLAGS
    if HAS_GXX:
        assert tsan_flags(_gxx_toolchain())[-1] == "-Wno-tsan"
    if shutil.which("clang++"):
        clang = Toolchain(cxx=shutil.which("clang++"), cxx_kind="clang", cxx_version="clang")
        assert "-Wno-tsan" not in tsan_flags(clang)  # clang warns about the unknown option


@pytest.mark.fast
def test_compiler_requires_a_compiler(tmp_path):
    from parevo.toolchain.models import ToolchainMissing

    with pytest.raises(ToolchainMissing):
        Compiler(Toolchain(), tmp_path)


@pytest.mark.fast
@needs_gxx
def test_keys_depend_on_source_flags_and_toolchain(tmp_path):
    a = Compiler(_gxx_toolchain(), tmp_path)
    b = Compiler(_gxx_toolchain(parlay_include="/other"), tmp_path)
    k = a.object_key("int x;", ["-O3"])
    assert k == a.object_key("int x;", ["-O3"]) and len(k) == 64
    assert k != a.object_key("int y;", ["-O3"])
    assert k != a.object_key("int x;", ["-O2"])
    assert k != b.object_key("int x;", ["-O3"])


@pytest.mark.fast
def test_parlay_include_is_added_automatically(tmp_path):
    c = Compiler(Toolchain(cxx="/usr/bin/g++", parlay_include="/opt/parlay/include"), tmp_path)
    assert c.include_flags() == ["-I/opt/parlay/include"]
    assert Compiler(Toolchain(cxx="/usr/bin/g++"), tmp_path).include_flags() == []


# ------------------------------------------------------------------ compiles (small, no ParlayLib)


@pytest.mark.fast
def test_compile_then_cache_hit(fresh):
    first = fresh.compile_object(LIB_SRC, OPT_FLAGS, label="lib")
    assert first.ok and not first.cached and first.seconds > 0
    assert first.first_error is None
    obj = Path(first.output_path)
    assert obj.is_file() and obj.name == f"{first.key}.o"
    assert obj.parent == fresh.cache_dir / "objects" / first.key[:2]
    assert "-c" in first.command and "-O3" in first.command
    second = fresh.compile_object(LIB_SRC, OPT_FLAGS, label="other-label")
    assert second.ok and second.cached and second.seconds == 0
    assert second.output_path == first.output_path and second.key == first.key
    assert fresh.stats["compiles"] == 1 and fresh.stats["cache_hits"] == 1
    assert fresh.stats["compile_seconds"] > 0
    # another Compiler on the same cache (e.g. after a restart) hits too
    again = Compiler(fresh.toolchain, fresh.cache_dir).compile_object(LIB_SRC, OPT_FLAGS)
    assert again.cached and again.ok


@pytest.mark.fast
def test_failed_compile_is_reported_and_cached(fresh):
    bad = fresh.compile_object(BROKEN_SRC, OPT_FLAGS)
    assert not bad.ok and bad.output_path is None and not bad.cached
    assert bad.first_error.startswith("/home/user/loop.cpp:41:")
    assert "error:" in bad.first_error and "undeclared_thing" in bad.first_error
    assert (bad.error_file, bad.error_line1) == ("/home/user/loop.cpp", 41)
    assert bad.error_col1 is not None
    assert "undeclared_thing" in bad.stderr
    again = fresh.compile_object(BROKEN_SRC, OPT_FLAGS)
    assert again.cached and not again.ok and again.first_error == bad.first_error
    assert again.error_line1 == 41
    assert fresh.stats["compiles"] == 1


@pytest.mark.fast
def test_same_key_compiles_once_under_concurrency(fresh):
    results = []
    barrier = threading.Barrier(4)

    def work():
        barrier.wait()
        results.append(fresh.compile_object(LIB_SRC + "// concurrent\n", OPT_FLAGS))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r.ok for r in results)
    assert len({r.output_path for r in results}) == 1
    assert fresh.stats["compiles"] == 1 and fresh.stats["cache_hits"] == 3
    assert sum(not r.cached for r in results) == 1


@pytest.mark.fast
def test_link_and_run(fresh):
    lib = fresh.compile_object(LIB_SRC, OPT_FLAGS)
    main = fresh.compile_object(MAIN_SRC, OPT_FLAGS)
    exe = fresh.link([main.output_path, lib.output_path], OPT_LINK_FLAGS)
    assert exe.ok and not exe.cached
    assert Path(exe.output_path).parent.parent == fresh.cache_dir / "exes"
    assert run_sandboxed([exe.output_path]).stdout == "42\n"
    again = fresh.link([main.output_path, lib.output_path], OPT_LINK_FLAGS)
    assert again.cached and again.output_path == exe.output_path
    other = fresh.link([main.output_path, lib.output_path], ["-pthread", "-O2"])
    assert not other.cached and other.key != exe.key
    assert fresh.stats["links"] == 2


@pytest.mark.fast
def test_link_error_is_reported(fresh):
    main = fresh.compile_object(MAIN_SRC, OPT_FLAGS)
    bad = fresh.link([main.output_path], OPT_LINK_FLAGS)
    assert not bad.ok and bad.output_path is None
    assert "undefined reference" in bad.first_error and "twice" in bad.first_error


@pytest.mark.fast
def test_link_of_foreign_object_uses_content_hash(fresh, tmp_path):
    lib = fresh.compile_object(LIB_SRC, OPT_FLAGS)
    lib3 = fresh.compile_object(LIB_SRC.replace("2 * x", "3 * x"), OPT_FLAGS)
    main = fresh.compile_object(MAIN_SRC, OPT_FLAGS)
    copy = tmp_path / "lib_copy.o"
    shutil.copy(lib.output_path, copy)
    a = fresh.link([main.output_path, str(copy)], OPT_LINK_FLAGS)
    assert a.ok and run_sandboxed([a.output_path]).stdout == "42\n"
    shutil.copy(lib3.output_path, copy)  # same path, new content: must not hit the cache
    b = fresh.link([main.output_path, str(copy)], OPT_LINK_FLAGS)
    assert b.ok and not b.cached and b.key != a.key
    assert run_sandboxed([b.output_path]).stdout == "63\n"
    with pytest.raises(FileNotFoundError):
        fresh.link([str(tmp_path / "missing.o")], OPT_LINK_FLAGS)


@pytest.mark.fast
def test_build_executable_sums_steps(fresh):
    exe = fresh.build_executable(LIB_SRC + MAIN_SRC, OPT_FLAGS, OPT_LINK_FLAGS)
    assert exe.ok and not exe.cached and exe.seconds > 0
    assert run_sandboxed([exe.output_path]).stdout == "42\n"
    again = fresh.build_executable(LIB_SRC + MAIN_SRC, OPT_FLAGS, OPT_LINK_FLAGS)
    assert again.cached and again.seconds == 0
    bad = fresh.build_executable(BROKEN_SRC, OPT_FLAGS, OPT_LINK_FLAGS)
    assert not bad.ok and bad.error_line1 == 41


@pytest.mark.fast
def test_timeout_and_cancel_are_not_cached(fresh):
    slow = fresh.compile_object(LIB_SRC + "// t\n", OPT_FLAGS, timeout_s=0.001)
    assert not slow.ok and slow.timed_out and "timed out" in slow.first_error
    cancel = threading.Event()
    cancel.set()
    cancelled = fresh.compile_object(LIB_SRC + "// t\n", OPT_FLAGS, cancel=cancel)
    assert not cancelled.ok and cancelled.cancelled and not cancelled.cached
    ok = fresh.compile_object(LIB_SRC + "// t\n", OPT_FLAGS)
    assert ok.ok and not ok.cached
    assert not list(fresh.cache_dir.rglob("*.tmp"))


@pytest.mark.fast
def test_evicted_object_is_rebuilt(fresh):
    first = fresh.compile_object(LIB_SRC, OPT_FLAGS)
    Path(first.output_path).unlink()
    second = fresh.compile_object(LIB_SRC, OPT_FLAGS)
    assert second.ok and not second.cached and Path(second.output_path).is_file()


@pytest.mark.parlay
def test_parlay_source_compiles_with_discovered_include(compiler):
    src = "#include <parlay/parallel.h>\nint main() { return parlay::num_workers() > 0 ? 0 : 1; }\n"
    out = compiler.build_executable(src, OPT_FLAGS, OPT_LINK_FLAGS, label="num_workers")
    assert out.ok, out.stderr
    assert f"-I{compiler.toolchain.parlay_include}" in compiler.compile_object(src, OPT_FLAGS).command
    assert run_sandboxed([out.output_path]).ok
