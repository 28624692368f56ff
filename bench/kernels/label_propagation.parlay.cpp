// bench: expert ParlayLib replacement of the marked loop in label_propagation.cpp
// bench-includes: <parlay/primitives.h> <parlay/sequence.h> <algorithm> <atomic>
{
  // in place, asynchronously, on a sequence of atomic labels (as ParlayLib's BFS keeps atomic
  // flags): each vertex pulls the smallest label of its neighbours; labels only decrease and
  // only v's own task writes label v, so relaxed loads and stores suffice
  auto lab = parlay::tabulate<std::atomic<int>>(num_vertices, [&](long v) { return label[v]; });
  while (changed) {
    std::atomic<bool> any{false};
    parlay::parallel_for(0, num_vertices, [&](int v) {
      const int old = lab[v].load(std::memory_order_relaxed);
      int best = old;
      for (int e = offsets[v]; e < offsets[v + 1]; ++e)
        best = std::min(best, lab[edges[e]].load(std::memory_order_relaxed));
      if (best < old) {
        lab[v].store(best, std::memory_order_relaxed);
        if (!any.load(std::memory_order_relaxed)) any.store(true, std::memory_order_relaxed);
      }
    });
    changed = any.load();
  }
  parlay::parallel_for(0, num_vertices, [&](int v) { label[v] = lab[v].load(std::memory_order_relaxed); });
}
