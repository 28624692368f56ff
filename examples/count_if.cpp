// Number of elements inside a band [lo, hi) (a count).
#include <cstdio>
#include <vector>

long count_in_band(const std::vector<double>& a, double lo, double hi) {
  long count = 0;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] >= lo && a[i] < hi) {
      count++;
    }
  }
  return count;
}

int main() {
  std::vector<double> a(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = (i * 7919 % 1000) * 0.001;
  std::printf("%ld\n", count_in_band(a, 0.25, 0.5));
  return 0;
}
