"""The Apply action's edit is formatted in the project's style (``.clang-format``) and minimal.

A verified result recorded on this machine (heavy_sum.verified.json) is loaded from the store,
so no search runs: the test looks only at the edit the server resolves.
"""

from __future__ import annotations

import pytest
from lsp_session import (DATA, FAST_SETTINGS, HEAVY, HEAVY_LOOP, apply_lsp_edits, seed_verified_result, start,
                         workspace_with)
from lsprotocol import types

from parevo.server.store import LoopRecord
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.splice import apply_edits, rewrite_edits
from parevo.toolchain.style import changed_lines, clang_format, format_lines, same_tokens

pytestmark = [pytest.mark.asyncio(loop_scope="function"),
              pytest.mark.skipif(clang_format() is None, reason="!!! NO CLANG-FORMAT (apt-get install clang-format; "
                                                                 "pip install clang-format) !!!")]

STYLE = """\
BasedOnStyle: LLVM
IndentWidth: 4
ColumnLimit: 60
BreakBeforeBraces: Allman
"""




async def _resolved_text(ws, cache) -> tuple[str, str, list[types.TextEdit]]:
    s = await start(ws, cache, config=FAST_SETTINGS)
    try:
        uri = s.open(ws / HEAVY)
        await s.wait_diags(uri, "parevo.speedup", timeout=60)
        [apply] = [a for a in await s.actions(uri, HEAVY_LOOP) if a.title.startswith("Apply ParlayLib rewrite")]
        resolved = await s.client.code_action_resolve_async(apply)
        edits = list(resolved.edit.document_changes[0].edits)
        return s.texts[uri], apply_lsp_edits(s.texts[uri], edits), edits
    finally:
        await s.stop()


def _spliced(ws, text: str) -> str:
    rec = LoopRecord.model_validate_json(next((ws / ".parevo" / "results").glob("*.json")).read_text())
    c = rec.evolution.best.candidate
    site = find_loop(text, str(ws / HEAVY), HEAVY_LOOP)
    return apply_edits(text, rewrite_edits(site, c.loop_text, c.includes, function_text=c.function_text))


def _changed(edits: list[types.TextEdit]) -> list[str]:
    return [ln for e in edits for ln in e.new_text.split("\n")]


def _fixpoint(text: str, new: str, path) -> bool:
    """True when clang-format, run again over the rewritten lines in the file's style, changes nothing."""
    return format_lines(new, str(path), changed_lines(text, new)) == new


async def test_the_workspace_clang_format_shapes_the_rewrite(tmp_path, parevo_cache_dir):
    ws = workspace_with(tmp_path / "ws", DATA / HEAVY)
    (ws / ".clang-format").write_text(STYLE)
    seed_verified_result(ws)
    text, new, edits = await _resolved_text(ws, parevo_cache_dir)
    assert same_tokens(new, _spliced(ws, text))  # exactly the verified program
    assert max(len(ln) for ln in _changed(edits)) <= 60  # the project's column limit
    assert _fixpoint(text, new, ws / HEAVY)  # formatted in the project's style: clang-format has nothing to do
    # the style is the project's, not the file's: with LLVM's 80 columns the same rewrite is laid out otherwise
    assert format_lines(new, str(ws / HEAVY), [(1, new.count("\n") + 1)], "{BasedOnStyle: LLVM, SortIncludes: Never}") \
        != new
    # minimal: the edits start at the includes and at the loop, nothing above is rewritten
    assert edits[0].new_text.startswith("#include <parlay/") and edits[0].range.start.line == 5
    # the reduce folds the accumulator's declaration (`double s = parlay::reduce(…)`): it starts one line above
    assert edits[-1].range.start.line == HEAVY_LOOP - 1


async def test_without_clang_format_file_the_files_own_style(tmp_path, parevo_cache_dir):
    ws = workspace_with(tmp_path / "ws", DATA / HEAVY)
    seed_verified_result(ws)
    text, new, edits = await _resolved_text(ws, parevo_cache_dir)
    assert same_tokens(new, _spliced(ws, text))
    assert max(len(ln) for ln in _changed(edits)) <= 80  # the file's 80 columns
    assert _fixpoint(text, new, ws / HEAVY)
