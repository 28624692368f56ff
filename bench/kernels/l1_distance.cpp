// Reduction (+, double): the L1 distance between two vectors.
#include <cmath>
#include <cstdio>
#include <vector>

double l1_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0.0;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    d += std::fabs(a[i] - b[i]);
  }
  return d;
}

int main() {
  std::vector<double> a(1 << 20), b(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = (i % 101) * 0.01;
    b[i] = (i % 37) * 0.02;
  }
  std::printf("%.6f\n", l1_distance(a, b));
  return 0;
}
