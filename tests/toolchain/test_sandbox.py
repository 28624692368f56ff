"""Tests of parevo.toolchain.sandbox: limits, timeouts, cancellation, env scrubbing (in both isolations)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from parevo.toolchain.isolation import configure
from parevo.toolchain.sandbox import (
    OUTPUT_CAP_BYTES,
    SAFE_PATH,
    RunLimits,
    run_sandboxed,
    scrubbed_env,
)

pytestmark = pytest.mark.fast


@pytest.fixture(autouse=True, params=["auto", "process-group"])
def sandbox_mode(request):
    """Every test runs in bubblewrap namespaces and in the process-group fallback."""
    iso = configure(request.param)
    assert iso.strong == (request.param == "auto"), iso.reason
    yield request.param
    configure(None)


def _alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie (a zombie is dead, only unreaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def _wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _marked(marker: str) -> list[int]:
    """Live processes (host PIDs) whose command line contains ``marker``: a run's PIDs are its
    namespace's own, so tests find its processes by what they run."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and _alive(int(entry)):
                found.append(int(entry))
    return found


def _unique_sleep() -> str:
    """``sleep 60.<random digits>``: a command line no other process has."""
    return f"sleep 60.{os.getpid()}{time.monotonic_ns() % 1_000_000:06d}"


def _wait_no_marked(marker: str, seconds: float = 3.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def test_exit_status_and_output():
    out = run_sandboxed(["/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"])
    assert out.returncode == 3 and out.signal is None
    assert not out.ok
    assert out.stdout == "hello\n"
    assert out.stderr == "oops\n"
    assert not out.timed_out and not out.cancelled


def test_success_is_ok_and_stdin_is_fed():
    out = run_sandboxed(["/bin/cat"], stdin=b"abc\x00def")
    assert out.ok and out.returncode == 0
    assert out.stdout == "abc\x00def"


def test_rusage_is_filled():
    code = "x = 0\nfor i in range(3_000_000): x += i\nbuf = bytearray(60 << 20)\nprint(x)"
    out = run_sandboxed([sys.executable, "-c", code])
    assert out.ok, out.stderr
    assert out.user_s > 0.02
    assert out.wall_s >= out.user_s * 0.5
    assert out.maxrss_bytes > 60 << 20  # 60 MiB buffer touched by bytearray's zeroing


def test_timeout_kills_process_group_including_grandchildren(tmp_path):
    sleep = _unique_sleep()
    script = f"{sleep} & echo started > grandchild; {sleep}"
    start = time.monotonic()
    out = run_sandboxed(["/bin/sh", "-c", script], cwd=str(tmp_path), limits=RunLimits(timeout_s=0.5))
    assert time.monotonic() - start < 10
    assert out.timed_out and not out.cancelled
    assert out.signal == signal.SIGKILL and out.returncode is None and not out.ok
    assert (tmp_path / "grandchild").exists()
    assert not _wait_no_marked(sleep), "a grandchild survived the timeout"


def test_leftover_background_process_is_killed_after_normal_exit(tmp_path):
    sleep = _unique_sleep()
    out = run_sandboxed(["/bin/sh", "-c", f"{sleep} & echo started > bg; exit 0"], cwd=str(tmp_path))
    assert out.ok and not out.timed_out
    assert (tmp_path / "bg").exists()
    assert not _wait_no_marked(sleep)


def test_cancel_event_kills_the_run():
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.monotonic()
    out = run_sandboxed(["/bin/sleep", "30"], cancel=cancel)
    assert time.monotonic() - start < 5
    assert out.cancelled and not out.timed_out and not out.ok


def test_cancel_set_before_start_runs_nothing(tmp_path):
    cancel = threading.Event()
    cancel.set()
    out = run_sandboxed(["/bin/sh", "-c", "touch ran"], cwd=str(tmp_path), cancel=cancel)
    assert out.cancelled and out.returncode is None
    assert not (tmp_path / "ran").exists()


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-should-not-leak")
    monkeypatch.setenv("SOME_TOKEN", "tok")
    out = run_sandboxed(["/usr/bin/env"], env_extra={"PARLAY_NUM_THREADS": "4"})
    assert out.ok
    env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert "OPENAI_API_KEY" not in env and "sk-secret" not in out.stdout
    assert "SOME_TOKEN" not in env
    assert env["PATH"] == SAFE_PATH
    assert env["LANG"] == "C.UTF-8"
    assert env["PARLAY_NUM_THREADS"] == "4"
    assert env["HOME"] == env["TMPDIR"]
    assert env["HOME"] != os.environ.get("HOME")
    assert not Path(env["HOME"]).exists()  # the run's temp dir is removed afterwards


def test_scrubbed_env_is_minimal(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    env = scrubbed_env({"A": "1"}, home="/tmp/h")
    assert env == {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/tmp/h",
                   "TMPDIR": "/tmp/h", "A": "1"}
    assert scrubbed_env({"PATH": "/opt/bin"})["PATH"] == "/opt/bin"


def test_memory_limit_makes_big_allocation_fail():
    code = "b = bytearray(400 << 20)\nprint('allocated')"
    limited = run_sandboxed([sys.executable, "-c", code], limits=RunLimits(memory_bytes=200 << 20))
    assert not limited.ok
    assert "MemoryError" in limited.stderr
    assert "allocated" not in limited.stdout
    unlimited = run_sandboxed([sys.executable, "-c", code], limits=RunLimits(memory_bytes=None))
    assert unlimited.ok and "allocated" in unlimited.stdout


def test_file_size_limit_stops_a_runaway_writer():
    out = run_sandboxed(["/bin/sh", "-c", "head -c 4000000 /dev/zero"], limits=RunLimits(file_bytes=1 << 20))
    assert not out.ok
    assert out.signal == signal.SIGXFSZ or out.returncode not in (0, None)


def test_cpu_limit():
    out = run_sandboxed([sys.executable, "-c", "while True: pass"], limits=RunLimits(cpu_s=1, timeout_s=20))
    assert not out.ok and not out.timed_out
    assert out.signal in (signal.SIGXCPU, signal.SIGKILL)


def test_crash_is_reported_not_raised():
    out = run_sandboxed(["/bin/sh", "-c", "kill -SEGV $$"])
    assert out.signal == signal.SIGSEGV and out.returncode is None and not out.ok
    assert "SIGSEGV" in out.describe()


def test_output_is_capped_with_a_note():
    code = "import sys; sys.stdout.write('a' * (3 << 20) + 'END')"
    out = run_sandboxed([sys.executable, "-c", code])
    assert out.ok
    assert len(out.stdout) < OUTPUT_CAP_BYTES + 200
    assert "truncated" in out.stdout
    assert out.stdout.startswith("aaaa") and out.stdout.endswith("END")


def test_default_cwd_is_a_fresh_dir_removed_afterwards():
    out = run_sandboxed(["/bin/pwd"])
    cwd = out.stdout.strip()
    assert cwd and cwd != os.getcwd()
    assert not os.path.exists(cwd)


def test_given_cwd_is_used(tmp_path):
    (tmp_path / "input.txt").write_text("data")
    out = run_sandboxed(["/bin/cat", "input.txt"], cwd=str(tmp_path))
    assert out.stdout == "data"


def test_missing_executable_raises_clear_error():
    with pytest.raises(FileNotFoundError, match="no such executable"):
        run_sandboxed(["/nonexistent/definitely-not-here"])


def test_missing_cwd_raises():
    with pytest.raises(FileNotFoundError, match="working directory"):
        run_sandboxed(["/bin/true"], cwd="/nonexistent/dir")


def test_concurrent_runs_are_independent():
    results = {}

    def work(i):
        results[i] = run_sandboxed(["/bin/sh", "-c", f"sleep 0.2; echo {i}"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r.stdout.strip() for i, r in results.items()} == {i: str(i) for i in range(6)}
