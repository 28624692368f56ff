// Explicit Euler step for particles under a spring force (map over structs).
#include <cstdio>
#include <vector>

struct Particle {
  double x;
  double v;
  double mass;
};

void step(std::vector<Particle>& ps, double dt, double k) {
  // parevo: select the loop below
  for (size_t i = 0; i < ps.size(); ++i) {
    double force = -k * ps[i].x;
    ps[i].v += dt * force / ps[i].mass;
    ps[i].x += dt * ps[i].v;
  }
}

int main() {
  std::vector<Particle> ps(1 << 18);
  for (size_t i = 0; i < ps.size(); ++i) ps[i] = {static_cast<double>(i % 100), 0.0, 1.0 + i % 3};
  for (int t = 0; t < 10; ++t) step(ps, 0.01, 2.0);
  double check = 0;
  for (const Particle& p : ps) check += p.x + p.v;
  std::printf("%.6f\n", check);
  return 0;
}
