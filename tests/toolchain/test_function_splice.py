"""Function-level candidates: the whole enclosing function replaced, in the user's file and in the harness.

The loop-level path is covered by test_splice.py and test_harness.py; these
check the function path beside it (edits, ``#line`` mapping, a compiled
variant that matches the original, ``main`` inside the replaced span).
"""

import os

import pytest

from parevo.toolchain.harness import original_source, variant_source
from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.outputs import compare
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.splice import StaleEdits, apply_edits, rebase_edits, rewrite_edits, rewritten_source

SRC = """#include <vector>

double dot(const double* a, const double* b, int n) {
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

int main() { return 0; }
"""

NEW_FN = """double dot(const double* a, const double* b, int n) {
  double s0 = 0.0, s1 = 0.0;
  int i = 0;
  for (; i + 1 < n; i += 2) { s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return s0 + s1;
}"""

CASES = ["0:1", "1:1", "2:3", "17:2", "100:5"]


@pytest.fixture(scope="module")
def site():
    return find_loop(SRC, "/tmp/parevo_fn_splice.cpp", 4)


@pytest.mark.fast
def test_function_edit_replaces_the_function_span_and_adds_includes(site):
    edits = rewrite_edits(site, "", ["<algorithm>"], function_text=NEW_FN)
    assert len(edits) == 2
    fn_start = SRC.index("double dot(")
    fn_end = SRC.index("}\n\nint main") + 1
    assert (edits[1].start_byte, edits[1].end_byte, edits[1].role) == (fn_start, fn_end, "function")
    out = apply_edits(SRC, edits)
    assert out == SRC.replace(site.function_text, NEW_FN).replace("#include <vector>\n",
                                                                    "#include <vector>\n#include <algorithm>\n")
    assert rewritten_source(site, "", [], function_text=NEW_FN) == SRC.replace(site.function_text, NEW_FN)
    # the loop path is untouched by the new parameter
    assert "s += 1;" in rewritten_source(site, "s += 1;", [])


@pytest.mark.fast
def test_function_edit_refuses_a_stale_site(site):
    edits = rewrite_edits(site, "", [], function_text=NEW_FN)
    changed = find_loop(SRC.replace("double s = 0.0;", "double s = 0.0; "), "/tmp/parevo_fn_splice.cpp", 4)
    with pytest.raises(StaleEdits, match="changed"):
        rebase_edits(edits, site.info(), changed)


@pytest.mark.fast
def test_variant_source_line_directives_for_a_function(site):
    plan = plan_inputs(site)
    text = variant_source(site, "IGNORED", [], plan, function_text=NEW_FN)
    path = os.path.abspath(site.path)
    assert f'#line 3 "{path}"\n' + NEW_FN in text and "IGNORED" not in text
    assert f'#line 7 "{path}"' in text  # back to the rest of the function's last line
    assert "int parevo_user_main()" in text


def test_function_candidate_compiles_and_matches_the_original(harness_build, site):
    plan = plan_inputs(site)
    orig = harness_build.exe(original_source(site, plan))
    fn = harness_build.exe(variant_source(site, "", [], plan, function_text=NEW_FN))
    exp, r1 = harness_build.dump(orig, "check", CASES)
    got, r2 = harness_build.dump(fn, "check", CASES)
    assert r1.returncode == 0 and r2.returncode == 0 and len(exp) == len(got) == len(CASES)
    assert all(compare(e, g) is None for e, g in zip(exp, got))


def test_function_candidate_compile_error_maps_to_the_users_line(harness_build, site):
    plan = plan_inputs(site)
    bad = NEW_FN.replace("return s0 + s1;", "return s0 + undefined_name;")
    exe, err = harness_build.compile(variant_source(site, "", [], plan, function_text=bad))
    assert exe is None
    assert f"{os.path.abspath(site.path)}:{3 + 5}:" in err  # line 6 of the function, which starts at line 3


def test_function_candidate_replacing_main_keeps_the_driver_linking(harness_build):
    src = """#include <vector>
int main() {
  std::vector<int> v(8, 1);
  int s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i];
  return s;
}
int sum(const std::vector<int>& v) {
  int s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i];
  return s;
}
"""
    site = find_loop(src, "/tmp/parevo_fn_main.cpp", 9)
    plan = plan_inputs(site)
    new = "int sum(const std::vector<int>& v) {\n  int s = 0;\n  for (int x : v) s += x;\n  return s;\n}"
    exe = harness_build.exe(variant_source(site, "", [], plan, function_text=new))
    got, res = harness_build.dump(exe, "check", ["3:1"])
    assert res.returncode == 0 and got and got[0].complete
