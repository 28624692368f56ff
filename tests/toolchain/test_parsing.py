"""find_loop: selection rules, the function's signature, specific errors."""

import pytest

from parevo.toolchain.models import NoLoopFound, NotInFunction, ParseFailure
from parevo.toolchain.parsing import find_loop, find_marked_lines

pytestmark = pytest.mark.fast

SRC = """#include <vector>
#include <cstddef>
struct P { double x, v; int id[3]; };
namespace k {
double sum(const std::vector<double>& a, int n, double* out, const std::vector<P> &ps) {
  double s = 0, t;
  int c = 0;
  // parevo: select the loop below
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < 2; j++) s += a[i]*a[j];
  }
  while (c < 3) c++;
  return s;
}
}
int g[4];
int main() { std::vector<double> a(10); return (int)k::sum(a, 10, nullptr, {}); }
"""


def test_marker_comment_selects_next_loop():
    assert find_marked_lines(SRC) == [7]
    site = find_loop(SRC, "t.cpp", 7)
    assert site.loop_kind == "for" and site.loop.start_line == 8
    assert site.loop_text.startswith("for (int i = 0; i < n; ++i)")


def test_header_line_picks_that_loop_inner_line_picks_innermost():
    assert find_loop(SRC, "t.cpp", 9).loop_text.startswith("for (int j")
    assert find_loop(SRC, "t.cpp", 10).loop.start_line == 8  # closing brace of the outer loop
    assert find_loop(SRC, "t.cpp", 11).loop_kind == "while"


def test_range_selects_outermost_loop_inside():
    site = find_loop(SRC, "t.cpp", 8, 10)
    assert site.loop.start_line == 8 and site.loop.end_line == 10


def test_function_signature_locals_structs_includes():
    site = find_loop(SRC, "t.cpp", 8)
    assert site.qualified_name == "k::sum" and site.return_type == "double"
    assert [(p.name, p.type_text, p.base_type, p.is_const, p.is_reference, p.is_pointer) for p in site.params] == [
        ("a", "const std::vector<double>&", "std::vector<double>", True, True, False),
        ("n", "int", "int", False, False, False),
        ("out", "double*", "double", False, False, True),
        ("ps", "const std::vector<P>&", "std::vector<P>", True, True, False),
    ]
    assert [(v.name, v.type_text) for v in site.locals] == [("s", "double"), ("t", "double"), ("c", "int")]
    assert site.includes == ["<vector>", "<cstddef>"]
    assert SRC[: site.include_insert_byte].endswith("#include <cstddef>\n") or SRC[: site.include_insert_byte].endswith("#include <cstddef>")
    (p,) = site.structs
    assert p.name == "P" and [(f.name, f.type_text, f.array_len) for f in p.fields] == [
        ("x", "double", None), ("v", "double", None), ("id", "int", 3)]
    assert SRC[site.main_name.start_byte : site.main_name.end_byte] == "main"
    assert site.indent == "  " and len(site.content_hash) == 64


def test_errors_are_specific():
    with pytest.raises(NoLoopFound, match="no loop at t.cpp:13"):
        find_loop(SRC, "t.cpp", 12)
    with pytest.raises(NoLoopFound, match="outside"):
        find_loop(SRC, "t.cpp", 500)
    bad = SRC.replace("s += a[i]*a[j];", "s += a[i]*;")
    with pytest.raises(ParseFailure, match=r"t.cpp:10:.*does not parse"):
        find_loop(bad, "t.cpp", 8)
    with pytest.raises(NotInFunction):
        find_loop("int x = [] { int s = 0; for (int i = 0; i < 3; ++i) s += i; return s; }();\n", "t.cpp", 0)


def test_parallel_call_is_a_loop_site():
    src = """#include <parlay/parallel.h>
void f(std::vector<int>& a) {
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    a[i] += 1;
  });
}
"""
    site = find_loop(src, "p.cpp", 3)
    assert site.loop_kind == "call" and site.loop_text.startswith("parlay::parallel_for")
