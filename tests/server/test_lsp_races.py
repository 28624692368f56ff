"""Race diagnostics through ``parevo serve``, from race checks recorded on this machine (no compile).

tests/server/data/racy_sum.races.json and racy_scatter.races.json are real
ThreadSanitizer results (``check_races``) stored as the server stores them;
these tests open the files and look at what a developer sees: the memory
named, one range per access expression, relatedInformation between the
accesses, workspace-relative paths, the hover, the *Fix data race with
ParlayLib* action, and that a search of the loop does not hide the race.
"""

from __future__ import annotations

import pytest
import pytest_asyncio
from lsp_session import DATA, FAST_SETTINGS, seed_record, start, workspace_with
from lsprotocol import types

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

SUM, SUM_LOOP = "racy_sum.cpp", 10  # 0-based line of `parlay::parallel_for(...`
SCATTER, SCATTER_LOOP = "racy_scatter.cpp", 6


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory, parevo_cache_dir):
    ws = workspace_with(tmp_path_factory.mktemp("races") / "ws", DATA / SUM, DATA / SCATTER)
    seed_record(ws, DATA / "racy_sum.races.json", SUM)
    seed_record(ws, DATA / "racy_scatter.races.json", SCATTER)
    s = await start(ws, parevo_cache_dir, config=FAST_SETTINGS)
    await s.wait_toolchain()
    yield s
    await s.stop()


def _text_at(source: str, rng: types.Range) -> str:
    lines = source.split("\n")
    assert rng.start.line == rng.end.line
    return lines[rng.start.line][rng.start.character:rng.end.character]


async def test_a_race_is_named_and_squiggles_the_expression_not_the_line(session):
    s = session
    uri = s.open(s.root / SUM)
    [d] = await s.wait_diags(uri, "parevo.race", timeout=30)
    text = s.texts[uri]
    # `total += a[i];` on line 12 (0-based 11): the range is `total`, the expression that raced
    assert d.range.start.line == 11 and _text_at(text, d.range) == "total"
    assert d.range.start.character == 4 and d.range.end.character == 9
    assert d.severity == types.DiagnosticSeverity.Warning and d.source == "parevo"
    assert d.message.startswith("data race on `total`: "), d.message
    assert "read by thread" in d.message and "write by the main thread" in d.message
    assert "/tmp" not in d.message
    assert d.data["memory"] == "total"
    # both accesses, each linked to its range
    related = d.related_information
    assert len(related) == 2
    assert related[0].message.startswith("read by thread T") and related[1].message.startswith(
        "write by the main thread")
    assert {_text_at(text, r.location.range) for r in related} == {"total"}
    assert all(r.location.uri == uri and r.message.endswith("(line 12)") for r in related)


async def test_a_scatter_names_the_element(session):
    s = session
    uri = s.open(s.root / SCATTER)
    diags = await s.wait_diags(uri, "parevo.race", timeout=30)
    [d] = diags  # 19 TSan reports of one race: one diagnostic
    assert _text_at(s.texts[uri], d.range) == "out[idx[i]]"
    assert d.message.startswith("data race on `out[idx[i]]`: ")
    h = await s.hover(uri, 8)
    md = h.contents.value
    assert "data race on `out[idx[i]]`" in md and "19 reports" in md
    assert "/tmp/" not in md  # harness files by name only, the user's file relative to the workspace
    assert "racy_scatter.cpp:9" in md and "parlay/scheduler.h" in md
    assert md.count("WARNING: ThreadSanitizer") == 0
    assert "Fix data race with ParlayLib" in md


async def test_the_fix_action_is_offered_on_the_racy_loop(session):
    s = session
    uri = s.open(s.root / SUM)
    diags = await s.wait_diags(uri, "parevo.race", timeout=30)
    acts = await s.actions(uri, 11, col=6)
    titles = [a.title for a in acts]
    assert titles[0] == "Fix data race with ParlayLib", titles
    fix = acts[0]
    assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
    assert fix.command.command == "parevo.fixRace"
    assert list(fix.command.arguments[:2]) == [uri, 11]  # the cursor; the server finds the loop around it
    assert [d.message for d in fix.diagnostics or []] == [d.message for d in diags]
    assert "Check for data races (run again)" in titles
    # the header line offers it too
    assert (await s.actions(uri, SUM_LOOP))[0].title == "Fix data race with ParlayLib"


async def test_parallelize_on_the_racy_loop_searches_its_fix_and_keeps_the_race(session):
    """Parallelize on a racy parallel loop means fixing it (not an "already parallel" note that would hide the
    race); the race stays shown while the fix searches and after it is cancelled."""
    s = session
    uri = s.open(s.root / SUM)
    await s.wait_diags(uri, "parevo.race", timeout=30)
    before = set(s.client.progress_reports)
    res = await s.execute(types.Command(title="", command="parevo.parallelize", arguments=[uri, SUM_LOOP, None]))
    assert res["started"] is True and res["kind"] == "fix"
    token, values = await s.wait_progress(lambda v: bool(v), timeout=60, exclude=before)
    assert values[0].title.startswith("parevo: Fix data race with ParlayLib (racy_sum, line 11)")
    assert (await s.execute(types.Command(title="", command="parevo.cancel", arguments=[uri, SUM_LOOP])))["cancelled"]
    await s.wait_progress(lambda v: v[-1].kind == "end", timeout=120, exclude=before)
    [race] = s.diags(uri, "parevo.race")
    assert race.message.startswith("data race on `total`")
    assert not s.diags(uri, "parevo.not-parallelizable")
    # an edit of the loop clears the race
    s.change(uri, s.texts[uri].replace("total += a[i];", "total += 2 * a[i];"))
    await s.wait_diags(uri, "parevo.race", present=False, timeout=10)
