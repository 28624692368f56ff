"""End-to-end tests of ``parevo serve`` that need no ParlayLib compile (pytest-lsp client)."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from lsprotocol import types

from lsp_session import DATA, EXAMPLES, server_env, start, workspace_with

pytestmark = pytest.mark.fast

LOOP_LINE = 7  # 0-based line of the for loop in examples/sum_squares.cpp


@pytest.mark.parametrize("caps", ["visual-studio-code", "neovim@v0.7.0"])
async def test_action_offered_on_a_loop_and_not_elsewhere(example_ws, parevo_cache_dir, caps):
    s = await start(example_ws, parevo_cache_dir, caps=caps)
    try:
        uri = s.open(example_ws / "sum_squares.cpp")
        t0 = time.perf_counter()
        acts = await s.actions(uri, LOOP_LINE)
        assert time.perf_counter() - t0 < 5
        assert [a.title for a in acts] == ["Parallelize with ParlayLib"]
        act = acts[0]
        assert act.kind == types.CodeActionKind.RefactorRewrite
        assert act.command.command == "parevo.parallelize" and act.command.arguments[0] == uri
        # inside the loop body and on the comment line above it: the same loop
        assert [a.title for a in await s.actions(uri, LOOP_LINE + 1)] == ["Parallelize with ParlayLib"]
        assert [a.title for a in await s.actions(uri, LOOP_LINE - 1)] == ["Parallelize with ParlayLib"]
        # a whole-line selection of the loop
        assert [a.title for a in await s.actions(uri, LOOP_LINE, LOOP_LINE + 3, col=0)] == [
            "Parallelize with ParlayLib"]
        # not on the function header, not outside functions, not on the include lines
        for line in (0, 1, 4, 11, 13):
            assert await s.actions(uri, line) == [], line
        # a filter that excludes refactorings
        assert await s.actions(uri, LOOP_LINE, only=[types.CodeActionKind.QuickFix]) == []
        assert await s.actions(uri, LOOP_LINE, only=[types.CodeActionKind.Refactor])
        # a non-C++ document gets nothing
        txt = s.open(example_ws / "notes.txt", text="for (;;) {}\n", language="plaintext")
        assert await s.actions(txt, 0) == []
    finally:
        await s.stop()


CUDA_HOST = """#include <vector>
__global__ void scale(float* x, int n) { x[threadIdx.x] *= 2.0f; }
void launch(float* dx, int n) {
  scale<<<1, 32>>>(dx, n);
}
__host__ double sum_squares(const double* a, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) {
    s += a[i] * a[i];
  }
  return s;
}
"""

async def test_a_host_loop_in_a_cu_file_is_offered_and_a_macro_loop_is_refused_by_name(tmp_path, parevo_cache_dir):
    """Issue 13 item 6 through the server: a .cu file (Neovim's language id ``cuda``) is read for its host
    code; a loop written through a macro gets a disabled action naming the macro, not 'does not parse'."""
    ws = workspace_with(tmp_path / "ws")
    s = await start(ws, parevo_cache_dir)
    try:
        cu = s.open(ws / "kern.cu", text=CUDA_HOST, language="cuda")
        assert [(a.title, a.disabled) for a in await s.actions(cu, 7)] == [("Parallelize with ParlayLib", None)]
        acts = await s.actions(cu, 3)  # the launch: no loop there
        assert acts == []
        mac = s.open(ws / "macro.cpp", text=(DATA / "macro_loop.cpp").read_text())
        acts = await s.actions(mac, 6)
        assert len(acts) == 1 and acts[0].disabled is not None
        assert "the loop is written through the macro FOR (defined at line 3)" in acts[0].disabled.reason
    finally:
        await s.stop()


async def test_already_parallel_loop_offers_the_race_check(tmp_path, parevo_cache_dir):
    ws = workspace_with(tmp_path / "ws", DATA / "racy_sum.cpp")
    s = await start(ws, parevo_cache_dir)
    try:
        uri = s.open(ws / "racy_sum.cpp")
        acts = await s.actions(uri, 10)
        assert [a.title for a in acts] == ["Check for data races"]
        assert acts[0].command.command == "parevo.checkRaces"
    finally:
        await s.stop()


async def test_not_parallelizable_loop_says_why_with_related_lines(example_ws, parevo_cache_dir):
    """recurrence.cpp: the search ends at once (no compile) with the dependence and its lines."""
    s = await start(example_ws, parevo_cache_dir)
    try:
        uri = s.open(example_ws / "recurrence.cpp")
        act = await s.action(uri, 7, "Parallelize with ParlayLib")
        res = await s.execute(act.command)
        assert res["started"] is True
        [d] = await s.wait_diags(uri, "parevo.not-parallelizable", timeout=60)
        assert d.severity == types.DiagnosticSeverity.Information and d.source == "parevo"
        assert "loop-carried dependence" in d.message
        assert d.range.start.line == 7
        assert d.related_information and all(r.location.uri == uri for r in d.related_information)
        assert {r.location.range.start.line for r in d.related_information} == {8}
        token, values = await s.wait_progress(lambda v: v and v[-1].kind == "end", timeout=60)
        assert values[0].kind == "begin" and values[0].cancellable
        hover = await s.hover(uri, 8)
        assert hover is not None and "loop-carried dependence" in hover.contents.value
        assert await s.hover(uri, 2) is None
    finally:
        await s.stop()


async def test_parse_failure_and_bad_commands_do_not_kill_the_server(example_ws, parevo_cache_dir):
    s = await start(example_ws, parevo_cache_dir)
    try:
        broken = (EXAMPLES / "sum_squares.cpp").read_text().replace("s += a[i] * a[i];", "s += a[i] * ;;) (")
        uri = s.open(example_ws / "broken.cpp", text=broken)
        acts = await s.actions(uri, LOOP_LINE)
        assert len(acts) == 1 and acts[0].disabled is not None and "does not parse" in acts[0].disabled.reason
        # wrong arguments, a missing document, a selection without a loop
        for args in ([], [42], ["file:///nowhere.cpp", 3], [uri, 0]):
            res = await s.client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="parevo.parallelize", arguments=args))
            assert res["started"] is False
        assert (await s.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="parevo.cancel", arguments=[])))["cancelled"] == 0
        # still alive
        good = s.open(example_ws / "sum_squares.cpp")
        assert [a.title for a in await s.actions(good, LOOP_LINE)] == ["Parallelize with ParlayLib"]
    finally:
        await s.stop()


async def test_missing_toolchain_disables_the_action_with_the_reason(example_ws, parevo_cache_dir, tmp_path):
    empty = tmp_path / "emptybin"
    empty.mkdir()
    env = server_env(parevo_cache_dir, PATH=str(empty))
    env.pop("CXX", None)
    s = await start(example_ws, parevo_cache_dir, env=env)
    try:
        st = await s.wait_toolchain()
        assert st["toolchainProblem"] and "No C++ compiler" in st["toolchainProblem"]
        uri = s.open(example_ws / "sum_squares.cpp")
        [act] = await s.actions(uri, LOOP_LINE)
        assert act.title == "Parallelize with ParlayLib"
        assert act.disabled is not None and "No C++ compiler" in act.disabled.reason
        assert act.command is None
        # a client that runs the command anyway gets the reason as a diagnostic and a message
        res = await s.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="parevo.parallelize", arguments=[uri, LOOP_LINE, None, 1]))
        assert res["started"] is False
        [d] = await s.wait_diags(uri, "parevo.error", timeout=30)
        assert "No C++ compiler" in d.message
        assert any("No C++ compiler" in m.message for m in s.client.messages)
    finally:
        await s.stop()


async def test_invalid_settings_give_a_message_and_defaults(example_ws, parevo_cache_dir):
    # started the way vscode-languageclient starts it: `parevo serve --stdio`
    s = await start(example_ws, parevo_cache_dir, caps="neovim@v0.7.0",
                    command=[sys.executable, "-m", "parevo.server.cli", "serve", "--stdio"],
                    init={"parevo": {"threads": "many", "budget": {"seconds": -5, "candidates": 3},
                                     "resultStore": "", "llm": {"model": "gpt-x", "apiKeyEnv": "PAREVO_KEY"}}})
    try:
        for _ in range(100):
            if s.client.messages:
                break
            await asyncio.sleep(0.05)
        text = " ".join(m.message for m in s.client.messages)
        assert "threads" in text and "budget.seconds" in text and "resultStore" in text
        assert all(m.type == types.MessageType.Warning for m in s.client.messages)
        st = (await s.status())["settings"]
        assert st["threads"] is None and st["budget"] == {"seconds": 600.0, "candidates": 3}
        assert st["result_store"] == "workspace" and st["llm"]["model"] == "gpt-x"
        assert st["llm"]["api_key_env"] == "PAREVO_KEY"
    finally:
        await s.stop()


async def test_configuration_pull_and_did_change_configuration(example_ws, parevo_cache_dir):
    s = await start(example_ws, parevo_cache_dir, init={"seed": 5},
                    config={"budget": {"candidates": 2}, "threads": 2})
    try:
        for _ in range(100):
            st = (await s.status())["settings"]
            if st["threads"] == 2:
                break
            await asyncio.sleep(0.05)
        assert st["seed"] == 5 and st["threads"] == 2 and st["budget"]["candidates"] == 2
        # pushed settings
        s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"parevo": {"threads": 1, "maxQueued": 2, "quietWait": 30}}))
        for _ in range(100):
            st = (await s.status())["settings"]
            if st["threads"] == 1:
                break
            await asyncio.sleep(0.05)
        assert st["threads"] == 1 and st["max_queued"] == 2 and st["quiet_wait"] == 30
        # pulled settings, one invalid value
        s.client.set_configuration({"parevo": {"threads": -3}})
        s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        for _ in range(100):
            st = (await s.status())["settings"]
            if st["threads"] is None:
                break
            await asyncio.sleep(0.05)
        assert st["threads"] is None
        assert any("threads" in m.message for m in s.client.messages)
    finally:
        await s.stop()


async def test_loops_the_harness_cannot_run_get_a_disabled_action_with_the_reason(tmp_path, parevo_cache_dir):
    """A loop in main(), in a lambda, or in a function with a parameter the harness cannot build:
    refused at prepare time (no search starts, no compiler error from generated code)."""
    ws = workspace_with(tmp_path / "ws", DATA / "unharnessable.cpp")
    s = await start(ws, parevo_cache_dir)
    try:
        await s.wait_toolchain()
        uri = s.open(ws / "unharnessable.cpp")
        for line, why in ((21, "the loop is in main()"), (6, "the loop is inside a lambda"),
                          (12, "parameter `seen` of type `std::map<int, int>&`")):
            [act] = await s.actions(uri, line)
            assert act.title == "Parallelize with ParlayLib" and act.command is None, line
            assert act.disabled is not None and act.disabled.reason.startswith(why), act.disabled
        [ok] = await s.actions(uri, 16)
        assert ok.disabled is None and ok.command.command == "parevo.parallelize"
        # a client that runs the command anyway gets the reason, not a compiler error
        res = await s.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="parevo.parallelize", arguments=[uri, 21, None, 1]))
        if res["started"]:
            [d] = await s.wait_diags(uri, "parevo.error", timeout=60)
            assert "the loop is in main()" in d.message and "::main" not in d.message
    finally:
        await s.stop()
