#include <cstddef>
#include <vector>
#define FOR(i, n) for (size_t i = 0; i < (n); ++i)

double sum_squares(const std::vector<double>& a) {
  double s = 0;
  FOR(i, a.size()) {
    s += a[i] * a[i];
  }
  return s;
}
