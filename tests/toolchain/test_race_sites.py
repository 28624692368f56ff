"""Tests of parevo.toolchain.race_sites: a TSan report's accesses mapped onto expressions (no compiler)."""

from __future__ import annotations

import pytest

from parevo.toolchain.parsing import find_loop
from parevo.toolchain.race_sites import race_sites
from parevo.toolchain.tsan import Frame, RaceAccess, RaceReport

pytestmark = pytest.mark.fast

PATH = "/work/src/kernel.cpp"


def report(*accesses: tuple[str, int | None], location: str | None = None, file: str = PATH,
           cols: tuple[int | None, ...] = ()) -> RaceReport:
    """A data race whose accesses are (op, 1-based line) in ``file``; ``None`` line: library code only."""
    accs, frames = [], []
    for k, (op, line) in enumerate(accesses):
        accs.append(RaceAccess(op=op, thread="T1" if k == 0 else "main", previous=k > 0, size=8))
        col = cols[k] if k < len(cols) else None
        frames.append(Frame(function="operator()", file=file, line=line, col=col) if line else None)
    return RaceReport(kind="data race", accesses=accs, user_frames=frames, attributable=True,
                      location=location)


def texts(site, sites) -> list[str | None]:
    return [site.function_text[a.start:a.end] if a else None for a in sites.accesses]


SUM = """\
#include <parlay/parallel.h>
#include <vector>

long total = 0;

long racy_sum(const std::vector<long>& a) {
  total = 0;
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    total += a[i];
  });
  return total;
}
"""


def test_a_global_sum_names_the_variable_and_both_sites_are_the_target():
    site = find_loop(SUM, PATH, 7)
    s = race_sites(site, report(("read", 9), ("write", 9), location="Location is global 'total' of size 8"))
    assert s.memory == "total"
    assert texts(site, s) == ["total", "total"]
    assert [a.line for a in s.accesses] == [8, 8]
    # offsets count characters from the function's start
    assert site.function_text[s.accesses[0].start:].startswith("total += a[i];")


SCATTER = """\
#include <parlay/parallel.h>
#include <vector>

void scatter(std::vector<double>& out, const std::vector<int>& idx, const std::vector<double>& v) {
  parlay::parallel_for(0, idx.size(), [&](size_t i) {
    double x = v[i] * 2.0;
    out[idx[i]] = x;
  });
}
"""


def test_a_scatter_names_the_element_not_the_line():
    site = find_loop(SCATTER, PATH, 4)
    s = race_sites(site, report(("write", 7), ("write", 7), location="Location is heap block of size 80"))
    assert s.memory == "out[idx[i]]"
    assert texts(site, s) == ["out[idx[i]]", "out[idx[i]]"]


FLAG = """\
#include <parlay/parallel.h>
#include <vector>

bool any_negative(const std::vector<double>& a) {
  bool found = false;
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    double y = a[i];
    if (!found &&
        y < 0) {
      found = true;
    }
  });
  return found;
}
"""


def test_a_read_and_a_write_on_different_lines_get_their_own_expressions():
    site = find_loop(FLAG, PATH, 5)
    s = race_sites(site, report(("write", 10), ("read", 8), location="Location is stack of main thread"))
    assert s.memory == "found"
    assert texts(site, s) == ["found", "found"]
    assert [a.line for a in s.accesses] == [9, 7]  # the write's line and the condition's line
    assert s.accesses[0].start != s.accesses[1].start


OMP = """\
#include <vector>

long count_positive(const std::vector<long>& a) {
  long count = 0;
#pragma omp parallel for
  for (long i = 0; i < (long)a.size(); ++i) {
    if (a[i] > 0) count++;
  }
  return count;
}
"""


def test_an_openmp_counter_without_a_variable_name_in_the_location():
    site = find_loop(OMP, PATH, 5)
    s = race_sites(site, report(("write", 7), ("read", 7), location="Location is stack of main thread"))
    assert s.memory == "count"
    assert texts(site, s) == ["count", "count"]  # not `a[i]`, not the private index `i`


HIST = """\
#include <parlay/parallel.h>
#include <vector>

void histogram(const std::vector<int>& keys, std::vector<long>& hist) {
  parlay::parallel_for(0, keys.size(), [&](size_t i) {
    int b = keys[i] % 16;
    hist[b]++;
  });
}
"""


def test_an_element_indexed_by_a_private_local_is_still_shared_memory():
    site = find_loop(HIST, PATH, 4)
    s = race_sites(site, report(("write", 7), ("read", 7), location="Location is heap block of size 128"))
    assert s.memory == "hist[b]"
    assert texts(site, s) == ["hist[b]", "hist[b]"]


def test_frames_outside_the_function_or_the_file_map_to_none():
    site = find_loop(SUM, PATH, 7)
    s = race_sites(site, report(("read", 9), ("write", None), location="Location is global 'total' of size 8"))
    assert texts(site, s) == ["total", None]
    assert s.memory == "total"
    other = race_sites(site, report(("read", 9), ("write", 9), file="/usr/include/c++/12/bits/stl_vector.h"))
    assert other.accesses == [None, None] and other.memory is None
    outside = race_sites(site, report(("read", 4), ("write", 4)))  # `long total = 0;` is not in the function
    assert outside.accesses == [None, None]


TWO = """\
#include <parlay/parallel.h>
#include <vector>

struct Acc { double sum; long n; };

void stats(const std::vector<double>& a, Acc& acc) {
  parlay::parallel_for(0, a.size(), [&](size_t i) { acc.sum += a[i]; acc.n++; });
}
"""


def test_a_clang_column_picks_the_expression_under_it():
    site = find_loop(TWO, PATH, 6)
    line = TWO.split("\n")[6]
    col_n = line.index("acc.n") + 1  # 1-based, as TSan prints
    s = race_sites(site, report(("write", 7), ("read", 7), cols=(col_n, col_n)))
    assert texts(site, s) == ["acc.n", "acc.n"]
    assert s.memory == "acc.n"
    col_sum = line.index("acc.sum") + 1
    s = race_sites(site, report(("write", 7), ("read", 7), cols=(col_sum, col_sum)))
    assert texts(site, s) == ["acc.sum", "acc.sum"]


def test_a_read_in_a_declaration_of_a_private_local():
    src = SUM.replace("    total += a[i];\n", "    long seen = total;\n    total = seen + a[i];\n")
    site = find_loop(src, PATH, 7)
    s = race_sites(site, report(("write", 10), ("read", 9), location="Location is global 'total' of size 8"))
    assert texts(site, s) == ["total", "total"]
    assert [a.line for a in s.accesses] == [9, 8]
