// bench: hand-written OpenMP replacement of the marked loop in l1_distance.cpp
// bench-flags: -fopenmp
#pragma omp parallel for reduction(+ : d)
for (size_t i = 0; i < a.size(); ++i) {
  d += std::fabs(a[i] - b[i]);
}
