// bench: hand-written OpenMP replacement of the marked loop in damped_wave.cpp
// bench-flags: -fopenmp
#pragma omp parallel for
for (size_t i = 0; i < x.size(); ++i) {
  double t = x[i];
  y[i] = std::exp(-0.5 * t * t) * std::cos(6.0 * t) + 0.1 * std::sin(3.0 * t);
}
