// Dense matrix-vector product y = M*x with M as a vector of rows (loop nest).
#include <cstdio>
#include <vector>

void matvec(const std::vector<std::vector<double>>& m, const std::vector<double>& x,
            std::vector<double>& y) {
  // parevo: select the loop below
  for (size_t i = 0; i < m.size(); ++i) {
    double acc = 0.0;
    for (size_t j = 0; j < x.size(); ++j) {
      acc += m[i][j] * x[j];
    }
    y[i] = acc;
  }
}

int main() {
  size_t rows = 1024, cols = 1024;
  std::vector<std::vector<double>> m(rows, std::vector<double>(cols));
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j) m[i][j] = ((i + 3 * j) % 17) * 0.25;
  std::vector<double> x(cols, 0.5), y(rows, 0.0);
  matvec(m, x, y);
  double check = 0;
  for (size_t i = 0; i < rows; ++i) check += y[i] * (i % 5);
  std::printf("%.3f\n", check);
  return 0;
}
