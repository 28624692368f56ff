// Index of the smallest element (first one on ties): an argmin.
#include <cstdio>
#include <vector>

int argmin(const std::vector<double>& a, int n) {
  double best = a[0];
  int best_i = 0;
  // parevo: select the loop below
  for (int i = 1; i < n; ++i) {
    if (a[i] < best) {
      best = a[i];
      best_i = i;
    }
  }
  return best_i;
}

int main() {
  int n = 1 << 20;
  std::vector<double> a(n);
  for (int i = 0; i < n; ++i) a[i] = static_cast<double>((i * 7919L + 12345) % 100003);
  std::printf("%d\n", argmin(a, n));
  return 0;
}
