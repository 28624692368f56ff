"""Timing statistics: a speedup with its confidence interval, and a three-way verdict.

The machine is shared and noisy, so parevo times the original and the candidate
in interleaved rounds (ABBA order: each round is one process of the original
and one of the candidate, the order alternating), each process timing
``repeats`` calls inside the process around the call. A round's figure is the
median of its calls.

**The speedup and its interval.** The speedup is the ratio of the medians of
the rounds' figures, median(original) / median(candidate). Its 95 % interval
is a percentile bootstrap over the rounds: the rounds are resampled with
replacement, original and candidate of a round kept together (they ran next
to each other, so they share the machine's state), the ratio is recomputed
for each of 2,000 resamples, and the 2.5th and 97.5th percentiles bound it
(Efron and Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13;
resampling the highest level of repetition, here the process round, follows
Kalibera and Jones, "Rigorous Benchmarking in Reasonable Time", ISMM 2013).
The resampling generator has a fixed seed, so the same samples always give
the same interval.

**The verdict** (:func:`decide`), against a threshold (``min_speedup``):

* ``faster``: the whole interval lies at or above the threshold;
* ``not-faster``: the machine was quiet enough for the candidate's threads
  while it ran, and the interval lies below the threshold, or it is narrow
  (within ``precision`` of the speedup) and does not clear it;
* ``inconclusive``: anything else: the machine was busy (other processes kept
  cores the candidate needed: see :mod:`parevo.toolchain.machine`), or the
  interval is too wide to decide. A busy machine slows a parallel candidate
  more than the serial original, so a figure measured then never makes a
  "not faster".

The evaluator adds rounds until the verdict is decided or a cap is reached
(:meth:`Evaluator.time_stage`).
"""

from __future__ import annotations

import random
import statistics
from typing import Literal

from pydantic import BaseModel, Field

from .machine import RunConditions, describe_load

CONFIDENCE = 0.95
RESAMPLES = 2000
BOOTSTRAP_SEED = 20130610  # fixed: the same rounds always give the same interval
BUSY_MARGIN = 0.3  # cores: foreign load tolerated beyond the cores the candidate's threads leave free
STEAL_LIMIT = 0.10  # share of CPU time stolen by the hypervisor that makes a machine busy

Outcome = Literal["faster", "not-faster", "inconclusive"]


def quartiles(samples: list[float]) -> tuple[float, float, float]:
    """(Q1, median, Q3) of ``samples`` (seconds); a single sample gives it thrice.

    Raises:
        ValueError: ``samples`` is empty.
    """
    if not samples:
        raise ValueError("no timing samples")
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q = statistics.quantiles(samples, n=4, method="inclusive")
    return q[0], statistics.median(samples), q[2]


def bootstrap_ratio(original: list[float], candidate: list[float], *, resamples: int = RESAMPLES,
                    confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of median(original) / median(candidate) over paired rounds.

    ``original[k]`` and ``candidate[k]`` are round k's figures (seconds). Returns
    ``(low, high)`` at ``confidence`` (see the module docstring for the method and its sources).

    Raises:
        ValueError: no rounds, or the two lists differ in length.
    """
    if not original or len(original) != len(candidate):
        raise ValueError("the bootstrap needs the same number (at least 1) of original and candidate rounds")
    k = len(original)
    tiny = 1e-12
    rng = random.Random(seed)
    stats = []
    for _ in range(resamples):
        idx = [rng.randrange(k) for _ in range(k)]
        stats.append(statistics.median(original[i] for i in idx)
                     / max(statistics.median(candidate[i] for i in idx), tiny))
    stats.sort()
    alpha = (1.0 - confidence) / 2
    lo = stats[min(resamples - 1, max(0, int(alpha * resamples)))]
    hi = stats[min(resamples - 1, max(0, int((1 - alpha) * resamples) - 1))]
    return lo, hi


#: A parallel factor up to this share above the thread count is read as the thread count (two medians'
#: spread on a quiet machine is about 1-2 %); above it, it is flagged ``superlinear``.
SUPERLINEAR_MARGIN = 0.05


class Factors(BaseModel):
    """The speedup split into its algorithmic and parallel parts.

    ``one_worker_median`` is the candidate's median call time with one worker
    (``PARLAY_NUM_THREADS=1``), timed in ``rounds`` rounds interleaved with the
    original; ``algorithmic`` = original / candidate on one worker (the gain of
    the rewrite's algorithm and form alone); ``parallel`` = speedup /
    ``algorithmic`` (what the threads add); ``efficiency`` = ``parallel`` /
    threads, at most 1 (a measured ``parallel`` more than
    :data:`SUPERLINEAR_MARGIN` above the thread count is noise or cache effects
    and is reported as ``superlinear``; within it, the spread of two medians).
    """

    rounds: int
    one_worker_median: float
    algorithmic: float
    parallel: float
    efficiency: float
    superlinear: bool = False


class TimingResult(BaseModel):
    """Interleaved timing of the original loop against a candidate (see the module docstring).

    Samples are seconds per call of the enclosing function at input size ``n``
    with ``threads`` ParlayLib workers; ``original_rounds``/``candidate_rounds``
    are the rounds' medians, ``original_median``/``candidate_median`` the
    medians of those. ``speedup`` = original_median / candidate_median;
    ``speedup_low``/``speedup_high`` its ``confidence`` bootstrap interval.
    ``spread`` is the candidate's interquartile range relative to its median.
    ``n_source`` says how ``n`` was chosen: ``"calibrated"``, ``"input spec"``,
    ``"setting"`` or ``"call site"`` (a constant size at a call of the function
    in the program, ``n_origin`` says where). ``outcome`` and ``why`` come from
    :func:`decide` against ``threshold``; ``busy`` says the machine lacked the
    cores the threads needed, ``machine`` describes its load, and
    ``original_conditions``/``candidate_conditions`` hold the state around every
    process (see :mod:`parevo.toolchain.machine`). ``factors`` is set when the
    candidate was also timed with one worker. Results stored before intervals
    existed have ``outcome`` None and a quartile range in ``speedup_low/high``.
    """

    n: int
    n_source: str = "calibrated"
    n_origin: str = ""
    threads: int
    rounds: int
    repeats: int
    input_bytes: int = 0
    original_samples: list[float] = Field(default_factory=list)
    candidate_samples: list[float] = Field(default_factory=list)
    original_rounds: list[float] = Field(default_factory=list)
    candidate_rounds: list[float] = Field(default_factory=list)
    original_median: float = 0.0
    candidate_median: float = 0.0
    speedup: float = 0.0
    speedup_low: float = 0.0
    speedup_high: float = 0.0
    confidence: float = CONFIDENCE
    spread: float = 0.0
    threshold: float = 1.05
    outcome: Outcome | None = None
    why: str = ""
    busy: bool = False
    machine: str = ""
    original_conditions: list[RunConditions] = Field(default_factory=list)
    candidate_conditions: list[RunConditions] = Field(default_factory=list)
    factors: Factors | None = None

    @classmethod
    def from_rounds(cls, *, n: int, threads: int, repeats: int, input_bytes: int,
                    original: list[list[float]], candidate: list[list[float]], n_source: str = "calibrated",
                    n_origin: str = "", original_conditions: list[RunConditions] | None = None,
                    candidate_conditions: list[RunConditions] | None = None) -> "TimingResult":
        """Summarize per-round samples (seconds; one list per round and variant).

        Raises:
            ValueError: no rounds, an empty round, or unequal round counts.
        """
        if not original or len(original) != len(candidate) or not all(original) or not all(candidate):
            raise ValueError("timing needs the same number of non-empty rounds for the original and the candidate")
        om = [statistics.median(r) for r in original]
        cm = [statistics.median(r) for r in candidate]
        flat_o = [x for r in original for x in r]
        flat_c = [x for r in candidate for x in r]
        o_med, c_med = statistics.median(om), statistics.median(cm)
        lo, hi = bootstrap_ratio(om, cm)
        cq1, _, cq3 = quartiles(flat_c)
        tiny = 1e-12
        conds = list(candidate_conditions or [])
        return cls(n=n, n_source=n_source, n_origin=n_origin, threads=threads, rounds=len(original),
                   repeats=repeats, input_bytes=input_bytes, original_samples=flat_o, candidate_samples=flat_c,
                   original_rounds=om, candidate_rounds=cm, original_median=o_med, candidate_median=c_med,
                   speedup=o_med / max(c_med, tiny), speedup_low=lo, speedup_high=hi,
                   spread=(cq3 - cq1) / max(c_med, tiny),
                   original_conditions=list(original_conditions or []), candidate_conditions=conds,
                   machine=describe_load(list(original_conditions or []) + conds))

    @classmethod
    def from_samples(cls, *, n: int, threads: int, rounds: int, repeats: int, input_bytes: int,
                     original: list[float], candidate: list[float], n_source: str = "calibrated") -> "TimingResult":
        """Summarize flat samples (seconds): ``rounds`` consecutive rounds of ``repeats`` calls each
        when the counts fit, else one round per sample. Raises ValueError on empty lists."""
        def split(xs: list[float]) -> list[list[float]]:
            if rounds > 0 and repeats > 0 and len(xs) == rounds * repeats:
                return [xs[k * repeats:(k + 1) * repeats] for k in range(rounds)]
            return [[x] for x in xs]
        if not original or not candidate:
            raise ValueError("no timing samples")
        o, c = split(original), split(candidate)
        k = min(len(o), len(c))
        return cls.from_rounds(n=n, threads=threads, repeats=repeats, input_bytes=input_bytes, original=o[:k],
                               candidate=c[:k], n_source=n_source)

    # ------------------------------------------------------------- wording
    @property
    def n_note(self) -> str:
        """``""`` for a calibrated n, else where it came from (``" from the input spec"``, …)."""
        if self.n_source == "call site":
            return f" from {self.n_origin}" if self.n_origin else " from a call in the program"
        return {"input spec": " from the input spec", "setting": " from the settings"}.get(self.n_source, "")

    @property
    def interval_text(self) -> str:
        """``95% interval 1.71x-1.95x`` (or the quartile ``range`` of a result stored before intervals)."""
        if self.outcome is None:
            return f"range {self.speedup_low:.2f}x-{self.speedup_high:.2f}x"
        return f"{self.confidence:.0%} interval {self.speedup_low:.2f}x-{self.speedup_high:.2f}x"

    @property
    def thread_text(self) -> str:
        return f"{self.threads} thread{'s' if self.threads != 1 else ''}"

    def describe(self) -> str:
        """One line: speedup, threads, interval, n, rounds, medians."""
        return (f"{self.speedup:.2f}x on {self.thread_text} ({self.interval_text}; n = {self.n:,}{self.n_note}, "
                f"{self.rounds} rounds x {self.repeats} calls; original {fmt_seconds(self.original_median)}, "
                f"rewrite {fmt_seconds(self.candidate_median)})")

    def verdict_text(self) -> str:
        """The time stage's summary for this result's outcome (see :func:`decide`)."""
        if self.outcome == "faster" or self.outcome is None:
            return self.describe()
        where = f"n = {self.n:,}{self.n_note}, {self.rounds} rounds"
        if self.outcome == "not-faster":
            return (f"not faster: {self.speedup:.2f}x on {self.thread_text} ({self.interval_text}, {self.why}; "
                    f"{where})")
        return (f"timing inconclusive: {self.speedup:.2f}x on {self.thread_text} ({self.interval_text}; {where}): "
                f"{self.why}")


def machine_busy(conds: list[RunConditions], threads: int) -> bool:
    """True when, during the runs ``conds``, other processes kept busy cores that ``threads`` workers
    needed (median foreign load above the cores the threads leave free plus :data:`BUSY_MARGIN`), or the
    hypervisor stole more than :data:`STEAL_LIMIT` of the time. Unknown state (no ``/proc/stat``) is not
    busy."""
    foreign = sorted(c.foreign_cores for c in conds if c.foreign_cores is not None)
    if foreign:
        med = foreign[len(foreign) // 2] if len(foreign) % 2 else (foreign[len(foreign) // 2 - 1]
                                                                  + foreign[len(foreign) // 2]) / 2
        cores = conds[0].cores
        if med > max(0, cores - min(threads, cores)) + BUSY_MARGIN:
            return True
    steal = [c.steal for c in conds if c.steal is not None]
    return bool(steal) and statistics.median(steal) > STEAL_LIMIT


def decide(tr: TimingResult, threshold: float, precision: float) -> TimingResult:
    """Set ``tr``'s ``outcome``, ``why``, ``busy`` and ``threshold`` (see the module docstring); returns ``tr``.

    ``precision`` is the relative half-width of the interval (e.g. 0.05 for ±5 %) below which a
    measurement on a quiet machine that does not clear the threshold counts as "not faster".
    """
    tr.threshold = threshold
    tr.busy = machine_busy(tr.candidate_conditions, tr.threads)
    lo, hi, s = tr.speedup_low, tr.speedup_high, tr.speedup
    need = f"{threshold:.2f}x needed"
    if lo >= threshold:
        tr.outcome, tr.why = "faster", f"the whole interval is above the {need}"
    elif tr.busy:
        tr.outcome = "inconclusive"
        tr.why = (f"machine busy ({tr.machine or 'other processes took the cores'}); a busy machine slows the "
                  "rewrite's threads more than the serial original; will re-time when the machine is quieter")
    elif hi < threshold:
        tr.outcome, tr.why = "not-faster", f"below the {need}"
    elif (hi - lo) / 2 <= precision * s:
        tr.outcome, tr.why = "not-faster", f"a precise measurement that does not clear the {need}"
    else:
        tr.outcome = "inconclusive"
        tr.why = (f"the rounds varied too much to decide against the {need}"
                  + (f" ({tr.machine})" if tr.machine else "") + "; will re-time when the machine is quieter")
    return tr


def fmt_seconds(s: float) -> str:
    """Human time: ``812 µs``, ``12.3 ms``, ``1.42 s``."""
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"
