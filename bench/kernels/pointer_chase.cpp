// Not parallelizable: follow a linked list stored as an array of successors (each step needs the
// address the previous step loaded).
#include <cstdio>
#include <vector>

long pointer_chase(const std::vector<int>& next, const std::vector<long>& weight, int start, int steps) {
  long total = 0;
  int at = start;
  // parevo: select the loop below
  for (int s = 0; s < steps; ++s) {
    total += weight[at];
    at = next[at];
  }
  return total;
}

int main() {
  int n = 1 << 20;
  std::vector<int> next(n);
  std::vector<long> weight(n);
  for (int i = 0; i < n; ++i) {
    next[i] = static_cast<int>((i * 2654435761u + 12345u) % n);
    weight[i] = i % 13;
  }
  std::printf("%ld\n", pointer_chase(next, weight, 0, n));
  return 0;
}
