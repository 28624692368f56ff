// CSR sparse matrix: the residual r = b - A*x, one row at a time.
#include <cstdio>
#include <vector>

void csr_residual(const std::vector<int>& offsets, const std::vector<int>& cols, const std::vector<double>& vals,
                  const std::vector<double>& x, const std::vector<double>& b, std::vector<double>& r,
                  int rows) {
  // parevo: select the loop below
  for (int i = 0; i < rows; ++i) {
    double ax = 0.0;
    for (int k = offsets[i]; k < offsets[i + 1]; ++k) ax += vals[k] * x[cols[k]];
    r[i] = b[i] - ax;
  }
}

int main() {
  int rows = 1 << 16;
  std::vector<int> offsets(rows + 1, 0), cols;
  std::vector<double> vals;
  for (int i = 0; i < rows; ++i) {
    for (int k = 0; k < 1 + i % 7; ++k) {
      cols.push_back((i * 31 + k * 977) % rows);
      vals.push_back(0.25 + k);
    }
    offsets[i + 1] = static_cast<int>(cols.size());
  }
  std::vector<double> x(rows, 1.0), b(rows, 2.0), r(rows);
  csr_residual(offsets, cols, vals, x, b, r, rows);
  double check = 0;
  for (double v : r) check += v;
  std::printf("%.3f\n", check);
  return 0;
}
