"""Timing statistics: medians, quartiles, the speedup and its spread.

The machine is shared and noisy, so parevo times the original and the candidate
in interleaved rounds (ABBA order), each round a separate process timing
``repeats`` calls inside the process around the call, and reports medians with
the interquartile range. A speedup's plausible range is taken from the
quartiles: ``[Q1(orig)/Q3(cand), Q3(orig)/Q1(cand)]``.
"""

from __future__ import annotations

import statistics

from pydantic import BaseModel, Field


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


class TimingResult(BaseModel):
    """Interleaved timing of the original loop against a candidate.

    Samples are seconds per call of the enclosing function, timed inside the
    process around the call, at input size ``n`` with ``threads`` ParlayLib
    workers. ``speedup`` = median(original) / median(candidate);
    ``speedup_low``/``speedup_high`` bound it by the quartiles; ``spread`` is
    the candidate's interquartile range relative to its median. ``n_source``
    says how ``n`` was chosen: ``"calibrated"`` (grown until the original took
    the target time), ``"input spec"`` or ``"setting"`` (the user's size).
    """

    n: int
    n_source: str = "calibrated"
    threads: int
    rounds: int
    repeats: int
    input_bytes: int = 0
    original_samples: list[float] = Field(default_factory=list)
    candidate_samples: list[float] = Field(default_factory=list)
    original_median: float = 0.0
    candidate_median: float = 0.0
    speedup: float = 0.0
    speedup_low: float = 0.0
    speedup_high: float = 0.0
    spread: float = 0.0

    @classmethod
    def from_samples(cls, *, n: int, threads: int, rounds: int, repeats: int, input_bytes: int,
                     original: list[float], candidate: list[float], n_source: str = "calibrated") -> "TimingResult":
        """Summarize raw samples (seconds). Raises ValueError on empty lists."""
        oq1, om, oq3 = quartiles(original)
        cq1, cm, cq3 = quartiles(candidate)
        tiny = 1e-12
        return cls(
            n=n, n_source=n_source, threads=threads, rounds=rounds, repeats=repeats, input_bytes=input_bytes,
            original_samples=original, candidate_samples=candidate,
            original_median=om, candidate_median=cm,
            speedup=om / max(cm, tiny),
            speedup_low=oq1 / max(cq3, tiny),
            speedup_high=oq3 / max(cq1, tiny),
            spread=(cq3 - cq1) / max(cm, tiny),
        )

    def describe(self) -> str:
        """One line: speedup, threads, n, runs, medians and spread."""
        return (
            f"{self.speedup:.2f}x on {self.threads} thread{'s' if self.threads != 1 else ''} "
            f"(n = {self.n:,}{self.n_note}, median of {len(self.candidate_samples)} runs; "
            f"original {fmt_seconds(self.original_median)}, rewrite {fmt_seconds(self.candidate_median)}, "
            f"spread ±{self.spread * 50:.0f}%, range {self.speedup_low:.2f}x-{self.speedup_high:.2f}x)"
        )


    @property
    def n_note(self) -> str:
        """``""`` for a calibrated n, else ``" from the input spec"`` / ``" from the settings"``."""
        return {"input spec": " from the input spec", "setting": " from the settings"}.get(self.n_source, "")


def fmt_seconds(s: float) -> str:
    """Human time: ``812 µs``, ``12.3 ms``, ``1.42 s``."""
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"
