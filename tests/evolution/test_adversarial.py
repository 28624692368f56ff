"""Adversarial values in the differential test (issue 11, item 3).

Each rewrite below is right on uniform random inputs and wrong exactly where random inputs never go:
the last index on ties, a NaN counted, a saturating unsigned sum, a byte counter that overflows when
every key falls in one bucket. The evidence says which value classes were tested, and a signed
overflow of the original is reported as the original's undefined behaviour instead of failing the
rewrite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.toolchain.adversarial import split_seed
from parevo.toolchain.evaluate import EvalConfig, Evaluator
from parevo.toolchain.harness import variant_source
from parevo.toolchain.inputs import plan_inputs
from parevo.toolchain.parsing import find_loop, find_marked_lines

pytestmark = pytest.mark.parlay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIG = dict(check_sizes=[0, 1, 2, 17, 1000], check_seeds=[1, 2], timing_n=4096, run_timeout_s=30)

SUMS = """#include <vector>

unsigned sum_u(const std::vector<unsigned>& a) {
  unsigned s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i];
  return s;
}

int sum_i(const std::vector<int>& a) {
  int s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i];
  return s;
}
"""


def _evaluator(toolchain, compiler, path: Path, line: int | None = None) -> Evaluator:
    src = path.read_text()
    site = find_loop(src, str(path), find_marked_lines(src)[0] if line is None else line)
    ev = Evaluator(site, toolchain, compiler, plan_inputs(site), EvalConfig(**CONFIG))
    ev.prepare()
    return ev


def _test(ev: Evaluator, loop_text: str):
    source = variant_source(ev.site, loop_text, ["<vector>"], ev.plan)
    compiled, exe = ev.compile_stage(source, "adversarial test")
    assert exe is not None, compiled.summary
    return ev.test_stage(exe)


def _class_of(verdict) -> str | None:
    _, cls = split_seed(verdict.mismatch.seed)
    return cls.name if cls is not None else None


def test_an_argmin_that_keeps_the_last_of_equal_values_is_wrong(toolchain, compiler):
    ev = _evaluator(toolchain, compiler, EXAMPLES / "argmin.cpp")
    classes = {c.name: c.status for c in ev.baseline.classes}
    assert classes["ties"] == classes["all-equal"] == classes["nan"] == "tested"
    assert classes["int-extremes"] == classes["one-bucket"] == "not applicable"
    v = _test(ev, "for (int i = 1; i < n; ++i) {\n  if (a[i] <= best) {\n    best = a[i];\n    best_i = i;\n  }\n}")
    assert not v.passed and v.label == "wrong output", v.summary
    assert _class_of(v) in ("ties", "all-equal") and v.mismatch.output == "return value"
    assert "values)" in v.summary or "ties)" in v.summary  # the case names its class


def test_a_count_that_lets_nan_in_is_wrong(toolchain, compiler):
    ev = _evaluator(toolchain, compiler, EXAMPLES / "count_if.cpp")
    # count the complement: equal for every number, not for NaN (neither inside nor outside)
    v = _test(ev, "{\n  long outside = 0;\n  for (size_t i = 0; i < a.size(); ++i)\n"
                  "    if (a[i] < lo || a[i] >= hi) outside++;\n  count += static_cast<long>(a.size()) - outside;\n}")
    assert not v.passed and _class_of(v) == "nan", v.summary
    assert "NaN)" in v.summary


def test_a_histogram_with_byte_counters_fails_when_every_key_is_in_one_bucket(toolchain, compiler):
    ev = _evaluator(toolchain, compiler, EXAMPLES / "histogram.cpp")
    assert {c.name: c.status for c in ev.baseline.classes}["one-bucket"] == "tested"
    v = _test(ev, "{\n  std::vector<unsigned char> c(hist.size(), 0);\n"
                  "  for (size_t i = 0; i < keys.size(); ++i) c[keys[i]]++;\n"
                  "  for (size_t b = 0; b < hist.size(); ++b) hist[b] += c[b];\n}")
    assert not v.passed and _class_of(v) == "one-bucket", v.summary


def _sums(toolchain, compiler, tmp_path: Path, line: int) -> Evaluator:
    path = tmp_path / "sums.cpp"
    path.write_text(SUMS)
    return _evaluator(toolchain, compiler, path, line=line)


def test_unsigned_wrap_must_match(toolchain, compiler, tmp_path):
    ev = _sums(toolchain, compiler, tmp_path, 4)
    assert {c.name: c.status for c in ev.baseline.classes}["int-extremes"] == "tested"
    v = _test(ev, "{\n  unsigned long long t = 0;\n  for (size_t i = 0; i < a.size(); ++i) t += a[i];\n"
                  "  s += t > 4294967295ull ? 4294967295u : static_cast<unsigned>(t);\n}")
    assert not v.passed and _class_of(v) == "int-extremes", v.summary


def test_a_signed_overflow_of_the_original_is_reported_not_held_against_the_rewrite(toolchain, compiler, tmp_path):
    ev = _sums(toolchain, compiler, tmp_path, 10)
    ub = {c.name: c for c in ev.baseline.classes}["int-extremes"]
    assert ub.status == "undefined behaviour" and "signed integer overflow" in ub.detail
    assert f"sums.cpp:{11}" in ub.detail  # the original's own line
    # a saturating sum differs from the original exactly where the original overflows
    v = _test(ev, "{\n  long long t = 0;\n  for (size_t i = 0; i < a.size(); ++i) t += a[i];\n"
                  "  s += t > 2147483647LL ? 2147483647 : t < -2147483648LL ? -2147483647 - 1 : static_cast<int>(t);\n}")
    assert v.passed, v.summary
    assert "int-extremes" not in v.classes and {"ties", "all-equal"} <= set(v.classes)
    assert any("signed integer overflow" in note for note in v.notes)
    assert "not held against the rewrite" in v.summary and "signed integer overflow" in v.summary
