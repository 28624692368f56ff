// Histogram: count keys into bins (writes at computed indices, hist[keys[i]]++).
#include <cstdio>
#include <vector>

void key_histogram(const std::vector<int>& keys, std::vector<long>& hist) {
  // parevo: select the loop below
  for (size_t i = 0; i < keys.size(); ++i) {
    hist[keys[i]] += 1;
  }
}

int main() {
  std::vector<int> keys(1 << 20);
  std::vector<long> hist(1024, 0);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<int>((i * 2654435761u) % 1024);
  key_histogram(keys, hist);
  long check = 0;
  for (size_t b = 0; b < hist.size(); ++b) check += hist[b] * static_cast<long>(b);
  std::printf("%ld\n", check);
  return 0;
}
