"""The program's own size: constant sizes at the calls of the selected function (tree-sitter, no regexes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parevo.toolchain.callsizes import call_site_size, sizes_in_source
from parevo.toolchain.evaluate import EvalConfig, timing_size
from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.inputspec import spec_from_dict
from parevo.toolchain.parsing import find_loop, find_marked_lines

pytestmark = pytest.mark.fast

FN = """#include <vector>
#include <cstdio>
double total(const std::vector<double>& a) {
  double s = 0;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * a[i];
  return s;
}
"""
PTR = """#include <vector>
double dot(const double* x, const double* y, int n) {
  double r = 0;
  // parevo: select the loop below
  for (int i = 0; i < n; i++) r += x[i] * y[i];
  return r;
}
"""


def _plan(src: str):
    site = find_loop(src, "t.cpp", find_marked_lines(src)[0])
    return site, plan_inputs(site)


def _n(src: str, main: str) -> int | None:
    site, plan = _plan(src)
    found = call_site_size(src + main, "t.cpp", site.function_name, plan)
    return found.n if found else None


@pytest.mark.parametrize("main, n", [
    ("int main() { std::vector<double> a(1 << 22); std::printf(\"%f\", total(a)); }", 1 << 22),
    ("const std::size_t N = 4'000'000;\nint main() { std::vector<double> a(N, 1.0); total(a); }", 4_000_000),
    ("int main() { int n = 1 << 20; std::vector<double> x(n), y(n); return total(y) > 0; }", 1 << 20),
    ("int main() { auto v = std::vector<double>(2048 * 1024); total(v); }", 2048 * 1024),
    ("int main() { std::vector<double> a; a.resize(static_cast<size_t>(3) << 20); total(a); }", 3 << 20),
    ("int main() { std::vector<double> a; total(a); }", None),  # empty: no constant size
    ("int main(int argc, char**) { std::vector<double> a(argc * 1000); total(a); }", None),  # not a constant
    ("int main() { int n = 1 << 20; n = 7; std::vector<double> a(n); total(a); }", None),  # assigned again
    ("int main() { std::vector<double> a(1 << 10), b(1 << 22); total(a); total(b); }", 1 << 22),  # largest
    ("int main() { std::printf(\"total(a) with a(1 << 30)\"); }", None),  # text in a string is not a call
])
def test_sizes_at_calls_of_a_container_parameter(main, n):
    assert _n(FN, "\n" + main + "\n") == n


@pytest.mark.parametrize("main, n", [
    ("int main() { int n = 1 << 20; std::vector<double> x(n), y(n); return dot(x.data(), y.data(), n) > 0; }",
     1 << 20),
    ("int main() { double x[4096], y[4096]; return dot(x, y, 4096) > 0; }", 4096),
    ("int main() { std::vector<double> x(100000), y(100000); return dot(&x[0], &y[0], 100000) > 0; }", 100000),
])
def test_sizes_at_calls_with_pointer_and_size_parameters(main, n):
    assert _n(PTR, "\n" + main + "\n") == n


def test_the_call_is_named_and_recursion_is_ignored():
    site, plan = _plan(FN)
    src = FN + "\ndouble again(const std::vector<double>& a) { return total(a); }\n" \
               "int main() {\n  std::vector<double> big(1 << 21);\n  return total(big) > 0;\n}\n"
    (c,) = [c for c in sizes_in_source(src, "prog.cpp", "total", plan, skip_function="total")]
    assert (c.n, c.line, c.caller, c.argument) == (1 << 21, 13, "main", "a")
    assert c.describe() == "the call in main() at prog.cpp:13"


def test_calls_in_files_of_compile_commands_json(tmp_path):
    site, plan = _plan(FN)
    other = tmp_path / "app.cpp"
    other.write_text("#include <vector>\ndouble total(const std::vector<double>&);\n"
                     "int main() { std::vector<double> data(1 << 23); return total(data) > 0; }\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "compile_commands.json").write_text(json.dumps([
        {"directory": str(tmp_path), "file": "app.cpp", "command": "g++ -c app.cpp"},
        {"directory": str(tmp_path), "file": "missing.cpp", "command": "g++ -c missing.cpp"}]))
    found = call_site_size(FN, str(tmp_path / "lib.cpp"), "total", plan, str(tmp_path))
    assert found.n == 1 << 23 and found.path == str(other) and found.describe() == "the call in main() at app.cpp:3"


def test_a_call_site_size_comes_after_the_setting_and_the_spec():
    site, plan = _plan(FN)
    cfg = EvalConfig(call_site_n=1 << 22, call_site_origin="the call in main() at t.cpp:12")
    assert timing_size(cfg, plan) == (1 << 22, "call site")
    assert timing_size(cfg.model_copy(update={"timing_n": 5}), plan) == (5, "setting")
    spec_plan = plan_inputs(site, spec_from_dict({"timing_n": 5000}))
    assert timing_size(cfg, spec_plan) == (5000, "input spec")


def test_every_example_is_timed_at_its_programs_own_size():
    """Each example's main() calls its function on constant sizes; they are the sizes its input spec
    gives by hand (``examples/parevo.inputs.toml``)."""
    import tomllib

    examples = Path(__file__).resolve().parents[2] / "examples"
    spec = tomllib.loads((examples / "parevo.inputs.toml").read_text())
    checked = 0
    for path in sorted(examples.glob("*.cpp")):
        src = path.read_text()
        site = find_loop(src, str(path), find_marked_lines(src)[0])
        want = (spec.get(site.function_name) or {}).get("timing_n")
        if want is None:
            continue
        found = call_site_size(src, str(path), site.function_name, plan_inputs(site))
        assert found is not None and found.n == want, path.name
        checked += 1
    assert checked >= 15
