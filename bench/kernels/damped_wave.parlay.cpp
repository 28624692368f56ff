// bench: expert ParlayLib replacement of the marked loop in damped_wave.cpp
// bench-includes: <parlay/parallel.h>
parlay::parallel_for(0, x.size(), [&](size_t i) {
  double t = x[i];
  y[i] = std::exp(-0.5 * t * t) * std::cos(6.0 * t) + 0.1 * std::sin(3.0 * t);
});
