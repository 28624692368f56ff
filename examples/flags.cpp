// Mark which samples exceed a threshold into a std::vector<bool>.
// vector<bool> packs 64 flags per word: writing it from parallel iterations
// is a data race unless each thread owns whole words.
#include <cstdio>
#include <vector>

void mark_above(const std::vector<double>& samples, double threshold, std::vector<bool>& out) {
  // parevo: select the loop below
  for (size_t i = 0; i < samples.size(); ++i) {
    out[i] = samples[i] > threshold;
  }
}

int main() {
  std::vector<double> samples(1 << 20);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = (i * 40503 % 1000) * 0.001;
  std::vector<bool> out(samples.size());
  mark_above(samples, 0.7, out);
  long count = 0, weighted = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    count += out[i];
    weighted += out[i] ? static_cast<long>(i % 1000) : 0;
  }
  std::printf("%ld %ld\n", count, weighted);
  return 0;
}
