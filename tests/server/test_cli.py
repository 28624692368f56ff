"""The ``parevo`` command: evolve, its report and options, doctor, clear errors."""

from __future__ import annotations

import argparse
import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from parevo.server.cli import main, parse_location

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"


def _parevo(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "parevo.server.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=900)


@pytest.mark.fast
def test_the_budget_counts_from_the_process_start():
    """``--budget`` is the command's wall: the seconds before the search (Python's start, imports,
    reading the file) are taken out of it (issue 12: 120.0 s of search + 3 s of start-up)."""
    res = subprocess.run([sys.executable, "-c", "import time; time.sleep(1.5); from parevo.server.cli import "
                          "process_age; print(process_age())"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert 1.5 <= float(res.stdout) < 30


@pytest.mark.fast
def test_parse_location():
    assert parse_location("a/b.cpp:12") == ("a/b.cpp", 11, None)
    assert parse_location("C:/x.cpp:3-9") == ("C:/x.cpp", 2, 8)
    for bad in ("a.cpp", "a.cpp:0", "a.cpp:9-3", "a.cpp:x"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_location(bad)


@pytest.mark.fast
@pytest.mark.parametrize("name, why", [
    ("recurrence.cpp", "loop-carried dependence: `x` at line 9 reads `x[i - 1]`"),
    ("scatter_conflict.cpp", "write conflict: `out[idx[i]] = …` at line 9"),
])
def test_not_parallelizable_examples_explain_why_and_offer_nothing(name, why, capsys, tmp_path):
    report = tmp_path / "r.json"
    code = main(["evolve", f"{EXAMPLES / name}:8", "--json", str(report), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "not parallelizable as it stands" in out and why in out
    data = json.loads(report.read_text())
    assert data["status"] == "not-parallelizable" and data["best_id"] is None and data["candidates"] == []


@pytest.mark.fast
def test_bad_input_gets_a_clear_error_and_exit_2(capsys, tmp_path):
    assert main(["evolve", f"{EXAMPLES / 'sum_squares.cpp'}:1", "--quiet"]) == 2
    assert "no loop at" in capsys.readouterr().err
    broken = tmp_path / "broken.cpp"
    broken.write_text("double f(double* a, int n) {\n  double s = 0;\n  for (int i = 0; i < n; ++i) s += a[i] *;\n"
                      "  return s;\n}\n")
    assert main(["evolve", f"{broken}:3", "--quiet"]) == 2
    assert "does not parse" in capsys.readouterr().err
    assert main(["evolve", f"{tmp_path / 'missing.cpp'}:3", "--quiet"]) == 2
    assert "missing.cpp does not exist" in capsys.readouterr().err


@pytest.mark.fast
def test_doctor_fails_without_a_compiler_and_says_how_to_install(tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path), "PAREVO_CACHE_DIR": str(tmp_path / "cache")}
    res = _parevo("doctor", env=env)
    assert res.returncode == 1
    assert "apt-get install g++" in res.stdout


@pytest.mark.parlay
def test_doctor_reports_the_toolchain_here():
    res = _parevo("doctor")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ThreadSanitizer" in res.stdout and "ParlayLib" in res.stdout and "parlay" in res.stdout


def _recorded_run(tmp_path: Path, work: Path, cache: Path) -> Path:
    """The recorded verified run of heavy_sum (``record_results.py cli``) for ``work`` and ``cache``."""
    run = tmp_path / "run.jsonl"
    run.write_text((DATA / "heavy_sum.run.jsonl").read_text().replace("@FILE@", str(work))
                   .replace("@CACHE@", str(cache)))
    return run


@pytest.mark.parlay
def test_a_verified_run_reports_writes_json_and_applies(tmp_path):
    """The verified path through the CLI, the same on any machine load: the recorded run of heavy_sum
    is replayed into an empty cache, so its candidate is compiled, tested and race-checked again here
    and given the figures the recorded run measured (a replay never re-times)."""
    work = tmp_path / "heavy_sum.cpp"
    shutil.copy(DATA / "heavy_sum.cpp", work)
    before = work.read_text()
    cache = tmp_path / "cache"
    run = _recorded_run(tmp_path, work, cache)
    env = dict(os.environ, PAREVO_CACHE_DIR=str(cache))
    res = _parevo("evolve", "--replay", str(run), "--json", "r.json", "--apply", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    # the headline: speedup, threads, the interval and n (how it was measured)
    assert re.search(r"ParlayLib rewrite verified: \d+\.\d\dx faster on \d+ threads? "
                     r"\(95% interval \d+\.\d\dx-\d+\.\d\dx, n = [\d,]+\)", out), out
    assert "--- a/heavy_sum.cpp" in out and "+#include <parlay/primitives.h>" in out
    for fact in ("speedup:", "input size: n =", "runs:", "correctness:", "ThreadSanitizer clean", "compiler:",
                 "ParlayLib:"):
        assert fact in out
    assert "compiling" in res.stderr  # the cache was empty: the candidate was built again, with progress
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["status"] == "verified" and data["search"]["replay_diverged"]  # evaluated again: the cache lost it
    (rec,) = data["candidates"]
    assert [s["stage"] for s in rec["stages"]] == ["compile", "test", "race", "time", "profile"]
    recorded = [json.loads(line) for line in run.read_text().splitlines()]
    measured = next(r for r in recorded if r.get("type") == "measured" and r["retime"] is None)
    (time_stage,) = [st for st in measured["stages"] if st["stage"] == "time"]
    assert rec["speedup"] == time_stage["timing"]["speedup"]  # the recorded figure, not a new measurement
    after = work.read_text()
    assert after != before and "parlay::reduce" in after and "#include <parlay/primitives.h>" in after
    # only the loop and the includes changed
    assert after.split("double heavy_sum")[0].replace("#include <parlay/primitives.h>\n", "") \
        .replace("#include <parlay/delayed.h>\n", "") == before.split("double heavy_sum")[0]
    assert after.split("return s;")[1] == before.split("return s;")[1]
    cxx = shutil.which("g++")
    comp = subprocess.run([cxx, "-std=c++17", "-fsyntax-only", str(work)], capture_output=True, text=True)
    assert comp.returncode == 0, comp.stderr
    # --replay --apply: refused, with the reason, on the file the run no longer matches; applied on the original
    res = _parevo("evolve", "--replay", str(run), "--apply", "--quiet", env=env, cwd=tmp_path)
    assert res.returncode == 2 and "not applying" in res.stderr and "changed since the search" in res.stderr
    assert work.read_text() == after
    work.write_text(before)
    res = _parevo("evolve", "--replay", str(run), "--apply", "--quiet", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "applied the rewrite" in res.stdout and work.read_text() == after


@pytest.mark.parlay
def test_a_live_search_judges_every_stage_and_applies_only_a_verified_rewrite(tmp_path, parevo_cache_dir):
    """A live search (compile, differential test, ThreadSanitizer, timing) on whatever load the machine
    has: every timing outcome is a legal ending, and each is checked for what it must do."""
    work = tmp_path / "heavy_sum.cpp"
    shutil.copy(DATA / "heavy_sum.cpp", work)
    before = work.read_text()
    env = dict(os.environ, PAREVO_CACHE_DIR=str(parevo_cache_dir))
    res = _parevo("evolve", "heavy_sum.cpp:9", "--max-candidates", "1", "--seed", "3", "--json", "r.json",
                  "--apply", env=env, cwd=tmp_path)
    out = res.stdout
    assert "Traceback" not in res.stderr and "compiling" in res.stderr  # the progress display
    for fact in ("compiler:", "ParlayLib:", "95% interval by bootstrap over the rounds"):
        assert fact in out, out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["seed"] == 3
    (rec,) = data["candidates"]
    stages = {s["stage"]: s for s in rec["stages"]}
    assert all(stages[s]["passed"] for s in ("compile", "test", "race")), rec  # a correct, race-free rewrite
    timing = stages["time"]["timing"]
    assert timing["outcome"] in ("faster", "not faster", "inconclusive") and timing["machine"]
    if data["status"] == "verified":
        assert res.returncode == 0 and timing["outcome"] == "faster" and "profile" in stages
        assert "ParlayLib rewrite verified" in out and "parlay::reduce" in work.read_text()
        comp = subprocess.run([shutil.which("g++"), "-std=c++17", "-fsyntax-only", str(work)], capture_output=True,
                              text=True)
        assert comp.returncode == 0, comp.stderr
    else:  # not faster, or inconclusive on a busy machine: said so, and nothing applied
        assert res.returncode == 1 and data["status"] == "none-verified"
        assert "no rewrite could be verified" in out and "rejected at timing" in out, out
        assert work.read_text() == before
        assert ("timing inconclusive" in out) == (timing["outcome"] == "inconclusive")


@pytest.mark.parlay
def test_an_original_that_fails_on_generated_inputs_names_stage_exception_parameter_and_spec_entry(
        tmp_path, parevo_cache_dir):
    """Issue 13 item 7: 1-based ids make the original throw std::out_of_range (SIGABRT) on the generated
    inputs; the message says where, how (the last stderr lines), which parameter, and the input-spec entry."""
    work = tmp_path / "gather.cpp"
    shutil.copy(DATA / "gather_one_based.cpp", work)
    env = dict(os.environ, PAREVO_CACHE_DIR=str(parevo_cache_dir))
    res = _parevo("evolve", "gather.cpp:5", "--quiet", env=env, cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    err = res.stderr
    assert "Traceback" not in err
    assert "the original function gather() failed on parevo's generated inputs while calibrating the input size" in err
    assert "(n = 1,024, seed 1): it threw std::out_of_range (exited with status 5)" in err
    assert "its last stderr lines: parevo driver: the function threw an exception (std::out_of_range)" in err
    assert "vector::_M_range_check" in err
    assert "Parameters involved: ids (its values index vals; generated as values in [-10, 10])" in err
    assert ("parevo.inputs.toml beside gather.cpp (see INPUTS.md): [gather.ids] min = 1, max = 256 (indices into "
            "vals, whose length is 256 at this n, after the - 1)") in err
    # the entry it names fixes it: the search runs past the original
    (tmp_path / "parevo.inputs.toml").write_text("[gather.ids]\nmin = 1\nmax = 256\n")
    res = _parevo("evolve", "gather.cpp:5", "--quiet", "--max-candidates", "1", "--timing-n", "4096", env=env,
                  cwd=tmp_path)
    assert res.returncode in (0, 1) and "failed on parevo's generated inputs" not in res.stderr, res.stderr
    assert "rule:parallel-for" in res.stdout


@pytest.mark.fast
@pytest.mark.parametrize("option, value, needle", [
    ("--budget", "-5", "must be a positive number of seconds"),
    ("--budget", "nan", "must be a positive number of seconds"),
    ("--threads", "0", "must be at least 1"),
    ("--threads", "5000", "must be at most 1024"),
    ("--timing-n", "0", "must be at least 1"),
    ("--max-candidates", "0", "must be at least 1"),
    ("--generations", "-1", "must be at least 0"),
    ("--wait-quiet", "-1", "must be a number of seconds (0 or more)"),
    ("--wait-quiet", "inf", "must be a number of seconds (0 or more)"),
])
def test_option_values_are_validated(option, value, needle, capsys):
    with pytest.raises(SystemExit) as e:
        main(["evolve", f"{EXAMPLES / 'sum_squares.cpp'}:8", option, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert option in err and needle in err


@pytest.mark.fast
def test_an_unusable_cache_is_one_sentence_and_exit_2(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    env = dict(os.environ, PAREVO_CACHE_DIR=str(blocker / "cache"))
    res = _parevo("evolve", f"{EXAMPLES / 'sum_squares.cpp'}:8", "--quiet", env=env)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "Errno" not in res.stderr
    assert f"the compile cache {blocker / 'cache'} cannot be a folder: a file is in the way" in res.stderr
    assert "--cache-dir" in res.stderr  # the fix
    res = _parevo("doctor", "--cache-dir", str(blocker / "cache"), env=env)
    assert res.returncode == 1 and "[!!] compile cache" in res.stdout and "not ready" in res.stdout


@pytest.mark.fast
def test_a_report_that_cannot_be_written_where_asked_goes_to_the_cache(tmp_path):
    (tmp_path / "afile").write_text("")
    env = dict(os.environ, PAREVO_CACHE_DIR=str(tmp_path / "cache"))
    res = _parevo("evolve", f"{EXAMPLES / 'recurrence.cpp'}:8", "--json", str(tmp_path / "afile" / "r.json"),
                  "--quiet", env=env)
    assert res.returncode == 1, res.stderr  # the search's own verdict: not parallelizable
    assert "Traceback" not in res.stderr
    [written] = list((tmp_path / "cache" / "reports").glob("*.json"))
    assert f"the report was written to {written} instead" in res.stderr
    assert json.loads(written.read_text())["status"] == "not-parallelizable"


@pytest.mark.fast
def test_read_only_folders_are_reported_in_words():
    import errno

    from parevo.server import faults

    e = OSError(errno.EROFS, "Read-only file system", "/x/cache/runs")
    assert faults.sentence(e, "the compile cache", faults.CACHE_FIX) == (
        "the compile cache /x/cache/runs is on a read-only file system; " + faults.CACHE_FIX)
    full = OSError(errno.ENOSPC, "No space left on device", "/x/cache/objects/a.o")
    assert "no space left" in faults.sentence(full, "the compile cache", faults.CACHE_FIX)


@pytest.mark.fast
@pytest.mark.parametrize("line, why", [
    (22, "the loop is in main()"),
    (7, "the loop is inside a lambda"),
    (13, "parameter `seen` of type `std::map<int, int>&`"),
])
def test_loops_the_harness_cannot_run_are_refused_before_any_compile(line, why, capsys):
    """Exit 2 with the reason, decided before the toolchain is even looked for (no compiler here)."""
    data = ROOT / "tests" / "server" / "data" / "unharnessable.cpp"
    assert main(["evolve", f"{data}:{line}", "--cxx", "/nonexistent/g++", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"parevo: {why}"), err


@pytest.mark.fast
def test_a_verified_rewrite_stays_on_the_terminal_while_the_search_goes_on():
    import io

    from parevo.evolution.search import ProgressEvent
    from parevo.server.cli import ProgressPrinter

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    show = ProgressPrinter(stream=out)
    show(ProgressEvent(stage="compile", message="compiling rule:reduce-delayed", tried=0, total=64))
    show(ProgressEvent(stage="verified", message="verified rule:reduce-delayed: 1.76x on 2 threads (95% interval "
                                                 "1.70x-1.83x; ...) (search continuing)", tried=1, total=64,
                       best_speedup=1.76))
    show(ProgressEvent(stage="compile", message="compiling mut:granularity", tried=1, total=64))
    lines = out.getvalue().split("\n")
    # the progress line is rewritten in place, but the verified rewrite ends its line: it stays visible
    assert "verified rule:reduce-delayed: 1.76x" in lines[0] and "(search continuing)" in lines[0]
    assert "1/64 candidates | compile: compiling mut:granularity" in lines[1]
    show(ProgressEvent(stage="wait", message="waiting for a quiet machine: 20 of 600 s", tried=4, elapsed=20.0))
    assert out.getvalue().endswith("[  20.0s] 4 candidates tried | wait: waiting for a quiet machine: 20 of 600 s")


FIRST_ABOVE = """#include <vector>
long first_above(const std::vector<double>& a, double t) {
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > t) return static_cast<long>(i);
  }
  return -1;
}
"""


@pytest.mark.parlay
def test_search_decided_by_its_inputs_says_so_and_how_to_describe_them(tmp_path, parevo_cache_dir):
    """Issue 16, item 3: a first-match search whose generated inputs match at once (the original returns after a
    few iterations, so no parallel search can be faster) is not a bare "not faster": the report gives where the
    original stopped and the input-spec keys that place the match."""
    (tmp_path / "first_above.cpp").write_text(FIRST_ABOVE)
    (tmp_path / "parevo.inputs.toml").write_text("timing_n = 262144\n")  # no calibration towards a 0-cost call
    env = dict(os.environ, PAREVO_CACHE_DIR=str(parevo_cache_dir))
    res = _parevo("evolve", "first_above.cpp:4", "--max-candidates", "1", "--json", "r.json", env=env, cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["status"] == "none-verified"
    (note,) = [n for n in data["notes"] if "the original loop stops after" in n]
    assert "its first match comes within the first block a parallel search scans" in note
    assert '`[first_above]` with `match_position = "n / 2"`' in note
    assert "note: on the generated timing inputs (n = 262,144, seed" in res.stdout


@pytest.mark.fast
def test_wait_quiet_reaches_the_search_request(tmp_path, monkeypatch, capsys):
    """``--wait-quiet S`` asks the engine to wait up to S seconds for a quiet machine (default: no wait)."""
    from parevo.evolution.result import EvolutionResult
    from parevo.server import cli as cli_module

    seen = []

    def fake_evolve(site, facts, req, progress=None, cancel=None, **kw):
        seen.append(req.quiet_wait_s)
        return EvolutionResult(path=site.path, function="f", loop_start_line=7, loop_end_line=8, content_hash="0",
                               status="none-verified", seed=1, threads=2, pattern="reduction")

    monkeypatch.setattr(cli_module, "evolve", fake_evolve)
    where = f"{EXAMPLES / 'sum_squares.cpp'}:8"
    for extra in ([], ["--wait-quiet", "90"]):
        assert main(["evolve", where, "--quiet", "--cache-dir", str(tmp_path / "c"), *extra]) == 1
    assert seen == [0.0, 90.0]
