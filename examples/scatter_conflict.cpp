// Scatter a[i] to out[idx[i]]: several i may share a slot, the last one wins
// (a write conflict; the result depends on iteration order).
#include <cstdio>
#include <vector>

void scatter(const std::vector<int>& idx, const std::vector<double>& a, std::vector<double>& out) {
  // parevo: select the loop below
  for (size_t i = 0; i < idx.size(); ++i) {
    out[idx[i]] = a[i];
  }
}

int main() {
  std::vector<int> idx(1 << 20);
  std::vector<double> a(idx.size()), out(1 << 12, 0.0);
  for (size_t i = 0; i < idx.size(); ++i) {
    idx[i] = static_cast<int>((i * 2654435761u) % out.size());
    a[i] = static_cast<double>(i);
  }
  scatter(idx, a, out);
  double check = 0;
  for (size_t k = 0; k < out.size(); ++k) check += out[k] * (k % 3);
  std::printf("%.1f\n", check);
  return 0;
}
