"""Race-check sizes: read the candidate's block from its syntax tree, then choose sizes where every worker
runs several blocks and chunk boundaries fall mid-word (issue 11, item 1). No compiler needed."""

from __future__ import annotations

import math

import pytest

from parevo.toolchain.blocking import AUTO_BLOCK, AUTO_ITERATION_S, LIBRARY_BLOCK, read_blocking
from parevo.toolchain.racesizes import (
    BLOCKS_PER_WORKER, CHUNKS_PER_WORKER, MAX_GROWTH, MIN_CALL_S, TSAN_SLOWDOWN, growth_exponent, iteration_seconds, max_n_within, max_race_n, misaligned, race_plan, race_workers,
    work_size,
)

pytestmark = pytest.mark.fast

BLOCKED = """{
  parlay::parallel_for(0, (n + 2047) / 2048, [&](size_t blk) {
    const size_t last = std::min<size_t>(n, (blk + 1) * 2048);
    for (size_t kk = blk * 2048; kk < last; ++kk) out[kk] = a[kk] > 0.5;
  }, 1);
}"""


@pytest.mark.parametrize("code, block", [
    (BLOCKED, 2048),
    ("parlay::parallel_for(0, n, [&](size_t i) { out[i] = a[i] > 0.5; });", AUTO_BLOCK),
    ("parlay::parallel_for(0, n, [&](size_t i) { out[i] = a[i] > 0.5; }, 1'024);", 1024),
    ("{ const long g = 4096; parlay::parallel_for(0, n, [&](long i) { out[i] = 1; }, g); }", 4096),
    ("parlay::blocked_for(0, n, 512, [&](size_t, size_t lo, size_t hi) { });", 512),
    ("{ s += parlay::reduce(parlay::delayed_tabulate(n, [&](size_t i) { return a[i]; })); }", LIBRARY_BLOCK),
    # a reduction over blocks of 512 iterations: each reduced element is a block
    ("{ s += parlay::reduce(parlay::delayed_tabulate((n + 511) / 512, [&](size_t b) {\n"
     "  double t = 0; for (size_t k = b * 512; k < std::min(n, b * 512 + 512); ++k) t += a[k]; return t; })); }",
     LIBRARY_BLOCK * 512),
    # blocks of at least 4096: the chunk count is bounded by n / 4096
    ("{ const size_t nb = std::max<size_t>(1, std::min<size_t>(n / 4096, 4 * parlay::num_workers()));\n"
     "  parlay::parallel_for(0, nb, [&](size_t b) { }, 1); }", 4096),
    # a comment or string holding a call is not a call
    ('{ // parlay::parallel_for(0, n, f, 1 << 20)\n  const char* s = "parlay::blocked_for(0, n, 99999, f)"; }',
     AUTO_BLOCK),
    ("void f(std::vector<bool>& out) {\n  for (size_t i = 0; i < out.size(); ++i) out[i] = true;\n}", AUTO_BLOCK),
])
def test_the_block_is_read_from_the_candidates_syntax_tree(code, block):
    assert read_blocking(code).block == block


def test_the_coarsest_parallel_call_decides():
    code = ("{ parlay::parallel_for(0, n, [&](size_t i) { }, 16);\n"
            "  parlay::parallel_for(0, m, [&](size_t j) { }, 8192); }")
    b = read_blocking(code)
    assert b.block == 8192 and "granularity 8,192" in b.why and b.calls == ["parallel_for", "parallel_for"]


@pytest.mark.parametrize("code, block", [
    ("parlay::parallel_for(0, n, [&](size_t i) { row(i); });", 1),  # automatic: one costly row per task
    ("parlay::parallel_for(0, n, [&](size_t i) { row(i); }, 1);", 1),
    ("parlay::parallel_for(0, n, [&](size_t i) { row(i); }, 16);", 16),
    (BLOCKED, 2048),  # blocks the code states stay
    ("{ s += parlay::reduce(parlay::delayed_tabulate(n, [&](size_t i) { return a[i]; })); }", LIBRARY_BLOCK),
    ("{ parlay::parallel_for(0, n, [&](size_t i) { }); s = parlay::reduce(a); }", LIBRARY_BLOCK),
])
def test_a_costly_iteration_is_its_own_task_under_automatic_granularity(code, block):
    b = read_blocking(code)
    assert b.for_iteration(None) == (b.block, b.why)  # unknown cost: the cheap-iteration block
    assert b.for_iteration(AUTO_ITERATION_S / 10)[0] == b.block
    got, why = b.for_iteration(465e-6, 1024)
    assert got == block
    if block < b.block:
        assert why.endswith("; one iteration takes about 465.0 µs at n = 1,024"), why


def test_an_iterations_time_follows_the_calibration():
    # a matrix product: 60 ms at n = 512, 7.5 ms at 256 (n^3): an iteration (a row) at n = 1,024 takes
    # 8 x 60 ms / 1,024
    rows = [{"n": 256, "t": 0.0075}, {"n": 512, "t": 0.06}]
    assert iteration_seconds(rows, 1024) == pytest.approx(0.48 / 1024)
    assert iteration_seconds([{"n": 1 << 20, "t": 0.001}], 1 << 10) == pytest.approx(0.001 / (1 << 20))
    assert iteration_seconds([], 1024) is None


def test_worker_counts_exceed_the_cores():
    assert race_workers(2, 4) == [3, 4]
    assert race_workers(8, 4) == [9, 10]
    assert race_workers(1, 4) == [2, 4]


def test_misaligned_sizes_put_every_chunking_boundary_mid_word():
    assert not misaligned(262_144, [3, 4])   # the size the chunk race hid at
    assert not misaligned(1025, [3, 4])      # odd, but 1025 // 4 = 256: chunk boundaries on words
    assert misaligned(1041, [3, 4])
    for n in (1041, 2080, 32_801, 65_568):
        for w in (3, 4):
            for k in CHUNKS_PER_WORKER:
                assert (n // (k * w)) % 64 and (-(-n // (k * w))) % 64


def test_sizes_give_every_worker_several_blocks_then_add_the_timing_size():
    plan = race_plan(2048, workers=[3, 4], cores=2, runs=2, n_time=1 << 20)
    assert plan.sizes == [32_801, 65_568, 1 << 20]
    assert plan.sizes[0] >= BLOCKS_PER_WORKER * 4 * 2048 and plan.sizes[0] % 2 == 1
    assert plan.sizes[1] == (1 << 16) + 32 and plan.sizes[1] % (64 * 4) and plan.sizes[1] % (64 * 3)
    assert all(misaligned(n, [3, 4]) for n in plan.sizes[:2])
    # every size runs at every worker count, smallest first
    assert plan.schedule() == [(32_801, 3), (32_801, 4), (65_568, 3), (65_568, 4), (1 << 20, 3), (1 << 20, 4)]
    # a block larger than the timing size still runs in parallel: the sizes follow the block
    big = race_plan(32_768, workers=[3, 4], cores=2, runs=2, n_time=65_536)
    assert big.sizes[0] > 4 * 4 * 32_768 and 65_536 not in big.sizes


def test_a_candidate_no_affordable_size_runs_in_parallel_is_not_checkable():
    rows = [{"n": 1 << 20, "bytes": 8 << 20}, {"n": 1 << 19, "bytes": 4 << 20}]
    cap = max_n_within(rows, "bytes", 64 << 20)
    assert cap == 8 << 20
    plan = race_plan(LIBRARY_BLOCK * 2048, workers=[3, 4], cores=2, runs=2, n_time=1 << 20, max_n=cap)
    assert plan.refusal and not plan.sizes and "n = 33,554,4" in plan.refusal and "afford" in plan.refusal
    # a timing size beyond the budget is left out, and said so
    plan = race_plan(64, workers=[3, 4], cores=2, runs=2, n_time=1 << 24, max_n=cap)
    assert plan.sizes == [1041, 2080] and "timing size n = 16,777,216 was not race-checked" in plan.notes[0]
    # quadratic inputs (n x n matrices) extrapolate quadratically
    assert max_n_within([{"n": 512, "bytes": 2 << 20}, {"n": 1024, "bytes": 8 << 20}], "bytes", 32 << 20) == 2048
    # a call's time bounds the size too: 40 ms at n = 2^18, 50x slower under ThreadSanitizer, 20 s: about 2.6 M
    rows = [{"n": 1 << 18, "bytes": 32 << 10, "t": 0.04}]
    assert max_race_n(rows, 256 << 20, 20.0) == int((1 << 18) * 20.0 / TSAN_SLOWDOWN / 0.04)


def test_sizes_grow_until_a_call_lasts_long_enough_for_workers_to_wake():
    assert work_size(1041, 0.0003) == min(1041 * MAX_GROWTH, math.ceil(1041 * MIN_CALL_S / 0.0003))
    assert work_size(32_801, MIN_CALL_S * 0.6) == 32_801  # long enough: no extra size
    plan = race_plan(64, workers=[3, 4], cores=2, runs=2, n_time=1 << 20, n_work=180_000)
    assert plan.sizes[0] >= 180_000 and plan.sizes[0] % 2 and misaligned(plan.sizes[0], [3, 4])
    assert plan.sizes[1] > 1 << 18 and plan.sizes[-1] == 1 << 20
    # growth stops at the memory budget, and says so
    capped = race_plan(64, workers=[3, 4], cores=2, runs=2, n_time=1 << 20, n_work=1 << 22, max_n=1 << 20)
    assert capped.sizes and capped.sizes[-1] <= 1 << 20 and "above the largest affordable" in capped.notes[0]


def test_sizes_grow_as_the_originals_call_grows_with_n():
    # a matrix product: n is the matrix side, a call grows as n^3 (0.125 s at 256, 1.0 s at 512)
    rows = [{"n": 256, "bytes": 1 << 20, "t": 0.125}, {"n": 512, "bytes": 4 << 20, "t": 1.0}]
    assert growth_exponent(rows) == 3.0 and growth_exponent(rows, "bytes") == 2.0
    assert growth_exponent(rows[1:]) is None  # one row says nothing about growth
    # a call of 0.3 ms under ThreadSanitizer at n = 17: linear growth asked for n = 2,834 (about 280 s at
    # n^3); cubic growth for n = 94 (a call of about 50 ms)
    assert work_size(17, 0.0003) == 2834
    assert work_size(17, 0.0003, exponent=3.0) == 94
    # the largest affordable size follows the same exponent: 20 s under ThreadSanitizer (50x) from 1 s at 512
    assert max_race_n(rows, 1 << 30, 20.0) == int(512 * (20.0 / TSAN_SLOWDOWN / 1.0) ** (1 / 3))
    # exponents are clamped to [1, 3]: a noisy sub-linear pair reads as linear, a steeper one as cubic
    assert growth_exponent([{"n": 1000, "t": 0.002}, {"n": 2000, "t": 0.003}]) == 1.0
    assert growth_exponent([{"n": 100, "t": 0.001}, {"n": 200, "t": 0.1}]) == 3.0
