"""The VS Code extension builds from a clean checkout: npm ci, typecheck, build, package.

Also checks the packaged manifest against the server: every server setting has
a ``parevo.*`` contribution whose default the server accepts, and no client
command collides with a command the server registers (vscode-languageclient
registers those under the same ids).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / "extension" / "vscode"

pytestmark = pytest.mark.skipif(shutil.which("npm") is None,
                                reason="!!! npm NOT FOUND: the VS Code extension was not built (install node 20 + npm) !!!")


def npm(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    res = subprocess.run(["npm", *args], cwd=VSCODE, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"npm {' '.join(args)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def vsix() -> Path:
    """Build the extension once for this module, as CI and a developer would; returns the .vsix."""
    version = json.loads((VSCODE / "package.json").read_text())["version"]
    out = VSCODE / f"parevo-{version}.vsix"
    out.unlink(missing_ok=True)
    npm("ci")
    npm("run", "typecheck")
    npm("run", "build")
    assert (VSCODE / "dist" / "extension.js").exists()
    npm("run", "package")
    assert out.exists(), "npm run package made no .vsix"
    return out


def manifest(vsix: Path) -> dict:
    with zipfile.ZipFile(vsix) as z:
        return json.loads(z.read("extension/package.json"))


def test_vsix_holds_only_the_bundle(vsix):
    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        bundle = z.read("extension/dist/extension.js").decode()
    assert {"extension/package.json", "extension/dist/extension.js", "extension/LICENSE.txt"} <= names
    assert not [n for n in names if "node_modules" in n or n.endswith(".ts") or "/src/" in n], sorted(names)
    # vscode-languageclient is bundled; only the editor API stays external
    assert 'require("vscode")' in bundle
    assert 'require("vscode-languageclient' not in bundle


def test_manifest_activates_on_c_and_cpp_and_contributes_commands(vsix):
    m = manifest(vsix)
    assert {"onLanguage:c", "onLanguage:cpp"} <= set(m["activationEvents"])
    assert m["main"] == "./dist/extension.js"
    commands = {c["command"] for c in m["contributes"]["commands"]}
    assert {"parevo.parallelizeLoop", "parevo.cancelSearch", "parevo.showDiff", "parevo.showReport",
            "parevo.restartServer"} <= commands
    from parevo.server import actions

    server_commands = {actions.CMD_PARALLELIZE, actions.CMD_CHECK_RACES, actions.CMD_CANCEL, "parevo.status"}
    assert not commands & server_commands, "client command ids must differ from the server's"


def _nested(props: dict) -> dict:
    """VS Code's view of the defaults: `parevo.budget.seconds` -> {"budget": {"seconds": ...}}."""
    out: dict = {}
    for key, spec in props.items():
        parts = key.split(".")[1:]
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = spec.get("default")
    return out


def test_settings_cover_the_server_settings_and_defaults_are_accepted(vsix):
    from pydantic.alias_generators import to_camel

    from parevo.server.settings import Settings, parse_settings

    props = manifest(vsix)["contributes"]["configuration"]["properties"]
    keys = set(props)
    for name, field in Settings.model_fields.items():
        sub = getattr(field.annotation, "model_fields", None)
        if sub:  # budget, llm: one VS Code setting per leaf
            for leaf in sub:
                assert f"parevo.{to_camel(name)}.{to_camel(leaf)}" in keys, (name, leaf)
        else:
            assert f"parevo.{to_camel(name)}" in keys, name
    for client_key in ("parevo.server.path", "parevo.server.pythonPath", "parevo.trace.server"):
        assert client_key in keys
    sent = _nested(props)
    sent.pop("server"), sent.pop("trace")  # the client keeps these (see src/config.ts)
    settings, problems = parse_settings(sent)
    assert problems == []
    assert settings.model_dump() == Settings().model_dump()
