"""The machine's state around a measurement: load, runnable tasks, busy cores, steal, frequency.

A timing on a shared machine is only as good as the machine was quiet while
it ran. :class:`MachineReader` reads what Linux exposes, each item only where
the kernel has it:

* ``/proc/loadavg``: the 1-minute load average;
* ``/proc/stat``: ``procs_running`` (tasks runnable now, the reader included)
  and the aggregate ``cpu`` line (jiffies busy, idle, iowait, steal), from
  which two snapshots give the busy cores and the stolen share in between;
* ``/proc/pressure/cpu``: the share of time some task waited for a CPU
  (pressure stall information, Linux 4.20+), 10 s average;
* ``/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq``, else the
  ``cpu MHz`` lines of ``/proc/cpuinfo``: the current clock (MHz).

:func:`conditions` turns two snapshots and the measured process's own CPU
time into :class:`RunConditions`: the cores other processes kept busy while
it ran (``foreign_cores``), which is what decides whether a parallel timing
could use its threads. The reader takes a root folder, so tests drive it with
recorded ``/proc`` files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel


class CpuTimes(BaseModel):
    """The aggregate ``cpu`` line of ``/proc/stat`` in jiffies: all, idle (idle + iowait), steal."""

    total: int
    idle: int
    steal: int = 0


class MachineState(BaseModel):
    """One snapshot (see the module docstring); a field is None where the kernel does not expose it.

    ``at`` is ``time.monotonic()`` when it was read; ``cores`` the CPUs this process may run on.
    """

    at: float
    cores: int
    load1: float | None = None
    runnable: int | None = None
    cpu: CpuTimes | None = None
    pressure_avg10: float | None = None
    freq_mhz: float | None = None


class RunConditions(BaseModel):
    """The machine while one measured process ran (between two snapshots).

    ``seconds`` is the wall time between the snapshots; ``own_cpu_seconds`` the
    process's user + system CPU time (``wait4``); ``busy_cores`` the cores busy
    in that time (every process, from ``/proc/stat``); ``foreign_cores`` =
    ``busy_cores`` minus the process's own share (≥ 0): what other processes
    took. ``steal`` is the share of CPU time the hypervisor gave to other guests.
    ``load1``, ``runnable``, ``pressure_avg10`` and ``freq_mhz`` are the larger of
    the two snapshots' values (None where not exposed).
    """

    seconds: float
    cores: int
    own_cpu_seconds: float = 0.0
    busy_cores: float | None = None
    foreign_cores: float | None = None
    steal: float | None = None
    load1: float | None = None
    runnable: int | None = None
    pressure_avg10: float | None = None
    freq_mhz: float | None = None


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class MachineReader:
    """Reads :class:`MachineState` snapshots from ``root`` (``/`` on a real machine; a folder of
    recorded ``proc/…`` and ``sys/…`` files in tests). ``cores`` overrides the CPU count."""

    def __init__(self, root: str | os.PathLike = "/", cores: int | None = None):
        self.root = Path(root)
        if cores is None:
            try:
                cores = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):
                cores = os.cpu_count() or 1
        self.cores = max(1, cores)

    def _text(self, rel: str) -> str | None:
        try:
            return (self.root / rel).read_text()
        except OSError:
            return None

    def read(self) -> MachineState:
        """A snapshot now. Never raises: what cannot be read is None."""
        st = MachineState(at=time.monotonic(), cores=self.cores)
        la = self._text("proc/loadavg")
        if la and la.split():
            st.load1 = _num(la.split()[0])
        stat = self._text("proc/stat")
        if stat:
            for line in stat.splitlines():
                parts = line.split()
                if not parts:
                    continue
                if parts[0] == "cpu" and len(parts) >= 5:
                    vals = [int(x) for x in parts[1:] if x.isdigit()]
                    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is
                    # already counted in user and nice, so the total stops at steal
                    total = sum(vals[:8])
                    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
                    st.cpu = CpuTimes(total=total, idle=idle, steal=vals[7] if len(vals) > 7 else 0)
                elif parts[0] == "procs_running" and len(parts) > 1 and parts[1].isdigit():
                    st.runnable = int(parts[1])
        psi = self._text("proc/pressure/cpu")
        if psi:
            for line in psi.splitlines():
                if line.startswith("some "):
                    for item in line.split()[1:]:
                        if item.startswith("avg10="):
                            v = _num(item[6:])
                            st.pressure_avg10 = v / 100.0 if v is not None else None
        st.freq_mhz = self._freq()
        return st

    def _freq(self) -> float | None:
        cpus = self.root / "sys/devices/system/cpu"
        vals = []
        try:
            for f in sorted(cpus.glob("cpu[0-9]*/cpufreq/scaling_cur_freq")):
                v = _num(f.read_text().strip())
                if v:
                    vals.append(v / 1000.0)  # kHz
        except OSError:
            vals = []
        if not vals:
            info = self._text("proc/cpuinfo") or ""
            vals = [v for v in (_num(ln.split(":", 1)[1].strip()) for ln in info.splitlines()
                                if ln.startswith("cpu MHz") and ":" in ln) if v]
        return round(sum(vals) / len(vals), 1) if vals else None

    def idle_cores(self, seconds: float = 0.5) -> float | None:
        """Cores left idle over the next ``seconds`` (by ``/proc/stat``), or None where not exposed."""
        a = self.read()
        time.sleep(seconds)
        b = self.read()
        c = conditions(a, b, 0.0)
        return None if c.busy_cores is None else max(0.0, c.cores - c.busy_cores)


def _max(a, b):
    vals = [v for v in (a, b) if v is not None]
    return max(vals) if vals else None


def conditions(before: MachineState, after: MachineState, own_cpu_seconds: float) -> RunConditions:
    """What the machine did between two snapshots, given the measured process's own CPU seconds."""
    seconds = max(after.at - before.at, 0.0)
    rc = RunConditions(seconds=seconds, cores=after.cores, own_cpu_seconds=own_cpu_seconds,
                       load1=_max(before.load1, after.load1), runnable=_max(before.runnable, after.runnable),
                       pressure_avg10=_max(before.pressure_avg10, after.pressure_avg10),
                       freq_mhz=_max(before.freq_mhz, after.freq_mhz))
    if before.cpu is not None and after.cpu is not None:
        d_total = after.cpu.total - before.cpu.total
        if d_total > 0:
            busy_share = (d_total - (after.cpu.idle - before.cpu.idle)) / d_total
            rc.busy_cores = round(max(0.0, min(1.0, busy_share)) * after.cores, 3)
            rc.steal = round(max(0.0, (after.cpu.steal - before.cpu.steal) / d_total), 4)
            own = own_cpu_seconds / seconds if seconds > 0 else 0.0
            rc.foreign_cores = round(max(0.0, rc.busy_cores - own), 3)
    return rc


def describe_load(conds: list[RunConditions]) -> str:
    """``load 1.9 on 2 cores, 1.1 cores busy with other work`` over ``conds`` (their worst), or ``""``."""
    if not conds:
        return ""
    cores = conds[0].cores
    parts = []
    load = _max_of(c.load1 for c in conds)
    if load is not None:
        parts.append(f"load {load:.1f} on {cores} core{'s' if cores != 1 else ''}")
    foreign = _median([c.foreign_cores for c in conds if c.foreign_cores is not None])
    if foreign is not None:
        parts.append(f"{foreign:.1f} cores busy with other work")
    steal = _max_of(c.steal for c in conds)
    if steal:
        parts.append(f"{steal:.0%} stolen by the hypervisor")
    return ", ".join(parts)


def _max_of(values) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None


def _median(vals: list[float]) -> float | None:
    if not vals:
        return None
    s = sorted(vals)
    k = len(s) // 2
    return s[k] if len(s) % 2 else (s[k - 1] + s[k]) / 2
