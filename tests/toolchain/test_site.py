"""The parsed site: one parse per request, types read from the declaration nodes, one way to find a
loop by its span, and no recursion that deep input can exhaust."""

import pytest

from parevo.evolution.rules import propose
from parevo.toolchain.facts import analyze
from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.models import NoLoopFound
from parevo.toolchain.parsing import find_loop, site_at, site_in_text
from parevo.toolchain.syntax import find_loop_node, parse, parse_count

pytestmark = pytest.mark.fast

TYPES = """#include <array>
#include <cstdint>
#include <vector>
namespace geom { struct Point { double x, y; int tag[3]; }; }
struct Cell { geom::Point p; float w; };
using Vec = std::vector<double>;
typedef Vec Series;
typedef unsigned long long u64, *u64_ptr;
constexpr int K = 4;
double f(const Series& a, u64_ptr counts, std::vector<bool>& flags, std::array<float, K> arr,
         const std::vector<std::vector<geom::Point>>& grid, Cell c, double const* __restrict__ in,
         double* const out, int&& moved, std::int64_t big, long unsigned int lu, double raw[]) {
  auto z = a.size();
  std::vector<Cell> cells(4);
  const u64 limit = 10;
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i];
  return s + z;
}
"""


def test_parameter_and_local_types_are_trees_from_the_declaration_nodes():
    site = find_loop(TYPES, "/t/types.cpp", 16)
    d = {p.name: p.decl for p in site.params}
    # aliases resolved through their nodes, twice (Series -> Vec -> std::vector<double>)
    assert d["a"].type.kind == "vector" and d["a"].type.render() == "std::vector<double>"
    assert d["a"].const and d["a"].reference == "&"
    # a pointer typedef declared beside a plain one
    assert d["counts"].type.kind == "pointer" and d["counts"].type.elem.scalar == "unsigned long long"
    # std::vector<bool> is packed bits, its element a bool
    assert d["flags"].type.kind == "vector_bool" and d["flags"].type.element_at(1).is_bool
    assert d["flags"].reference == "&" and not d["flags"].const
    # std::array<T, N> with N a constant's name
    assert d["arr"].type.kind == "array" and d["arr"].type.length == "K" and d["arr"].type.elem.scalar == "float"
    # nested templates down to a struct in a namespace
    g = d["grid"].type
    assert g.depth == 2 and g.element_at(2).kind == "struct" and g.element_at(2).name == "geom::Point"
    assert d["c"].type.kind == "struct" and d["c"].type.name == "Cell"
    # east const on the pointee, a const pointer to mutable data, an rvalue reference
    assert d["in"].type.kind == "pointer" and d["in"].type.elem.const and not d["in"].const
    assert d["out"].const and not d["out"].type.elem.const
    assert d["moved"].reference == "&&" and d["moved"].type.scalar == "int"
    assert d["big"].type.scalar_class == "signed" and d["big"].type.scalar == "std::int64_t"
    assert d["lu"].type.scalar == "unsigned long"
    assert d["raw"].type.kind == "pointer" and d["raw"].type.elem.scalar == "double"  # decays
    # locals: types and the spelling of a copy (auto spelled with decltype)
    assert site.decl_of("cells").type.element_at(1).name == "Cell"
    assert site.decl_of("limit").type.scalar == "unsigned long long" and site.decl_of("limit").const
    assert site.value_type("limit") == "u64" and site.value_type("s") == "double"
    assert site.value_type("z") == "std::decay_t<decltype(z)>"
    assert site.value_type("in") == "double*"
    # the struct's fields are trees too; an array field has its length
    point = next(s for s in site.structs if s.name == "Point")
    assert point.cxx_name == "::geom::Point"
    assert [(f.name, f.decl.type.scalar, f.array_len) for f in point.fields] == [
        ("x", "double", None), ("y", "double", None), ("tag", "int", 3)]
    cell = next(s for s in site.structs if s.name == "Cell")
    assert cell.fields[0].decl.type.name == "geom::Point"


def test_the_file_is_parsed_once_per_text():
    text = TYPES.replace("double s = 0;", "double s = 0; // a new version")
    before = parse_count()
    site = find_loop(text, "/t/types.cpp", 16)
    facts = analyze(site)
    propose(site, facts)
    find_loop(text, "/t/types.cpp", 16)  # the same version again: no new parse
    assert parse_count() == before + 1


def test_one_find_loop_node_answers_none_where_there_is_no_loop():
    src = "int f(int* a, int n) {\n  int s = 0;\n  for (int i = 0; i < n; ++i) s += a[i];\n  return s;\n}\n"
    root = parse(src).root_node
    b = src.encode()
    start = b.index(b"for")
    end = b.index(b" return") - 2  # the loop ends at its `;`, before the newline and indentation
    assert find_loop_node(root, start, end).type == "for_statement"
    # the two former helpers disagreed here: one returned the function, the other any loop starting there
    assert find_loop_node(root, start, end + 3) is None  # the loop's start, another end
    assert find_loop_node(root, b.index(b"int s"), b.index(b"int s") + 10) is None  # a declaration
    assert find_loop_node(root, 0, len(b) - 1) is None  # the function is not a loop
    with pytest.raises(NoLoopFound):
        site_at(src, "/t/a.cpp", start, end + 3)
    site = site_at(src, "/t/a.cpp", start, end)
    assert site.loop_text.startswith("for (int i") and site.function_name == "f"


def test_a_site_is_found_again_in_a_later_version_by_its_content_hash():
    site = find_loop(TYPES, "/t/types.cpp", 16)
    moved = "// two new\n// lines\n" + TYPES + "int g() { return 0; }\n"
    again = site_in_text(site.info(), moved)
    assert again is not None and again.loop.start_line == site.loop.start_line + 2
    assert again.content_hash == site.content_hash and again.loop_text == site.loop_text
    assert site_in_text(site.info(), TYPES.replace("s += a[i];", "s += 2 * a[i];")) is None


def _deep_sum(terms: int) -> str:
    expr = " + ".join(["a[i]"] * terms)
    return (f"double f(const double* a, int n) {{\n  double s = 0;\n  for (int i = 0; i < n; ++i) {{\n"
            f"    s += {expr};\n  }}\n  return s;\n}}\n")


def test_deep_expressions_do_not_exhaust_the_stack():
    src = _deep_sum(1500)  # a left-deep tree 1500 levels high (Python recurses 1000 deep at most)
    site = find_loop(src, "/t/deep.cpp", 2)
    facts = analyze(site)
    assert facts.pattern == "reduction" and facts.reductions[0].var == "s"
    plan = plan_inputs(site)
    assert plan.param("a").lengths == ["S0"]
    assert propose(site, facts)


def test_deep_nesting_and_conditions_do_not_exhaust_the_stack():
    depth = 1500
    body = "(" * depth + "a[i]" + ")" * depth
    cond = " && ".join(["i < n"] * 1500)
    src = (f"void f(double* a, double* b, int n) {{\n  for (int i = 0; {cond}; ++i) {{\n"
           f"    {'{' * 600} b[i] = {body}; {'}' * 600}\n  }}\n}}\n")
    site = find_loop(src, "/t/deep2.cpp", 1)
    facts = analyze(site)
    assert facts.reason is not None or facts.pattern in ("map", "unknown")
    plan = plan_inputs(site)
    assert {p.name for p in plan.params} == {"a", "b", "n"}
