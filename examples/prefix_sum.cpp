// Inclusive prefix sum: out[i] = a[0] + ... + a[i] (a scan).
#include <cstdio>
#include <vector>

long prefix_sum(const std::vector<long>& a, std::vector<long>& out) {
  long acc = 0;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    acc += a[i];
    out[i] = acc;
  }
  return acc;
}

int main() {
  std::vector<long> a(1 << 20), out(a.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<long>(i % 100) - 40;
  long total = prefix_sum(a, out);
  std::printf("%ld %ld %ld\n", total, out[12345], out.back());
  return 0;
}
