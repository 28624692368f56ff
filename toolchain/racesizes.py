"""Where the race stage runs a candidate: input sizes and worker counts chosen to break alignment.

ThreadSanitizer reports a race only when two workers really touch the same
memory, so a race check is worth what its sizes are worth (toolchain.md,
"Races that depend on the size"): a map loop writing ``std::vector<bool>`` in
one chunk per worker was clean with 4 workers at n = 262,144 (every chunk
boundary a multiple of 64 bits, so no two workers share a word) and racy in
every run at n = 1000 and n = 100,003; and a candidate whose blocks are larger
than the check size runs on one worker and cannot race at all.

:func:`race_plan` therefore picks, for a candidate whose parallel tasks cover
``block`` iterations (:mod:`parevo.toolchain.blocking`), every size of:

1. **parallel and odd**: the smallest odd ``n >= BLOCKS_PER_WORKER x max(workers)
   x block`` (each worker gets several blocks of its own; never a size where one
   worker runs everything) at which chunk boundaries fall mid-word for every
   worker count (:func:`misaligned`);
   When a call at that size is shorter than :data:`MIN_CALL_S` under
   ThreadSanitizer (measured on the first run), the size grows until a call
   lasts that long (:func:`work_size`): sleeping workers need time to wake and
   steal, and a race between blocks one worker ran is invisible. The growth
   follows the original's calibration (``t ~ n^p``, :func:`growth_exponent`):
   a matrix product's n is its side, and growing it linearly from a 0.3 ms
   call asked for n = 1,041, a call of over 60 s under ThreadSanitizer;
2. **just above a power of two**: ``2^k + d`` above the first size, with the
   smallest ``d`` that makes it misaligned too (not a multiple of 64 x workers);
3. **the timing size**, when larger: the size the speedup is measured at, so
   the blocks timed in parallel are the blocks race-checked in parallel.

Every size runs ``runs`` times, cycling through the worker counts (all of them
more than the cores: a race at 2 threads is missed in 10-20% of runs,
toolchain.md). Sizes beyond what a race run can afford (:func:`max_race_n`:
inputs over a byte budget, ThreadSanitizer multiplies memory by about 5, or a
call estimated over a time budget) are left out and said so; when even the
first size is beyond it the candidate is *not checkable* and cannot be
verified.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

#: Blocks each worker gets at the largest worker count at the first race size.
BLOCKS_PER_WORKER = 4
#: Chunks per worker that chunked rewrites use (``k * parlay::num_workers()``, mutations try 1, 2, 4, 8):
#: a size is misaligned when none of these chunkings puts a boundary on a 64-element word.
CHUNKS_PER_WORKER = (1, 2, 4, 8)
#: Bits (elements of ``std::vector<bool>``) per word: boundaries that are multiples of it share no word.
WORD = 64
#: Shortest call (seconds, wall, under ThreadSanitizer) a race size must give: ParlayLib's idle workers
#: sleep and need milliseconds to wake and steal; on this 2-core machine under a load of 8, the
#: ``std::vector<bool>`` chunk race was found in 0-2 of 6 runs at n = 16,417 (calls of 12-38 ms) and in
#: 6 of 6 at n = 32,801 (calls of 40-70 ms), with 3 and 4 workers.
MIN_CALL_S = 0.05
#: Largest factor by which a measured call may grow the first size.
MAX_GROWTH = 256
#: ThreadSanitizer's slowdown assumed when estimating a race run from the original's call: 13-50x
#: measured for ParlayLib kernels (toolchain.md); the upper end, so the estimate errs on the short side.
TSAN_SLOWDOWN = 50


class RacePlan(BaseModel):
    """The race stage's schedule for one candidate.

    ``sizes`` in increasing order (elements, the harness's ``n``), ``workers`` the ParlayLib worker
    counts (each more than ``cores``), ``runs`` per size; ``block`` iterations per parallel task and
    ``block_why`` how it was read; ``reasons[i]`` why ``sizes[i]`` is there; ``notes`` sizes left out
    and why; ``refusal`` set (and ``sizes`` empty) when no size is both parallel and affordable.
    """

    sizes: list[int] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    workers: list[int] = Field(default_factory=list)
    runs: int = 2
    cores: int = 1
    block: int = 1
    block_why: str = ""
    notes: list[str] = Field(default_factory=list)
    refusal: str | None = None

    def schedule(self) -> list[tuple[int, int]]:
        """``(n, workers)`` of every run, smallest sizes first (cheap runs catch most races)."""
        return [(n, self.workers[r % len(self.workers)]) for n in self.sizes for r in range(self.runs)]


def race_workers(cores: int, most: int) -> list[int]:
    """Worker counts of the race runs: ``cores + 1`` and ``max(most, cores + 2)``, both above ``cores``
    (two different counts put chunk boundaries at different places)."""
    low = max(cores + 1, 2)
    return sorted({low, max(most, low + 1)})


def misaligned(n: int, workers: list[int]) -> bool:
    """True when ``n`` is not a multiple of :data:`WORD` and no even split of ``n`` into
    ``k x w`` chunks (``w`` in ``workers``, ``k`` in :data:`CHUNKS_PER_WORKER`) has a chunk length
    (rounded down or up) that is a multiple of :data:`WORD`: every chunking then puts its first
    boundary mid-word."""
    if n % WORD == 0:
        return False
    for w in workers:
        for k in CHUNKS_PER_WORKER:
            c = k * w
            if c >= n:
                continue
            if (n // c) % WORD == 0 or (-(-n // c)) % WORD == 0:
                return False
    return True


def _next_misaligned(start: int, workers: list[int], *, odd: bool) -> int:
    n = start
    if odd and n % 2 == 0:
        n += 1
    while not misaligned(n, workers):
        n += 2 if odd else 1
    return n


#: Largest growth exponent read from calibration rows (a triple loop nest: t ~ n^3 when ``n`` is a matrix side).
MAX_EXPONENT = 3.0


def _points(rows: list[dict], key: str) -> list[tuple[int, float]]:
    """``(n, value)`` of the calibration rows that have both, by increasing n."""
    return sorted((int(r["n"]), float(r.get(key, 0) or 0)) for r in rows if r.get("n") and r.get(key))


def growth_exponent(rows: list[dict], key: str = "t") -> float | None:
    """The exponent ``p`` of ``value ~ n^p`` between the two largest calibration rows (``{"n": elements,
    key: value}``; ``"t"``: seconds of one call, ``"bytes"``: input bytes), clamped to
    [1, :data:`MAX_EXPONENT`]; None with fewer than two usable rows. A map over n elements gives 1, an
    ``n x n`` matrix's bytes 2, a matrix product's time 3."""
    pts = _points(rows, key)
    if len(pts) < 2:
        return None
    (n0, v0), (n1, v1) = pts[-2], pts[-1]
    if not (n1 > n0 and v1 > v0 > 0):
        return 1.0
    return min(MAX_EXPONENT, max(1.0, math.log(v1 / v0) / math.log(n1 / n0)))


def iteration_seconds(rows: list[dict], n: int) -> float | None:
    """Seconds of one of ``n`` iterations (a call at ``n`` over ``n``; optimized build, one thread),
    extrapolated from the original's calibration rows as ``t ~ n^p`` (:func:`growth_exponent`; 1 with
    one row). None when the rows hold no time."""
    pts = _points(rows, "t")
    if not pts or n <= 0:
        return None
    n1, t1 = pts[-1]
    p = growth_exponent(rows) or 1.0
    return t1 * (n / n1) ** p / n


def max_n_within(rows: list[dict], key: str, limit: float) -> int | None:
    """The largest ``n`` whose ``key`` (``"bytes"``: input bytes, ``"t"``: seconds of one call) stays
    within ``limit``, extrapolated from the original's calibration rows (``{"n": elements, key: value}``)
    as ``value ~ n^p``, ``p`` from :func:`growth_exponent` (1 with one row).
    None when the rows say nothing."""
    pts = _points(rows, key)
    if not pts:
        return None
    n1, v1 = pts[-1]
    p = growth_exponent(rows, key) or 1.0
    return max(1, int(n1 * (limit / v1) ** (1.0 / p)))


def max_race_n(rows: list[dict], max_bytes: int, max_call_s: float) -> int | None:
    """The largest size a race run may use: inputs of at most ``max_bytes`` and one call of at most
    ``max_call_s`` under ThreadSanitizer, estimated as :data:`TSAN_SLOWDOWN` times the original's call
    (:func:`max_n_within` on the calibration rows). None when the rows say nothing."""
    caps = [c for c in (max_n_within(rows, "bytes", max_bytes), max_n_within(rows, "t", max_call_s / TSAN_SLOWDOWN))
            if c is not None]
    return min(caps) if caps else None


def work_size(n: int, call_seconds: float, *, target_s: float = MIN_CALL_S, growth: int = MAX_GROWTH,
              exponent: float = 1.0) -> int:
    """The size at which one call lasts about ``target_s``, scaled from a call of ``call_seconds`` at
    ``n`` as ``t ~ n^exponent`` (:func:`growth_exponent` of the calibration; 1: linear; at most
    ``growth`` times ``n``); ``n`` itself when the call lasted at least half of it (growing by less
    than 2x would only add a size)."""
    if call_seconds >= target_s / 2:
        return n
    scale = (target_s / max(call_seconds, 1e-6)) ** (1.0 / max(exponent, 1.0))
    return min(n * growth, math.ceil(n * scale))


def race_plan(block: int, *, workers: list[int], cores: int, runs: int, n_time: int, min_n: int = 0,
              max_n: int | None = None, block_why: str = "", n_work: int = 0) -> RacePlan:
    """The sizes and worker counts to race-check a candidate whose parallel tasks cover ``block``
    iterations (see the module docstring).

    ``n_time`` is the timing size; ``min_n`` the smallest size the function accepts; ``max_n`` the
    largest affordable size (None: no limit); ``n_work`` the size at which one call under
    ThreadSanitizer lasts :data:`MIN_CALL_S` (:func:`work_size`, 0 when not measured). Never raises.
    """
    plan = RacePlan(workers=workers, runs=max(runs, len(workers)), cores=cores, block=block, block_why=block_why)
    most = max(workers)
    parallel = max(min_n, BLOCKS_PER_WORKER * most * block, 2)
    if max_n is not None and n_work > max_n >= parallel:
        plan.notes.append(f"a call lasts {MIN_CALL_S * 1000:.0f} ms only from n = {n_work:,}, above the largest "
                          f"affordable n = {max_n:,}")
    if n_work > parallel:  # (a bit below max_n: the misaligned size above it must stay affordable)
        parallel = n_work if max_n is None else max(parallel, min(n_work, max_n - WORD * 8 * most))
    first = _next_misaligned(parallel, workers, odd=True)
    if max_n is not None and first > max_n:
        plan.refusal = (f"its parallel tasks cover {block:,} iterations ({block_why or 'as read from its code'}): "
                        f"{most} workers get {BLOCKS_PER_WORKER} tasks each only from n = {first:,}, beyond what the "
                        f"race check can afford (largest affordable n = {max_n:,}: inputs and a call's time under "
                        "ThreadSanitizer are bounded)")
        return plan
    plan.sizes.append(first)
    plan.reasons.append(f"odd, chunk boundaries mid-word, {BLOCKS_PER_WORKER}+ blocks of {block:,} per worker")
    power = 1 << first.bit_length()  # the first power of two above `first`
    above = power + 1
    while not misaligned(above, workers):
        above += 1
    if max_n is None or above <= max_n:
        plan.sizes.append(above)
        plan.reasons.append(f"2^{power.bit_length() - 1} + {above - power}, not a multiple of 64 x workers")
    else:
        plan.notes.append(f"n = {above:,} (just above 2^{power.bit_length() - 1}) left out: beyond what the race check can afford")
    if n_time > plan.sizes[-1]:
        if max_n is None or n_time <= max_n:
            plan.sizes.append(n_time)
            plan.reasons.append("the timing size")
        else:
            plan.notes.append(f"the timing size n = {n_time:,} was not race-checked: beyond what the race check "
                              f"can afford (largest affordable n = {max_n:,}: inputs and a call's time under "
                              "ThreadSanitizer are bounded)")
    return plan


__all__ = ["BLOCKS_PER_WORKER", "CHUNKS_PER_WORKER", "MAX_EXPONENT", "MAX_GROWTH", "MIN_CALL_S", "TSAN_SLOWDOWN",
           "WORD", "RacePlan", "growth_exponent", "iteration_seconds", "max_n_within", "max_race_n", "misaligned", "race_plan", "race_workers", "work_size"]
