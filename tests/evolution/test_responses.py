"""Reply handling: loop and function replacements, SEARCH/REPLACE edits, refusals with reasons."""

from __future__ import annotations

import pytest

from parevo.evolution.candidates import Candidate
from parevo.evolution.responses import parent_function_text, parse_reply, to_loop_level
from parevo.toolchain.parsing import find_loop

pytestmark = pytest.mark.fast

SRC = """#include <vector>

double sum_sq(const std::vector<double>& a) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += a[i] * a[i];
  }
  return s;
}

int main() {
  std::vector<double> a(10, 1.0);
  return (int)sum_sq(a);
}
"""

PARENT = Candidate(loop_text="{\n  s += parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) {\n"
                             "    return a[i] * a[i];\n  }));\n}",
                   includes=["<parlay/primitives.h>"], origin="rule:x")


@pytest.fixture(scope="module")
def site():
    return find_loop(SRC, "/tmp/s.cpp", 4)


def parse(site, text, parent=None):
    return parse_reply(text, site, parent, origin="llm:improve", parent_ids=[parent.id] if parent else [])


def test_loop_block_with_includes(site):
    p = parse(site, "Try this:\n```cpp\n#include <parlay/primitives.h>\n    s = parlay::reduce(a);\n```\nDone.")
    assert p.ok and p.form == "loop"
    assert p.candidate.loop_text == "s = parlay::reduce(a);"
    assert p.candidate.includes == ["<parlay/primitives.h>"] and p.candidate.function_text is None


def test_whole_function_changing_only_the_loop_becomes_a_loop_candidate(site):
    fn = SRC.split("\n\nint main")[0].split("\n", 2)[2].replace(
        "  for (size_t i = 0; i < a.size(); ++i) {\n    s += a[i] * a[i];\n  }",
        "  // parallel\n  s += parlay::reduce(\n      a);")
    p = parse(site, f"```c++\n{fn}\n```")
    assert p.ok and p.form == "function" and p.candidate.level == "loop"
    assert p.candidate.loop_text == "// parallel\ns += parlay::reduce(\n    a);"


def test_whole_function_changing_more_is_function_level(site):
    fn = ("double sum_sq(const std::vector<double>& a) {\n  double s = 0.0, t = 0.0;\n"
          "  s = parlay::reduce(a);\n  return s + t;\n}")
    p = parse(site, f"```cpp\n{fn}\n```")
    assert p.ok and p.candidate.level == "function" and p.candidate.function_text == fn
    assert p.candidate.id != Candidate(loop_text=fn, origin="x").id


def test_other_functions_or_top_level_code_are_refused(site):
    fn = "double sum_sq(const std::vector<double>& a) { return 0; }"
    p = parse(site, f"```cpp\nstatic double helper(double x) {{ return x * x; }}\n{fn}\n```")
    assert not p.ok and "edits outside the selected function `sum_sq` are refused" in p.failure
    assert "function `helper`" in p.failure
    p = parse(site, f"```cpp\nstruct Acc {{ double v; }};\n{fn}\n```")
    assert not p.ok and "top-level struct_specifier" in p.failure
    p = parse(site, "```cpp\nint main() { return 0; }\n```")
    assert not p.ok and "not the selected function `sum_sq`" in p.failure


def test_no_code_empty_and_cut_off_replies_fail_with_reasons(site):
    assert parse(site, "Use a reduction.").failure == "the reply has no ```cpp code block and no SEARCH/REPLACE edit"
    assert parse(site, "```cpp\n\n```").failure == "the code block is empty"
    assert "not closed" in parse(site, "```cpp\nfor (;;) {\n").failure
    assert "malformed" in parse(site, "<<<<<<< SEARCH\nx\n>>>>>>> REPLACE").failure


def test_edit_applies_to_the_parents_function_exactly_or_whitespace_tolerant(site):
    base = parent_function_text(site, PARENT)
    assert "    return a[i] * a[i];" in base  # the parent's loop, re-indented into the function
    exact = "<<<<<<< SEARCH\n    return a[i] * a[i];\n=======\n    return a[i] * a[i] * 1.0;\n>>>>>>> REPLACE"
    p = parse(site, exact, PARENT)
    assert p.ok and p.form == "edit" and p.candidate.level == "loop"
    assert "return a[i] * a[i] * 1.0;" in p.candidate.loop_text
    assert p.candidate.includes == ["<parlay/primitives.h>"] and p.candidate.parent_ids == [PARENT.id]
    loose = "<<<<<<< SEARCH\nreturn a[i] * a[i];\n  }));\n=======\nreturn a[i];\n}));\n>>>>>>> REPLACE"
    p = parse(site, loose, PARENT)
    assert p.ok and "      return a[i];" in parent_function_text(site, p.candidate)


def test_edit_that_does_not_apply_gives_a_did_you_mean_hint(site):
    p = parse(site, "<<<<<<< SEARCH\n    return a[j] * a[j];\n=======\nx\n>>>>>>> REPLACE", PARENT)
    assert not p.ok and p.failure == "the edit does not apply: the SEARCH block was not found in the function"
    assert p.hint.startswith("did you mean these lines?") and "return a[i] * a[i];" in p.hint


def test_edit_outside_the_function_is_refused(site):
    p = parse(site, "<<<<<<< SEARCH\n  std::vector<double> a(10, 1.0);\n=======\n  std::vector<double> a(5);\n"
                    ">>>>>>> REPLACE", PARENT)
    assert not p.ok and "outside the selected function" in p.failure


def test_ambiguous_and_noop_edits_fail(site):
    p = parse(site, "<<<<<<< SEARCH\na[i]\n=======\nb[i]\n>>>>>>> REPLACE", PARENT)
    assert not p.ok and "matches" in p.failure
    p = parse(site, "<<<<<<< SEARCH\n  return s;\n=======\n  return s;\n>>>>>>> REPLACE", PARENT)
    assert not p.ok and "unchanged" in p.failure


def test_edit_outside_the_loop_makes_a_function_candidate(site):
    p = parse(site, "<<<<<<< SEARCH\n  return s;\n=======\n  return s + 0.0;\n>>>>>>> REPLACE", PARENT)
    assert p.ok and p.candidate.level == "function"
    assert "return s + 0.0;" in p.candidate.function_text and "parlay::reduce" in p.candidate.function_text


def test_to_loop_level_refuses_when_the_prefix_changed(site):
    assert to_loop_level(site, site.function_text) is not None
    assert to_loop_level(site, site.function_text.replace("double s = 0.0;", "double s = 1.0;")) is None


def test_includes_are_read_from_the_parse_not_from_string_literals(site):
    code = ('#include <parlay/primitives.h>\n  #include "util.h"  \n'
            'const char* note = R"(\n#include <not/a/header.h>\n)";\ns = parlay::reduce(a);')
    p = parse(site, f"```cpp\n{code}\n```")
    assert p.ok and p.candidate.includes == ["<parlay/primitives.h>", '"util.h"']
    assert p.candidate.loop_text == 'const char* note = R"(\n#include <not/a/header.h>\n)";\ns = parlay::reduce(a);'


def test_code_that_does_not_parse_is_refused_with_its_line(site):
    p = parse(site, "```cpp\nfor (size_t i = 0; i < a.size(); ++i) {\n  s += a[i] @@ a[i];\n}\n```")
    assert not p.ok and p.form == "loop"
    assert p.failure == ("the new loop does not parse as C++ (line 2, column 13: unexpected text '@@ a'); "
                         "reply with complete, well-formed C++")
    assert p.hint == "line 2 of the new loop:\n  s += a[i] @@ a[i];"
    p = parse(site, "```cpp\nI would use parlay::reduce here, it is faster.\n```")
    assert not p.ok and p.failure.startswith("the new loop does not parse as C++ (line 1, column 1:")
    p = parse(site, "<<<<<<< SEARCH\n  return s;\n=======\n  return s +;\n>>>>>>> REPLACE", PARENT)
    assert not p.ok and p.form == "edit"
    assert p.failure.startswith("the new function does not parse as C++ (line 8, column 13: missing identifier)")
    assert p.hint == "line 8 of the new function:\n  return s +;"
