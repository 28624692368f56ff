// Index of the first element equal to target, or -1 (an early-exit search).
#include <cstdio>
#include <vector>

long find_first(const std::vector<int>& a, int target) {
  // parevo: select the loop below
  for (long i = 0; i < static_cast<long>(a.size()); ++i) {
    if (a[i] == target) {
      return i;
    }
  }
  return -1;
}

int main() {
  std::vector<int> a(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int>(i % 100000);
  std::printf("%ld %ld\n", find_first(a, 77777), find_first(a, -5));
  return 0;
}
