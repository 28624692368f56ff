// Not parallelizable: the trajectory of the logistic map x <- r x (1 - x), a nonlinear recurrence
// (every step needs the previous one; no associative operator combines steps).
#include <cstdio>
#include <vector>

void logistic_trajectory(double x0, double r, std::vector<double>& traj) {
  double x = x0;
  // parevo: select the loop below
  for (size_t i = 0; i < traj.size(); ++i) {
    x = r * x * (1.0 - x);
    traj[i] = x;
  }
}

int main() {
  std::vector<double> traj(1 << 20);
  logistic_trajectory(0.2, 3.7, traj);
  double check = 0;
  for (double v : traj) check += v;
  std::printf("%.6f\n", check);
  return 0;
}
