// bench: expert ParlayLib replacement of the marked loop in nearest_point.cpp
// bench-includes: <parlay/primitives.h> <parlay/delayed.h> <limits> <utility>
{
  // reduce (distance, index) pairs with a min monoid: the smaller distance wins, on a tie the
  // smaller index (pairs compare lexicographically), so the result is the serial loop's first minimum
  using cand = std::pair<double, long>;
  auto closer = parlay::binary_op([](cand a, cand b) { return b < a ? b : a; },
                                  cand{std::numeric_limits<double>::infinity(), -1});
  auto [d, i] = parlay::reduce(parlay::delayed_tabulate(xs.size(), [&](size_t k) {
    double dx = xs[k] - qx, dy = ys[k] - qy;
    return cand{dx * dx + dy * dy, static_cast<long>(k)};
  }), closer);
  if (i >= 0 && d < best_d) {
    best_d = d;
    best = i;
  }
}
