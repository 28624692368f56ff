"""The evaluation cascade for one loop: compile → test → race → time → profile.

An :class:`Evaluator` is built once per loop. :meth:`Evaluator.prepare`
compiles the generic driver (once per toolchain and flags, from the cache after
that) and the original loop, runs the original on every check case and
fixes the timing size: the user's ``timing_n`` (setting, else input spec) or
a calibrated one (doubled until one call of the original takes
``target_seconds``). Each candidate then goes through the stages, each
returning a :class:`~parevo.toolchain.verdicts.StageVerdict`:

1. **compile** the variant translation unit (the user's file with the loop
   replaced, plus the generated harness section) with the same flags as the
   original, and link it against the driver.
2. **test**: run on edge and small sizes with several seeds at
   ``check_threads`` workers, and on the adversarial value classes that apply
   to the loop (:mod:`~parevo.toolchain.adversarial`: NaN, ±Inf, −0.0,
   subnormals, INT_MIN/INT_MAX, ties, all-equal, one bucket; a class the
   original crashes on or has undefined behaviour on is reported, not held
   against candidates), compare every output with the original's (outside
   the candidate's process, in Python).
3. **race**: ThreadSanitizer build run where the candidate really runs in
   parallel, at sizes that put chunk and block boundaries mid-word
   (:mod:`~parevo.toolchain.racesizes`, the candidate's block read from its code
   by :mod:`~parevo.toolchain.blocking`) and at the timing size, ``tsan_runs``
   runs per size with more workers than cores (a race at 2 threads is missed in
   10-20% of runs, toolchain.md), reports mapped to the user's lines.
4. **time** (:mod:`parevo.toolchain.timestage`): original and candidate
   interleaved in rounds of one process each, ``repeats`` timed calls per
   process at the timing size (more calls when one is shorter than
   ``target_seconds``: :func:`timing_repeats`), the machine's state read around
   every process; the speedup's 95 % bootstrap interval decides ``faster``
   (passes), ``not-faster`` or ``inconclusive`` (machine busy or too noisy),
   with rounds added up to ``max_rounds`` while undecided; a faster candidate
   is also timed with one worker (algorithmic and parallel factors).
5. **profile** with what the machine supports (perf stat software counters or
   rusage): CPU utilization and parallel efficiency.

All runs (compiles included) go through :func:`~parevo.toolchain.sandbox.run_sandboxed`:
bubblewrap namespaces (own PID namespace and ``/proc``, no network, read-only
system, home directories hidden, one writable temporary directory, killed with
parevo) or, where namespaces are unavailable, a process group with a
parent-death signal; killed on timeout or cancel, with resource limits (a
ThreadSanitizer run's counts TSan's shadow reservation) and a scrubbed environment.
The caller must not time a candidate while something else compiles: the
search runs compiles and timing in separate phases.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from pathlib import Path

from pydantic import BaseModel, Field

from .compiler import OPT_FLAGS, CompileOutcome, Compiler, tsan_flags
from .discovery import Toolchain
from .harness import driver_source, harness_header_dir, original_source
from .inputs import InputPlan
from .models import ParevoError
from .site import ParsedSite
from .original_failure import original_failure_message
from .outputs import CaseOutput, Tolerance, compare, parse_dump
from .profile import profile_run
from .sandbox import RunLimits, RunOutcome, run_sandboxed
from .adversarial import CLASSES, ClassCheck, case_label, class_cases, describe_classes
from .blocking import read_blocking
from .machine import MachineReader
from .racesizes import (BLOCKS_PER_WORKER, MIN_CALL_S, RacePlan, growth_exponent, iteration_seconds, max_race_n,
                        race_plan, race_workers, work_size)
from .timestage import json_lines as _json_lines
from .timestage import time_candidate
from .tsan import TSAN_EXITCODE, parse_reports, tsan_env, tsan_limits
from .verdicts import RaceRun, StageVerdict, classify_run, sanitizer_tail, stderr_tail, with_tail


#: UndefinedBehaviorSanitizer checks run on the original for the adversarial classes: undefined behaviour
#: there is the original's own bug (say so), not a difference to hold against a rewrite.
UBSAN_CHECKS = ("signed-integer-overflow", "float-cast-overflow", "shift", "integer-divide-by-zero")


class BaselineFailed(ParevoError):
    """The original loop cannot be run by the harness (does not compile, crashes everywhere)."""


class EvalConfig(BaseModel):
    """Knobs of the cascade. Times in seconds, sizes in elements or bytes.

    Defaults follow toolchain.md: TSan with more workers than cores (``cores + 1`` and at least
    ``tsan_threads``), 2 runs per race size, inputs of at most ``tsan_max_input_bytes`` per race
    run (ThreadSanitizer needs about 5x the program's memory) and calls estimated at most
    ``tsan_max_call_s`` under ThreadSanitizer; timing medians
    over 5 interleaved rounds of 3 calls, up to ``max_rounds`` while the
    verdict is undecided; ``min_speedup`` is the threshold the speedup's
    interval must clear, ``precision`` the relative half-width below which a
    quiet measurement that does not clear it is "not faster" (see
    :func:`parevo.toolchain.timing.decide`); ``one_worker_rounds`` rounds time a
    faster candidate with one worker; calibrate until the original takes
    ``target_seconds`` per call. ``timing_n`` (elements) fixes the timing size
    instead (it wins over the input spec's ``timing_n``, which wins over
    ``call_site_n``, a constant size at a call of the function in the program,
    found at ``call_site_origin``: :mod:`parevo.toolchain.callsizes`); a call shorter than
    ``target_seconds`` is then timed ``repeats x target_seconds / t`` times per
    round (at most ``max_repeats``), so a round still covers the target.
    """

    threads: int = Field(default_factory=lambda: os.cpu_count() or 1)
    opt_flags: list[str] = Field(default_factory=lambda: list(OPT_FLAGS))
    check_sizes: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 5, 8, 17, 64, 257, 1000, 4099])
    check_seeds: list[int] = Field(default_factory=lambda: [1, 2, 3])
    check_large_n: int = 1 << 19
    check_threads: int = 4
    tsan_threads: int = 4
    tsan_runs: int = 2
    tsan_max_input_bytes: int = 256 << 20  # largest inputs a race-check run may generate
    tsan_max_call_s: float = 20.0  # longest call a race-check size may take under ThreadSanitizer (estimated)
    target_seconds: float = 0.01
    max_input_bytes: int = 1 << 30
    n_start: int = 1 << 10
    n_max: int = 1 << 25
    timing_n: int | None = Field(default=None, ge=1)
    call_site_n: int | None = Field(default=None, ge=1)
    call_site_origin: str = ""
    rounds: int = 5
    max_rounds: int = 15
    repeats: int = 3
    max_repeats: int = 200
    min_speedup: float = 1.05
    precision: float = 0.05
    one_worker_rounds: int = 3
    seed: int = 1
    run_timeout_s: float = 120.0
    adversarial_sizes: list[int] = Field(default_factory=lambda: [1, 2, 17, 1000, 4099])
    adversarial_timeout_s: float = 20.0
    compile_timeout_s: float = 300.0
    tolerance: Tolerance = Field(default_factory=Tolerance)


class Baseline(BaseModel):
    """What the original loop did: outputs per check case, the timing size.

    ``excluded_cases`` lists ``"n:seed"`` cases on which the original itself
    failed (they are not held against a candidate). ``n`` is the timing size
    and ``n_source`` how it was chosen (``"calibrated"``, ``"input spec"``,
    ``"setting"`` or ``"call site"``, then ``n_origin`` names the call);
    ``repeats`` the timed calls per round at that size.
    ``classes`` says, per adversarial value class, whether its cases are among
    ``cases`` (tested) and if not, why (:class:`~parevo.toolchain.adversarial.ClassCheck`).
    """

    cases: list[str]
    excluded_cases: list[str] = Field(default_factory=list)
    n: int
    n_source: str = "calibrated"
    n_origin: str = ""
    repeats: int = 3
    input_bytes: int = 0
    original_seconds: float = 0.0
    calibration: list[dict] = Field(default_factory=list)
    original_compile: CompileOutcome | None = None
    classes: list[ClassCheck] = Field(default_factory=list)


def adversarial_sizes(config: "EvalConfig") -> list[int]:
    """The sizes the adversarial value classes run at: ``adversarial_sizes``, none above the largest
    check size (a kernel whose check sizes were cut for its cost, such as a cubic matrix product with
    sizes up to 129, is not run at 4,099: 69 G multiply-adds per case, each ending in the class
    timeout and costing the search its budget before the first candidate)."""
    if not config.check_sizes:
        return list(config.adversarial_sizes)
    top = max(config.check_sizes)
    return sorted({min(n, top) for n in config.adversarial_sizes})


def _not_checkable(plan: RacePlan) -> StageVerdict:
    """The race stage's verdict on a candidate whose ``plan`` was refused (no affordable size runs it in
    parallel)."""
    why = f"not checkable for data races: {plan.refusal}"
    return StageVerdict(stage="race", passed=False, verdict="not checkable", summary=why, notes=plan.notes,
                        feedback=why + "; use smaller blocks")


class Evaluator:
    """Runs the cascade for candidates of one loop. Thread-safe for compiles.

    Args:
        site: the loop (``ParsedSite``) whose function the harness calls.
        toolchain: the discovered compiler and ParlayLib.
        compiler: the caching compiler (shared across loops).
        plan: the input plan for the function's parameters.
        config: cascade knobs.
        cancel: set it to stop at the next check; running subprocesses are
            killed (process group).
        machine: reads the machine's state around every timed process
            (default: this machine's ``/proc``).

    ``deadline`` (a ``time.monotonic()`` value, or None) is the budget's wall:
    the time stage starts no round that would end after it.
    """

    def __init__(self, site: ParsedSite, toolchain: Toolchain, compiler: Compiler, plan: InputPlan,
                 config: EvalConfig | None = None, cancel: threading.Event | None = None,
                 machine: MachineReader | None = None):
        self.site = site
        self.toolchain = toolchain
        self.compiler = compiler
        self.plan = plan
        self.config = config or EvalConfig()
        self.cancel = cancel or threading.Event()
        self.machine = machine or MachineReader()
        self.deadline: float | None = None
        self.baseline: Baseline | None = None
        self._expected: dict[str, CaseOutput] = {}
        self._driver_obj: str | None = None
        self._driver_tsan_obj: str | None = None
        self._driver_lock = threading.Lock()
        self._original_exe: str | None = None
        self.user_files = [os.path.abspath(site.path), site.path]

    # ----------------------------------------------------------------- flags
    @property
    def compile_flags(self) -> list[str]:
        """The optimized build's flags as a report shows them (without the harness's own ``-I``)."""
        return list(self.config.opt_flags)

    @property
    def tsan_compile_flags(self) -> list[str]:
        """The ThreadSanitizer build's flags as a report shows them."""
        return tsan_flags(self.toolchain)

    @property
    def flags(self) -> list[str]:
        """Flags of every optimized build (original and candidates alike)."""
        return self.compile_flags + ["-I", str(harness_header_dir())]

    @property
    def race_flags(self) -> list[str]:
        """Flags of every ThreadSanitizer build."""
        return self.tsan_compile_flags + ["-I", str(harness_header_dir())]

    def _link_flags(self, sanitize: bool) -> list[str]:
        return (["-fsanitize=thread"] if sanitize else []) + ["-pthread"]

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("evaluation cancelled")

    # ---------------------------------------------------------------- driver
    def _driver(self, sanitize: bool) -> str:
        """Compile (or fetch from the cache) the generic driver object."""
        with self._driver_lock:
            attr = "_driver_tsan_obj" if sanitize else "_driver_obj"
            if getattr(self, attr):
                return getattr(self, attr)
            flags = self.race_flags if sanitize else self.flags
            out = self.compiler.compile_object(driver_source(), flags, label="driver",
                                               timeout_s=self.config.compile_timeout_s, cancel=self.cancel)
            if out.cancelled:
                raise Cancelled("evaluation cancelled")
            if not out.ok:
                raise BaselineFailed(f"the parevo driver does not compile with {self.toolchain.cxx}: "
                                     f"{out.first_error or out.stderr[-400:]}")
            setattr(self, attr, out.output_path)
            return out.output_path

    def build(self, source: str, *, sanitize: bool = False, label: str = "",
              cancel: threading.Event | None = None) -> tuple[CompileOutcome, str | None]:
        """Compile ``source`` and link it with the driver; return the outcome and the executable.

        A failed link is reported as a failed compile outcome (its stderr kept). ``cancel`` (default:
        the evaluator's) kills the compile when set.
        """
        driver = self._driver(sanitize)
        flags = self.race_flags if sanitize else self.flags
        obj = self.compiler.compile_object(source, flags, label=label,
                                           timeout_s=self.config.compile_timeout_s, cancel=cancel or self.cancel)
        if not obj.ok:
            return obj, None
        exe = self.compiler.link([driver, obj.output_path], self._link_flags(sanitize), timeout_s=120,
                                 cancel=cancel or self.cancel)
        if not exe.ok:
            return exe, None
        merged = obj.model_copy(update={"seconds": obj.seconds + exe.seconds})
        return merged, exe.output_path

    # -------------------------------------------------------------- baseline
    def _cases(self, n_time: int) -> list[str]:
        """Check cases ``"n:seed"``: every small size with every seed, plus one large case.

        The large case (``check_large_n``, at most the timing size) exercises
        what small sizes cannot: several blocks, rounds and workers in the
        candidate's own blocking.
        """
        min_n = getattr(self.plan, "min_n", 0) or 0
        cases = [f"{n}:{s}" for n in self.config.check_sizes if n >= min_n for s in self.config.check_seeds]
        large = min(self.config.check_large_n, n_time)
        if large > max(self.config.check_sizes, default=0) and large >= min_n:
            cases.append(f"{large}:{self.config.check_seeds[0]}")
        return cases

    def _run(self, argv: list[str], *, threads: int, env_extra: dict[str, str] | None = None,
             timeout_s: float | None = None, memory: bool = True, cwd: str | None = None,
             cancel: threading.Event | None = None) -> RunOutcome:
        """Run ``argv`` in the sandbox; ``memory=False`` for a ThreadSanitizer build (its memory
        limit counts TSan's shadow reservation: :func:`~parevo.toolchain.tsan.tsan_limits`);
        ``cancel`` (default: the evaluator's) kills it when set."""
        env = {"PARLAY_NUM_THREADS": str(threads)}
        env.update(env_extra or {})
        timeout = timeout_s or self.config.run_timeout_s
        if memory:
            limits = RunLimits(timeout_s=timeout, memory_bytes=self.memory_bytes, file_bytes=self.file_bytes)
        else:
            limits = tsan_limits(self.toolchain.tsan_reserved_bytes, timeout_s=timeout)
        return run_sandboxed(argv, cwd=cwd, env_extra=env, limits=limits, cancel=cancel or self.cancel)

    @property
    def memory_bytes(self) -> int:
        """Address-space limit of an optimized run (bytes): four times the largest inputs, plus 2 GiB."""
        return 4 * self.config.max_input_bytes + (2 << 30)

    @property
    def file_bytes(self) -> int:
        """Largest file an optimized run may write (bytes, ``RLIMIT_FSIZE``): four times the largest inputs,
        plus 256 MiB. The check run writes every case's outputs as text (up to ~25 characters per 8-byte
        double, several cases per file): a 2-D stencil's 4,099 x 4,099 grid is ~300 MB of text per case, over
        the sandbox's default of 256 MiB (it was killed by SIGXFSZ, original included)."""
        return 4 * self.config.max_input_bytes + (256 << 20)

    def run_once(self, exe: str, n: int, seed: int) -> RunOutcome:
        """One call of the linked variant at size ``n`` and ``seed`` on one thread (``driver run N SEED 1``), in
        the sandbox: what a probe of the original (:mod:`parevo.toolchain.probe`) reads from its stderr."""
        return self._run([exe, "run", str(n), str(seed), "1"], threads=1)

    def _check_run(self, exe: str, cases: list[str], timeout_s: float | None = None,
                   partial: list[CaseOutput] | None = None,
                   cancel: threading.Event | None = None) -> tuple[list[CaseOutput], RunOutcome, str]:
        """Run ``exe check`` on ``cases``; return the parsed complete cases, the outcome, and the case
        that was running when the process stopped (``""`` when all finished). ``partial``, when
        given, receives every parsed case, the unfinished one included."""
        with tempfile.TemporaryDirectory(prefix="parevo-check-") as tmp:
            out_path = os.path.join(tmp, "out.txt")
            res = self._run([exe, "check", out_path, *cases], threads=self.config.check_threads, cwd=tmp,
                            timeout_s=timeout_s, cancel=cancel)
            text = Path(out_path).read_text(errors="replace") if os.path.exists(out_path) else ""
        parsed = parse_dump(text)
        if partial is not None:
            partial.extend(parsed)
        outs = [c for c in parsed if c.complete]
        done = {f"{c.n}:{c.seed}" for c in outs}
        pending = next((c for c in cases if c not in done), "")
        return outs, res, pending

    def _reference(self, exe: str, cases: list[str], timeout_s: float | None = None,
                   partial: list[CaseOutput] | None = None) -> tuple[dict[str, CaseOutput], list[tuple[str, RunOutcome]]]:
        """Run ``exe`` on ``cases``, going on after a case that fails; returns the outputs by case key
        and the failed cases with the run that failed on each."""
        got: dict[str, CaseOutput] = {}
        failed: list[tuple[str, RunOutcome]] = []
        remaining = list(cases)
        while remaining:
            self._check_cancel()
            outs, res, pending = self._check_run(exe, remaining, timeout_s, partial)
            got.update((f"{o.n}:{o.seed}", o) for o in outs)
            if not pending:
                break
            failed.append((pending, res))
            remaining = remaining[remaining.index(pending) + 1:]
        return got, failed

    def _adversarial_reference(self) -> list[ClassCheck]:
        """Run the original on every adversarial value class (:mod:`~parevo.toolchain.adversarial`) and
        decide, per class, whether candidates are held to it: ``tested`` classes add their cases to the
        reference outputs; a class the loop has no value for is ``not applicable``; a class on which the
        original crashes, throws or hangs (``original fails``) or has undefined behaviour (UBSan: a
        signed overflow, a NaN converted to an integer...) is reported and not held against candidates."""
        c = self.config
        if not c.adversarial_sizes:
            return []
        per_class = class_cases(adversarial_sizes(c), c.check_seeds[:2], getattr(self.plan, "min_n", 0) or 0)
        partial: list[CaseOutput] = []
        outs, failed = self._reference(self._original_exe, [k for ks in per_class.values() for k in ks],
                                       timeout_s=c.adversarial_timeout_s, partial=partial)
        drew = {f"{o.n}:{o.seed}" for o in partial if o.adversarial > 0}
        fails = dict(failed)
        checks: list[ClassCheck] = []
        for cls in CLASSES:
            keys = per_class[cls.name]
            check = ClassCheck(name=cls.name, label=cls.label, status="tested")
            bad = next((k for k in keys if k in fails), None)
            if not any(k in drew for k in keys):
                check.status, check.detail = "not applicable", "no value of this loop takes it"
            elif bad is not None:
                n, seed = (int(x) for x in bad.split(":"))
                verdict, what = classify_run(fails[bad], timeout_s=c.adversarial_timeout_s)
                check.status = "original fails"
                check.detail = with_tail(f"the original: {verdict} at {case_label(n, seed)}: {what}",
                                         stderr_tail(fails[bad].stderr))
            else:
                check.cases = [k for k in keys if k in outs]
            checks.append(check)
        tested = [ch for ch in checks if ch.status == "tested"]
        for ch, why in zip(tested, self._undefined_behaviour([ch.cases for ch in tested])):
            if why:
                ch.status, ch.detail, ch.cases = "undefined behaviour", f"in the original: {why}", []
        for ch in checks:
            for k in ch.cases:
                self._expected[k] = outs[k]
        return checks

    def _undefined_behaviour(self, groups: list[list[str]]) -> list[str | None]:
        """For each group of cases, the first undefined behaviour UBSan finds in the original's own code
        on them (``x.cpp:9: signed integer overflow: ...``), or None. Groups are checked in one build of
        the original with ``-fsanitize=`` :data:`UBSAN_CHECKS`; when that build fails, nothing is found."""
        if not any(groups):
            return [None] * len(groups)
        flags = self.flags + ["-g", "-fsanitize=" + ",".join(UBSAN_CHECKS)]
        obj = self.compiler.compile_object(original_source(self.site, self.plan), flags, label="original (ubsan)",
                                           timeout_s=self.config.compile_timeout_s, cancel=self.cancel)
        if not obj.ok:
            return [None] * len(groups)
        exe = self.compiler.link([self._driver(False), obj.output_path],
                                 ["-fsanitize=" + ",".join(UBSAN_CHECKS), "-pthread"], timeout_s=120,
                                 cancel=self.cancel)
        if not exe.ok:
            return [None] * len(groups)
        user = os.path.basename(self.site.path)
        found: list[str | None] = []
        for keys in groups:
            why = None
            if keys:
                self._check_cancel()
                _, res, _ = self._check_run(exe.output_path, keys, self.config.adversarial_timeout_s)
                for line in res.stderr.splitlines():
                    loc, sep, msg = line.partition(": runtime error: ")
                    if sep and os.path.basename(loc.rsplit(":", 2)[0]) == user:
                        parts = loc.rsplit(":", 2)
                        why = f"{user}:{parts[1] if len(parts) == 3 else '?'}: {msg.strip()[:200]}"
                        break
            found.append(why)
        return found

    def prepare(self) -> Baseline:
        """Compile the driver and the original, record reference outputs, calibrate n.

        Raises:
            BaselineFailed: the original does not compile, or fails on every case.
            Cancelled: ``cancel`` was set.
        """
        src = original_source(self.site, self.plan)
        # driver and original compile concurrently: two cores, two compiles
        results: dict[str, object] = {}

        def compile_driver():
            try:
                results["driver"] = self._driver(False)
            except Exception as e:  # reported below
                results["driver_error"] = e

        t = threading.Thread(target=compile_driver)
        t.start()
        obj = self.compiler.compile_object(src, self.flags, label="original",
                                           timeout_s=self.config.compile_timeout_s, cancel=self.cancel)
        t.join()
        if "driver_error" in results:
            raise results["driver_error"]  # type: ignore[misc]
        self._check_cancel()
        if obj.cancelled:
            raise Cancelled("evaluation cancelled")
        if not obj.ok:
            raise BaselineFailed(
                "the original function does not compile inside the parevo harness: "
                f"{obj.first_error or obj.stderr[-600:]}"
            )
        link = self.compiler.link([self._driver_obj, obj.output_path], self._link_flags(False), cancel=self.cancel)
        if link.cancelled:
            raise Cancelled("evaluation cancelled")
        if not link.ok:
            raise BaselineFailed(f"the original does not link with the parevo driver: {link.stderr[-600:]}")
        self._original_exe = link.output_path

        # calibrate the timing size on the original (or time the size the user gave)
        self._check_cancel()
        c = self.config
        min_n = max(getattr(self.plan, "min_n", 0) or 0, 1)
        fixed, n_source = timing_size(c, self.plan)
        if fixed is not None and fixed < min_n:
            raise BaselineFailed(f"the timing size n = {fixed:,} ({n_source}) is below the smallest size the "
                                 f"function accepts (min_n = {min_n})")
        start, stop = (fixed, fixed) if fixed is not None else (max(c.n_start, min_n), c.n_max)
        cal = self._calibrate(start, stop)
        rows = _json_lines(cal.stdout)
        if rows and fixed is not None and fixed // 2 >= min_n:
            # one call at half the given size, so that the race stage can read how a call grows with n
            # (racesizes.growth_exponent); without it (the run failed) the race sizes grow linearly
            half = self._calibrate(fixed // 2, fixed // 2)
            rows = (_json_lines(half.stdout)[:1] if half.ok else []) + rows
        if not rows:
            stage = "calibrating the input size" + (f" ({n_source})" if fixed is not None else "")
            raise BaselineFailed(original_failure_message(
                self.site, self.plan, stage, cal.describe(), cal.stderr, n=start, seed=c.seed,
                timed_out=cal.timed_out))
        last = rows[-1]
        n_time = int(last["n"])
        repeats = timing_repeats(c, float(last.get("t", 0.0)))

        # reference outputs; a case on which the original itself fails is excluded
        outs, failed = self._reference(self._original_exe, self._cases(n_time))
        self._expected.update(outs)
        excluded = [k for k, _ in failed]
        if not self._expected:
            if not failed:
                raise BaselineFailed("the original function was run on no generated input (no cases)")
            case, res = failed[-1]
            n_at, _, seed_at = case.partition(":")
            raise BaselineFailed(original_failure_message(
                self.site, self.plan, "recording its outputs on the check inputs (it failed on every one)",
                res.describe(), res.stderr, n=int(n_at) if n_at.isdigit() else None,
                seed=int(seed_at) if seed_at.isdigit() else None, timed_out=res.timed_out))
        classes = self._adversarial_reference()
        self.baseline = Baseline(
            cases=sorted(self._expected, key=lambda k: tuple(int(x) for x in k.split(":"))),
            excluded_cases=excluded,
            classes=classes,
            n=n_time,
            n_source=n_source,
            n_origin=c.call_site_origin if n_source == "call site" else "",
            repeats=repeats,
            input_bytes=int(last.get("bytes", 0)),
            original_seconds=float(last.get("t", 0.0)),
            calibration=rows,
            original_compile=obj,
        )
        return self.baseline

    def _calibrate(self, start: int, stop: int) -> RunOutcome:
        """``driver calibrate`` of the original from ``start`` doubling to ``stop`` (one thread), in the
        sandbox: JSON rows ``{"n", "bytes", "t"}`` on its stdout."""
        c = self.config
        return self._run([self._original_exe, "calibrate", str(c.seed), repr(c.target_seconds),
                          str(c.max_input_bytes), str(start), str(stop)], threads=1,
                         timeout_s=max(c.run_timeout_s, 300))

    # ---------------------------------------------------------------- stages
    def compile_stage(self, source: str, label: str = "",
                      cancel: threading.Event | None = None) -> tuple[StageVerdict, str | None]:
        """Stage 1: build the optimized variant. Returns the verdict and the executable."""
        t0 = time.monotonic()
        out, exe = self.build(source, sanitize=False, label=label, cancel=cancel)
        if exe is None:
            where = f" (line {out.error_line1})" if out.error_line1 else ""
            first = out.first_error or (out.stderr.strip().splitlines() or ["compiler failed"])[-1]
            return StageVerdict(
                stage="compile", passed=False, seconds=time.monotonic() - t0, compile=out,
                summary=f"did not compile{where}: {first}",
                feedback=f"compile error{where}: {first}",
            ), None
        return StageVerdict(stage="compile", passed=True, seconds=0.0 if out.cached else out.seconds,
                            compile=out, summary="compiled" + (" (cached)" if out.cached else "")), exe

    def test_stage(self, exe: str, cancel: threading.Event | None = None) -> StageVerdict:
        """Stage 2: differential test against the original's recorded outputs (``cancel``, default the
        evaluator's, kills its run: a build made ahead is stopped with its own)."""
        assert self.baseline is not None, "prepare() first"
        t0 = time.monotonic()
        cases = self.baseline.cases
        outs, res, pending = self._check_run(exe, cases, cancel=cancel)
        got = {f"{c.n}:{c.seed}": c for c in outs}
        for key in cases:
            if key not in got:
                n, seed = (int(x) for x in key.split(":"))
                verdict, what = (classify_run(res, timeout_s=self.config.run_timeout_s) if not res.ok
                                 else ("crash", "exited with status 0 before writing this case"))
                tail = stderr_tail(res.stderr)
                why = with_tail(f"{verdict} at {case_label(n, seed)}: {what}", tail)
                return StageVerdict(stage="test", passed=False, verdict=verdict, seconds=time.monotonic() - t0,
                                    cases=len(got), summary=why, stderr_tail=tail,
                                    feedback=why + ("\nstderr: " + " | ".join(tail) if tail else ""))
            mm = compare(self._expected[key], got[key], self.config.tolerance)
            if mm is not None:
                text = mm.describe()
                return StageVerdict(stage="test", passed=False, verdict="wrong output", seconds=time.monotonic() - t0,
                                    mismatch=mm, cases=len(got), summary=text, feedback=text,
                                    stderr_tail=stderr_tail(res.stderr))
        sizes = sorted({int(k.split(":")[0]) for k in cases})
        seeds = len(self.config.check_seeds)
        small = [n for n in (0, 1, 2) if n in sizes]
        classes = self.baseline.classes
        notes = [f"{c.label}: {c.detail}" for c in classes if c.status in ("original fails", "undefined behaviour")]
        return StageVerdict(
            stage="test", passed=True, seconds=time.monotonic() - t0, cases=len(cases),
            classes=[c.name for c in classes if c.status == "tested"], notes=notes,
            summary=f"outputs equal on {len(cases)} inputs (n in {sizes[0]}..{sizes[-1]}"
                    + (f", {_and([str(n) for n in small])} elements included" if small else "")
                    + f", {seeds} seed{'s' if seeds != 1 else ''}, {self.config.check_threads} threads)"
                    + (f"; {describe_classes(classes)}" if classes else ""),
        )

    def race_plan(self, code: str | None = None, n_work: int = 0) -> RacePlan:
        """Where the race stage runs ``code`` (the candidate's loop or function text; the original
        loop when None): sizes and worker counts from :func:`~parevo.toolchain.racesizes.race_plan`
        for the candidate's block (:func:`~parevo.toolchain.blocking.read_blocking`); ``n_work`` is
        the size at which a call lasts long enough (measured by :meth:`race_stage`)."""
        assert self.baseline is not None, "prepare() first"
        c, b = self.config, self.baseline
        blocking = read_blocking(code if code is not None else self.site.loop_text)
        cores = os.cpu_count() or 1
        workers = race_workers(cores, c.tsan_threads)
        # automatic granularity runs a costly iteration as its own task: time one where the cheap-iteration
        # block would put the first size
        at = BLOCKS_PER_WORKER * max(workers) * blocking.block
        block, why = blocking.for_iteration(iteration_seconds(b.calibration, at), at)
        return race_plan(block, workers=workers, cores=cores, runs=c.tsan_runs,
                         n_time=b.n, min_n=getattr(self.plan, "min_n", 0) or 0,
                         max_n=max_race_n(b.calibration, c.tsan_max_input_bytes, c.tsan_max_call_s),
                         block_why=why, n_work=n_work)

    def race_refusal(self, code: str) -> StageVerdict | None:
        """The race stage's verdict for candidate text ``code`` when no affordable size runs its blocks in
        parallel (``not checkable``), decided from its text and the calibration before anything is built;
        None when the race stage can check it. Needs :meth:`prepare`."""
        plan = self.race_plan(code)
        return _not_checkable(plan) if plan.refusal else None

    def race_beyond_timing(self, code: str) -> int | None:
        """The largest size (elements) the race stage would run candidate text ``code`` at, when it is beyond
        the timing size (a block of many iterations per task: ThreadSanitizer runs at several times the
        timed ``n``, each call 5-15 times slower); None when the race sizes stay within it. Needs
        :meth:`prepare`."""
        assert self.baseline is not None, "prepare() first"
        plan = self.race_plan(code)
        top = max(plan.sizes, default=0)
        return top if top > self.baseline.n else None

    def _tsan_run(self, exe: str, n: int, workers: int, seed: int, calls: int, timeout_s: float):
        """One ThreadSanitizer run: ``(RaceRun, outcome, reports, log text, shortest call in seconds)``."""
        t_run = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="parevo-tsan-") as tmp:
            res = self._run([exe, "run", str(n), str(seed), str(calls)], threads=workers,
                            env_extra=tsan_env(tmp, workers), memory=False, cwd=tmp, timeout_s=timeout_s)
            logs = "".join(p.read_text(errors="replace") for p in sorted(Path(tmp).glob("tsan*")))
        self._check_cancel()
        rows = _json_lines(res.stdout)
        samples = [float(x) for x in rows[-1].get("samples", [])] if rows else []
        run = RaceRun(n=n, workers=workers, seconds=round(time.monotonic() - t_run, 3))
        return run, res, parse_reports(res.stderr + "\n" + logs, self.user_files), logs, min(samples, default=0.0)

    def race_stage(self, source: str, label: str = "", code: str | None = None) -> StageVerdict:
        """Stage 3: ThreadSanitizer build and runs; fails on any race attributed to user code.

        ``code`` is the candidate's own text (loop or function), from which its block is read
        (:meth:`race_plan`). The first run, at the first size with the most workers, also measures
        how long a call takes; when shorter than :data:`~parevo.toolchain.racesizes.MIN_CALL_S` the
        sizes grow until a call lasts that long. Every size then runs ``tsan_runs`` times across the
        worker counts, smallest first (two calls per run below the timing size, so the second finds
        the workers awake), and the first failing run ends the stage. A run that crashes, hangs or
        runs out of memory under the sanitizer is named so (``sanitizer crash``, ``hang``, ``out of
        memory``), never filed as a data race; a candidate no affordable size runs in parallel is
        ``not checkable``.
        """
        t0 = time.monotonic()
        out, exe = self.build(source, sanitize=True, label=label + " (tsan)")
        if exe is None:
            first = out.first_error or (out.stderr.strip().splitlines() or ["compiler failed"])[-1]
            return StageVerdict(stage="race", passed=False, verdict="compile error", seconds=time.monotonic() - t0,
                                compile=out, summary=f"ThreadSanitizer build failed: {first}",
                                feedback=f"ThreadSanitizer build failed: {first}")
        c = self.config
        runs: list[RaceRun] = []
        unattributed: list = []
        timeout = max(c.run_timeout_s, 300)

        def not_checkable(plan: RacePlan) -> StageVerdict:
            return _not_checkable(plan).model_copy(update={"seconds": time.monotonic() - t0, "compile": out,
                                                          "runs": len(runs), "race_runs": runs})

        def run_at(n: int, workers: int) -> tuple[StageVerdict | None, float]:
            """Run once; a failing verdict (or None) and the shortest call's seconds."""
            calls = 1 if n >= self.baseline.n else 2
            run, res, reports, logs, call_s = self._tsan_run(exe, n, workers, c.seed + len(runs), calls, timeout)
            runs.append(run)
            races = [r for r in reports if r.attributable and "race" in r.kind]
            others = [r for r in reports if r.attributable and "race" not in r.kind]
            unattributed.extend(r for r in reports if not r.attributable)
            where = f"n = {n:,}, {workers} workers"
            if races or others:
                run.verdict = "data race" if races else "sanitizer report"
                text = f"{(races or others)[0].describe()} ({where})"
                return StageVerdict(stage="race", passed=False, verdict=run.verdict, seconds=time.monotonic() - t0,
                                    compile=out, races=races + others, unattributed_races=unattributed,
                                    runs=len(runs), n=n, race_runs=runs, summary=text, feedback=text,
                                    notes=plan.notes), call_s
            if not res.ok and not (res.returncode == TSAN_EXITCODE and reports):
                both = res.model_copy(update={"stderr": res.stderr + "\n" + logs})  # reports go to log files
                verdict, what = classify_run(both, sanitizer=True, timeout_s=timeout)
                run.verdict = verdict
                tail = sanitizer_tail(res.stderr + "\n" + logs)
                why = with_tail(f"{verdict} under ThreadSanitizer at {where}: {what}", tail)
                return StageVerdict(stage="race", passed=False, verdict=verdict, seconds=time.monotonic() - t0,
                                    compile=out, unattributed_races=unattributed, runs=len(runs), n=n,
                                    race_runs=runs, stderr_tail=tail, summary=why, notes=plan.notes,
                                    feedback=why + ("\nstderr: " + " | ".join(tail) if tail else "")), call_s
            return None, call_s

        plan = self.race_plan(code)
        if plan.refusal:
            return not_checkable(plan)
        first = (plan.sizes[0], max(plan.workers))
        failed, call_s = run_at(*first)
        if failed is not None:
            return failed
        # grow the sizes until one call lasts MIN_CALL_S, as the original's call grows with n
        n_work = work_size(first[0], call_s, exponent=growth_exponent(self.baseline.calibration) or 1.0)
        if n_work > first[0]:
            plan = self.race_plan(code, n_work=n_work)
            plan.notes.insert(0, f"a call at n = {first[0]:,} took {call_s * 1000:.1f} ms under ThreadSanitizer: "
                                 f"sizes grown to about n = {n_work:,}, where a call lasts {MIN_CALL_S * 1000:.0f} ms "
                                 "(sleeping workers need time to wake and steal)")
            if plan.refusal:
                return not_checkable(plan)
        for n, workers in plan.schedule():
            if (n, workers) == first:
                continue
            self._check_cancel()
            failed, _ = run_at(n, workers)
            if failed is not None:
                return failed
        note = f"; {len(unattributed)} report(s) outside user code recorded" if unattributed else ""
        sizes = _and([f"{n:,}" for n in sorted({r.n for r in runs})])
        counts = _and([str(w) for w in sorted({r.workers for r in runs})])
        return StageVerdict(stage="race", passed=True, verdict="passed", seconds=time.monotonic() - t0, compile=out,
                            runs=len(runs), n=max(r.n for r in runs), race_runs=runs, unattributed_races=unattributed,
                            notes=plan.notes,
                            summary=f"ThreadSanitizer clean: {len(runs)} runs at n = {sizes} with {counts} workers "
                                    f"({plan.cores} cores; blocks of {plan.block:,}: {plan.block_why}){note}")

    def time_stage(self, exe: str) -> StageVerdict:
        """Stage 4: noise-aware interleaved timing against the original at the timing size
        (:func:`parevo.toolchain.timestage.time_candidate`)."""
        return time_candidate(self, exe)

    def profile_stage(self, exe: str) -> StageVerdict:
        """Stage 5: profile a run at the calibrated size (informative; fails only if the run fails)."""
        assert self.baseline is not None
        t0 = time.monotonic()
        c = self.config
        prof = profile_run([exe, "run", str(self.baseline.n), str(c.seed), str(self.baseline.repeats)],
                           threads=c.threads,
                           toolchain=self.toolchain, env_extra={"PARLAY_NUM_THREADS": str(c.threads)},
                           limits=RunLimits(timeout_s=c.run_timeout_s, memory_bytes=self.memory_bytes,
                                            file_bytes=self.file_bytes),
                           cancel=self.cancel)
        rows = _json_lines(prof.outcome.stdout)
        if rows and "call_cpu_s" in rows[-1]:
            wall = sum(float(x) for x in rows[-1]["samples"])
            cpu = float(rows[-1]["call_cpu_s"])
            if wall > 0:
                prof.call_seconds, prof.call_cpu_seconds = wall, cpu
                prof.call_utilization = cpu / wall
                prof.call_efficiency = cpu / wall / c.threads
        if prof.call_utilization is not None:
            summary = (f"{prof.profiler}: inside the calls {prof.call_utilization:.2f} CPUs busy of "
                       f"{c.threads} threads (utilization {prof.call_efficiency:.0%})")
        else:
            summary = f"{prof.profiler}: whole run {prof.cpu_utilization:.2f} CPUs busy of {c.threads} threads"
        if prof.task_clock_ms is not None:
            summary += (f"; task-clock {prof.task_clock_ms:.0f} ms, {prof.context_switches} context switches, "
                        f"{prof.page_faults} page faults (whole process)")
        if not prof.outcome.ok:
            why = "timed out" if prof.outcome.timed_out else prof.outcome.describe()
            summary = f"the profiling run failed at n = {self.baseline.n:,}: {why}"
        failed = classify_run(prof.outcome)[0] if not prof.outcome.ok else "passed"
        return StageVerdict(stage="profile", passed=prof.outcome.ok, seconds=time.monotonic() - t0, profile=prof,
                            verdict=failed, stderr_tail=[] if prof.outcome.ok else stderr_tail(prof.outcome.stderr),
                            summary=summary, feedback=summary)


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def timing_size(config: EvalConfig, plan: object) -> tuple[int | None, str]:
    """The fixed timing size and where it came from: ``(config.timing_n, "setting")``, else the
    input spec's ``(plan.timing_n, "input spec")``, else the program's own
    ``(config.call_site_n, "call site")``, else ``(None, "calibrated")``."""
    if config.timing_n is not None:
        return config.timing_n, "setting"
    spec_n = getattr(plan, "timing_n", None)
    if spec_n is not None:
        return int(spec_n), "input spec"
    if config.call_site_n is not None:
        return config.call_site_n, "call site"
    return None, "calibrated"


def timing_repeats(config: EvalConfig, call_seconds: float) -> int:
    """Timed calls per round so a round of the original covers ``repeats x target_seconds``.

    ``call_seconds`` is one call of the original at the timing size (seconds). Calibrated sizes
    reach the target, so they keep ``config.repeats``; a fixed size whose call is shorter gets
    proportionally more calls, at most ``config.max_repeats``.
    """
    if call_seconds >= config.target_seconds:
        return config.repeats
    want = math.ceil(config.repeats * config.target_seconds / max(call_seconds, 1e-7))
    return max(config.repeats, min(want, config.max_repeats))


class Cancelled(ParevoError):
    """The evaluation was cancelled (by the user or a budget)."""
