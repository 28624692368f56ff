"""Results as soon as they are verified, cancel keeping them, inconclusive timings, the bound and the
report, through ``evolve()`` with the scripted cascade of :mod:`test_search_llm` (no compiles)."""

from __future__ import annotations

import threading

import pytest

from llm_fakes import FakeOpenAI
from parevo.evolution.controller import SearchSettings
from parevo.evolution.report import OPERATORS_HELP, render_markdown, render_text, summary_line
from parevo.evolution.search import CascadeRunner
from parevo.evolution.session import SearchSession
from test_search_llm import GOOD, evolve_at, request, scripted

pytestmark = pytest.mark.fast

REAL_BOUND_OF = SearchSession.bound_of  # the fixture replaces it (no bound stop elsewhere)


def good(speedup: float, tag: str = "", *marks: str) -> str:
    """The scripted good reply at ``speedup``, told apart by ``tag``, with ``marks`` (``BUSY``) for the
    scripted cascade, each as a C++ statement (a reply must parse)."""
    marked = "".join(f'(void)"{m}"; ' for m in marks)
    return GOOD.replace("SPEEDUP(1.8)", f"SPEEDUP({speedup})").replace(
        "(void)", f"int tag_{tag or str(speedup).replace('.', '_')} = 0; {marked}(void)", 1)


def _run(loop_file, tmp_path, tc, replies, *, progress=None, cancel=None, generations=2, threads=None,
         evaluations=40):
    with FakeOpenAI(scripted(replies)) as srv:
        req = request(loop_file, tmp_path / "cache", srv.base_url, generations=generations, evaluations=evaluations,
                      search=SearchSettings(children=1, p_llm=1.0, p_fix=0.0, p_combine=0.0, patience=9))
        req.threads = threads
        return evolve_at(loop_file, req, progress=progress, cancel=cancel, toolchain=tc)


def test_the_first_verified_rewrite_is_published_at_once_and_replaced_by_a_better_one(fake_cascade, loop_file,
                                                                                   tmp_path):
    tc, _ = fake_cascade
    events = []
    res = _run(loop_file, tmp_path, tc, [good(1.3), good(1.2), good(1.7)], progress=events.append)
    pub = [e for e in events if e.stage == "verified"]
    assert [e.best_speedup for e in pub] == [pytest.approx(1.3), pytest.approx(1.7)]
    first = pub[0].result
    assert first.continuing and first.status == "verified" and first.best.speedup == pytest.approx(1.3)
    assert first.edits and "parlay::reduce" in first.diff
    assert summary_line(first).endswith("; search continuing") and "(search continuing)" in pub[0].message
    # published before the next candidates were evaluated, and the search went on
    stages = [e.stage for e in events]
    assert stages.index("verified") < max(i for i, s in enumerate(stages) if s == "candidate")
    assert not res.continuing and res.best.speedup == pytest.approx(1.7) and len(res.candidates) == 3


def test_cancel_keeps_the_best_verified_rewrite(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    cancel = threading.Event()

    def progress(e):
        if e.stage == "verified":
            cancel.set()

    res = _run(loop_file, tmp_path, tc, [good(1.4), good(1.9)], progress=progress, cancel=cancel)
    assert res.search.stopped_by == "cancelled"
    assert res.status == "verified" and res.best.speedup == pytest.approx(1.4) and res.edits


def test_an_inconclusive_timing_is_never_offered_and_is_timed_again_at_the_end(fake_cascade, loop_file,
                                                                             tmp_path, monkeypatch):
    tc, calls = fake_cascade
    calls["idle_cores"] = 0.0  # the machine stays busy
    res = _run(loop_file, tmp_path, tc, [good(1.8, "b", "BUSY")], generations=0)
    (rec,) = res.candidates
    assert calls["retimed"] == 1  # not between generations (busy), once at the end of the search
    assert res.status == "none-verified" and res.best is None and rec.rejection == "timing inconclusive"
    assert res.search.inconclusive == 1 and res.search.retimed_inconclusive == 1
    text = render_text(res)
    assert "no rewrite could be verified: 1 candidates (1 timing inconclusive)" in text
    assert "rejected at timing (1: 1 timing inconclusive):" in text, text
    assert "not faster" not in text.split("what to try next")[0]
    assert "run again when the machine is quieter" in text
    assert "or let parevo wait for it (--wait-quiet SECONDS; in the editors, the quietWait setting)" in text

    # on a quieter machine at the end the same candidate is verified
    monkeypatch.setattr(CascadeRunner, "measure_again", _quiet_again(calls))
    res2 = _run(loop_file, tmp_path / "2", tc, [good(1.8, "b", "BUSY")], generations=0)
    assert res2.status == "verified" and res2.best.speedup == pytest.approx(1.8)


def test_a_search_that_used_all_its_evaluations_still_times_its_inconclusive_candidate_again(
        fake_cascade, loop_file, tmp_path, monkeypatch):
    tc, calls = fake_cascade
    calls["idle_cores"] = 0.0
    monkeypatch.setattr(CascadeRunner, "measure_again", _quiet_again(calls))
    res = _run(loop_file, tmp_path, tc, [good(1.8, "b", "BUSY"), good(1.3)], generations=2, evaluations=1)
    assert res.search.stopped_by == "evaluations" and calls["retimed"] == 1
    assert res.status == "verified" and res.best.speedup == pytest.approx(1.8)


def test_the_search_stops_at_the_bound_and_says_so(fake_cascade, loop_file, tmp_path, monkeypatch):
    tc, _ = fake_cascade
    # the real bound: 2 threads (no bandwidth: the fixture's probe measures nothing)
    monkeypatch.setattr(SearchSession, "bound_of", REAL_BOUND_OF)
    res = _run(loop_file, tmp_path, tc, [good(1.3), good(1.85), good(1.95)], threads=2)
    assert res.search.stopped_by == "bound" and len(res.candidates) == 2
    assert res.search.stop_note == "1.85x of a 2.00x bound (2 threads): stopped"
    assert "bound: 1.85x of a 2.00x bound (2 threads): stopped" in render_text(res)


def test_near_the_bound_one_generation_without_improvement_ends_the_search(fake_cascade, loop_file, tmp_path,
                                                                          monkeypatch):
    """1.70x of a 2-thread bound: 85 %, under the 90 % bound stop, with 15 % left to find: the search ends
    after one generation that finds nothing better, not after ``patience`` (9 here) such generations."""
    tc, _ = fake_cascade
    monkeypatch.setattr(SearchSession, "bound_of", REAL_BOUND_OF)
    res = _run(loop_file, tmp_path, tc, [good(1.7), good(1.6), good(1.65), good(1.95)], threads=2, generations=4)
    assert res.search.stopped_by == "plateau" and len(res.candidates) == 2
    assert res.best.speedup == pytest.approx(1.7)
    assert res.search.stop_note == "1.70x of a 2.00x bound (2 threads): stopped after a generation without a " \
                                   "better rewrite"
    # far from the bound (1.10x of 2.00x) the patience holds: the search goes on and finds the 1.95x
    res = _run(loop_file, tmp_path / "far", tc, [good(1.1), good(1.05), good(1.08), good(1.95)], threads=2,
               generations=4)
    assert res.best.speedup == pytest.approx(1.95) and res.search.stopped_by == "bound"


def test_the_report_reads_in_ten_seconds_and_the_hover_says_the_same(fake_cascade, loop_file, tmp_path):
    tc, _ = fake_cascade
    res = _run(loop_file, tmp_path, tc, [good(1.6), good(0.7), "```cpp\n{ NOCOMPILE s = 1; }\n```"],
               generations=2)
    text = render_text(res).splitlines()
    assert text[1].startswith("ParlayLib rewrite verified: 1.60x faster on 2 threads (95% interval 1.60x-1.60x")
    prov = text[2]
    for fact in ("compiler: fake 1.0", "-O3", "ParlayLib: fake", "threads", "n = 1,048,576",
                 "rounds x 2 calls", "95% interval by bootstrap over the rounds"):
        assert fact in prov, fact
    joined = "\n".join(text)
    # grouped by the stage that stopped them, in cascade order, each with its verdict and one reason
    compile_at = joined.index("rejected at compile (1: 1 compile error):")
    timing_at = joined.index("rejected at timing (1: 1 not faster):")
    assert compile_at < timing_at, joined
    [timed] = [ln for ln in text if "0.70x" in ln]
    assert " not faster: 0.70x (95% interval" in timed, timed
    assert sum("0.70x" in ln for ln in text) == 1  # each rejection once, not repeated in the headline
    assert "per minute" in joined and "candidates answered by the evaluation cache" in joined
    md = render_markdown(res)
    for same in (text[1], prov, "rejected at timing (1: 1 not faster):", "rejected at compile (1: 1 compile error):"):
        assert same in md, same


def test_operator_names_are_explained_in_help_and_readme(capsys):
    from pathlib import Path

    from parevo.server.cli import main

    with pytest.raises(SystemExit):
        main(["evolve", "--help"])
    out = capsys.readouterr().out
    for op in ("rule:NAME", "mut:KNOB", "llm:KIND", "inconclusive"):
        assert op in out and op in OPERATORS_HELP
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "rule:NAME" in readme and "mut:KNOB" in readme and "llm:KIND" in readme


def _quiet_again(calls):
    def quiet(self, rec, cand):
        calls["retimed"] += 1
        stages = [s.model_copy(deep=True) for s in rec.stages if s.stage in ("time", "profile")]
        t = stages[0].timing
        t.busy, t.outcome, t.why = False, "faster", "the whole interval is above the 1.05x needed"
        stages[0].passed, stages[0].summary = True, t.verdict_text()
        return rec.with_measurements(stages)
    return quiet


def test_a_replay_applies_the_recorded_re_timings_where_the_run_made_them(fake_cascade, loop_file, tmp_path,
                                                                          monkeypatch):
    """Generation 0's candidate is inconclusive (generation 1's prompt says so) and is re-timed faster
    at the end of the search. The replay serves the first timing during the search and the re-timing
    at the end, so its prompts are the recorded ones and its result the same."""
    from parevo.evolution.engine import replay

    tc, calls = fake_cascade
    calls["idle_cores"] = 0.0  # busy between generations: the re-timing happens at the end
    monkeypatch.setattr(CascadeRunner, "measure_again", _quiet_again(calls))
    first = _run(loop_file, tmp_path, tc, [good(1.8, "b", "BUSY"), good(1.3)], generations=1)
    assert calls["retimed"] == 1 and first.status == "verified" and first.best.speedup == pytest.approx(1.8)
    assert first.search.retimed_inconclusive == 1
    calls["idle_cores"] = 2.0  # the replay does not depend on the machine's state
    again = replay(first.run_id, cache_dir=str(tmp_path / "cache"), toolchain=tc)
    assert calls["retimed"] == 1  # a replay measures nothing
    assert not again.search.replay_diverged and again.best_id == first.best_id
    assert [r.rejection for r in again.candidates] == [r.rejection for r in first.candidates]


def test_without_an_llm_one_generation_of_parameter_mutations_without_improvement_ends_the_search(
        fake_cascade, loop_file, tmp_path, monkeypatch):
    """Rules only: the rule candidates verify at 1.50x, their parameter mutations at 1.30x; the search ends
    after that one generation (``patience`` 3 holds only where an LLM proposes) and says why."""
    import llm_fakes
    from test_search_llm import request as llm_request

    tc, _ = fake_cascade
    monkeypatch.setattr(llm_fakes, "_speedup", lambda text, cid: 1.5 if "mut" not in cid else 1.3)
    seen = []
    real = llm_fakes.scripted_evaluate

    def marked(self, cand):  # tell the fake which candidates are mutations (their id carries no origin)
        seen.append(cand.origin)
        return real(self, cand.model_copy(update={"id": ("mut" if cand.origin.startswith("mut:") else "r")
                                                  + cand.id}))
    monkeypatch.setattr(CascadeRunner, "evaluate", marked)
    req = llm_request(loop_file, tmp_path / "cache", rules=True, generations=6,
                      search=SearchSettings(children=2, patience=3))
    res = evolve_at(loop_file, req, toolchain=tc)
    assert res.search.stopped_by == "plateau" and res.search.generations == 1
    assert sum(o.startswith("mut:") for o in seen) == 2  # one generation of two children
    assert res.best.speedup == pytest.approx(1.5)
    assert res.search.stop_note == ("1.50x: stopped after a generation of parameter mutations without a measurably "
                                    "better rewrite (no LLM in this search)")


def test_without_an_llm_rule_candidates_near_the_bound_end_the_search(fake_cascade, loop_file, tmp_path,
                                                                       monkeypatch):
    """Rules only, the rule candidates at 1.70x of a 2-thread bound (85 %): no generation of parameter
    mutations follows (they measured nothing better in the quiet traces of stop 20, at up to 56 s a
    generation); at 1.50x (75 %) one generation does, as before."""
    import llm_fakes
    from test_search_llm import request as llm_request

    tc, _ = fake_cascade
    monkeypatch.setattr(SearchSession, "bound_of", REAL_BOUND_OF)
    for figure, mutations in ((1.7, 0), (1.5, 2)):
        monkeypatch.setattr(llm_fakes, "_speedup", lambda text, cid, f=figure: f)
        seen = []
        real = llm_fakes.scripted_evaluate

        def marked(self, cand, seen=seen, real=real):
            seen.append(cand.origin)
            return real(self, cand)
        monkeypatch.setattr(CascadeRunner, "evaluate", marked)
        req = llm_request(loop_file, tmp_path / f"cache{figure}", rules=True, generations=6,
                          search=SearchSettings(children=2, patience=3)).model_copy(update={"threads": 2})
        res = evolve_at(loop_file, req, toolchain=tc)
        assert res.search.stopped_by == "plateau" and sum(o.startswith("mut:") for o in seen) == mutations
        assert res.search.generations == (0 if mutations == 0 else 1)
    monkeypatch.setattr(llm_fakes, "_speedup", lambda text, cid: 1.7)
    res = evolve_at(loop_file, llm_request(loop_file, tmp_path / "again", rules=True, generations=6).model_copy(
        update={"threads": 2}), toolchain=tc)
    assert res.search.stop_note == ("1.70x of a 2.00x bound (2 threads): stopped after the rule candidates (no LLM "
                                    "in this search: parameter mutations have little left to gain this near the "
                                    "bound)")


def test_a_better_figure_inside_the_noise_of_its_measurement_does_not_reset_the_plateau(loop_file):
    """1.50x measured with a 95 % interval of 1.40x-1.71x after a 1.44x best is no measurable progress (more
    than ``min_improvement``, 2 %, by its figure, not by its interval); 1.56x with 1.54x-1.58x is."""
    from parevo.evolution.controller import SearchController
    from parevo.evolution.result import CandidateRecord
    from parevo.evolution.search import Budget
    from parevo.evolution.candidates import Candidate
    from parevo.toolchain.timing import TimingResult
    from parevo.toolchain.verdicts import StageVerdict

    def rec(tag: str, speedup: float, low: float, high: float) -> CandidateRecord:
        tr = TimingResult(n=1 << 20, threads=2, rounds=5, repeats=3, speedup=speedup, speedup_low=low,
                          speedup_high=high, outcome="faster")
        c = Candidate(loop_text=f"{{ int {tag} = 0; (void){tag}; }}", origin="rule:x")
        return CandidateRecord(id=c.id, candidate=c, verified=True, faster=True, speedup=speedup,
                               stages=[StageVerdict(stage="time", passed=True, timing=tr, summary="faster")])

    c = SearchController(None, None, CascadeRunner(None, Budget()), settings=SearchSettings(), seed=1, seeds=[])
    c.population.add(rec("a", 1.44, 1.42, 1.46))
    c._end_generation()
    assert c.state.best_fitness == pytest.approx(1.44)
    c.state.generation = 1
    c.population.add(rec("b", 1.50, 1.40, 1.71))
    c._end_generation()
    assert c.state.stall == 1 and c.state.best_fitness == pytest.approx(1.44)
    c.state.generation = 2
    c.population.add(rec("c", 1.56, 1.54, 1.58))
    c._end_generation()
    assert c.state.stall == 0 and c.state.best_fitness == pytest.approx(1.56)


def test_without_an_llm_rule_candidates_untimed_on_a_busy_machine_end_the_search(fake_cascade, loop_file,
                                                                                 tmp_path, monkeypatch):
    """Rules only, every rule candidate correct but timed while other work held the cores (inconclusive,
    busy): no generation of parameter mutations follows (they could not be measured either), each candidate
    is timed again at the end, and the report says why the search stopped. Inconclusive because the rounds
    were noisy on a quiet machine, the generation follows as before."""
    import llm_fakes
    from test_search_llm import request as llm_request

    tc, calls = fake_cascade
    calls["idle_cores"] = 0.0
    monkeypatch.setattr(llm_fakes, "_speedup", lambda text, cid: 1.5)
    real = llm_fakes.scripted_evaluate
    for busy, mutations in ((True, 0), (False, 2)):
        seen = []

        def untimed(self, cand, seen=seen, busy=busy):
            seen.append(cand.origin)
            rec = real(self, cand)
            t = rec.stage("time")
            if t is not None:
                t.timing.busy, t.timing.outcome = busy, "inconclusive"
                t.timing.machine = "load 2.1 on 2 cores, other work 1.0 cores" if busy else ""
                t.passed, t.summary = False, t.timing.verdict_text()
                rec.faster, rec.rejected_stage, rec.reason = False, "time", t.summary
            return rec
        monkeypatch.setattr(CascadeRunner, "evaluate", untimed)
        calls["retimed"] = 0
        req = llm_request(loop_file, tmp_path / f"cache{busy}", rules=True, generations=6,
                          search=SearchSettings(children=2, patience=3))
        res = evolve_at(loop_file, req, toolchain=tc)
        assert res.status == "none-verified" and sum(o.startswith("mut:") for o in seen) == mutations
        if busy:
            assert seen and res.search.stopped_by == "busy" and res.search.generations == 0
            assert calls["retimed"] == len(seen)  # every rule candidate timed again at the end
            note = ("stopped after the rule candidates: the machine was busy during every timing of them (load 2.1 "
                    "on 2 cores, other work 1.0 cores); parameter mutations could not be compared on such a machine "
                    "either (no LLM in this search); their compile, test and ThreadSanitizer verdicts are cached, so "
                    "a run on a quieter machine only times them")
            assert res.search.stop_note == note and note in render_text(res)
        else:
            assert res.search.stopped_by == "plateau" and res.search.generations == 1


def test_without_an_llm_a_rewrite_verified_on_a_busy_machine_ends_the_search_too(fake_cascade, loop_file, tmp_path,
                                                                                  monkeypatch):
    """Rules only, every rule candidate timed while other work held the cores, one verified faster even so:
    its figure and its mutations' could not be compared on that machine, so no generation of parameter
    mutations follows; the rewrite is offered, and the stop note says its figure was measured beside the load."""
    import llm_fakes
    from test_search_llm import request as llm_request

    tc, calls = fake_cascade
    calls["idle_cores"] = 0.0
    monkeypatch.setattr(llm_fakes, "_speedup", lambda text, cid: 1.5)
    real = llm_fakes.scripted_evaluate
    seen = []

    def busy_but_faster(self, cand):
        seen.append(cand.origin)
        rec = real(self, cand)
        t = rec.stage("time")
        if t is not None:
            t.timing.busy, t.timing.machine = True, "load 2.1 on 2 cores, other work 1.0 cores"
        return rec

    monkeypatch.setattr(CascadeRunner, "evaluate", busy_but_faster)
    req = llm_request(loop_file, tmp_path / "cache", rules=True, generations=6,
                      search=SearchSettings(children=2, patience=3))
    res = evolve_at(loop_file, req, toolchain=tc)
    assert res.status == "verified" and res.best.speedup == pytest.approx(1.5)
    assert seen and not any(o.startswith("mut:") for o in seen)
    assert res.search.stopped_by == "busy" and res.search.generations == 0
    assert res.search.stop_note.startswith(
        "stopped after the rule candidates: the machine was busy during every timing of them (load 2.1 on 2 cores, "
        "other work 1.0 cores); 1.50x was verified faster even so (measured beside that load: a quiet machine may "
        "measure more); parameter mutations could not be compared")

    # every timing inconclusive beside the load, and the re-timing at the end found the machine quiet: the
    # note says the rewrite was verified then, not "beside that load"
    def untimed(self, cand):
        rec = busy_but_faster(self, cand)
        t = rec.stage("time")
        if t is not None:
            t.timing.outcome, t.passed = "inconclusive", False
            rec.faster, rec.rejected_stage, rec.reason = False, "time", t.timing.verdict_text()
        return rec

    def quiet_again(self, rec, cand):
        fresh = real(self, cand)
        return rec.with_measurements([s for s in fresh.stages if s.stage in ("time", "profile")])

    monkeypatch.setattr(CascadeRunner, "evaluate", untimed)
    monkeypatch.setattr(CascadeRunner, "measure_again", quiet_again)
    req = llm_request(loop_file, tmp_path / "cache2", rules=True, generations=6,
                      search=SearchSettings(children=2, patience=3))
    res = evolve_at(loop_file, req, toolchain=tc)
    assert res.status == "verified" and res.search.stopped_by == "busy"
    assert "measured beside that load" not in res.search.stop_note
    assert "; 1.50x was verified when timed again at the end, on a quieter machine;" in res.search.stop_note
