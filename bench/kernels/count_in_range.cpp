// Reduction (+, integer count): how many values fall in [lo, hi).
#include <cstdio>
#include <vector>

long count_in_range(const std::vector<int>& a, int lo, int hi) {
  long count = 0;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] >= lo && a[i] < hi) count++;
  }
  return count;
}

int main() {
  std::vector<int> a(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int>((i * 2654435761u) % 1000);
  std::printf("%ld\n", count_in_range(a, 100, 400));
  return 0;
}
