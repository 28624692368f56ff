// Keep the positive elements, in order (a filter / pack).
#include <cstdio>
#include <vector>

void filter_positive(const std::vector<double>& a, std::vector<double>& out) {
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > 0.0) {
      out.push_back(a[i]);
    }
  }
}

int main() {
  std::vector<double> a(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<double>(static_cast<long>(i * 37 % 201) - 100);
  std::vector<double> out;
  filter_positive(a, out);
  double check = 0;
  for (size_t i = 0; i < out.size(); ++i) check += out[i] * (i % 7);
  std::printf("%zu %.1f\n", out.size(), check);
  return 0;
}
