"""Record the stored results the editor and language-server tests load (real runs on this machine).

    python tests/server/data/record_results.py [races] [fix] [verified] [cli]

Each result is a :class:`~parevo.server.store.LoopRecord` as the server stores it, with the
file's path written as ``@FILE@`` (``lsp_session.seed_record`` puts it back):

* ``races``: ``check_races`` of racy_sum.cpp, racy_scatter.cpp and racy_heavy.cpp
  -> ``<name>.races.json`` (ThreadSanitizer at 4 threads: deterministic);
* ``fix``: ``fix_race`` of racy_heavy.cpp (a search of its serial meaning) -> ``racy_heavy.fix.json``
  (the committed one was stored by ``parevo serve`` itself, in the code-server race-fix test of
  2026-11-30, signature and dependencies dropped, its path written as ``@FILE@``);
* ``verified``: ``evolve`` of heavy_sum.cpp -> ``heavy_sum.verified.json``;
* ``cli``: ``parevo evolve heavy_sum.cpp:9 --max-candidates 1`` -> the run's transcript,
  ``heavy_sum.run.jsonl`` (the file's path written as ``@FILE@``, the cache's as ``@CACHE@``), which
  ``tests/server/test_cli.py`` replays: correctness checked again, figures as recorded.

The searches keep only a verified result: on a loaded machine a correct rewrite can measure "not
faster", so each is retried (another seed, a pause) until one verifies. Run it when the machine is
quiet; the compile cache is ``$PAREVO_CACHE_DIR`` (default ``/tmp/parevo-record``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parevo.evolution.engine import EvolveRequest, evolve
from parevo.evolution.racecheck import check_races
from parevo.evolution.racefix import fix_race
from parevo.evolution.search import Budget
from parevo.server.store import LoopRecord, anchor_of
from parevo.toolchain.facts import analyze
from parevo.toolchain.parsing import find_loop

DATA = Path(__file__).resolve().parent
CACHE = os.environ.get("PAREVO_CACHE_DIR", "/tmp/parevo-record")
#: The editor tests' small search (tests/editors/test_nvim_plugin.py SETTINGS).
EVAL = {"rounds": 5, "repeats": 3, "target_seconds": 0.02, "check_sizes": [0, 1, 5, 100], "check_seeds": [1]}
ATTEMPTS = 40
#: Before each timed search, wait (up to QUIET_WAIT_S) until the 1-minute load average is below this:
#: a speedup on 2 cores cannot show while other jobs keep both busy.
QUIET_LOAD = 1.5
QUIET_WAIT_S = 1800


def wait_for_quiet() -> float:
    """Wait until the machine's 1-minute load average drops below :data:`QUIET_LOAD` (at most
    :data:`QUIET_WAIT_S` seconds); returns the load it measured last."""
    end = time.monotonic() + QUIET_WAIT_S
    while True:
        load = float(Path("/proc/loadavg").read_text().split()[0])
        if load < QUIET_LOAD or time.monotonic() > end:
            return load
        time.sleep(10)


def _copy(name: str, work: Path) -> tuple[Path, str]:
    path = work / name
    shutil.copy(DATA / name, path)
    return path, path.read_text()


def _write(record: LoopRecord, path: Path, out: str) -> None:
    (DATA / out).write_text(record.model_dump_json(indent=1).replace(str(path), "@FILE@") + "\n")
    print(f"wrote {out}")


def record_races(work: Path) -> None:
    for name, line in (("racy_sum.cpp", 10), ("racy_scatter.cpp", 6), ("racy_heavy.cpp", 9)):
        path, src = _copy(name, work)
        res = check_races(find_loop(src, str(path), line), EvolveRequest(cache_dir=CACHE))
        assert res.status == "races", res.message
        print(res.message)
        rec = LoopRecord(kind="races", anchor=anchor_of(find_loop(src, str(path), line)), race_check=res)
        _write(rec, path, name.replace(".cpp", ".races.json"))


def _until_verified(run, req: EvolveRequest):
    """``run(req)`` with a new seed each attempt until it verifies a rewrite."""
    for attempt in range(ATTEMPTS):
        load = wait_for_quiet()
        res = run(req.model_copy(update={"seed": req.seed + attempt}))
        print(f"attempt {attempt + 1} (load {load:.2f}): {res.status}: {res.message[:160]}")
        if res.status == "verified":
            return res
        time.sleep(10)
    raise SystemExit("no verified result: the machine is too busy to measure a speedup now")


def _request() -> EvolveRequest:
    return EvolveRequest(cache_dir=CACHE, budget=Budget(seconds=900, evaluations=1), eval=dict(EVAL))


def record_fix(work: Path) -> None:
    path, src = _copy("racy_heavy.cpp", work)
    site = find_loop(src, str(path), 9)
    res = _until_verified(lambda req: fix_race(site, req), _request())
    rec = LoopRecord(kind="evolve", anchor=anchor_of(find_loop(src, str(path), 9)), evolution=res, race_fix=True)
    _write(rec, path, "racy_heavy.fix.json")


def record_verified(work: Path) -> None:
    path, src = _copy("heavy_sum.cpp", work)
    site = find_loop(src, str(path), 8)
    res = _until_verified(lambda req: evolve(site, analyze(site), req), _request())
    rec = LoopRecord(kind="evolve", anchor=anchor_of(find_loop(src, str(path), 8)), evolution=res)
    _write(rec, path, "heavy_sum.verified.json")


def record_cli(work: Path) -> None:
    path, _ = _copy("heavy_sum.cpp", work)
    cache = work / "cache"
    for attempt in range(ATTEMPTS):
        load = wait_for_quiet()
        shutil.rmtree(cache, ignore_errors=True)
        res = subprocess.run([sys.executable, "-m", "parevo.server.cli", "evolve", "heavy_sum.cpp:9",
                              "--max-candidates", "1", "--seed", str(3 + attempt), "--json", "r.json", "--quiet"],
                             cwd=work, env=dict(os.environ, PAREVO_CACHE_DIR=str(cache)),
                             capture_output=True, text=True)
        print(f"attempt {attempt + 1} (load {load:.2f}): exit {res.returncode}: {res.stdout.splitlines()[:1]}")
        if res.returncode == 0:
            run_id = json.loads((work / "r.json").read_text())["run_id"]
            text = (cache / "runs" / run_id / "transcript.jsonl").read_text()
            (DATA / "heavy_sum.run.jsonl").write_text(text.replace(str(path), "@FILE@").replace(str(cache), "@CACHE@"))
            print("wrote heavy_sum.run.jsonl")
            return
        time.sleep(10)
    raise SystemExit("no verified result: the machine is too busy to measure a speedup now")


def main(argv: list[str]) -> None:
    what = argv or ["races", "fix", "verified", "cli"]
    with tempfile.TemporaryDirectory(prefix="parevo-record-") as tmp:
        work = Path(tmp)
        for name in what:
            {"races": record_races, "fix": record_fix, "verified": record_verified, "cli": record_cli}[name](work)


if __name__ == "__main__":
    main(sys.argv[1:])
