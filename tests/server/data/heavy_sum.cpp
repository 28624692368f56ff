// A compute-bound reduction: enough work per element that two threads win
// clearly even on a busy machine (the language-server tests need a verified
// speedup, and parevo never offers a rewrite that is not faster).
#include <cmath>
#include <vector>

double heavy_sum(const std::vector<double>& a) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += std::sin(a[i]) * std::cos(a[i]) + std::sqrt(a[i] * a[i] + 1.0);
  }
  return s;
}
