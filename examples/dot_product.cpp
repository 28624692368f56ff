// Dot product of two raw arrays (a + reduction over pointer+size inputs).
#include <cstdio>
#include <vector>

double dot(const double* x, const double* y, int n) {
  double result = 0.0;
  // parevo: select the loop below
  for (int i = 0; i < n; i++) {
    result = result + x[i] * y[i];
  }
  return result;
}

int main() {
  int n = 1 << 20;
  std::vector<double> x(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = (i % 100) * 0.01;
    y[i] = (i % 37) * 0.1;
  }
  std::printf("%.6f\n", dot(x.data(), y.data(), n));
  return 0;
}
