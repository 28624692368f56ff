// bench: hand-written OpenMP replacement of the marked loop in gather_scale.cpp
// bench-flags: -fopenmp
#pragma omp parallel for
for (size_t i = 0; i < idx.size(); ++i) {
  y[i] = alpha * x[idx[i]] + beta;
}
