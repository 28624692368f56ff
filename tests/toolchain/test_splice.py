"""splice: minimal edits, includes added once, stale sites refused."""

import pytest

from parevo.toolchain.parsing import find_loop
from parevo.toolchain.splice import (
    StaleEdits, apply_edits, rebase_edits, rebase_edits_to_text, rewrite_edits, rewritten_source, unified_diff,
)

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
    after_includes = len("#include <vector>\n")
    assert (inc.start_byte, inc.end_byte, inc.new_text) == (after_includes, after_includes,
                                                            "#include <parlay/primitives.h>\n")
    assert (inc.role, inc.includes) == ("includes", ["<parlay/primitives.h>"])
    header = SRC.index("for (size_t i")
    assert (loop.start_byte, loop.end_byte, loop.role) == (header, SRC.index("\n", header), "loop")
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


def test_file_without_includes_and_byte_offsets_after_multibyte_text():
    src = "// π ≈ 3\nint f(int* a, int n) { int s = 0; for (int i = 0; i < n; ++i) s += a[i]; return s; }\n"
    site = find_loop(src, "u.cpp", 1)
    edits = rewrite_edits(site, "s += 0;", ["<parlay/primitives.h>"])
    assert edits[0].start_byte == 0 and edits[0].role == "includes"
    b = src.encode()
    assert edits[1].start_byte == b.index(b"for (int i") and edits[1].end_byte == b.index(b" return s;")
    assert edits[1].start_byte != src.index("for (int i")  # bytes, not characters
    assert "s += 0;" in apply_edits(src, edits)


def test_edits_of_a_changed_function_are_refused():
    site = find_loop(SRC, "s.cpp", 3)
    edits = rewrite_edits(site, NEW, ["<parlay/primitives.h>"])
    changed = find_loop(SRC.replace("double s = 0;", "double s = 1.0;"), "s.cpp", 3)
    with pytest.raises(StaleEdits, match="changed"):
        rebase_edits(edits, site.info(), changed)


def test_edits_follow_the_function_when_the_file_changes_elsewhere():
    site = find_loop(SRC, "s.cpp", 3)
    edits = rewrite_edits(site, NEW, ["<parlay/primitives.h>", "<algorithm>"])
    assert rebase_edits(edits, site.info(), site) == edits  # the same text: the same edits
    moved_text = "// a comment\n#include <algorithm>\n" + SRC + "int unrelated() { return 1; }\n"
    moved = find_loop(moved_text, "s.cpp", 5)
    rebased = rebase_edits(edits, site.info(), moved)
    out = apply_edits(moved_text, rebased)
    assert out == apply_edits(SRC, rewrite_edits(site, NEW, ["<parlay/primitives.h>"])).join(
        ["// a comment\n#include <algorithm>\n", "int unrelated() { return 1; }\n"])
    assert [e.includes for e in rebased if e.role == "includes"] == [["<parlay/primitives.h>"]]
    assert rebase_edits_to_text(edits, site.info(), moved_text) == rebased
    with pytest.raises(StaleEdits):
        rebase_edits_to_text(edits, site.info(), moved_text.replace("s += a[i];", "s -= a[i];"))
