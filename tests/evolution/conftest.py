"""Fixtures of the search tests: the scripted cascade (no compiles) and the loop file it searches."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_fakes import SRC, fake_prepare, scripted_evaluate
from parevo.evolution import session
from parevo.evolution.search import CascadeRunner
from parevo.evolution.session import SearchSession
from parevo.toolchain.discovery import Toolchain
from parevo.toolchain.evaluate import Evaluator
from parevo.toolchain.machine import MachineReader


@pytest.fixture
def fake_cascade(monkeypatch):
    """No compiles: a fixed baseline and scripted verdicts; a toolchain that needs nothing installed."""
    monkeypatch.setattr(Evaluator, "prepare", fake_prepare)
    monkeypatch.setattr(CascadeRunner, "evaluate", scripted_evaluate)
    calls = {"n": 0}
    orig = scripted_evaluate

    def counting(self, cand):
        calls["n"] += 1
        return orig(self, cand)

    monkeypatch.setattr(CascadeRunner, "evaluate", counting)

    def remeasure(self, rec, cand):  # a verified hit is timed again: here, the same scripted figures
        calls["retimed"] += 1
        return rec.with_measurements([s for s in rec.stages if s.stage in ("time", "profile")])

    calls["retimed"] = 0
    monkeypatch.setattr(CascadeRunner, "measure_again", remeasure)
    # the machine's idle cores between generations, as the test sets them (never this machine's)
    calls["idle_cores"] = 2.0
    monkeypatch.setattr(MachineReader, "idle_cores", lambda self, seconds=0.5: calls["idle_cores"])
    # no bandwidth probe, and no stop at the loop's bound (2 threads here: the scripted 1.8x would reach it)
    monkeypatch.setattr(session, "measure_bandwidth", lambda *a, **k: (None, "not measured in these tests"))
    monkeypatch.setattr(SearchSession, "bound_of", lambda self, rec: None)
    tc = Toolchain(cxx="/usr/bin/true", cxx_version="fake 1.0", parlay_include="/nonexistent/include",
                   parlay_version="fake", parlay_headers_sha256="0" * 64, tsan_ok=True, tsan_detail="fake")
    return tc, calls


@pytest.fixture
def loop_file(tmp_path) -> Path:
    p = tmp_path / "heavy.cpp"
    p.write_text(SRC)
    return p


