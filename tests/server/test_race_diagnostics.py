"""Race diagnostics (pure): a read and a write on different lines are two ranges linked to each other."""

from __future__ import annotations

import pytest
from lsprotocol import types

from parevo.evolution.racecheck import RaceCheckResult
from parevo.server.diagnostics import diagnostics_for
from parevo.server.store import LoopRecord, anchor_of, locate
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.race_sites import race_sites
from parevo.toolchain.tsan import Frame, RaceAccess, RaceReport

pytestmark = pytest.mark.fast

PATH = "/home/dev/proj/flag.cpp"
SRC = """\
#include <parlay/parallel.h>
#include <vector>

bool any_negative(const std::vector<double>& a) {
  bool found = false;
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    if (!found && a[i] < 0) {
      found = true;
    }
  });
  return found;
}
"""


def _record(src: str = SRC) -> tuple[LoopRecord, str]:
    site = find_loop(src, PATH, 5)
    rep = RaceReport(kind="data race", attributable=True, location="Location is stack of main thread",
                     accesses=[RaceAccess(op="write", thread="T1", size=1),
                               RaceAccess(op="read", thread="main", previous=True, size=1)],
                     user_frames=[Frame(function="operator()", file=PATH, line=8),
                                  Frame(function="operator()", file=PATH, line=7)])
    rc = RaceCheckResult(status="races", message="ThreadSanitizer found a data race", races=[rep],
                         sites=[race_sites(site, rep)], path=PATH, function="any_negative", loop_start_line=5,
                         loop_end_line=9, content_hash=site.content_hash)
    return LoopRecord(kind="races", anchor=anchor_of(site), race_check=rc), src


def _text(src: str, r: types.Range) -> str:
    return src.split("\n")[r.start.line][r.start.character:r.end.character]


def test_the_read_and_the_write_are_two_ranges_linked_to_each_other():
    rec, src = _record()
    diags = diagnostics_for(rec, locate(rec.anchor, src), "file:///f", PATH, src, root="/home/dev/proj")
    write, read = diags
    assert (write.range.start.line, _text(src, write.range)) == (7, "found")  # `found = true;`
    assert (read.range.start.line, _text(src, read.range)) == (6, "found")  # `if (!found && ...`
    assert write.message == "data race on `found`: write by thread T1 here conflicts with read by the main thread at line 7"
    assert read.message == "data race on `found`: read by the main thread here conflicts with write by thread T1 at line 8"
    [to_read] = write.related_information
    [to_write] = read.related_information
    assert to_read.location.range == read.range and to_read.message == "read by the main thread (line 7)"
    assert to_write.location.range == write.range and to_write.message == "write by thread T1 (line 8)"
    assert all(d.severity == types.DiagnosticSeverity.Warning and d.code == "parevo.race" for d in diags)


def test_the_ranges_follow_the_loop_when_lines_above_it_change():
    rec, src = _record()
    moved = "// a new first line\n// and another\n" + src
    write, read = diagnostics_for(rec, locate(rec.anchor, moved), "file:///f", PATH, moved)
    assert (write.range.start.line, _text(moved, write.range)) == (9, "found")
    assert (read.range.start.line, _text(moved, read.range)) == (8, "found")
    assert "at line 9" in write.message
