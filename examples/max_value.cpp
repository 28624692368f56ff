// Largest value of a vector (a max reduction).
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

double max_value(const std::vector<double>& a, int n) {
  double best = -std::numeric_limits<double>::infinity();
  // parevo: select the loop below
  for (int i = 0; i < n; ++i) {
    best = std::max(best, std::fabs(a[i]));
  }
  return best;
}

int main() {
  int n = 1 << 20;
  std::vector<double> a(n);
  for (int i = 0; i < n; ++i) a[i] = std::sin(i * 0.001) * (i % 17);
  std::printf("%.6f\n", max_value(a, n));
  return 0;
}
