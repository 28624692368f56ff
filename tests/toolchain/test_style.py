"""Tests of parevo.toolchain.style: rewrites formatted in the user's style, minimal edits."""

from __future__ import annotations

import pytest

from parevo.toolchain import style
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.splice import apply_edits, rewrite_edits
from parevo.toolchain.style import (
    clang_format,
    edits_between,
    infer_style,
    last_problem,
    same_tokens,
    styled_edits,
    styled_source,
)

pytestmark = pytest.mark.fast

#: A rewrite as the rules write it (two-space, attached braces, one long line).
REWRITE = """\
{
  const double total = parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) -> double {
    return std::sin(a[i]) * std::cos(a[i]) + std::sqrt(a[i] * a[i] + 1.0);
  }), parlay::plus<double>());
  s += total;
}"""

ALLMAN4 = """\
#include <cmath>
#include <vector>

double heavy_sum(const std::vector<double>& a)
{
    double s = 0.0;
    for (size_t i = 0; i < a.size(); ++i)
    {
        s += std::sin(a[i]) * std::cos(a[i]) + std::sqrt(a[i] * a[i] + 1.0);
    }
    if (s > 0)
    {
        s = -s;
    }
    else
    {
        s = s;
    }
    return s;
}
"""

ATTACHED2 = """\
#include <cmath>
#include <vector>

double heavy_sum(const std::vector<double>& a) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += std::sin(a[i]) * std::cos(a[i]) + std::sqrt(a[i] * a[i] + 1.0);
  }
  return s;
}
"""


def _rewrite(tmp_path, text: str, name: str = "k.cpp") -> tuple[str, str, list]:
    path = tmp_path / name
    path.write_text(text)
    site = find_loop(text, str(path), text.split("\n").index(next(ln for ln in text.split("\n") if "for (" in ln)))
    return str(path), text, rewrite_edits(site, REWRITE, ["<parlay/primitives.h>", "<parlay/delayed.h>"])


def test_the_style_is_inferred_from_the_file():
    allman = infer_style(ALLMAN4)
    assert allman["IndentWidth"] == 4 and "UseTab" not in allman
    assert allman["BraceWrapping"]["AfterFunction"] is True
    assert allman["BraceWrapping"]["AfterControlStatement"] == "Always"
    assert allman["BraceWrapping"]["BeforeElse"] is True
    assert allman["ColumnLimit"] == 80
    attached = infer_style(ATTACHED2)
    assert attached["IndentWidth"] == 2
    assert attached["BraceWrapping"]["AfterFunction"] is False
    assert attached["BraceWrapping"]["AfterControlStatement"] == "Never"
    tabs = infer_style(ATTACHED2.replace("  ", "\t"))
    assert tabs["UseTab"] == "ForIndentation"
    wide = infer_style(ATTACHED2 + "// " + "x" * 150 + "\n")
    assert wide["ColumnLimit"] == 100  # a file with long lines: at most 100 columns
    assert infer_style(ATTACHED2 + "// " + "x" * 86 + "\n")["ColumnLimit"] == 89


@pytest.mark.skipif(clang_format() is None, reason="!!! NO CLANG-FORMAT (apt-get install clang-format) !!!")
def test_a_rewrite_in_an_allman_file_is_formatted_allman_with_four_spaces(tmp_path):
    path, text, edits = _rewrite(tmp_path, ALLMAN4)
    new = apply_edits(text, styled_edits(text, edits, path))
    assert last_problem() is None
    assert same_tokens(new, apply_edits(text, edits))  # what was verified is what is applied
    body = new.split("double s = 0.0;\n")[1]
    assert body.startswith("    {\n        const double total = parlay::reduce(\n"), body
    assert max(len(ln) for ln in new.split("\n")) <= 80
    # lines the rewrite did not touch stay as they were (the function's Allman braces, the if/else)
    assert new.endswith(ALLMAN4[ALLMAN4.index("    if (s > 0)"):])


@pytest.mark.skipif(clang_format() is None, reason="!!! NO CLANG-FORMAT (apt-get install clang-format) !!!")
def test_the_projects_clang_format_wins(tmp_path):
    (tmp_path / ".clang-format").write_text("BasedOnStyle: Google\nIndentWidth: 3\nColumnLimit: 60\n"
                                            "SortIncludes: true\n")
    sub = tmp_path / "src"
    sub.mkdir()
    unsorted = ATTACHED2.replace("#include <cmath>\n#include <vector>\n", "#include <vector>\n#include <cmath>\n")
    path, text, edits = _rewrite(sub, unsorted)
    new = apply_edits(text, styled_edits(text, edits, path))
    assert last_problem() is None
    # the block stays at its neighbours' column; inside it, the project's 3-space indent
    assert "\n  {\n     const double total = parlay::reduce(\n" in new, new
    assert max(len(ln) for ln in new.split("\n")) <= 60
    assert new.startswith("#include <vector>\n#include <cmath>\n")  # the user's include order is kept
    assert same_tokens(new, apply_edits(text, edits))


@pytest.mark.skipif(clang_format() is None, reason="!!! NO CLANG-FORMAT (apt-get install clang-format) !!!")
def _byte_at(text: str, line: int, col: int) -> int:
    """The byte offset of 0-based ``line`` and character column ``col`` of ``text``."""
    head = "".join(ln + "\n" for ln in text.split("\n")[:line])
    return len((head + text.split("\n")[line][:col]).encode("utf-8"))


def test_edits_are_minimal(tmp_path):
    path, text, edits = _rewrite(tmp_path, ATTACHED2)
    out = styled_edits(text, edits, path)
    assert len(out) == 2
    inc, loop = out
    assert inc.start_byte == _byte_at(text, 2, 0) and inc.new_text.startswith("#include <parlay/primitives.h>\n")
    # the loop edit starts where the loop did (the indentation before it is not rewritten)
    assert loop.start_byte == _byte_at(text, 5, 2)
    assert loop.new_text.startswith("{\n")
    one = edits_between("int f() { return 1; }\n", "int f() { return 2; }\n")
    assert [(e.start_byte, e.end_byte, e.new_text) for e in one] == [(17, 18, "2")]
    assert edits_between("a\nb\n", "a\nb\n") == []
    assert apply_edits("x\ny", edits_between("x\ny", "x\nz\nw")) == "x\nz\nw"


def test_without_clang_format_the_rewrite_is_used_as_verified(tmp_path, monkeypatch):
    monkeypatch.setenv(style.CLANG_FORMAT_ENV, str(tmp_path / "no-clang-format"))
    style.clang_format.cache_clear()
    try:
        path, text, edits = _rewrite(tmp_path, ATTACHED2, "other.cpp")
        new = styled_source(text, apply_edits(text, edits), path)
        assert new == apply_edits(text, edits)
        assert "no clang-format found" in (last_problem() or "")
    finally:
        style.clang_format.cache_clear()


def test_the_pypi_wheel_is_the_fallback(monkeypatch):
    pytest.importorskip("clang_format", reason="the clang-format wheel is a dependency of parevo")
    monkeypatch.delenv(style.CLANG_FORMAT_ENV, raising=False)
    monkeypatch.setattr(style.shutil, "which", lambda name: None)
    style.clang_format.cache_clear()
    try:
        exe = clang_format()
        assert exe is not None and "clang_format" in exe
    finally:
        style.clang_format.cache_clear()


def test_a_token_change_is_refused():
    assert same_tokens("int x = 1; // a  b\n", "int  x=1;  //  a b\n")
    assert not same_tokens("#include <b>\n#include <a>\n", "#include <a>\n#include <b>\n")
    assert not same_tokens('const char* s = "a  b";', 'const char* s = "a b";')
