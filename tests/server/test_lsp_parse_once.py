"""One code action, from ``prepare`` to the applied edit, parses the loop's document once per version.

A verified result recorded on this machine (heavy_sum.verified.json) is loaded from the store, so no
search runs. ``parevo.status`` reports ``documentParses``, the server process's count of document
parses (:func:`parevo.toolchain.syntax.parse_count`): the code actions (prepare), the hover, the
Apply action's resolve (the engine's edits moved by the content hash) and the diagnostics of one
document version together parse it once; an edit makes a new version, parsed once more.
"""

from __future__ import annotations

import pytest
from lsp_session import DATA, FAST_SETTINGS, HEAVY, HEAVY_LOOP, apply_lsp_edits, seed_verified_result, start, \
    workspace_with

pytestmark = [pytest.mark.asyncio(loop_scope="function"), pytest.mark.fast]


async def test_a_code_action_parses_the_document_once_per_version(tmp_path, parevo_cache_dir):
    ws = workspace_with(tmp_path / "ws", DATA / HEAVY)
    seed_verified_result(ws)
    s = await start(ws, parevo_cache_dir, config=FAST_SETTINGS)
    try:
        before = (await s.status())["documentParses"]
        uri = s.open(ws / HEAVY)
        await s.wait_diags(uri, "parevo.speedup", timeout=60)
        for _ in range(3):  # prepare, again and again: the editor asks on every cursor move
            acts = await s.actions(uri, HEAVY_LOOP)
        await s.hover(uri, HEAVY_LOOP + 1)
        [apply] = [a for a in acts if a.title.startswith("Apply ParlayLib rewrite")]
        resolved = await s.client.code_action_resolve_async(apply)
        edits = list(resolved.edit.document_changes[0].edits)
        assert "parlay::" in apply_lsp_edits(s.texts[uri], edits)
        assert (await s.status())["documentParses"] - before == 1
        # a new version (an edit elsewhere in the file) is parsed once more, whatever is asked of it
        s.change(uri, "// edited\n" + s.texts[uri])
        for _ in range(2):
            acts = await s.actions(uri, HEAVY_LOOP + 1)
        [apply] = [a for a in acts if a.title.startswith("Apply ParlayLib rewrite")]
        await s.client.code_action_resolve_async(apply)
        assert (await s.status())["documentParses"] - before == 2
    finally:
        await s.stop()
