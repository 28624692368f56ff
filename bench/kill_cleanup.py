"""How long after a ``kill -9`` of parevo everything it started is gone, measured.

Two measurements, each over ``--runs`` runs, printed with median and range (seconds from the
``SIGKILL`` until the last process of the tree seen at that moment has stopped running; polled
every millisecond through ``/proc``; a zombie counts as stopped):

* **run**: a Python process standing in for parevo calls
  :func:`~parevo.toolchain.sandbox.run_sandboxed` on ``/bin/sh`` starting three ``sleep``
  children, one of them after ``setsid()``; once all three run, the Python process is killed.
  In bubblewrap namespaces (``auto``) the three must die; in the fallback (``process-group``)
  the two in the group must die and the ``setsid()`` one escapes (what the fallback allows:
  it is counted and reported, then killed by this script).
* **cli**: ``parevo evolve`` on a copy of an example that includes ParlayLib (a fresh compile
  cache: the compile lasts seconds), killed the moment the compiler (``cc1plus``) compiles the
  loop's program; the tree is what ran below parevo at that moment (bwrap, the compiler
  driver, ``cc1plus``).

    python -m bench.kill_cleanup [--runs 10] [--cli-runs 5] [--example FILE:LINE]

The load average is printed before and after: on a loaded machine a dying process can wait
for a CPU, so read the figures with it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from .proctree import alive as _running, command_of as _cmdline, descendants as _tree
from .proctree import kill_all as _cleanup, with_command as _marked

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "parevo.server.cli"]

_PARENT = textwrap.dedent("""
    import sys
    from parevo.toolchain.isolation import isolation
    from parevo.toolchain.sandbox import RunLimits, run_sandboxed
    mode, marker = sys.argv[1], sys.argv[2]
    run_sandboxed(["/bin/sh", "-c", f"setsid sleep {marker}1 & sleep {marker}2 & sleep {marker}3"],
                  sandbox=isolation(mode), limits=RunLimits(timeout_s=120))
""")


def _kill_and_time(proc: subprocess.Popen, tree: dict[int, float], limit_s: float = 10.0) -> tuple[float, dict]:
    """``kill -9`` ``proc``; seconds until none of ``tree`` runs (capped at ``limit_s``), and what still runs."""
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    while time.monotonic() - t0 < limit_s:
        left = {p: s for p, s in tree.items() if _running(p, s)}
        if not left:
            break
        time.sleep(0.001)
    took = time.monotonic() - t0
    proc.wait(timeout=10)
    return took, {p: s for p, s in tree.items() if _running(p, s)}


def run_level(mode: str) -> tuple[float, int, int]:
    """One run: (seconds until every process below the stand-in is gone, but for the fallback's
    ``setsid()`` child; how many such children escaped; how many processes ran below it)."""
    marker = str(90000 + secrets.randbelow(9000))  # the sleeps' durations carry it: sleep <marker>1 ...
    roles = {"setsid": f"sleep {marker}1", "child": f"sleep {marker}2", "program": f"sleep {marker}3"}
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, mode, marker], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ran = {role: _marked(m) for role, m in roles.items()}
            if all(ran.values()):
                break
            time.sleep(0.01)
        else:
            raise RuntimeError(f"the sandboxed program never started ({mode})")
        tree = {**_tree(parent.pid), **ran["setsid"], **ran["child"], **ran["program"]}
        allowed = ran["setsid"] if mode == "process-group" else {}  # what the fallback lets escape
        took, _ = _kill_and_time(parent, {p: s for p, s in tree.items() if p not in allowed})
        escaped = {p: s for p, s in allowed.items() if _running(p, s)}
        _cleanup(tree)
        return took, len(escaped), len(tree)
    finally:
        if parent.poll() is None:
            parent.kill()


def cli_level(example: Path, line: int, workdir: Path) -> tuple[float, int, dict]:
    """One ``parevo evolve`` killed during its compile: (seconds until its tree is gone, tree size, survivors)."""
    src = workdir / example.name
    src.write_text(f"// kill run {secrets.token_hex(6)}\n#include <parlay/primitives.h>\n" + example.read_text())
    cache = workdir / f"cache-{secrets.token_hex(3)}"
    proc = subprocess.Popen([*CLI, "evolve", f"{src}:{line + 2}", "--no-resume", "--cache-dir", str(cache),
                             "--budget", "600", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        tree: dict[int, float] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            tree = _tree(proc.pid)
            if any("cc1plus" in _cmdline(p) and "original.cpp" in _cmdline(p) for p in tree):
                break
            time.sleep(0.01)
        else:
            raise RuntimeError("parevo evolve never compiled the loop's program")
        took, left = _kill_and_time(proc, tree)
        _cleanup(tree)
        return took, len(tree), left
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(cache, ignore_errors=True)


def _summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):7.1f} ms  range {ms[0]:.1f}-{ms[-1]:.1f} ms  ({len(ms)} runs)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10, help="kills per sandbox mode at the run level (default 10)")
    p.add_argument("--cli-runs", type=int, default=5, help="kills of `parevo evolve` during a compile (default 5)")
    p.add_argument("--example", default="examples/sum_squares.cpp:8",
                   help="FILE:LINE of the loop the CLI runs search (default examples/sum_squares.cpp:8)")
    args = p.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  ({os.cpu_count()} CPUs)")
    for mode in ("auto", "process-group") if args.runs else ():
        runs = [run_level(mode) for _ in range(args.runs)]
        escaped = sum(r[1] for r in runs)
        print(f"run level, {mode:13s}: {_summary([r[0] for r in runs])}; {runs[0][2]} processes per run"
              + (f"; setsid() children that escaped: {escaped} of {len(runs)}" if mode == "process-group" else ""))
    if args.cli_runs:
        path, _, line = args.example.rpartition(":")
        example = (ROOT / path) if not os.path.isabs(path) else Path(path)
        with tempfile.TemporaryDirectory(prefix="parevo-kill-bench-") as tmp:
            runs = [cli_level(example, int(line), Path(tmp)) for _ in range(args.cli_runs)]
        left = [r[2] for r in runs if r[2]]
        print(f"cli level (parevo evolve, kill -9 during the compile): {_summary([r[0] for r in runs])}; "
              f"{min(r[1] for r in runs)}-{max(r[1] for r in runs)} processes in the tree; "
              f"runs with a survivor after 10 s: {len(left)}")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
