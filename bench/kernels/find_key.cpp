// Search with an early exit: the position of the first element equal to a key, or -1.
#include <cstdio>
#include <vector>

long find_key(const std::vector<long>& a, long key) {
  // parevo: select the loop below
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == key) return static_cast<long>(i);
  }
  return -1;
}

int main() {
  std::vector<long> a(1 << 20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<long>((i * 2654435761u) % 1000003);
  std::printf("%ld %ld\n", find_key(a, a[777777]), find_key(a, -5));
  return 0;
}
