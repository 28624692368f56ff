// bench: expert ParlayLib replacement of the marked loop in degree_offsets.cpp
// bench-includes: <parlay/primitives.h> <parlay/sequence.h> <algorithm>
{
  // blocked scan, reading the degrees twice and writing the offsets once: block sums in
  // parallel, an exclusive scan of the (few) block sums, then each block scans serially
  const size_t n = deg.size(), block = 1 << 14, blocks = (n + block - 1) / block;
  auto sums = parlay::tabulate(blocks, [&](size_t b) {
    long s = 0;
    for (size_t i = b * block; i < std::min(n, (b + 1) * block); ++i) s += deg[i];
    return s;
  }, 1);
  parlay::scan_inplace(sums);
  parlay::parallel_for(0, blocks, [&](size_t b) {
    long acc = off[0] + sums[b];
    for (size_t i = b * block; i < std::min(n, (b + 1) * block); ++i) {
      acc += deg[i];
      off[i + 1] = acc;
    }
  }, 1);
}
