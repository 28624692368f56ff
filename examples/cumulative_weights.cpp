// Cumulative distribution of Boltzmann weights (an inclusive scan):
// cdf[i] = w[0] + ... + w[i] with w[k] = exp(-energy[k] / temperature).
// A sampler then binary-searches cdf to draw states in proportion to their weights.
#include <cmath>
#include <cstdio>
#include <vector>

double boltzmann_cdf(const std::vector<double>& energy, double temperature, std::vector<double>& cdf) {
  double acc = 0.0;
  // parevo: select the loop below
  for (size_t i = 0; i < energy.size(); ++i) {
    acc += std::exp(-energy[i] / temperature);
    cdf[i] = acc;
  }
  return acc;
}

int main() {
  std::vector<double> energy(1 << 20), cdf(energy.size());
  for (size_t i = 0; i < energy.size(); ++i) energy[i] = static_cast<double>((i * 7919) % 1000) / 250.0;
  double total = boltzmann_cdf(energy, 1.5, cdf);
  std::printf("%.6f %.6f\n", total, cdf[12345] / total);
  return 0;
}
