// SAXPY: y = a*x + y over raw arrays (a map: every iteration is independent).
#include <cstddef>
#include <cstdio>
#include <vector>

void saxpy(float a, const float* x, float* y, std::size_t n) {
  // parevo: select the loop below
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = a * x[i] + y[i];
  }
}

int main() {
  const std::size_t n = 1 << 20;
  std::vector<float> x(n), y(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(i % 97) * 0.5f;
    y[i] = static_cast<float>(i % 13);
  }
  saxpy(2.0f, x.data(), y.data(), n);
  double check = 0;
  for (std::size_t i = 0; i < n; ++i) check += y[i];
  std::printf("%.1f\n", check);
  return 0;
}
