// bench: hand-written OpenMP replacement of the marked loop in bfs.cpp
// bench-flags: -fopenmp
// bench-includes: <algorithm>
{
  // level-synchronous: the frontier's edges in parallel, a vertex is claimed by a
  // compare-and-swap on its distance, each thread collects its claims, then they are appended
  std::vector<int> next;
  while (!frontier.empty()) {
    next.clear();
    #pragma omp parallel
    {
      std::vector<int> local;
      #pragma omp for schedule(dynamic, 64) nowait
      for (size_t k = 0; k < frontier.size(); ++k) {
        int u = frontier[k];
        int du = dist[u];
        for (int e = offsets[u]; e < offsets[u + 1]; ++e) {
          int v = edges[e];
          int expected = -1;
          if (__atomic_load_n(&dist[v], __ATOMIC_RELAXED) == -1 &&
              __atomic_compare_exchange_n(&dist[v], &expected, du + 1, false, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED)) {
            local.push_back(v);
          }
        }
      }
      #pragma omp critical
      next.insert(next.end(), local.begin(), local.end());
    }
    frontier.swap(next);
  }
}
