// Byte histogram: hist[keys[i]]++ over 256 bins (hist.size() bins).
#include <cstdint>
#include <cstdio>
#include <vector>

void byte_histogram(const std::vector<uint8_t>& keys, std::vector<long>& hist) {
  // parevo: select the loop below
  for (size_t i = 0; i < keys.size(); ++i) {
    hist[keys[i]]++;
  }
}

int main() {
  std::vector<uint8_t> keys(1 << 20);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
  std::vector<long> hist(256, 0);
  byte_histogram(keys, hist);
  long check = 0;
  for (size_t b = 0; b < hist.size(); ++b) check += hist[b] * static_cast<long>(b);
  std::printf("%ld %ld\n", hist[0], check);
  return 0;
}
