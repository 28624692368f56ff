// Euclidean length of 3-D points stored as std::array<double, 3> (a map).
#include <array>
#include <cmath>
#include <cstdio>
#include <vector>

void vec3_norms(const std::vector<std::array<double, 3>>& pts, std::vector<double>& norms) {
  // parevo: select the loop below
  for (size_t i = 0; i < pts.size(); ++i) {
    norms[i] = std::sqrt(pts[i][0] * pts[i][0] + pts[i][1] * pts[i][1] + pts[i][2] * pts[i][2]);
  }
}

int main() {
  std::vector<std::array<double, 3>> pts(1 << 20);
  for (size_t i = 0; i < pts.size(); ++i)
    pts[i] = {static_cast<double>(i % 7), static_cast<double>(i % 11) * 0.5, 1.0};
  std::vector<double> norms(pts.size());
  vec3_norms(pts, norms);
  double check = 0;
  for (double v : norms) check += v;
  std::printf("%.6f\n", check);
  return 0;
}
