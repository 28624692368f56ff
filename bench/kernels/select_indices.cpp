// Filter / pack: the indices of the elements that satisfy a predicate, in order.
#include <cstdio>
#include <vector>

void select_indices(const std::vector<double>& a, double threshold, std::vector<int>& out) {
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > threshold) out.push_back(static_cast<int>(i));
  }
}

int main() {
  std::vector<double> a(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = ((i * 2654435761u) % 1000) * 0.001;
  std::vector<int> out;
  select_indices(a, 0.7, out);
  std::printf("%zu %d\n", out.size(), out.empty() ? -1 : out.back());
  return 0;
}
