"""The language server without ParlayLib: it asks with ``window/showMessageRequest`` ("Install ParlayLib" /
"Show how") when a search needs it, installs it (or, with ``parevo.autoSetup``, without asking), and runs
what needs no ParlayLib (not-parallelizable explanations, the race check of OpenMP code) without it.

"No ParlayLib" is made by settings (``systemParlay: false``) and an empty ``PAREVO_DATA_DIR``, never by
removing the machine's headers; downloads come from a loopback server, never the internet.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from lsp_session import DATA, server_env, start, workspace_with
from lsprotocol import types
from parlay_fakes import Loopback, closed_port_url, github_members, installed_headers, tar_gz

from parevo.toolchain.parlay_release import MANUAL_WAYS, PINNED

LOOP_LINE = 7  # examples/sum_squares.cpp
AWAY = {"systemParlay": False}


def _env(cache: Path, tmp: Path, source: str) -> dict[str, str]:
    env = server_env(cache, PAREVO_DATA_DIR=str(tmp / "data"), PAREVO_PARLAYLIB_FROM=source)
    for var in ("PARLAYLIB_INCLUDE", "CMAKE_PREFIX_PATH", "XDG_DATA_HOME"):
        env.pop(var, None)
    return env


class Answers:
    """Answers every ``window/showMessageRequest`` with the action ``title`` (None: dismissed) and keeps the asks."""

    def __init__(self, s, title: str | None):
        self.title = title
        self.asked: list[types.ShowMessageRequestParams] = []

        @s.client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def ask(ls, params: types.ShowMessageRequestParams):
            self.asked.append(params)
            return None if self.title is None else types.MessageActionItem(title=self.title)


@pytest.mark.fast
async def test_a_search_without_parlaylib_asks_and_show_how_gives_the_manual_ways(example_ws, parevo_cache_dir,
                                                                                  tmp_path):
    s = await start(example_ws, parevo_cache_dir, init=AWAY, env=_env(parevo_cache_dir, tmp_path,
                                                                        closed_port_url()))
    try:
        answers = Answers(s, "Show how")
        st = await s.wait_toolchain()
        assert st["toolchain"]["parlay_include"] is None and st["toolchainProblem"] is None
        uri = s.open(example_ws / "sum_squares.cpp")
        act = await s.action(uri, LOOP_LINE, "Parallelize with ParlayLib")
        assert act.disabled is None and act.command is not None  # missing ParlayLib is offered, not a dead end
        res = await s.execute(act.command)
        assert res["started"] is False and MANUAL_WAYS in res["reason"]
        [ask] = answers.asked
        assert [a.title for a in ask.actions] == ["Install ParlayLib", "Show how"]
        assert ask.message.startswith(f"parevo: ParlayLib not found. Install ParlayLib {PINNED.version} from "
                                      "127.0.0.1 (SHA-256 pinned) into ")
        assert any(MANUAL_WAYS in m.message for m in s.client.messages)
        [d] = await s.wait_diags(uri, "parevo.error", timeout=30)
        assert "ParlayLib headers not found" in d.message
        # "Install ParlayLib" without network: said so, with the manual ways; nothing installed
        answers.title = "Install ParlayLib"
        res = await s.execute(act.command)
        assert len(answers.asked) == 2 and res["started"] is False
        assert "cannot download ParlayLib: cannot reach 127.0.0.1: Connection refused (no network access?)" \
            in res["reason"] and MANUAL_WAYS in res["reason"]
        assert not (tmp_path / "data").exists()
    finally:
        await s.stop()


@pytest.mark.fast
async def test_not_parallelizable_needs_no_parlaylib_and_asks_nothing(example_ws, parevo_cache_dir, tmp_path):
    s = await start(example_ws, parevo_cache_dir, init=AWAY, env=_env(parevo_cache_dir, tmp_path,
                                                                        closed_port_url()))
    try:
        answers = Answers(s, "Install ParlayLib")
        uri = s.open(example_ws / "recurrence.cpp")
        act = await s.action(uri, 7, "Parallelize with ParlayLib")
        assert (await s.execute(act.command))["started"] is True
        [d] = await s.wait_diags(uri, "parevo.not-parallelizable", timeout=60)
        assert "loop-carried dependence" in d.message and d.related_information
        assert answers.asked == []
    finally:
        await s.stop()


@pytest.mark.skipif(shutil.which("g++") is None, reason="!!! needs g++ and its ThreadSanitizer !!!")
async def test_the_race_check_of_openmp_code_needs_no_parlaylib(tmp_path, parevo_cache_dir):
    ws = workspace_with(tmp_path / "ws", DATA / "racy_omp.cpp")
    s = await start(ws, parevo_cache_dir, init=AWAY, env=_env(parevo_cache_dir, tmp_path, closed_port_url()))
    try:
        answers = Answers(s, "Install ParlayLib")
        uri = s.open(ws / "racy_omp.cpp")
        act = await s.action(uri, 6, "Check for data races")
        assert act.disabled is None
        assert (await s.execute(act.command))["started"] is True
        diags = await s.wait_diags(uri, "parevo.race", timeout=600)
        assert 7 in {d.range.start.line for d in diags}
        assert answers.asked == [] and (await s.status())["toolchain"]["parlay_include"] is None
    finally:
        await s.stop()


async def _install_and_start(example_ws, parevo_cache_dir, tmp_path, toolchain, settings: dict,
                             answer: str | None):
    if toolchain.parlay_headers_sha256 != PINNED.headers_sha256:
        pytest.skip(f"!!! the ParlayLib installed here ({toolchain.parlay_version}) is not 2.3.3 !!!")
    archive = tar_gz(github_members(installed_headers(toolchain.parlay_include), top=f"parlaylib-{PINNED.commit}"))
    with Loopback({"/mirror.tar.gz": archive}) as srv:
        s = await start(example_ws, parevo_cache_dir, init={**AWAY, **settings},
                        env=_env(parevo_cache_dir, tmp_path, srv.url("/mirror.tar.gz")))
        try:
            answers = Answers(s, answer)
            uri = s.open(example_ws / "sum_squares.cpp")
            act = await s.action(uri, LOOP_LINE, "Parallelize with ParlayLib")
            res = await s.execute(act.command)
            assert res["started"] is True, res
            st = await s.status()
            include = tmp_path / "data" / "parlaylib" / "include"
            assert st["toolchain"]["parlay_include"] == str(include)
            assert st["toolchain"]["parlay_found_via"] == "parevo setup" and st["toolchain"]["parlay_version"] == "2.3.3"
            assert any(f"installed ParlayLib 2.3.3 in {include / 'parlay'}" in m.message for m in s.client.messages)
            await s.client.workspace_execute_command_async(types.ExecuteCommandParams(command="parevo.cancel",
                                                                                      arguments=[]))
            for _ in range(600):  # the cancelled search ends
                if not (await s.status())["jobs"]:
                    break
                await asyncio.sleep(0.1)
            return answers.asked
        finally:
            await s.stop()


@pytest.mark.parlay
async def test_install_parlaylib_installs_and_the_search_starts(example_ws, parevo_cache_dir, tmp_path, toolchain):
    asked = await _install_and_start(example_ws, parevo_cache_dir, tmp_path, toolchain, {}, "Install ParlayLib")
    assert len(asked) == 1


@pytest.mark.parlay
async def test_auto_setup_installs_without_asking(example_ws, parevo_cache_dir, tmp_path, toolchain):
    asked = await _install_and_start(example_ws, parevo_cache_dir, tmp_path, toolchain, {"autoSetup": True}, None)
    assert asked == []
