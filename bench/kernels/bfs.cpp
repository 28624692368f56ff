// Graph: breadth-first search distances from a source on a CSR graph, one frontier at a time.
#include <cstdio>
#include <vector>

void bfs(const std::vector<int>& offsets, const std::vector<int>& edges, int source, std::vector<int>& dist,
         int num_vertices) {
  for (int v = 0; v < num_vertices; ++v) dist[v] = -1;
  dist[source] = 0;
  std::vector<int> frontier(1, source);
  // parevo: select the loop below
  while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier) {
      for (int e = offsets[u]; e < offsets[u + 1]; ++e) {
        int v = edges[e];
        if (dist[v] == -1) {
          dist[v] = dist[u] + 1;
          next.push_back(v);
        }
      }
    }
    frontier.swap(next);
  }
}

int main() {
  int nv = 1 << 18;
  std::vector<int> offsets(nv + 1, 0), edges;
  for (int v = 0; v < nv; ++v) {
    for (int k = 0; k < 4; ++k) edges.push_back(static_cast<int>((v * 2654435761u + k * 40503u) % nv));
    offsets[v + 1] = static_cast<int>(edges.size());
  }
  std::vector<int> dist(nv);
  bfs(offsets, edges, 0, dist, nv);
  long reached = 0, total = 0;
  for (int d : dist) if (d >= 0) { reached++; total += d; }
  std::printf("%ld %ld\n", reached, total);
  return 0;
}
