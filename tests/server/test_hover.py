"""Hover texts (pure): "none verified" says each reason once; a race names its memory with relative paths."""

from __future__ import annotations

import pytest
from lsp_session import DATA

from parevo.server.hover import hover_markdown
from parevo.server.store import LoopRecord

pytestmark = pytest.mark.fast


def _record(name: str, path: str) -> LoopRecord:
    return LoopRecord.model_validate_json((DATA / name).read_text().replace("@FILE@", path))


def test_none_verified_says_each_reason_once():
    rec = _record("heavy_sum.verified.json", "/w/heavy_sum.cpp")
    res = rec.evolution
    reason = "not faster than the original: 0.96x on 2 threads (n = 1,048,576, range 0.82x-1.15x)"
    for c in res.candidates:
        c.rejected_stage, c.reason, c.verified = "time", reason, False
    res.status, res.best_id = "none-verified", None
    res.message = f"no rewrite could be verified: {res.candidates[0].candidate.origin}: {reason}"
    md = hover_markdown(rec)
    assert md.count(reason) == len(res.candidates)  # once per candidate, never again in a headline
    assert md.startswith("**parevo** — no rewrite could be verified\n")
    assert "not faster: not faster" not in md


def test_a_race_hover_names_the_memory_without_absolute_paths():
    rec = _record("racy_scatter.races.json", "/home/dev/proj/src/racy_scatter.cpp")
    md = hover_markdown(rec, root="/home/dev/proj")
    assert "data race on `out[idx[i]]`" in md
    assert "`out[idx[i]]` at line 9" in md
    assert "src/racy_scatter.cpp:9" in md  # the user's file, relative to the workspace
    assert "parlay/scheduler.h" in md  # ParlayLib's headers by their include path
    assert "/tmp/" not in md and "/home/dev" not in md and "/usr/local" not in md
    assert "WARNING: ThreadSanitizer" not in md
    assert "Fix data race with ParlayLib" in md


def test_an_inconclusive_timing_is_never_called_not_faster_and_the_next_step_is_said():
    rec = _record("heavy_sum.verified.json", "/w/heavy_sum.cpp")
    res = rec.evolution
    for c in res.candidates:
        stage = c.stage("time")
        stage.verdict, stage.passed = None, False  # as the timing stage records an inconclusive figure
        t = stage.timing
        t.outcome, t.busy, t.machine = "inconclusive", True, "load 9.7 on 2 cores, 1.6 cores busy with other work"
        c.rejected_stage, c.verified, c.faster = "time", True, False
        c.reason = "timing inconclusive: 1.40x on 2 threads (95% interval 0.62x-2.30x): machine busy"
    res.status, res.best_id = "none-verified", None
    md = hover_markdown(rec)
    assert "timing inconclusive: 1.40x" in md and "not faster" not in md.split("What to try next")[0]
    assert "run again when the machine is quieter (during the timings: load 9.7 on 2 cores" in md


def test_the_hover_says_how_long_the_search_waited_for_a_quiet_machine():
    from parevo.evolution.result import QuietRetime

    rec = _record("heavy_sum.verified.json", "/w/heavy_sum.cpp")
    rec.evolution.search.quiet = QuietRetime(waited_s=42.0, quiet=True, idle_cores=2.0, needed_cores=1.7, pending=3,
                                             load="load 2.1 on 2 cores, 1.0 cores busy with other work",
                                             first_run_id="20261202-010203-abcdef", first_status="none-verified",
                                             second_status="verified")
    md = hover_markdown(rec)
    assert ("quiet machine: timed on a quiet machine after waiting 42 s (2.0 cores idle): run 20261202-010203-abcdef "
            "timed 3 candidates while the machine was busy (load 2.1 on 2 cores, 1.0 cores busy with other work)") in md
