// Are all elements strictly positive? (a logical-and reduction)
#include <cstdio>
#include <vector>

bool all_positive(const std::vector<int>& a) {
  bool ok = true;
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] > 0)) {
      ok = false;
    }
  }
  return ok;
}

int main() {
  std::vector<int> a(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 1 + static_cast<int>(i % 50);
  std::printf("%d\n", all_positive(a) ? 1 : 0);
  a[a.size() / 2] = -3;
  std::printf("%d\n", all_positive(a) ? 1 : 0);
  return 0;
}
