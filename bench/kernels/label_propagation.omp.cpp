// bench: hand-written OpenMP replacement of the marked loop in label_propagation.cpp
// bench-flags: -fopenmp
{
  // in place, asynchronously: each vertex pulls the smallest label of its neighbours with
  // relaxed atomic loads (labels only decrease; only v's own iteration writes label[v]), so
  // labels move several hops per round like in the serial sweep; stop after a round without change
  while (changed) {
    changed = false;
    #pragma omp parallel for schedule(dynamic, 1024) reduction(|| : changed)
    for (int v = 0; v < num_vertices; ++v) {
      const int old = __atomic_load_n(&label[v], __ATOMIC_RELAXED);
      int best = old;
      for (int e = offsets[v]; e < offsets[v + 1]; ++e) {
        const int l = __atomic_load_n(&label[edges[e]], __ATOMIC_RELAXED);
        if (l < best) best = l;
      }
      if (best < old) {
        __atomic_store_n(&label[v], best, __ATOMIC_RELAXED);
        changed = true;
      }
    }
  }
}
