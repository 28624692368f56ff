"""Tests of parevo.toolchain.tsan: environment, report parsing, real ParlayLib races."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from parevo.toolchain.compiler import TSAN_LINK_FLAGS, Compiler, tsan_flags
from parevo.toolchain.discovery import DiscoverySettings, discover
from parevo.toolchain.sandbox import RunLimits, run_sandboxed
from parevo.toolchain.tsan import (
    TSAN_EXITCODE,
    TSAN_HEAP_BYTES,
    Frame,
    parse_frame,
    parse_reports,
    read_logs,
    run_tsan,
    suppressions_path,
    tsan_env,
    tsan_limits,
)

# Real g++ 12 output (std::thread race on a global).
GCC_REPORT = """\
==================
WARNING: ThreadSanitizer: data race (pid=3748)
  Write of size 4 at 0x559f8b6d5094 by thread T1:
    #0 operator() /tmp/tt/t.cpp:3 (tg+0x1249)
    #1 __invoke_impl<void, main()::<lambda()> > /usr/include/c++/12/bits/invoke.h:61 (tg+0x1249)
    #5 _M_run /usr/include/c++/12/bits/std_thread.h:210 (tg+0x1249)
    #6 <null> <null> (libstdc++.so.6+0xd44a2)

  Previous read of size 4 at 0x559f8b6d5094 by main thread:
    #0 main /tmp/tt/t.cpp:3 (tg+0x135b)

  Location is global 'x' of size 4 at 0x559f8b6d5094 (tg+0x4094)

  Thread T1 (tid=3750, running) created by main thread at:
    #0 pthread_create ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:1001 (libtsan.so.2+0x5e686)
    #1 std::thread::_M_start_thread(std::unique_ptr<std::thread::_State, std::default_delete<std::thread::_State> >, void (*)()) <null> (libstdc++.so.6+0xd4578)
    #2 main /tmp/tt/t.cpp:3 (tg+0x1300)

SUMMARY: ThreadSanitizer: data race /tmp/tt/t.cpp:3 in operator()
==================
ThreadSanitizer: reported 1 warnings
"""

# Real clang 14 output: columns and BuildIds.
CLANG_REPORT = """\
==================
WARNING: ThreadSanitizer: data race (pid=3754)
  Write of size 4 at 0x55dc358a1668 by main thread:
    #0 main /tmp/tt/t.cpp:3:39 (tc+0xd43f1) (BuildId: 5ac754b989bf89177079452e14c4e7602c53f1c5)

  Previous write of size 4 at 0x55dc358a1668 by thread T1:
    #0 main::$_0::operator()() const /tmp/tt/t.cpp:3:31 (tc+0xd44af) (BuildId: 5ac754b989bf89177079452e14c4e7602c53f1c5)
    #1 void std::__invoke_impl<void, main::$_0>(std::__invoke_other, main::$_0&&) /usr/bin/../lib/gcc/x86_64-linux-gnu/12/../../../../include/c++/12/bits/invoke.h:61:14 (tc+0xd44af)
    #6 <null> <null> (libstdc++.so.6+0xd44a2) (BuildId: 289ee39f8c07bd4fa48102dfeeb7e6f9c76158b4)

  Location is global 'x' of size 4 at 0x55dc358a1668 (tc+0x14fb668)

SUMMARY: ThreadSanitizer: data race /tmp/tt/t.cpp:3:39 in main
==================
"""

# Real g++ 12 output: heap-use-after-free, plus sections whose frames are not accesses.
UAF_REPORT = """\
==================
WARNING: ThreadSanitizer: heap-use-after-free (pid=7478)
  Write of size 4 at 0x7b0400000000 by thread T1:
    #0 work(void*) /tmp/tt/uaf.cpp:4 (uafg+0x122a)

  Previous write of size 8 at 0x7b0400000000 by main thread:
    #0 operator delete(void*, unsigned long) ../../../../src/libsanitizer/tsan/tsan_new_delete.cpp:150 (libtsan.so.2+0x86c3d)
    #1 main /tmp/tt/uaf.cpp:5 (uafg+0x12b6)

  As if synchronized via sleep:
    #0 usleep ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:351 (libtsan.so.2+0x61e11)
    #1 work(void*) /tmp/tt/uaf.cpp:4 (uafg+0x11fd)

  Thread T1 (tid=7481, running) created by main thread at:
    #0 pthread_create ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:1001 (libtsan.so.2+0x5e686)
    #1 main /tmp/tt/uaf.cpp:5 (uafg+0x1298)

SUMMARY: ThreadSanitizer: heap-use-after-free /tmp/tt/uaf.cpp:4 in work(void*)
==================
"""

# Mutex annotation and an atomic access; frames only in ParlayLib (not attributable).
LIBRARY_ONLY_REPORT = """\
WARNING: ThreadSanitizer: data race (pid=99)
  Atomic write of size 8 at 0x7b0c00000010 by thread T2 (mutexes: write M9):
    #0 parlay::internal::foo() /usr/local/include/parlay/internal/work_stealing_deque.h:80:3 (a.out+0x10)
  Previous read of size 8 at 0x7b0c00000010 by thread T3:
    #0 parlay::fork_join_scheduler::bar() /usr/local/include/parlay/scheduler.h:387 (a.out+0x20)
  Location is heap block of size 64 at 0x7b0c00000000 allocated by main thread:
    #0 operator new(unsigned long) <null> (libtsan.so.2+0x1)
    #1 main /tmp/user.cpp:30 (a.out+0x30)
SUMMARY: ThreadSanitizer: data race /usr/local/include/parlay/scheduler.h:387 in bar
"""


# ------------------------------------------------------------------ pure


@pytest.mark.fast
def test_suppressions_file_is_packaged():
    path = Path(suppressions_path())
    assert path.is_absolute() and path.is_file()
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines == ["race:parlay::internal::hazptr_stack", "race:parlay::internal::intrusive_acquire_retire"]


@pytest.mark.fast
def test_tsan_env(tmp_path):
    env = tsan_env(tmp_path, 4)
    assert env["PARLAY_NUM_THREADS"] == "4"
    opts = dict(item.split("=", 1) for item in env["TSAN_OPTIONS"].split())
    assert opts == {
        "exitcode": "66",
        "suppressions": suppressions_path(),
        "log_path": str(tmp_path.resolve() / "tsan"),
        "halt_on_error": "0",
        "second_deadlock_stack": "1",
        "history_size": "4",
        "allocator_may_return_null": "1",
    }


@pytest.mark.fast
@pytest.mark.parametrize(
    "line, expected",
    [
        ("    #0 foo(int) /path/file.cpp:12:5 (exe+0x1234)", Frame(function="foo(int)", file="/path/file.cpp", line=12, col=5)),
        ("    #3 operator() /tmp/t.cpp:3 (tg+0x1249)", Frame(function="operator()", file="/tmp/t.cpp", line=3)),
        ("    #1 <null> <null>", Frame()),
        ("    #6 <null> <null> (libstdc++.so.6+0xd44a2) (BuildId: 289ee39f)", Frame()),
        ("    #2 <null> (libfoo.so+0x10)", Frame()),
        (
            "    #1 std::thread::_M_start_thread(std::unique_ptr<A, B>, void (*)()) <null> (libstdc++.so.6+0xd4578)",
            Frame(function="std::thread::_M_start_thread(std::unique_ptr<A, B>, void (*)())"),
        ),
        (
            "    #0 main::$_0::operator()() const /tmp/tt/t.cpp:3:31 (tc+0xd44af) (BuildId: 5ac754b9)",
            Frame(function="main::$_0::operator()() const", file="/tmp/tt/t.cpp", line=3, col=31),
        ),
    ],
)
def test_parse_frame(line, expected):
    assert parse_frame(line) == expected


@pytest.mark.fast
def test_parse_frame_rejects_other_lines():
    assert parse_frame("  Location is global 'x' of size 4") is None


@pytest.mark.fast
def test_parse_gcc_report():
    (rep,) = parse_reports(GCC_REPORT, ["/tmp/tt/t.cpp"])
    assert rep.kind == "data race"
    assert [(a.op, a.size, a.atomic, a.previous, a.thread) for a in rep.accesses] == [
        ("write", 4, False, False, "T1"),
        ("read", 4, False, True, "main"),
    ]
    assert len(rep.accesses[0].frames) == 4  # thread-creation frames are not part of the access
    assert rep.location == "Location is global 'x' of size 4"
    assert [(f.function, f.line) for f in rep.user_frames] == [("operator()", 3), ("main", 3)]
    assert rep.attributable
    assert rep.summary == "SUMMARY: ThreadSanitizer: data race /tmp/tt/t.cpp:3 in operator()"
    assert rep.raw.startswith("WARNING: ThreadSanitizer: data race")
    assert "write by thread T1 at /tmp/tt/t.cpp:3" in rep.describe()


@pytest.mark.fast
def test_parse_clang_report_with_columns_and_basename_fallback():
    (rep,) = parse_reports(CLANG_REPORT, ["/elsewhere/t.cpp"])  # same basename, other directory
    assert [(a.op, a.thread) for a in rep.accesses] == [("write", "main"), ("write", "T1")]
    assert [(f.line, f.col) for f in rep.user_frames] == [(3, 39), (3, 31)]
    assert rep.attributable


@pytest.mark.fast
def test_exact_path_beats_basename(tmp_path):
    text = GCC_REPORT.replace("    #0 operator() /tmp/tt/t.cpp:3", "    #0 operator() /other/t.cpp:9\n    #0 x /tmp/tt/t.cpp:7")
    (rep,) = parse_reports(text, ["/tmp/tt/t.cpp"])
    assert rep.user_frames[0].file == "/tmp/tt/t.cpp" and rep.user_frames[0].line == 7


@pytest.mark.fast
def test_parse_use_after_free():
    (rep,) = parse_reports(UAF_REPORT, ["/tmp/tt/uaf.cpp"])
    assert rep.kind == "heap-use-after-free"
    assert len(rep.accesses) == 2
    assert rep.user_frames[0].function == "work(void*)" and rep.user_frames[0].line == 4
    # the free happened in operator delete; the first user frame is main's line 5
    assert rep.user_frames[1].function == "main" and rep.user_frames[1].line == 5
    assert rep.accesses[1].frames[0].function == "operator delete(void*, unsigned long)"


@pytest.mark.fast
def test_library_only_report_is_not_attributable():
    (rep,) = parse_reports(LIBRARY_ONLY_REPORT, ["/tmp/user.cpp", "/tmp/scheduler.h"])
    assert rep.accesses[0].atomic and rep.accesses[0].op == "write" and rep.accesses[0].thread == "T2"
    assert rep.user_frames == [None, None]  # the allocation frame in user.cpp is not an access
    assert not rep.attributable
    assert rep.location == "Location is heap block of size 64 allocated by main thread"


@pytest.mark.fast
def test_several_blocks_and_duplicates():
    text = "noise\n" + GCC_REPORT + "program output\n" + UAF_REPORT + GCC_REPORT.replace("pid=3748", "pid=1")
    reps = parse_reports(text, ["/tmp/tt/t.cpp", "/tmp/tt/uaf.cpp"])
    assert [r.kind for r in reps] == ["data race", "heap-use-after-free"]
    assert parse_reports("no reports here\n", ["/x.cpp"]) == []


@pytest.mark.fast
def test_read_logs(tmp_path):
    assert read_logs(tmp_path) == ""
    (tmp_path / "tsan.123").write_text(GCC_REPORT)
    (tmp_path / "tsan.456").write_text(UAF_REPORT)
    assert len(parse_reports(read_logs(tmp_path), ["/tmp/tt/t.cpp"])) == 2


# ------------------------------------------------------------------ real ParlayLib programs

RACY = """\
#include <parlay/parallel.h>
#include <parlay/sequence.h>
#include <cstdio>
#line 10 "/tmp/user.cpp"
double total(const parlay::sequence<double>& a) {
  double sum = 0;
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    sum += a[i];
  });
  return sum;
}
#line 1 "/tmp/driver.cpp"
int main() {
  parlay::sequence<double> a(200000, 1.0);
  std::printf("%f\\n", total(a));
  return 0;
}
"""

CLEAN = """\
#include <parlay/primitives.h>
#include <parlay/delayed.h>
#include <cstdio>
#line 10 "/tmp/user.cpp"
double total(const parlay::sequence<double>& a) {
  return parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) { return a[i] * a[i]; }));
}
#line 1 "/tmp/driver.cpp"
int main() {
  parlay::sequence<double> a(200000, 2.0);
  std::printf("%.1f\\n", total(a));
  return 0;
}
"""


@pytest.fixture(scope="module")
def racy_exe(compiler):
    out = compiler.build_executable(RACY, tsan_flags(compiler.toolchain), TSAN_LINK_FLAGS, label="racy")
    assert out.ok, out.stderr
    return out.output_path


@pytest.fixture(scope="module")
def clean_exe(compiler):
    out = compiler.build_executable(CLEAN, tsan_flags(compiler.toolchain), TSAN_LINK_FLAGS, label="clean")
    assert out.ok, out.stderr
    return out.output_path


@pytest.mark.parlay
def test_real_race_maps_to_user_lines(racy_exe, tmp_path):
    # races are caught every time at 4 threads in the toolchain notes; allow retries anyway
    for attempt in range(3):
        run = run_tsan([racy_exe], threads=4, user_files=["/tmp/user.cpp"], log_dir=tmp_path / f"logs{attempt}")
        if run.reports:
            break
    assert run.outcome.returncode == TSAN_EXITCODE
    assert list((tmp_path / f"logs{attempt}").glob("tsan.*")), "reports go to log files"
    assert run.reports and not run.clean
    rep = run.reports[0]
    assert rep.kind == "data race"
    assert rep.attributable
    assert len(rep.accesses) == 2
    ops = sorted(a.op for a in rep.accesses)
    assert "write" in ops
    # `sum += a[i];` is on line 13 of /tmp/user.cpp through the #line directive
    assert [(f.file, f.line) for f in rep.user_frames] == [("/tmp/user.cpp", 13), ("/tmp/user.cpp", 13)]
    assert "sum" in rep.location or "stack" in rep.location


@pytest.mark.parlay
def test_race_free_reduce_has_no_reports(clean_exe):
    for _ in range(2):
        run = run_tsan([clean_exe], threads=4, user_files=["/tmp/user.cpp"])
        assert run.outcome.ok, run.outcome.stderr[-2000:]
        assert run.reports == []
        assert run.clean
        assert run.outcome.stdout.strip() == "800000.0"


@pytest.mark.parlay
@pytest.mark.skipif(shutil.which("clang++") is None, reason="needs clang++")
def test_real_race_with_clang(parevo_cache_dir, tmp_path):
    """clang's TSan (recommended where installed) prints qualified names and columns."""
    tc = discover(DiscoverySettings(cxx="clang++", cache_dir=str(parevo_cache_dir)))
    if not tc.tsan_ok:
        pytest.skip(f"clang's ThreadSanitizer does not work here: {tc.tsan_detail}")
    out = Compiler(tc, parevo_cache_dir).build_executable(RACY, tsan_flags(tc), TSAN_LINK_FLAGS, label="racy")
    assert out.ok, out.stderr
    assert "-Wno-tsan" not in out.command
    for _ in range(3):
        run = run_tsan([out.output_path], threads=4, user_files=["/tmp/user.cpp"])
        if run.reports:
            break
    assert run.reports and run.reports[0].attributable
    frames = run.reports[0].user_frames
    assert all(f is not None and (f.file, f.line) == ("/tmp/user.cpp", 13) for f in frames)
    assert all(f.col is not None for f in frames)


ALLOC = r"""
#include <cstdio>
#include <cstdlib>
int main(int argc, char** argv) {
  std::size_t mib = std::strtoull(argv[1], nullptr, 10);
  volatile char* p = static_cast<char*>(std::malloc(mib << 20));
  if (p == nullptr) { std::printf("refused\n"); return 3; }
  if (argc > 2) for (std::size_t i = 0; i < (mib << 20); i += 4096) p[i] = 1;  // touch every page
  std::printf("granted\n");
  return 0;
}
"""


@pytest.mark.fast
def test_tsan_limits_count_the_shadow_reservation_once():
    assert tsan_limits(None, timeout_s=9).data_bytes is None
    lim = tsan_limits(35 << 40, timeout_s=9)
    assert lim.memory_bytes is None and lim.data_bytes == (35 << 40) + TSAN_HEAP_BYTES and lim.timeout_s == 9


@pytest.mark.parlay
def test_an_allocation_over_the_tsan_limit_fails_and_one_under_it_succeeds(compiler, toolchain, tmp_path):
    """TSan reserves tens of TiB, so RLIMIT_AS cannot bound it; RLIMIT_DATA over the measured reservation can."""
    assert toolchain.tsan_reserved_bytes and toolchain.tsan_reserved_bytes > 1 << 40, toolchain.tsan_detail
    out = compiler.build_executable(ALLOC, tsan_flags(toolchain), TSAN_LINK_FLAGS, label="alloc")
    assert out.ok, out.stderr
    limits = tsan_limits(toolchain.tsan_reserved_bytes, timeout_s=120)

    def run(mib: int, lim, *touch: str) -> str:
        res = run_sandboxed([out.output_path, str(mib), *touch], cwd=str(tmp_path), env_extra=tsan_env(tmp_path, 1),
                            limits=lim)
        return res.stdout.strip() or res.describe()

    assert run(256, limits, "touch") == "granted"
    assert run(16 << 10, limits) == "refused"
    assert run(16 << 10, RunLimits(memory_bytes=None)) == "granted"  # what the TSan stage had before (untouched)
