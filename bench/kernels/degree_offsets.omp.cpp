// bench: hand-written OpenMP replacement of the marked loop in degree_offsets.cpp
// bench-flags: -fopenmp
// bench-includes: <omp.h> <vector>
// The classic two-pass scan: each thread sums its static chunk, the chunk sums are scanned, then
// each thread scans its chunk from its offset. (OpenMP 5.0's `reduction(inscan, +: acc)` with
// `#pragma omp scan` is the one-liner, but with GCC 12 it ran about 10x slower than the serial
// loop here and crashed on an empty loop.)
{
  const long n = static_cast<long>(deg.size());
  std::vector<long> chunk_sum(omp_get_max_threads() + 1, 0);
  #pragma omp parallel
  {
    const int t = omp_get_thread_num(), p = omp_get_num_threads();
    const long lo = n * t / p, hi = n * (t + 1) / p;
    long s = 0;
    for (long i = lo; i < hi; ++i) s += deg[i];
    chunk_sum[t + 1] = s;
    #pragma omp barrier
    #pragma omp single
    for (int k = 1; k <= p; ++k) chunk_sum[k] += chunk_sum[k - 1];
    long acc = off[0] + chunk_sum[t];
    for (long i = lo; i < hi; ++i) {
      acc += deg[i];
      off[i + 1] = acc;
    }
  }
}
