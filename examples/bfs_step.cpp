// One bottom-up BFS step on a CSR graph of in-neighbours: an unvisited vertex
// joins the next level if one of its in-neighbours is on the current level.
#include <cstdio>
#include <vector>

void bfs_bottom_up_step(const std::vector<int>& offsets, const std::vector<int>& in_nbrs,
                        const std::vector<int>& dist, std::vector<int>& next,
                        int level, int num_vertices) {
  // parevo: select the loop below
  for (int v = 0; v < num_vertices; ++v) {
    if (dist[v] == -1) {
      for (int e = offsets[v]; e < offsets[v + 1]; ++e) {
        if (dist[in_nbrs[e]] == level) {
          next[v] = level + 1;
          break;
        }
      }
    }
  }
}

int main() {
  int nv = 1 << 16;
  std::vector<int> offsets(nv + 1, 0), in_nbrs;
  for (int v = 0; v < nv; ++v) {
    for (int k = 1; k <= 3; ++k) in_nbrs.push_back((v * 7 + k * 131) % nv);
    offsets[v + 1] = static_cast<int>(in_nbrs.size());
  }
  std::vector<int> dist(nv, -1);
  for (int v = 0; v < nv; v += 5) dist[v] = 2;
  std::vector<int> next(dist);
  bfs_bottom_up_step(offsets, in_nbrs, dist, next, 2, nv);
  long joined = 0;
  for (int v = 0; v < nv; ++v) joined += (next[v] == 3);
  std::printf("%ld\n", joined);
  return 0;
}
