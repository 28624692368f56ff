// bench: hand-written OpenMP replacement of the marked loop in find_key.cpp
// bench-flags: -fopenmp
{
  // a min-reduction over every match (OpenMP has no early exit out of a worksharing loop)
  long first = static_cast<long>(a.size());
  #pragma omp parallel for reduction(min : first)
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == key && static_cast<long>(i) < first) first = static_cast<long>(i);
  }
  if (first < static_cast<long>(a.size())) return first;
}
