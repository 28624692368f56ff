// Loops parevo cannot run in its harness: each gets a disabled action with the reason.
#include <map>
#include <vector>

void scale(std::vector<double>& a, double k) {
  auto apply = [&](double f) {
    for (size_t i = 0; i < a.size(); ++i) a[i] *= f;
  };
  apply(k);
}

void count_keys(const std::vector<int>& keys, std::map<int, int>& seen) {
  for (size_t i = 0; i < keys.size(); ++i) seen[keys[i]] += 1;
}

void twice(std::vector<double>& a) {
  for (size_t i = 0; i < a.size(); ++i) a[i] *= 2.0;
}

int main() {
  std::vector<double> a(1000);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 0.5 * i;
  twice(a);
  scale(a, 3.0);
  return a[10] > 0 ? 0 : 1;
}
