// Map: a damped oscillation evaluated at every sample (compute-bound, independent iterations).
#include <cmath>
#include <cstdio>
#include <vector>

void damped_wave(const std::vector<double>& x, std::vector<double>& y) {
  // parevo: select the loop below
  for (size_t i = 0; i < x.size(); ++i) {
    double t = x[i];
    y[i] = std::exp(-0.5 * t * t) * std::cos(6.0 * t) + 0.1 * std::sin(3.0 * t);
  }
}

int main() {
  std::vector<double> x(1 << 20), y(1 << 20);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 2001) * 0.001 - 1.0;
  damped_wave(x, y);
  double check = 0;
  for (double v : y) check += v;
  std::printf("%.6f\n", check);
  return 0;
}
