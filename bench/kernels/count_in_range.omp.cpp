// bench: hand-written OpenMP replacement of the marked loop in count_in_range.cpp
// bench-flags: -fopenmp
#pragma omp parallel for reduction(+ : count)
for (size_t i = 0; i < a.size(); ++i) {
  if (a[i] >= lo && a[i] < hi) count++;
}
