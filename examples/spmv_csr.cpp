// Sparse matrix-vector product y = A*x with A in CSR form (outer loop over rows).
#include <cstdio>
#include <vector>

void spmv(const std::vector<int>& offsets, const std::vector<int>& cols,
          const std::vector<double>& vals, const std::vector<double>& x,
          std::vector<double>& y, int rows) {
  // parevo: select the loop below
  for (int i = 0; i < rows; ++i) {
    double sum = 0.0;
    for (int j = offsets[i]; j < offsets[i + 1]; ++j) {
      sum += vals[j] * x[cols[j]];
    }
    y[i] = sum;
  }
}

int main() {
  int rows = 1 << 16;
  std::vector<int> offsets(rows + 1, 0), cols;
  std::vector<double> vals;
  for (int i = 0; i < rows; ++i) {
    for (int k = 0; k < 1 + i % 9; ++k) {
      cols.push_back((i * 31 + k * 977) % rows);
      vals.push_back(0.5 + k);
    }
    offsets[i + 1] = static_cast<int>(cols.size());
  }
  std::vector<double> x(rows, 1.5), y(rows, 0.0);
  spmv(offsets, cols, vals, x, y, rows);
  double check = 0;
  for (int i = 0; i < rows; ++i) check += y[i];
  std::printf("%.3f\n", check);
  return 0;
}
