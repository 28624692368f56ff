// 1-D three-point averaging stencil (a map that reads neighbours of the input).
#include <cstdio>
#include <vector>

void smooth(const std::vector<double>& in, std::vector<double>& out, int n) {
  // parevo: select the loop below
  for (int i = 1; i < n - 1; ++i) {
    out[i] = (in[i - 1] + in[i] + in[i + 1]) / 3.0;
  }
}

int main() {
  int n = 1 << 20;
  std::vector<double> in(n), out(n, 0.0);
  for (int i = 0; i < n; ++i) in[i] = (i % 11) * 0.5;
  smooth(in, out, n);
  double check = 0;
  for (int i = 0; i < n; ++i) check += out[i];
  std::printf("%.6f\n", check);
  return 0;
}
