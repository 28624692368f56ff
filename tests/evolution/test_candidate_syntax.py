"""Candidates as syntax: rule candidates and their mutations parse, declare their knobs, and compile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rule_cases import CASES, case_site  # noqa: E402
from rule_check import EXAMPLES, batch_source, example_site  # noqa: E402

from parevo.evolution.candidate_syntax import parse_candidate  # noqa: E402
from parevo.evolution.mutations import KNOB_VALUES, param_mutations  # noqa: E402
from parevo.evolution.rules import propose  # noqa: E402
from parevo.toolchain import syntax  # noqa: E402
from parevo.toolchain.facts import analyze  # noqa: E402

EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.glob("*.cpp"))


def _rule_candidates():
    for name in EXAMPLE_NAMES:
        site = example_site(name)
        yield name, site, propose(site, analyze(site))
    for name in CASES:
        site = case_site(name)
        yield name, site, propose(site, analyze(site))


def test_every_rule_candidate_parses_and_declares_its_knobs():
    checked = knobs = 0
    for name, _site, cands in _rule_candidates():
        for c in cands:
            assert c.tree.problems() == [], (name, c.origin, c.tree.problems())
            for knob in KNOB_VALUES:
                if knob not in c.params:
                    continue
                node = c.tree.knob(c.knobs[knob])
                assert node is not None, (name, c.origin, knob)
                assert syntax.int_literal(node, c.tree.src) == c.params[knob], (name, c.origin, knob)
                knobs += 1
            checked += 1
    assert checked > 100 and knobs > 20


def test_mutations_of_rule_candidates_parse_and_change_one_knob():
    site = example_site("histogram.cpp")
    cands = propose(site, analyze(site))
    blocks = next(c for c in cands if c.origin == "rule:histogram-blocks")
    kids = [k for op, k in param_mutations(blocks) if op == "param:block"]
    assert {tuple(sorted(set(k.params.items()) - set(blocks.params.items()))) for k in kids} == {
        (("blocks_per_worker", v),) for v in (1, 2, 8)} | {(("min_block", v),) for v in (1024, 16384)}
    for k in kids:
        assert k.tree.problems() == [] and k.knobs == blocks.knobs
        diff = [(a, b) for a, b in zip(blocks.tree.tokens(), k.tree.tokens()) if a != b]
        assert len(diff) == 1 and diff[0][0] in ("4", "4096")  # one literal: the knob's


def test_loop_level_syntax_errors_are_reported_in_the_candidates_own_lines():
    (p,) = parse_candidate("{\n  s += 1;\n  t = (2 + ;\n}").problems()
    assert p.sentence() == "line 3, column 5: unexpected text '= (2 +'"
    (p,) = parse_candidate("double f(int a) {\n  return a +;\n}", "function").problems()
    assert p.sentence() == "line 2, column 13: missing identifier"
    (p,) = parse_candidate("{ f(1) }").problems()  # tree-sitter puts the missing `;` after the code
    assert p.sentence() == "line 1, column 9: missing ;"
    assert parse_candidate("{\n  s += 1;\n}").problems() == []


# ------------------------------------------------------------------ parlay

MUTATED_EXAMPLES = ["flags.cpp", "histogram.cpp", "prefix_sum.cpp", "saxpy.cpp", "sum_squares.cpp", "find_first.cpp"]


@pytest.fixture(scope="module")
def parlay_flags(toolchain):
    return [f"-I{toolchain.parlay_include}"] if toolchain.parlay_include else []


@pytest.mark.parlay
@pytest.mark.parametrize("name", MUTATED_EXAMPLES)
def test_block_and_primitive_mutations_syntax_check(name, tmp_path, parlay_flags):
    """Every block and primitive mutation of the example's rule candidates (the ones that declare a
    knob constant), batched into one ``g++ -fsyntax-only``. Granularity mutations only change a
    call's last argument; sequence mutations may not compile by design (a delayed sequence bound
    to ``auto&`` in a range-for), and the cascade rejects those."""
    site = example_site(name)
    kids = [k for c in propose(site, analyze(site)) for op, k in param_mutations(c)
            if op in ("param:block", "param:primitive")]
    assert kids
    path = tmp_path / f"mutations_{name}"
    path.write_text(batch_source(site, kids))
    cxx = os.environ.get("CXX", "g++")
    r = subprocess.run([cxx, "-std=c++17", "-pthread", *parlay_flags, "-fsyntax-only", str(path)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
