"""Run untrusted programs (compilers, candidate binaries) isolated and with limits.

A run gets one writable directory (its working directory: a fresh temporary
directory unless the caller gives its own), with ``HOME`` and ``TMPDIR`` in a
fresh folder inside it, a scrubbed environment, resource limits, a wall-clock
timeout and a cancellation event. It runs inside bubblewrap namespaces
(:mod:`parevo.toolchain.isolation`: own PID namespace and ``/proc``, no
network, read-only system, home directories hidden, killed with parevo), or,
where namespaces are unavailable, in its own process group with
``PR_SET_PDEATHSIG``. Everything it started is killed on timeout, on
cancellation and when it exits. Resource usage comes from ``os.wait4``. A
crash, a signal or a timeout is reported in the :class:`RunOutcome`, never
raised.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal as _signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from pydantic import BaseModel

from .isolation import Isolation, isolation, parent_death_signal
from .isolation import command as _wrapped

GiB = 1 << 30
MiB = 1 << 20

#: PATH given to sandboxed programs unless the caller passes its own.
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"

#: Bytes kept of each of stdout and stderr (half from the head, half from the tail).
OUTPUT_CAP_BYTES = 1 * MiB

#: Name of the folder inside the working directory that is a run's ``HOME`` and ``TMPDIR``.
HOME_DIR = ".parevo-home"

#: Processes a sandboxed run of a non-root user may add to the user's count (``RLIMIT_NPROC``;
#: the kernel does not apply it to root).
EXTRA_PROCESSES = 1024

_PR_SET_PDEATHSIG = 1


class RunLimits(BaseModel):
    """Resource limits of one sandboxed run.

    * ``timeout_s``: wall-clock seconds before everything the run started is killed.
    * ``memory_bytes``: address-space limit (``RLIMIT_AS``), in bytes. Must be
      ``None`` for ThreadSanitizer binaries, which reserve tens of TiB of
      virtual address space for shadow memory: they get ``data_bytes`` instead.
    * ``data_bytes``: data-segment limit (``RLIMIT_DATA``: private writable
      mappings, heap included), in bytes, or ``None``. For a TSan binary it is
      its shadow reservation plus what the program may allocate
      (:func:`parevo.toolchain.tsan.tsan_limits`).
    * ``cpu_s``: CPU-time limit in seconds (``RLIMIT_CPU``), or ``None``.
    * ``file_bytes``: largest file the program may write (``RLIMIT_FSIZE``),
      in bytes; this also bounds its captured stdout and stderr.
    Core dumps are always off.
    """

    timeout_s: float = 60.0
    memory_bytes: int | None = 8 * GiB
    data_bytes: int | None = None
    cpu_s: int | None = None
    file_bytes: int = 256 * MiB


class RunOutcome(BaseModel):
    """What happened to one sandboxed run.

    ``returncode`` is the exit status, or ``None`` when the process was killed
    by a signal (then ``signal`` holds the signal number). Times are seconds;
    ``user_s``/``sys_s``/``maxrss_bytes`` come from ``os.wait4`` and include
    the children the program waited for. ``stdout``/``stderr`` are decoded
    as UTF-8 (invalid bytes replaced) and cut to :data:`OUTPUT_CAP_BYTES`
    with a note in the middle saying how much was dropped. ``isolation`` is
    ``namespaces`` or ``process-group`` (how the run was isolated).
    """

    argv: list[str]
    returncode: int | None = None
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    wall_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    maxrss_bytes: int = 0
    stdout: str = ""
    stderr: str = ""
    isolation: str = "process-group"

    @property
    def ok(self) -> bool:
        """True when the program exited normally with status 0."""
        return self.returncode == 0

    def describe(self) -> str:
        """One short sentence about how the run ended, for messages."""
        if self.cancelled:
            return "cancelled"
        if self.timed_out:
            return f"timed out after {self.wall_s:.1f} s"
        if self.signal is not None:
            try:
                name = _signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exited with status {self.returncode}"


def scrubbed_env(extra: dict[str, str] | None = None, *, home: str | None = None) -> dict[str, str]:
    """Build the environment of a sandboxed program.

    Contains only ``PATH`` (:data:`SAFE_PATH`), ``LANG=C.UTF-8``, and when
    ``home`` is given ``HOME`` and ``TMPDIR`` set to it, then ``extra`` on top
    (``extra`` may override ``PATH``). Nothing is inherited from the caller's
    environment, so API keys and tokens never reach the program.
    """
    env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    if home is not None:
        env["HOME"] = home
        env["TMPDIR"] = home
    if extra:
        env.update({str(k): str(v) for k, v in extra.items()})
    return env


def _user_processes() -> int:
    """How many processes this user runs now (for ``RLIMIT_NPROC``)."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


def _make_preexec(limits: RunLimits, *, new_session: bool, death_signal: int):
    """Return a child-side function that applies ``limits`` and the parent-death signal ``death_signal``
    (runs after fork).

    Everything it needs is computed here, in the parent: the forked child of a
    threaded process must not allocate or take locks.
    """
    settings: list[tuple[int, int]] = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, int(limits.file_bytes))]
    if limits.memory_bytes is not None:
        settings.append((resource.RLIMIT_AS, int(limits.memory_bytes)))
    if limits.data_bytes is not None:
        settings.append((resource.RLIMIT_DATA, int(limits.data_bytes)))
    if limits.cpu_s is not None:
        settings.append((resource.RLIMIT_CPU, int(limits.cpu_s)))
    if os.getuid() != 0:
        settings.append((resource.RLIMIT_NPROC, _user_processes() + EXTRA_PROCESSES))
    clamped = []
    for which, value in settings:
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY and value > hard:
            value = hard
        clamped.append((which, (value, hard)))
    setrlimit = resource.setrlimit
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    getppid, setsid, _exit = os.getppid, os.setsid, os._exit

    def preexec() -> None:  # keep minimal: runs in the forked child
        if new_session:
            setsid()
        prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if getppid() != parent:  # parevo died between fork and prctl
            _exit(137)
        for which, value in clamped:
            setrlimit(which, value)

    return preexec


def _read_capped(path: Path, cap: int = OUTPUT_CAP_BYTES) -> str:
    """Read a captured output file, keeping its head and tail within ``cap`` bytes."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return ""
    with open(path, "rb") as fh:
        if size <= cap:
            data = fh.read()
            return data.decode("utf-8", errors="replace")
        half = cap // 2
        head = fh.read(half)
        fh.seek(size - half)
        tail = fh.read(half)
    note = f"\n[... parevo: {size - 2 * half} bytes of output truncated ...]\n"
    return head.decode("utf-8", errors="replace") + note + tail.decode("utf-8", errors="replace")


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, _signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _executable(argv0: str, path: str) -> str:
    """The absolute path of the program ``argv0`` (searched on ``path`` when it has no slash).

    Raises:
        FileNotFoundError: no such program.
        PermissionError: it is not executable.
    """
    found = argv0 if "/" in argv0 else shutil.which(argv0, path=path)
    if found is None or not os.path.exists(found):
        raise FileNotFoundError(f"cannot run {argv0!r}: no such executable (is it installed and on PATH?)")
    if os.path.isdir(found) or not os.access(found, os.X_OK):
        raise PermissionError(f"cannot run {argv0!r}: not executable")
    return os.path.abspath(found)


def run_sandboxed(
    argv: list[str],
    *,
    cwd: str | None = None,
    env_extra: dict[str, str] | None = None,
    limits: RunLimits | None = None,
    cancel: threading.Event | None = None,
    stdin: bytes | None = None,
    readable: list[str] | None = None,
    sandbox: Isolation | None = None,
) -> RunOutcome:
    """Run ``argv`` isolated, with limits, and return its :class:`RunOutcome`.

    * ``cwd``: the run's one writable directory and working directory, a
      temporary directory the caller made for this run (output files go
      there); by default a fresh temporary directory, removed afterwards.
      ``HOME`` and ``TMPDIR`` are a fresh :data:`HOME_DIR` folder inside it,
      removed afterwards.
    * ``env_extra``: variables added to :func:`scrubbed_env`.
    * ``limits``: :class:`RunLimits` (default ``RunLimits()``).
    * ``cancel``: when set (before or during the run) everything the run
      started is killed and the outcome has ``cancelled=True``.
    * ``stdin``: bytes fed to the program; by default stdin is ``/dev/null``.
    * ``readable``: paths the program must read that may lie in a hidden
      directory (the program, absolute paths among its arguments, include
      folders and the ``parevo.toolchain`` package are found without help).
    * ``sandbox``: the isolation to use (default: this process's,
      :func:`parevo.toolchain.isolation.isolation`).

    Blocks until the program and everything it started are gone. Raises
    ``FileNotFoundError`` only when the executable (or ``cwd``) does not
    exist, ``PermissionError`` when it is not executable,
    :class:`~parevo.toolchain.isolation.SandboxUnavailable` when the sandbox
    setting is ``strict`` and namespaces are unavailable; everything else
    (crash, signal, timeout, limit hit) is reported in the outcome.
    """
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("run_sandboxed: empty argv")
    limits = limits or RunLimits()
    iso = sandbox or isolation()
    iso.check()
    if cwd is not None and not os.path.isdir(cwd):
        raise FileNotFoundError(f"cannot run {argv[0]!r}: working directory {cwd!r} does not exist")
    if cancel is not None and cancel.is_set():
        return RunOutcome(argv=argv, cancelled=True, isolation=iso.kind)

    with tempfile.TemporaryDirectory(prefix="parevo-run-") as tmp:
        tmpdir = Path(tmp)
        workdir = os.path.abspath(cwd) if cwd is not None else str(tmpdir / "work")
        if cwd is None:
            os.mkdir(workdir)
        home = os.path.join(workdir, HOME_DIR)
        shutil.rmtree(home, ignore_errors=True)
        os.mkdir(home, 0o700)
        out_path, err_path = tmpdir / "stdout", tmpdir / "stderr"
        env = scrubbed_env(env_extra, home=home)
        try:
            exe = _executable(argv[0], env["PATH"])
            full = _wrapped(iso, [exe, *argv[1:]], workdir=workdir, readable=readable, env=env)
            with open(out_path, "wb") as out_fh, open(err_path, "wb") as err_fh:
                in_fh = open(tmpdir / "stdin", "w+b") if stdin is not None else open(os.devnull, "rb")
                try:
                    if stdin is not None:
                        in_fh.write(stdin)
                        in_fh.seek(0)
                    start = time.monotonic()
                    proc = subprocess.Popen(
                        full, cwd=workdir, env=env, stdin=in_fh, stdout=out_fh, stderr=err_fh,
                        preexec_fn=_make_preexec(limits, new_session=True, death_signal=parent_death_signal(iso)),
                        close_fds=True,
                    )
                finally:
                    in_fh.close()
                outcome = _supervise(proc, argv, limits, cancel, start)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        outcome.isolation = iso.kind
        if outcome.returncode is not None and outcome.returncode > 128:
            # the waiting shell reports a program killed by signal N as exit status 128 + N
            outcome.signal, outcome.returncode = outcome.returncode - 128, None
        outcome.stdout = _read_capped(out_path)
        outcome.stderr = _read_capped(err_path)
        return outcome


def _supervise(
    proc: subprocess.Popen, argv: list[str], limits: RunLimits, cancel: threading.Event | None, start: float
) -> RunOutcome:
    """Watch ``proc`` until it exits (killing its group on timeout/cancel) and reap it."""
    pid = proc.pid  # session leader: its pgid equals its pid
    exited = threading.Event()
    reaped_lock = threading.Lock()
    state = {"reaped": False, "timed_out": False, "cancelled": False}

    def watchdog() -> None:
        deadline = start + limits.timeout_s
        while not exited.is_set():
            now = time.monotonic()
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
            elif now >= deadline:
                reason = "timed_out"
            else:
                # Wake often enough to notice cancellation promptly.
                exited.wait(min(0.05, max(0.0, deadline - now)))
                continue
            with reaped_lock:
                if not state["reaped"]:
                    state[reason] = True
                    _killpg(pid)
            return

    dog = threading.Thread(target=watchdog, name=f"parevo-watchdog-{pid}", daemon=True)
    dog.start()

    # Wait for exit without reaping, so the pid (= pgid) cannot be reused
    # while the watchdog or the cleanup below may still signal the group.
    while True:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            break
    wall = time.monotonic() - start
    exited.set()
    with reaped_lock:
        _killpg(pid)  # leftovers of the group (background grandchildren)
        try:
            _, status, ru = os.wait4(pid, 0)
        except ChildProcessError:  # pragma: no cover - reaped elsewhere
            status, ru = 0, None
        state["reaped"] = True
        proc.returncode = -1  # tell Popen not to wait on it again
    dog.join()

    outcome = RunOutcome(
        argv=argv,
        timed_out=state["timed_out"],
        cancelled=state["cancelled"],
        wall_s=wall,
    )
    if os.WIFSIGNALED(status):
        outcome.signal = os.WTERMSIG(status)
    elif os.WIFEXITED(status):
        outcome.returncode = os.WEXITSTATUS(status)
    if ru is not None:
        outcome.user_s = ru.ru_utime
        outcome.sys_s = ru.ru_stime
        outcome.maxrss_bytes = int(ru.ru_maxrss) * 1024  # KiB on Linux
    return outcome
