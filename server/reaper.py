"""The last step of an exit: no process started below the server outlives it.

Cancelled searches kill their own subprocesses; :func:`kill_descendants` is
the safety net for the ones a search had no time to reach before the server
exits (it reads ``/proc``, Linux only, and does nothing elsewhere).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (children, grandchildren, ...), read from ``/proc``; [] where there is none."""
    children: dict[int, list[int]] = {}
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # the command name (2nd field) may hold spaces and parentheses: the parent is after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


def kill_descendants(pid: int | None = None) -> int:
    """SIGKILL every process below ``pid`` (default: this process); returns how many were signalled."""
    me = os.getpid() if pid is None else pid
    killed = 0
    for child in descendants(me):
        try:
            os.kill(child, signal.SIGKILL)
            killed += 1
        except OSError:
            pass
    return killed
