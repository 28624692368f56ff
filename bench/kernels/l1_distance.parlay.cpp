// bench: expert ParlayLib replacement of the marked loop in l1_distance.cpp
// bench-includes: <parlay/primitives.h> <parlay/delayed.h>
d += parlay::reduce(parlay::delayed_tabulate(a.size(), [&](size_t i) {
  return std::fabs(a[i] - b[i]);
}));
