// A racy ParlayLib loop: every worker adds to the shared `total` without
// synchronization (a lost-update data race). parevo's "Check for data races"
// must report it at both access sites.
#include <parlay/parallel.h>
#include <vector>

long total = 0;

long racy_sum(const std::vector<long>& a) {
  total = 0;
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    total += a[i];
  });
  return total;
}
