// bench: hand-written OpenMP replacement of the marked loop in key_histogram.cpp
// bench-flags: -fopenmp
{
  // array-section reduction (OpenMP 4.5): each thread counts into a private copy of the bins
  long* h = hist.data();
  const size_t bins = hist.size();
  #pragma omp parallel for reduction(+ : h[:bins])
  for (size_t i = 0; i < keys.size(); ++i) {
    h[keys[i]] += 1;
  }
}
