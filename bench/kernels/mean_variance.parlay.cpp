// bench: expert ParlayLib replacement of the marked loop in mean_variance.cpp
// bench-includes: <parlay/primitives.h> <parlay/sequence.h> <algorithm> <utility>
{
  // both sums in one pass over blocks, then a pair-monoid reduce of the block sums. (A reduce
  // of a delayed map of pairs, as in ParlayLib's linefit, was 3.5x slower than the serial loop
  // here in a sequential build: the per-element pair combine does not vectorize.)
  using moments = std::pair<double, double>;
  auto add = parlay::binary_op([](moments p, moments q) {
    return moments{p.first + q.first, p.second + q.second}; }, moments{0.0, 0.0});
  const size_t n = x.size(), block = 1 << 13, blocks = (n + block - 1) / block;
  auto parts = parlay::tabulate(blocks, [&](size_t b) {
    double s = 0.0, s2 = 0.0;
    for (size_t i = b * block, e = std::min(n, (b + 1) * block); i < e; ++i) {
      s += x[i];
      s2 += x[i] * x[i];
    }
    return moments{s, s2};
  }, 1);
  auto [s, s2] = parlay::reduce(parts, add);
  sum += s;
  sumsq += s2;
}
