// First-order linear recurrence x[i] = x[i-1]*a + b[i]: each iteration needs
// the previous one's result (a loop-carried dependence).
#include <cstdio>
#include <vector>

void recurrence(std::vector<double>& x, const std::vector<double>& b, double a, int n) {
  // parevo: select the loop below
  for (int i = 1; i < n; ++i) {
    x[i] = x[i - 1] * a + b[i];
  }
}

int main() {
  int n = 1 << 20;
  std::vector<double> x(n, 0.0), b(n);
  for (int i = 0; i < n; ++i) b[i] = (i % 7) * 0.125;
  x[0] = 1.0;
  recurrence(x, b, 0.5, n);
  std::printf("%.6f %.6f\n", x[n / 2], x[n - 1]);
  return 0;
}
