// Reduction of two sums at once (sum and sum of squares), then the variance.
#include <cstdio>
#include <vector>

double variance(const std::vector<double>& x) {
  double sum = 0.0;
  double sumsq = 0.0;
  // parevo: select the loop below
  for (size_t i = 0; i < x.size(); ++i) {
    sum += x[i];
    sumsq += x[i] * x[i];
  }
  if (x.empty()) return 0.0;
  double mean = sum / x.size();
  return sumsq / x.size() - mean * mean;
}

int main() {
  std::vector<double> x(1 << 20);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 1000) * 0.001;
  std::printf("%.6f\n", variance(x));
  return 0;
}
