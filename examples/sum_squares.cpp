// Sum of squares of a vector (a + reduction).
#include <cstdio>
#include <vector>

double sum_squares(const std::vector<double>& a) {
  double s = 0.0;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    s += a[i] * a[i];
  }
  return s;
}

int main() {
  std::vector<double> a(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = (i % 1000) * 0.001;
  std::printf("%.6f\n", sum_squares(a));
  return 0;
}
