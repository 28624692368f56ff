// bench: hand-written OpenMP replacement of the marked loop in select_indices.cpp
// bench-flags: -fopenmp
// bench-includes: <omp.h> <algorithm>
{
  // each thread packs its contiguous static chunk; chunks are concatenated in thread order
  std::vector<std::vector<int>> parts(omp_get_max_threads());
  #pragma omp parallel
  {
    std::vector<int>& mine = parts[omp_get_thread_num()];
    #pragma omp for schedule(static)
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] > threshold) mine.push_back(static_cast<int>(i));
    }
  }
  std::vector<size_t> start(parts.size() + 1, out.size());
  for (size_t t = 0; t < parts.size(); ++t) start[t + 1] = start[t] + parts[t].size();
  out.resize(start.back());
  #pragma omp parallel for
  for (size_t t = 0; t < parts.size(); ++t) {
    std::copy(parts[t].begin(), parts[t].end(), out.begin() + start[t]);
  }
}
