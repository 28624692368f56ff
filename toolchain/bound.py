"""The speedup a loop can reach on this machine: threads, or memory bandwidth.

**Memory bandwidth** is measured once per machine with a STREAM-style triad
(``cpp/stream.cpp``; McCalpin 1995) at three working-set sizes (8 MiB,
64 MiB, 512 MiB: in cache, beyond a core's cache, beyond the last-level
cache), with one thread and with every core, best of ``reps`` passes. The
figures are cached in ``<cache_dir>/machine/bandwidth-<machine>.json``; a
measurement taken while other processes kept cores busy is used for nothing
and not cached (the multi-thread figure would be too low).

**The bound** of one loop follows the roofline model (Williams, Waterman and
Patterson, "Roofline: an insightful visual performance model for multicore
architectures", CACM 52(4), 2009): a rewrite that still moves the loop's
``B`` bytes (the harness's inputs at the timing size) cannot take less than
``B / BW_p`` (``BW_p``: the bandwidth of ``p`` threads at that working-set
size), nor, doing the original's work, less than ``t_orig / p``. So

    bound = min(p x a, t_orig x BW_p / B)

where ``a`` is the rewrite's algorithmic factor (its speedup on one worker,
when measured and above 1; else 1). The loop is *memory-bound* when the
second term is the smaller. The search stops when its best verified rewrite
is within 10 % of the bound.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import tempfile
import threading
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field

from .compiler import OPT_FLAGS, Compiler
from .machine import MachineReader, conditions
from .sandbox import RunLimits, run_sandboxed
from .timing import BUSY_MARGIN

PROBE_BYTES = (1 << 23, 1 << 26, 1 << 29)
PROBE_REPS = 10
STOP_WITHIN = 0.10  # the search stops when the best rewrite reaches (1 - STOP_WITHIN) x the bound
VERSION = 1


class BandwidthPoint(BaseModel):
    """STREAM triad bandwidth at one working-set size (bytes), GB/s, one thread and ``threads``."""

    bytes: int
    one_gbs: float
    all_gbs: float

    @property
    def ratio(self) -> float:
        """Multi-thread over single-thread bandwidth."""
        return self.all_gbs / max(self.one_gbs, 1e-9)


class Bandwidth(BaseModel):
    """This machine's memory bandwidth (see the module docstring): ``points`` by size, measured
    with ``threads`` threads; ``machine`` is the identity it was cached under; ``busy_cores`` the
    other processes' load while it was measured."""

    version: int = VERSION
    machine: str
    threads: int
    points: list[BandwidthPoint] = Field(default_factory=list)
    busy_cores: float | None = None

    def at(self, nbytes: int) -> tuple[float, float]:
        """``(one-thread GB/s, all-threads GB/s)`` at working-set size ``nbytes``, interpolated
        log-linearly between the measured sizes (clamped at the ends)."""
        pts = sorted(self.points, key=lambda p: p.bytes)
        if nbytes <= pts[0].bytes:
            return pts[0].one_gbs, pts[0].all_gbs
        if nbytes >= pts[-1].bytes:
            return pts[-1].one_gbs, pts[-1].all_gbs
        for a, b in zip(pts, pts[1:]):
            if a.bytes <= nbytes <= b.bytes:
                w = (math.log(nbytes) - math.log(a.bytes)) / (math.log(b.bytes) - math.log(a.bytes))
                return a.one_gbs + w * (b.one_gbs - a.one_gbs), a.all_gbs + w * (b.all_gbs - a.all_gbs)
        return pts[-1].one_gbs, pts[-1].all_gbs


class LoopBound(BaseModel):
    """The speedup bound of one loop at its timing size (see the module docstring).

    ``bound`` = min(``thread_bound``, ``memory_bound``); ``kind`` says which
    term decides (``threads`` or ``memory``); ``memory_bound`` is None when the
    bandwidth is unknown (not measured, or measured on a busy machine: then
    ``note`` says so). ``bytes`` is B, ``bytes_per_iteration`` = B / n,
    ``original_seconds`` the original's median call; ``all_gbs`` the bandwidth
    of ``threads`` threads at B; ``algorithmic`` the factor ``a`` used.
    """

    threads: int
    bound: float
    kind: str
    thread_bound: float
    memory_bound: float | None = None
    bytes: int = 0
    bytes_per_iteration: float = 0.0
    original_seconds: float = 0.0
    all_gbs: float | None = None
    algorithmic: float = 1.0
    note: str = ""

    def reached(self, speedup: float) -> bool:
        """True when ``speedup`` is within :data:`STOP_WITHIN` of the bound."""
        return speedup >= (1.0 - STOP_WITHIN) * self.bound

    def describe(self) -> str:
        """``2.00x bound: 2 threads`` / ``1.62x bound: memory bandwidth (…)``."""
        if self.kind == "memory":
            why = (f"memory bandwidth: {self.bytes / 2**20:.1f} MiB ({self.bytes_per_iteration:.0f} bytes per "
                   f"iteration) at {self.all_gbs:.1f} GB/s on {self.threads} threads against the original's "
                   f"{self.original_seconds * 1e3:.2f} ms")
        else:
            why = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
            if self.algorithmic > 1.0:
                why += f" x the rewrite's algorithmic {self.algorithmic:.2f}x"
        return f"{self.bound:.2f}x bound ({why})"


def machine_identity() -> str:
    """What identifies this machine's bandwidth: CPU model, CPUs usable, memory, kernel (hashed)."""
    model = ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
        mem = next((ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), "")
    except OSError:
        mem = ""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    text = json.dumps([model, cores, mem, platform.machine(), platform.release()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bandwidth_path(cache_dir: str | os.PathLike, identity: str) -> Path:
    """Where this machine's bandwidth figures are cached."""
    return Path(cache_dir) / "machine" / f"bandwidth-{identity}.json"


_LOCK = threading.Lock()


def measure_bandwidth(compiler: Compiler, cache_dir: str | os.PathLike, threads: int, *,
                      machine: MachineReader | None = None, cancel: threading.Event | None = None,
                      identity: str | None = None) -> tuple[Bandwidth | None, str]:
    """This machine's bandwidth: from the cache, else measured now (a second or two) and cached.

    Returns ``(bandwidth, note)``: ``bandwidth`` None when the probe could not
    be built or run, or the machine was busy before or while it ran (``note``
    says why; nothing is cached then, so the next search measures again).
    """
    identity = identity or machine_identity()
    path = bandwidth_path(cache_dir, identity)
    reader = machine or MachineReader()
    with _LOCK:
        try:
            bw = Bandwidth.model_validate_json(path.read_text())
            if bw.version == VERSION and bw.threads == threads and bw.points:
                return bw, "cached"
        except (OSError, ValueError):
            pass
        idle = reader.idle_cores(0.2)
        if idle is not None and idle < min(threads, reader.cores) - BUSY_MARGIN:
            return None, (f"memory bandwidth not measured: other work kept {reader.cores - idle:.1f} of "
                          f"{reader.cores} cores busy (measured by a later search on a quieter machine)")
        src = (resources.files("parevo.toolchain") / "cpp" / "stream.cpp").read_text()
        exe = compiler.build_executable(src, list(OPT_FLAGS), ["-pthread"], label="stream", cancel=cancel)
        if not exe.ok or exe.output_path is None:
            return None, f"the bandwidth probe did not build: {exe.first_error or exe.stderr[-200:]}"
        points, busy = [], []
        for nbytes in PROBE_BYTES:
            before = reader.read()
            res = run_sandboxed([exe.output_path, str(nbytes), str(threads), str(PROBE_REPS)],
                                limits=RunLimits(timeout_s=120, memory_bytes=4 * nbytes + (1 << 30)), cancel=cancel)
            after = reader.read()
            if not res.ok:
                return None, f"the bandwidth probe failed: {res.describe()}"
            row = json.loads(res.stdout.strip().splitlines()[-1])
            points.append(BandwidthPoint(bytes=int(row["bytes"]), one_gbs=float(row["one_gbs"]),
                                         all_gbs=float(row["all_gbs"])))
            c = conditions(before, after, res.user_s + res.sys_s)
            if c.foreign_cores is not None:
                busy.append(c.foreign_cores)
        worst = max(busy) if busy else None
        bw = Bandwidth(machine=identity, threads=threads, points=points, busy_cores=worst)
        if worst is not None and worst > BUSY_MARGIN:
            return None, (f"memory bandwidth not used: measured while {worst:.1f} cores were busy with other work "
                          "(measured again by the next search)")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bw-", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(bw.model_dump_json())
        os.replace(tmp, path)
        return bw, "measured"


def loop_bound(threads: int, *, original_seconds: float, nbytes: int, n: int, bandwidth: Bandwidth | None,
               algorithmic: float | None = None, note: str = "") -> LoopBound:
    """The bound of a loop whose original takes ``original_seconds`` per call on ``nbytes`` bytes of
    inputs at size ``n`` (see the module docstring); ``algorithmic`` is the rewrite's one-worker
    factor when measured."""
    a = max(1.0, algorithmic or 1.0)
    tb = float(threads) * a
    lb = LoopBound(threads=threads, bound=tb, kind="threads", thread_bound=tb, bytes=nbytes,
                   bytes_per_iteration=nbytes / max(n, 1), original_seconds=original_seconds, algorithmic=a,
                   note=note)
    if bandwidth is not None and nbytes > 0 and original_seconds > 0:
        _, all_gbs = bandwidth.at(nbytes)
        lb.all_gbs = all_gbs
        lb.memory_bound = original_seconds * all_gbs * 1e9 / nbytes
        if lb.memory_bound < tb:
            lb.bound, lb.kind = lb.memory_bound, "memory"
    return lb
