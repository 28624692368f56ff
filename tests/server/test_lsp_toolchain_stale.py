"""A stored result measured with another compiler is shown stale and never applied.

The recorded verified result of tests/server/data/heavy_sum.cpp is seeded into a
workspace store twice: once stamped with this machine's toolchain (it stays a
live speedup diagnostic), once with another compiler version (the server marks
it stale when it opens the file, says why, and offers no apply action).
"""

from __future__ import annotations

import pytest
from lsp_session import DATA, FAST_SETTINGS, HEAVY, HEAVY_LOOP, seed_verified_result, start, workspace_with

from parevo.server.services.staleness import toolchain_change
from parevo.server.store import LoopRecord
from parevo.toolchain.discovery import Toolchain

pytestmark = pytest.mark.parlay


@pytest.mark.fast
def test_toolchain_change_names_what_changed(tmp_path):
    ws = tmp_path / "ws"
    workspace_with(ws, DATA / HEAVY)
    rec = LoopRecord.model_validate_json(seed_verified_result(ws, compiler_version="g++ (Debian) 12.2.0").read_text())
    same = Toolchain(cxx="/usr/bin/g++", cxx_version="g++ (Debian) 12.2.0",
                     parlay_version=rec.evolution.toolchain.parlay_version)
    assert toolchain_change(rec, same) is None
    newer = same.model_copy(update={"cxx_version": "g++ (Debian) 13.1.0"})
    assert toolchain_change(rec, newer) == ("measured with g++ (Debian) 12.2.0; the compiler is now "
                                            "g++ (Debian) 13.1.0 (/usr/bin/g++)")
    other_parlay = same.model_copy(update={"parlay_version": "2.3.1", "parlay_include": "/opt/parlay/include"})
    assert "ParlayLib is now 2.3.1 (/opt/parlay/include)" in toolchain_change(rec, other_parlay)
    assert toolchain_change(rec, None) is None


async def test_a_result_from_another_compiler_is_stale_on_open(tmp_path, parevo_cache_dir):
    ws = workspace_with(tmp_path / "ws", DATA / HEAVY)
    seed_verified_result(ws, compiler_version="g++ (Gentoo 9.9.9) 9.9.9")
    s = await start(ws, parevo_cache_dir, config=FAST_SETTINGS)
    try:
        uri = s.open(ws / HEAVY)
        [d] = await s.wait_diags(uri, "parevo.stale", timeout=60)
        assert "measured with g++ (Gentoo 9.9.9) 9.9.9; the compiler is now" in d.message
        assert not s.diags(uri, "parevo.speedup")
        titles = [a.title for a in await s.actions(uri, HEAVY_LOOP)]
        assert titles == ["Parallelize with ParlayLib (run again)"]  # no "Apply ParlayLib rewrite"
        [f] = list((ws / ".parevo" / "results").glob("*.json"))
        assert LoopRecord.model_validate_json(f.read_text()).stale  # persisted
    finally:
        await s.stop()


async def test_a_result_from_this_toolchain_stays_live(tmp_path, parevo_cache_dir):
    ws = workspace_with(tmp_path / "ws", DATA / HEAVY)
    seed_verified_result(ws)
    s = await start(ws, parevo_cache_dir, config=FAST_SETTINGS)
    try:
        uri = s.open(ws / HEAVY)
        await s.wait_diags(uri, "parevo.speedup", timeout=60)
        titles = [a.title for a in await s.actions(uri, HEAVY_LOOP)]
        assert "Apply ParlayLib rewrite" in " ".join(titles)
        assert not s.diags(uri, "parevo.stale")
    finally:
        await s.stop()
