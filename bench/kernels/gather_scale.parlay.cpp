// bench: expert ParlayLib replacement of the marked loop in gather_scale.cpp
// bench-includes: <parlay/parallel.h>
parlay::parallel_for(0, idx.size(), [&](size_t i) {
  y[i] = alpha * x[idx[i]] + beta;
});
