// bench: expert ParlayLib replacement of the marked loop in key_histogram.cpp
// bench-includes: <parlay/primitives.h> <parlay/sequence.h> <algorithm>
{
  // few bins: per-block counts, then one parallel pass over the bins that adds the blocks up
  // (parlay::histogram_by_index is built for many bins and is slower here)
  const size_t n = keys.size(), bins = hist.size();
  const size_t blocks = std::min<size_t>(1 + n / 8192, 4 * parlay::num_workers());
  const size_t block_size = (n + blocks - 1) / blocks;
  auto counts = parlay::tabulate(blocks, [&](size_t b) {
    parlay::sequence<long> c(bins, 0);
    long* cb = c.data();
    const int* k = keys.data();
    for (size_t i = b * block_size, e = std::min(n, (b + 1) * block_size); i < e; ++i) cb[k[i]]++;
    return c;
  }, 1);
  parlay::parallel_for(0, bins, [&](size_t j) {
    long total = 0;
    for (size_t b = 0; b < blocks; ++b) total += counts[b][j];
    hist[j] += total;
  });
}
