"""Unit tests of the server's pure adapters: settings, store, convert, diagnostics, jobs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from lsprotocol import types

from parevo.server.convert import char_to_position, line_range, to_lsp_edits, workspace_edit
from parevo.server.diagnostics import CODE_RACE, diagnostics_for, race_message
from parevo.server.jobs import AlreadyRunning, Job, JobQueue, QueueFull
from parevo.server.settings import TESTING_ENV, parse_settings
from parevo.server.store import LoopRecord, ResultStore, anchor_of, locate, record_key
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.splice import TextEdit
from parevo.toolchain.tsan import Frame, RaceAccess, RaceReport

from lsp_session import DATA, EXAMPLES

pytestmark = pytest.mark.fast


# ---------------------------------------------------------------- settings
def test_settings_camel_and_snake_case_and_nesting():
    s, problems = parse_settings(
        {"parevo": {"compiler": "clang++", "parlayInclude": "/opt/parlay/include", "threads": 2,
                    "budget": {"seconds": 30, "candidates": 3}, "llm": {"baseUrl": "http://h", "model": "m",
                                                                         "apiKeyEnv": "MY_KEY"},
                    "resultStore": "user", "eval": {"rounds": 2}}},
        {"budget": {"seconds": 40}})
    assert problems == []
    assert (s.compiler, s.parlay_include, s.threads) == ("clang++", "/opt/parlay/include", 2)
    assert (s.budget.seconds, s.budget.candidates) == (40, 3)  # later layer wins, per key
    assert (s.llm.base_url, s.llm.model, s.llm.api_key_env) == ("http://h", "m", "MY_KEY")
    assert s.result_store == "user" and s.eval == {"rounds": 2}


def test_invalid_settings_fall_back_per_field_with_messages():
    s, problems = parse_settings({"threads": "many", "budget": {"seconds": -1, "candidates": 5}, "seed": 7,
                                  "eval": {"noSuchKnob": 1}})
    assert s.threads is None and s.budget.seconds == 600 and s.budget.candidates == 5 and s.seed == 7
    assert s.eval == {}
    text = " | ".join(problems)
    assert "threads" in text and "budget.seconds" in text and "eval" in text
    s, problems = parse_settings("nonsense")
    assert problems and s.budget.candidates == 64


def test_min_speedup_below_one_needs_test_mode(monkeypatch):
    monkeypatch.delenv(TESTING_ENV, raising=False)
    s, problems = parse_settings({"eval": {"minSpeedup": 0.5}})
    assert s.eval == {} and "slower" in problems[0]
    s, problems = parse_settings({"eval": {"minSpeedup": 1.2}})
    assert s.eval == {"min_speedup": 1.2} and not problems
    monkeypatch.setenv(TESTING_ENV, "1")
    s, problems = parse_settings({"eval": {"minSpeedup": 0.5}})
    assert s.eval == {"min_speedup": 0.5} and not problems


# ---------------------------------------------------------------- store and locate
def _site(text: str, line: int = 7):
    return find_loop(text, "/w/sum_squares.cpp", line)


def test_locate_follows_moves_and_drops_edits_of_the_function():
    text = (EXAMPLES / "sum_squares.cpp").read_text()
    anchor = anchor_of(_site(text))
    loc = locate(anchor, text)
    assert loc is not None and loc.start_line == 7 and loc.line_delta == 0
    moved = "// a new comment\n// and another\n" + text
    loc = locate(anchor, moved)
    assert loc is not None and loc.start_line == 9 and loc.line_delta == 2
    assert moved[loc.start:loc.end].startswith("for (size_t i = 0;")
    edited_elsewhere = text.replace('std::printf("%.6f\\n"', 'std::printf("%.3f\\n"')
    assert locate(anchor, edited_elsewhere) is not None  # main() changed, not the loop's function
    edited = text.replace("s += a[i] * a[i];", "s += a[i];")
    assert locate(anchor, edited) is None
    edited_fn = text.replace("double s = 0.0;", "double s = 1.0;")
    assert locate(anchor, edited_fn) is None


def test_store_roundtrip_and_stale(tmp_path):
    text = (EXAMPLES / "sum_squares.cpp").read_text()
    anchor = anchor_of(_site(text))
    store = ResultStore(tmp_path / "results")
    rec = LoopRecord(kind="error", anchor=anchor, error="boom")
    store.put(rec)  # errors stay in memory only
    assert not list((tmp_path / "results").glob("*.json")) if (tmp_path / "results").exists() else True
    from parevo.evolution.racecheck import RaceCheckResult

    from parevo.evolution.result import ToolchainInfo

    tc = ToolchainInfo(compiler="/usr/bin/g++", compiler_version="g++ 12", flags=["-O3"], tsan_flags=["-O1"],
                       parlay_include=None, parlay_version=None, profiler=None)
    rc = RaceCheckResult(status="clean", message="no race", path=anchor.path, function="sum_squares",
                         loop_start_line=7, loop_end_line=9, content_hash=anchor.content_hash, toolchain=tc)
    store.put(LoopRecord(kind="races", anchor=anchor, race_check=rc, deps={"/nonexistent/x.h": None}))
    again = ResultStore(tmp_path / "results")
    key = record_key(anchor.key, "races")  # a race check has its own key beside the loop's search result
    assert again.get(anchor.key) is None
    got = again.get(key)
    assert got is not None and got.race_check.message == "no race" and got.deps == {"/nonexistent/x.h": None}
    assert again.for_path("/w/./sum_squares.cpp")[0].key == key
    assert again.mark_stale(key, "x.h changed") is not None
    assert ResultStore(tmp_path / "results").get(key).stale == "x.h changed"
    (tmp_path / "results" / "junk.json").write_text("{not json")
    assert len(ResultStore(tmp_path / "results").load()) == 1  # corrupt files are skipped


# ---------------------------------------------------------------- convert
def test_positions_count_utf16_units():
    src = "ab\n😀x = 1;\n"
    idx = src.index("x")
    assert char_to_position(src, idx) == types.Position(line=1, character=2)
    assert char_to_position(src, idx, types.PositionEncodingKind.Utf8) == types.Position(line=1, character=4)
    assert char_to_position(src, idx, types.PositionEncodingKind.Utf32) == types.Position(line=1, character=1)
    rng = line_range("  int x;\n", 0)
    assert (rng.start.character, rng.end.character) == (2, 8)


def test_edits_from_byte_offsets():
    src = "é = 1;\nfor (;;) {}\n"
    b = src.encode()
    start = b.index(b"for")
    edits = [TextEdit(start_byte=start, end_byte=len(b) - 1, new_text="X"),
             TextEdit(start_byte=0, end_byte=0, new_text="#include <a>\n", role="includes", includes=["<a>"])]
    out = to_lsp_edits(src, edits)
    assert [e.new_text for e in out] == ["#include <a>\n", "X"]
    assert out[1].range == types.Range(start=types.Position(line=1, character=0),
                                       end=types.Position(line=1, character=11))
    we = workspace_edit("file:///x.cpp", 3, out)
    assert we.document_changes[0].text_document.version == 3


# ---------------------------------------------------------------- diagnostics
def _race_report(path: str) -> RaceReport:
    return RaceReport(
        kind="data race",
        location="Location is global 'total' of size 8",
        accesses=[RaceAccess(op="write", thread="T2", frames=[Frame(function="operator()", file=path, line=10)]),
                  RaceAccess(op="read", thread="T1", previous=True,
                             frames=[Frame(function="operator()", file=path, line=10)])],
        user_frames=[Frame(function="operator()", file=path, line=10), Frame(function="racy", file=path, line=12)],
        attributable=True)


def test_race_diagnostics_at_both_sites_with_related_information():
    path = str(DATA / "racy_sum.cpp")
    text = (DATA / "racy_sum.cpp").read_text()
    line = next(i for i, ln in enumerate(text.splitlines()) if "parallel_for" in ln)
    site = find_loop(text, path, line)
    from parevo.evolution.racecheck import RaceCheckResult

    rc = RaceCheckResult(status="races", message="1 race", path=path, function="f", loop_start_line=line,
                         loop_end_line=line + 2, content_hash=site.content_hash, races=[_race_report(path)])
    rec = LoopRecord(kind="races", anchor=anchor_of(site), race_check=rc)
    loc = locate(rec.anchor, text)
    diags = diagnostics_for(rec, loc, "file:///r.cpp", path, text)
    assert len(diags) == 2
    assert {d.range.start.line for d in diags} == {9, 11}
    for d in diags:
        assert d.code == CODE_RACE and d.severity == types.DiagnosticSeverity.Warning and d.source == "parevo"
        assert "`total`" in d.message and "thread T2" in d.message and "thread T1" in d.message
        assert len(d.related_information) == 1
        assert d.related_information[0].location.range.start.line != d.range.start.line
    # moved down two lines: both sites move along
    diags = diagnostics_for(rec, locate(rec.anchor, "\n\n" + text), "file:///r.cpp", path, "\n\n" + text)
    assert {d.range.start.line for d in diags} == {11, 13}
    assert "line 12" in race_message(_race_report(path), 1)


# ---------------------------------------------------------------- jobs
def _job(key: str, work: float = 0.2, fail: bool = False, kind: str = "evolve") -> Job:
    def run(progress, cancel):
        progress({"thread": threading.current_thread().name})
        end = time.monotonic() + work
        while time.monotonic() < end:
            if cancel.is_set():
                return "cancelled"
            time.sleep(0.01)
        if fail:
            raise RuntimeError("candidate crashed")
        return f"done {key}"

    return Job(key=key, kind=kind, title=key, run=run, context=None)


async def test_queue_one_per_loop_bounded_and_cancellable():
    loop_thread = threading.current_thread()
    events, done = [], []
    q = JobQueue(max_running=1, max_queued=1,
                 on_progress=lambda job, ev: events.append((job.key, ev, threading.current_thread() is loop_thread)),
                 on_done=lambda job: done.append((job.key, job.result, job.error, job.cancelled)))
    a = q.submit(_job("a", 0.5))
    with pytest.raises(AlreadyRunning):
        q.submit(_job("a"))
    b = q.submit(_job("b", 0.1, fail=True))
    with pytest.raises(QueueFull):
        q.submit(_job("c"))
    assert a.state == "running" and b.state == "queued" and q.position(b) == 1
    await asyncio.wait_for(asyncio.gather(a.done, b.done), 10)
    assert done[0][:2] == ("a", "done a")
    assert done[1][0] == "b" and isinstance(done[1][2], RuntimeError)  # a crash is captured, not raised
    assert all(on_loop for _, _, on_loop in events)  # progress marshalled to the event loop
    c = q.submit(_job("c", 30))
    d = q.submit(_job("d", 30))
    q.cancel(d)  # queued: ends at once
    assert d.state == "done" and d.cancelled
    t0 = time.monotonic()
    q.cancel(c)
    await asyncio.wait_for(c.done, 5)
    assert c.result == "cancelled" and time.monotonic() - t0 < 2
    q.close()


async def test_a_race_check_runs_in_its_own_lane_beside_a_long_search():
    q = JobQueue(max_running=1, max_queued=4)
    search = q.submit(_job("s", 30))
    other = q.submit(_job("s2", 30))
    check = q.submit(_job("r", 0.05, kind="races"))
    assert search.state == "running" and other.state == "queued"
    assert check.state == "running" and q.position(other) == 1  # not behind the searches
    await asyncio.wait_for(check.done, 5)
    assert check.result == "done r" and search.state == "running"
    q.close()
    await asyncio.wait_for(asyncio.gather(search.done, other.done), 5)


# ---------------------------------------------------------------- watch
def test_dependencies_follow_quoted_includes_and_project_files(tmp_path):
    from parevo.server.watch import dependencies

    (tmp_path / "inc").mkdir()
    (tmp_path / "util.h").write_text("")
    (tmp_path / "inc" / "deep.h").write_text("")
    (tmp_path / "compile_commands.json").write_text(
        '[{"directory": "%s", "file": "a.cpp", "command": "g++ -Iinc -c a.cpp"}]' % tmp_path)
    deps = dependencies(str(tmp_path / "a.cpp"), ['"util.h"', '"deep.h"', "<vector>", '"missing.h"'],
                        str(tmp_path))
    assert str(tmp_path / "util.h") in deps and str(tmp_path / "inc" / "deep.h") in deps
    assert str(tmp_path / "missing.h") in deps  # created later: that changes the result too
    assert str(tmp_path / "compile_commands.json") in deps
    assert str(tmp_path / "build" / "compile_commands.json") in deps
    assert str(tmp_path / "parevo.inputs.toml") in deps
    assert not any(d.endswith("vector") for d in deps)
    custom = dependencies(str(tmp_path / "a.cpp"), [], None, input_spec=str(tmp_path / "spec.toml"))
    assert custom == [str(tmp_path / "spec.toml")]


async def test_watcher_reports_changes_of_watched_files_only(tmp_path):
    from parevo.server.watch import Watcher

    got: list[set[str]] = []
    w = Watcher(got.append, debounce_ms=50, step_ms=20)
    watched, other = tmp_path / "util.h", tmp_path / "other.h"
    watched.write_text("1")
    other.write_text("1")
    w.set_paths([str(watched), str(tmp_path / "parevo.inputs.toml")])
    await asyncio.sleep(0.5)
    other.write_text("2")
    watched.write_text("2")
    (tmp_path / "parevo.inputs.toml").write_text("[x]\n")
    for _ in range(100):
        if {str(watched), str(tmp_path / "parevo.inputs.toml")} <= set().union(*got) if got else False:
            break
        await asyncio.sleep(0.05)
    seen = set().union(*got)
    assert seen == {str(watched), str(tmp_path / "parevo.inputs.toml")}
    w.stop()


# ---------------------------------------------------------------- analysis worker
async def test_worker_process_supersedes_an_older_version_and_stops_on_cancel():
    from parevo.server.services.analysis import Superseded, WorkerProcess

    w = WorkerProcess()
    try:
        assert await w.run("doc", divmod, 7, 2) == (3, 1)
        first_pid = w.pid
        old = asyncio.ensure_future(w.run("doc", time.sleep, 30))
        await asyncio.sleep(0.5)
        assert await w.run("doc", divmod, 9, 4) == (2, 1)  # a newer version of "doc": the old job is dropped
        with pytest.raises(Superseded):
            await old
        assert w.pid != first_pid  # the worker reading the old version was ended
        other = asyncio.ensure_future(w.run("doc", time.sleep, 30))
        await asyncio.sleep(0.5)
        pid = w.pid
        other.cancel()
        with pytest.raises(asyncio.CancelledError):
            await other
        assert w.pid is None and pid is not None  # nobody waits: the worker stopped
        with pytest.raises(ZeroDivisionError):
            await w.run("doc", divmod, 1, 0)  # errors come back as themselves
    finally:
        w.stop()


def test_a_loop_read_in_the_worker_crosses_back_without_its_tree_and_is_not_parsed_again(monkeypatch):
    """A large document's loop comes back from the worker as plain data: unpickling it must not parse
    the file in the server's process (that held the GIL for seconds: issue 13's latency), and a later job
    in the process that read it (the refusal) uses the tree it kept."""
    import pickle

    import parevo.toolchain.parsing as parsing
    from parevo.server import reading

    path = str(DATA / "heavy_sum.cpp")
    source = (DATA / "heavy_sum.cpp").read_text()
    here = reading.read_loop("file://" + path, 3, reading.Selection(8), source, path)
    assert isinstance(here, reading.Prepared) and here.site_here is not None
    wire = pickle.dumps(here)

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(parsing, "parse", no_parse)
    monkeypatch.setattr(reading, "site_at", no_parse)
    back = pickle.loads(wire)  # what the server receives
    assert back.site_here is None
    assert (back.info, back.anchor, back.facts, back.source) == (here.info, here.anchor, here.facts, here.source)
    assert back.anchor.key == anchor_of(here.site_here).key and back.info.loop.start_line == 8
    # the process that read the loop answers the refusal from the tree it kept
    assert reading.refusal_of(back, None) is None
    assert reading.site_of(back) is here.site_here
    monkeypatch.undo()
    reading._SITES.clear()  # another process: the tree is read again there
    again = reading.site_of(back)
    assert again is not here.site_here and again.loop_text == here.site_here.loop_text


# ---------------------------------------------------------------- results published while a search runs
async def test_a_rewrite_verified_mid_search_is_shown_at_once_and_kept_when_cancelled(tmp_path):
    from parevo.evolution.report import render_markdown, summary_line
    from parevo.server.actions import apply_title
    from parevo.server.lsp import create_server
    from parevo.server.services.searches import JobContext

    rec = LoopRecord.model_validate_json((DATA / "heavy_sum.verified.json").read_text())
    final = rec.evolution
    ls = create_server()
    try:
        ls.config.settings = ls.config.settings.model_copy(update={"result_store": str(tmp_path)})
        published = []
        ls.publisher.publish_path = published.append
        path = rec.anchor.path
        ctx = JobContext(uri="file://" + path, path=path, prepared=None, anchor=rec.anchor, input_spec=None)
        job = Job(key=rec.key, kind="evolve", title="t", run=lambda p, c: None, context=ctx)
        assert ls.stores.record(path, rec.key) is None
        ls.searches._progress(job, _Verified(final.model_copy(update={"continuing": True})))
        shown = ls.stores.record(path, rec.key)  # what code actions and resolve offer while the search runs
        assert published == [path] and shown.evolution.continuing and shown.applicable
        assert apply_title(shown).endswith("x faster, search continuing)")
        assert summary_line(shown.evolution).endswith("; search continuing")
        assert "search continuing" in render_markdown(shown.evolution).splitlines()[0]
        # the user cancels: the best verified rewrite is kept (stored), the early one replaced
        job.cancel.set()
        job.result = final
        message = await ls.searches._record_outcome(job)
        assert message.startswith("cancelled; the best verified rewrite is kept: ParlayLib rewrite verified")
        assert rec.key not in ls.stores.errors
        assert ls.stores.record(path, rec.key).evolution.best_id == final.best_id
        # cancelled before anything was verified: nothing kept, and the early record goes too
        ls.stores.set_early(rec.anchor, shown.evolution, race_fix=False)
        job.result = final.model_copy(update={"status": "cancelled", "best_id": None})
        assert await ls.searches._record_outcome(job) == "cancelled" and rec.key not in ls.stores.errors
    finally:
        ls.close()


class _Verified:
    """A ``verified`` progress event carrying the result so far (as the engine sends it)."""

    stage, message, tried, total, best_speedup, generation = "verified", "verified", 1, 8, 1.8, 1

    def __init__(self, result):
        self.result = result


def test_a_search_request_carries_the_quiet_wait_and_only_a_queued_search_ends_it():
    """``quietWait`` reaches the engine request (default 600 s); the wait gives way to a queued search,
    not to a queued race check (which runs in its own lane)."""
    from collections import deque
    from types import SimpleNamespace

    from parevo.server.services.searches import Searches
    from parevo.toolchain.discovery import DiscoverySettings

    s = Searches.__new__(Searches)  # only what request_for and the wait's check read
    s.toolchain = SimpleNamespace(settings=lambda: DiscoverySettings())
    for given, wanted in (({}, 600.0), ({"quietWait": 45}, 45.0), ({"quietWait": 0}, 0.0)):
        s.config = SimpleNamespace(settings=parse_settings(given)[0])
        assert s.request_for().quiet_wait_s == wanted
    s.queue = SimpleNamespace(queued=deque([SimpleNamespace(kind="races")]))
    assert not s._searches_waiting()
    s.queue.queued.append(SimpleNamespace(kind="evolve"))
    assert s._searches_waiting()
