"""Process trees, as the kill-cleanup benchmark and the hostile-candidate tests watch them (psutil).

A process is named by ``(pid, create time)``: a pid reused by a new process after the watched one
ended is not mistaken for it. Times are psutil's ``create_time`` (seconds since the epoch).
"""

from __future__ import annotations

import os
import signal

import psutil


def _live(p: psutil.Process) -> bool:
    try:
        return p.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.Error:
        return False


def alive(pid: int, start: float | None = None) -> bool:
    """True when ``pid`` runs (not a zombie), and is the process created at ``start`` if given."""
    try:
        p = psutil.Process(pid)
        return _live(p) and (start is None or p.create_time() == start)
    except psutil.Error:
        return False


def descendants(root: int) -> dict[int, float]:
    """Every live descendant of ``root``: ``{pid: create time}`` (empty when ``root`` is gone)."""
    try:
        kids = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return {}
    found = {}
    for p in kids:
        try:
            if _live(p):
                found[p.pid] = p.create_time()
        except psutil.Error:
            pass
    return found


def named(comm: str) -> dict[int, float]:
    """Live processes whose name (``/proc/PID/comm``) is ``comm``: ``{pid: create time}``."""
    return {p.pid: p.info["create_time"] for p in psutil.process_iter(["name", "create_time"])
            if p.info["name"] == comm and _live(p)}


def with_command(command: str) -> dict[int, float]:
    """Live processes whose command line, joined by spaces, is exactly ``command``: ``{pid: create time}``."""
    return {p.pid: p.info["create_time"] for p in psutil.process_iter(["cmdline", "create_time"])
            if " ".join(p.info["cmdline"] or []) == command and _live(p)}


def command_of(pid: int) -> str:
    """``pid``'s command line joined by spaces (empty when it is gone)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def kill_all(procs: dict[int, float]) -> None:
    """SIGKILL whatever of ``procs`` (``{pid: create time}``) still runs; a pid now naming another
    process is left alone."""
    for pid, start in procs.items():
        if alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
