"""splice: minimal edits, includes added once, stale sites refused."""

import pytest

from parevo.toolchain.parsing import find_loop
from parevo.toolchain.splice import apply_edits, rewrite_edits, rewritten_source, unified_diff

pytestmark = pytest.mark.fast

SRC = """#include <vector>
double sum(const std::vector<double>& a) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i];
  return s;
}
"""

NEW = "{\n  s += parlay::reduce(a);\n}"


def test_edits_replace_loop_and_add_include_once():
    site = find_loop(SRC, "s.cpp", 3)
    edits = rewrite_edits(site, NEW, ["<parlay/primitives.h>", "<vector>"])
    assert len(edits) == 2
    inc, loop = edits
    assert (inc.start_line, inc.start_col, inc.new_text) == (1, 0, "#include <parlay/primitives.h>\n")
    assert (loop.start_line, loop.start_col, loop.end_line) == (3, 2, 3)
    out = apply_edits(SRC, edits)
    assert out == SRC.replace("#include <vector>\n", "#include <vector>\n#include <parlay/primitives.h>\n").replace(
        "for (size_t i = 0; i < a.size(); ++i) s += a[i];", "{\n    s += parlay::reduce(a);\n  }")
    assert rewritten_source(site, NEW, ["<vector>"]).count("#include") == 1


def test_diff_touches_only_loop_and_include():
    site = find_loop(SRC, "s.cpp", 3)
    diff = unified_diff(site, rewritten_source(site, NEW, ["<parlay/primitives.h>"]))
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == [
        "+#include <parlay/primitives.h>",
        "-  for (size_t i = 0; i < a.size(); ++i) s += a[i];",
        "+  {",
        "+    s += parlay::reduce(a);",
        "+  }",
    ]


def test_file_without_includes_and_utf16_columns():
    src = "// π ≈ 3\nint f(int* a, int n) { int s = 0; for (int i = 0; i < n; ++i) s += a[i]; return s; }\n"
    site = find_loop(src, "u.cpp", 1)
    edits = rewrite_edits(site, "s += 0;", ["<parlay/primitives.h>"])
    assert edits[0].start_byte == 0 and edits[0].start_line == 0
    assert edits[1].start_line == 1 and edits[1].start_col == src.splitlines()[1].index("for")
    assert "s += 0;" in apply_edits(src, edits)


def test_stale_site_is_refused():
    site = find_loop(SRC, "s.cpp", 3)
    stale = site.model_copy(update={"source": SRC.replace("double s = 0;", "double s = 1.0;")})
    with pytest.raises(ValueError, match="stale"):
        rewrite_edits(stale, NEW, [])
