// Scan: CSR offsets from vertex degrees (off[i+1] = off[i] + deg[i], a prefix sum).
#include <cstdio>
#include <vector>

void degree_offsets(const std::vector<int>& deg, std::vector<long>& off) {
  off[0] = 0;
  // parevo: select the loop below
  for (size_t i = 0; i < deg.size(); ++i) {
    off[i + 1] = off[i] + deg[i];
  }
}

int main() {
  std::vector<int> deg(1 << 20);
  for (size_t i = 0; i < deg.size(); ++i) deg[i] = static_cast<int>(i % 9);
  std::vector<long> off(deg.size() + 1);
  degree_offsets(deg, off);
  std::printf("%ld\n", off.back());
  return 0;
}
