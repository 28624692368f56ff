// Argmin: the index of the point nearest to a query point (first one on ties).
#include <cstdio>
#include <vector>

long nearest_point(const std::vector<double>& xs, const std::vector<double>& ys, double qx, double qy) {
  long best = -1;
  double best_d = 1e300;
  // parevo: select the loop below
  for (size_t i = 0; i < xs.size(); ++i) {
    double dx = xs[i] - qx, dy = ys[i] - qy;
    double d = dx * dx + dy * dy;
    if (d < best_d) {
      best_d = d;
      best = static_cast<long>(i);
    }
  }
  return best;
}

int main() {
  std::vector<double> xs(1 << 20), ys(1 << 20);
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i] = ((i * 2654435761u) % 10007) * 1e-4;
    ys[i] = ((i * 40503u) % 10009) * 1e-4;
  }
  std::printf("%ld\n", nearest_point(xs, ys, 0.5, 0.25));
  return 0;
}
