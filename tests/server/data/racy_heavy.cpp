// A racy parallel reduction: every worker adds to `s` without synchronization
// (a lost-update data race). Enough work per element that a correct parallel
// version wins clearly: the race fix's search of its serial meaning verifies one.
#include <cmath>
#include <parlay/parallel.h>
#include <vector>

double racy_heavy_sum(const std::vector<double>& a) {
  double s = 0.0;
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    s += std::sin(a[i]) * std::cos(a[i]) + std::sqrt(a[i] * a[i] + 1.0);
  });
  return s;
}
