"""Refuse early what the harness cannot run (issue 11, item 5): a loop in main(), in a lambda, or in a
function whose signature the harness cannot build is refused at prepare time, without a compiler."""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.toolchain.parsing import find_loop
from parevo.toolchain.refusal import harness_refusal, refusal_for

pytestmark = pytest.mark.fast

DATA = Path(__file__).resolve().parents[1] / "server" / "data" / "unharnessable.cpp"


@pytest.mark.parametrize("line, why", [
    (21, "the loop is in main()"),
    (6, "the loop is inside a lambda in `scale`"),
    (12, "parameter `seen` of type `std::map<int, int>&`"),
    (16, None),
])
def test_loops_the_harness_cannot_run_are_refused_with_the_reason(line, why):
    site = find_loop(DATA.read_text(), str(DATA), line)
    got = harness_refusal(site)
    assert (got is None) if why is None else (got is not None and got.startswith(why)), got


def test_member_functions_and_templates_are_refused(tmp_path):
    src = ("#include <vector>\nstruct Acc {\n  double t = 0;\n  void add(const std::vector<double>& a) {\n"
           "    for (size_t i = 0; i < a.size(); ++i) t += a[i];\n  }\n};\n"
           "template <class T> void inc(std::vector<T>& a) {\n  for (size_t i = 0; i < a.size(); ++i) a[i] += 1;\n}\n")
    path = tmp_path / "m.cpp"
    path.write_text(src)
    assert "is a member function" in refusal_for(find_loop(src, str(path), 4))
    assert "is a function template" in refusal_for(find_loop(src, str(path), 8))


def test_a_broken_input_spec_beside_the_file_is_the_reason(tmp_path):
    src = DATA.read_text()
    path = tmp_path / "u.cpp"
    path.write_text(src)
    site = find_loop(src, str(path), 16)
    assert refusal_for(site) is None
    (tmp_path / "parevo.inputs.toml").write_text("[twice.b]\nlength = \"n\"\n")
    assert "`twice` has no parameter `b`" in refusal_for(site)
