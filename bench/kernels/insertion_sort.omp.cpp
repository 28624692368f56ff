// bench: hand-written OpenMP replacement of the marked loop in insertion_sort.cpp
// bench-flags: -fopenmp
// bench-includes: <omp.h> <algorithm>
{
  // sort one chunk per thread, then merge neighbouring runs pairwise in parallel rounds
  const long n = static_cast<long>(a.size());
  const long p = omp_get_max_threads();
  const long chunk = std::max(1L, (n + p - 1) / p);
  #pragma omp parallel for
  for (long t = 0; t < p; ++t) {
    long lo = std::min(n, t * chunk), hi = std::min(n, lo + chunk);
    std::sort(a.begin() + lo, a.begin() + hi);
  }
  for (long width = chunk; width < n; width *= 2) {
    #pragma omp parallel for
    for (long lo = 0; lo < n; lo += 2 * width) {
      long mid = std::min(n, lo + width), hi = std::min(n, lo + 2 * width);
      std::inplace_merge(a.begin() + lo, a.begin() + mid, a.begin() + hi);
    }
  }
}
