// Map with an indirect read: y[i] = alpha * x[idx[i]] + beta (a gather).
#include <cstdio>
#include <vector>

void gather_scale(const std::vector<float>& x, const std::vector<int>& idx, std::vector<float>& y,
                  float alpha, float beta) {
  // parevo: select the loop below
  for (size_t i = 0; i < idx.size(); ++i) {
    y[i] = alpha * x[idx[i]] + beta;
  }
}

int main() {
  int n = 1 << 20;
  std::vector<float> x(4096), y(n);
  std::vector<int> idx(n);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 97) * 0.5f;
  for (int i = 0; i < n; ++i) idx[i] = static_cast<int>((i * 7919L) % 4096);
  gather_scale(x, idx, y, 2.0f, 1.0f);
  double check = 0;
  for (float v : y) check += v;
  std::printf("%.3f\n", check);
  return 0;
}
