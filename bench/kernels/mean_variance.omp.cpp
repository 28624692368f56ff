// bench: hand-written OpenMP replacement of the marked loop in mean_variance.cpp
// bench-flags: -fopenmp
#pragma omp parallel for reduction(+ : sum, sumsq)
for (size_t i = 0; i < x.size(); ++i) {
  sum += x[i];
  sumsq += x[i] * x[i];
}
