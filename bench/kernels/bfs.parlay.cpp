// bench: expert ParlayLib replacement of the marked loop in bfs.cpp
// bench-includes: <parlay/primitives.h> <parlay/sequence.h> <parlay/slice.h> <atomic>
{
  // frontier BFS in the style of ParlayLib's BFS example: flatten the frontier's out-edges,
  // keep the vertices whose visited flag this step sets
  auto visited = parlay::tabulate<std::atomic<bool>>(num_vertices, [&](long v) { return dist[v] != -1; });
  parlay::sequence<int> front(frontier.begin(), frontier.end());
  int level = 0;
  while (front.size() > 0) {
    level++;
    auto out = parlay::flatten(parlay::map(front, [&](int u) {
      return parlay::make_slice(edges.begin() + offsets[u], edges.begin() + offsets[u + 1]); }));
    front = parlay::filter(out, [&](int v) {
      bool expected = false;
      return !visited[v] && visited[v].compare_exchange_strong(expected, true); });
    parlay::parallel_for(0, front.size(), [&](size_t k) { dist[front[k]] = level; });
  }
  frontier.clear();
}
