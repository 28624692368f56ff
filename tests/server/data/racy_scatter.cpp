// A racy scatter: iterations whose indices collide write the same element of
// `out` at once (a write-write data race); the read of `out[idx[i]]` races too.
#include <parlay/parallel.h>
#include <vector>

void scatter_add(std::vector<double>& out, const std::vector<int>& idx, const std::vector<double>& v) {
  parlay::parallel_for(0, idx.size(), [&](size_t i) {
    double x = v[i] * 2.0;
    out[idx[i]] += x;
  });
}
