// Dense matrix product C = A * B of n x n row-major matrices (i-k-j order).
#include <cstdio>
#include <vector>

void matmul(const std::vector<double>& A, const std::vector<double>& B, std::vector<double>& C, int n) {
  // parevo: select the loop below
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) C[i * n + j] = 0.0;
    for (int k = 0; k < n; ++k) {
      double aik = A[i * n + k];
      for (int j = 0; j < n; ++j) C[i * n + j] += aik * B[k * n + j];
    }
  }
}

int main() {
  int n = 256;
  std::vector<double> A(n * n), B(n * n), C(n * n);
  for (int k = 0; k < n * n; ++k) {
    A[k] = (k % 13) * 0.1;
    B[k] = (k % 7) * 0.2;
  }
  matmul(A, B, C, n);
  double check = 0;
  for (double v : C) check += v;
  std::printf("%.3f\n", check);
  return 0;
}
