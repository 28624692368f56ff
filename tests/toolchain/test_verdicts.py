"""Honest verdicts: out of memory, crash, hang, sanitizer crash, data race and wrong output are distinct,
each with the candidate's own last stderr lines (issue 11, item 4). No compiler needed."""

from __future__ import annotations

import signal

import pytest

from parevo.evolution.candidates import Candidate
from parevo.evolution.report import rejected_line, render_text
from parevo.evolution.result import CandidateRecord, EvolutionResult
from parevo.server.hover import none_verified_markdown
from parevo.toolchain.sandbox import RunOutcome
from parevo.toolchain.verdicts import StageVerdict, classify_run, sanitizer_tail, stderr_tail

pytestmark = pytest.mark.fast


def _run(**kw) -> RunOutcome:
    return RunOutcome(argv=["exe"], **kw)


@pytest.mark.parametrize("outcome, sanitizer, verdict, detail", [
    (dict(timed_out=True, signal=signal.SIGKILL, wall_s=20.2), False, "hang", "did not finish within 20 s"),
    (dict(returncode=7, stderr="parevo driver: out of memory inside the function at n = 17 (seed 1): "
                               "std::bad_alloc\n"), False, "out of memory", "std::bad_alloc"),
    (dict(returncode=3, stderr="parevo driver: generating inputs failed (n = 9, seed 1): std::bad_alloc\n"), False,
     "out of memory", "std::bad_alloc"),
    (dict(signal=signal.SIGSEGV), False, "crash", "killed by SIGSEGV"),
    (dict(returncode=5, stderr="parevo driver: the function threw an exception at n = 3 (seed 1): vector::at\n"),
     False, "crash", "the function threw an exception at n = 3 (seed 1): vector::at"),
    (dict(returncode=66, stderr="ThreadSanitizer:DEADLYSIGNAL\n==9==ERROR: ThreadSanitizer: SEGV on unknown "
                                "address 0x0\n"), True, "sanitizer crash", "ThreadSanitizer: SEGV"),
    (dict(signal=signal.SIGABRT, stderr="giving up\n"), True, "sanitizer crash", "killed by SIGABRT"),
    (dict(returncode=66, stderr="==9==ERROR: ThreadSanitizer failed to allocate 0x1000 bytes\n"), True,
     "out of memory", "failed to allocate"),
])
def test_a_failed_run_is_named_by_what_happened(outcome, sanitizer, verdict, detail):
    got, what = classify_run(_run(**outcome), sanitizer=sanitizer, timeout_s=20 if outcome.get("timed_out") else None)
    assert got == verdict
    assert detail in what


def test_stderr_tails_keep_the_candidates_own_lines():
    text = "\n".join(f"line {k}" for k in range(10)) + "\n\n"
    assert stderr_tail(text, lines=3) == ["line 7", "line 8", "line 9"]
    tsan = ("candidate: giving up\nThreadSanitizer:DEADLYSIGNAL\n==5==ERROR: ThreadSanitizer: SEGV on unknown address"
            " 0x0\n==5==Hint: address points to the zero page.\n    #0 main /x.cpp:3 (a+0x1)\n\nSUMMARY: "
            "ThreadSanitizer: SEGV /x.cpp:3 in main\n==5==ABORTING\n")
    assert sanitizer_tail(tsan) == ["candidate: giving up", "==5==ERROR: ThreadSanitizer: SEGV on unknown address 0x0"]


def _record(stage: str, verdict: str, reason: str, tail: list[str]) -> CandidateRecord:
    rec = CandidateRecord(id="c1", candidate=Candidate(loop_text="{}", origin="rule:x"))
    rec.stages = [StageVerdict(stage="compile", passed=True, summary="compiled"),
                  StageVerdict(stage=stage, passed=False, verdict=verdict, summary=reason, stderr_tail=tail)]
    rec.rejected_stage, rec.reason = stage, reason
    return rec


def test_the_report_names_the_verdict_and_shows_the_candidates_stderr():
    oom = _record("test", "out of memory", "out of memory at n = 17 (seed 1): std::bad_alloc",
                  ["parevo driver: out of memory inside the function at n = 17 (seed 1): std::bad_alloc"])
    crash = _record("race", "sanitizer crash", "sanitizer crash under ThreadSanitizer at n = 1,041, 3 workers",
                    ["candidate: giving up"])
    assert rejected_line(oom) == "rule:x [c1] out of memory: out of memory at n = 17 (seed 1): std::bad_alloc"
    assert rejected_line(crash).startswith("rule:x [c1] sanitizer crash: ")
    # a record written before verdicts existed keeps its stage's usual label
    old = _record("race", "data race", "data race (...)", [])
    old.stages[-1].verdict = None
    assert rejected_line(old).startswith("rule:x [c1] data race: ")
    res = EvolutionResult(status="none-verified", seed=1, threads=2, pattern="map", path="x.cpp", function="f",
                          loop_start_line=3, loop_end_line=5, content_hash="h", candidates=[oom, crash],
                          message="no rewrite could be verified")
    text = render_text(res)
    assert "    stderr: parevo driver: out of memory inside the function" in text
    assert "    stderr: candidate: giving up" in text
    # the hover of a search that verified nothing names the same verdicts
    hover = none_verified_markdown(res)
    assert "- `rule:x`: out of memory at n = 17" in hover and "wrong output" not in hover
    assert "- `rule:x`: sanitizer crash under ThreadSanitizer" in hover
