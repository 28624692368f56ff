// A racy OpenMP loop: every thread adds to the shared `count` unsynchronized.
#include <vector>

long count_positive(const std::vector<long>& a) {
  long count = 0;
#pragma omp parallel for
  for (long i = 0; i < (long)a.size(); ++i) {
    if (a[i] > 0) count++;
  }
  return count;
}
