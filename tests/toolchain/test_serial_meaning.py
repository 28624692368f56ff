"""Tests of parevo.toolchain.serial_meaning: a parallel loop's serial meaning, from the syntax tree."""

from __future__ import annotations

import pytest

from parevo.toolchain.parsing import find_loop
from parevo.toolchain.serial_meaning import NoSerialMeaning, serial_meaning

pytestmark = pytest.mark.fast

PFOR = """\
#include <parlay/parallel.h>
#include <vector>

double f(const std::vector<double>& a) {
  double s = 0.0;
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    if (a[i] < 0) return;
    s += a[i];
  });
  return s;
}
"""


def test_parallel_for_becomes_a_for_loop_with_the_same_body_and_lines():
    site = find_loop(PFOR, "f.cpp", 5)
    sm = serial_meaning(site)
    assert sm.replaced == ["parlay::parallel_for at line 6"]
    assert sm.source.count("\n") == PFOR.count("\n")  # line for line
    lines = sm.source.split("\n")
    assert lines[5] == "  for (size_t i = 0; i < a.size(); ++i) {"
    assert lines[6] == "    if (a[i] < 0) continue;"  # the lambda's `return;` is the loop's `continue;`
    assert lines[7] == "    s += a[i];"
    assert lines[8] == "  }"
    assert sm.line == 5 and sm.blank_lines == []
    serial = find_loop(sm.source, "f.cpp", sm.line)
    assert serial.loop_kind == "for"
    # the rest of the file is untouched
    assert sm.source.split("\n")[:5] == PFOR.split("\n")[:5] and lines[9:] == PFOR.split("\n")[9:]


def test_an_int_index_is_converted_as_the_call_converts_it():
    src = PFOR.replace("[&](size_t i)", "[&](int i)")
    sm = serial_meaning(find_loop(src, "f.cpp", 5))
    line = sm.source.split("\n")[5]
    assert line == "  for (size_t i_index = 0; i_index < a.size(); ++i_index) { int i = i_index;", line


OMP = """\
#include <vector>

long count_positive(const std::vector<long>& a) {
  long count = 0;
#pragma omp parallel for reduction(+:count) schedule(static)
  for (long i = 0; i < (long)a.size(); ++i) {
    if (a[i] > 0) {
#pragma omp atomic
      count++;
    }
  }
  return count;
}
"""


def test_openmp_pragmas_leave_empty_lines():
    site = find_loop(OMP, "c.cpp", 4)
    sm = serial_meaning(site)
    lines = sm.source.split("\n")
    assert lines[4] == "" and lines[7] == ""  # `parallel for` and `atomic` have no serial meaning
    assert sm.blank_lines == [4, 7]
    assert lines[5].startswith("  for (long i = 0;") and sm.line == 5
    assert "#pragma" not in sm.source


@pytest.mark.parametrize("src, line, why", [
    (OMP.replace("reduction(+:count)", "private(count)"), 4, "`private` clause"),
    (PFOR.replace("    if (a[i] < 0) return;\n", "    for (int k = 0; k < 2; ++k) if (a[i] < k) return;\n"), 5,
     "inside an inner loop"),
    (PFOR.replace("[&](size_t i) {", "[=](size_t i) mutable {"), 5, "`mutable`"),
    ("#include <thread>\nvoid g(int n) {\n  for (int i = 0; i < n; ++i) {\n    std::thread t([] {});\n"
     "    t.join();\n  }\n}\n", 2, "starts threads"),
    ("#include <vector>\nvoid g(std::vector<int>& v) {\n#pragma omp parallel\n  {\n    v[0] = 1;\n  }\n"
     "  for (int i = 0; i < 3; ++i) v[i] = i;\n}\n", 6, "no parlay::parallel_for"),
])
def test_what_has_no_serial_meaning_is_refused_with_the_reason(src, line, why):
    with pytest.raises(NoSerialMeaning, match=why.replace("`", "`").replace("(", r"\(")):
        serial_meaning(find_loop(src, "x.cpp", line))


def test_a_serial_loop_with_a_parallel_for_inside():
    src = """\
#include <parlay/parallel.h>
#include <vector>

void rows(std::vector<double>& m, size_t n) {
  for (size_t r = 0; r < n; ++r) {
    parlay::parallel_for(0, n, [&](size_t c) { m[r * n + c] += 1.0; });
  }
}
"""
    sm = serial_meaning(find_loop(src, "r.cpp", 4))
    assert sm.source.split("\n")[5] == "    for (size_t c = 0; c < n; ++c) { m[r * n + c] += 1.0; }"
    assert sm.line == 4
