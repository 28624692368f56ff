// Graph: connected components by label propagation. Every vertex starts with its own id as
// label and repeatedly takes the smallest label among itself and its CSR neighbours, until no
// label changes (on a directed graph: the smallest id reachable from the vertex).
#include <cstdio>
#include <vector>

void label_propagation(const std::vector<int>& offsets, const std::vector<int>& edges, std::vector<int>& label,
                       int num_vertices) {
  for (int v = 0; v < num_vertices; ++v) label[v] = v;
  bool changed = true;
  // parevo: select the loop below
  while (changed) {
    changed = false;
    for (int v = 0; v < num_vertices; ++v) {
      for (int e = offsets[v]; e < offsets[v + 1]; ++e) {
        int u = edges[e];
        if (label[u] < label[v]) {
          label[v] = label[u];
          changed = true;
        }
      }
    }
  }
}

int main() {
  int nv = 1 << 18;
  std::vector<int> offsets(nv + 1, 0), edges;
  for (int v = 0; v < nv; ++v) {
    for (int k = 0; k < 2; ++k) edges.push_back(static_cast<int>((v * 2654435761u + k * 40503u) % nv));
    offsets[v + 1] = static_cast<int>(edges.size());
  }
  std::vector<int> label(nv);
  label_propagation(offsets, edges, label, nv);
  long check = 0;
  for (int l : label) check += l;
  std::printf("%ld\n", check);
  return 0;
}
