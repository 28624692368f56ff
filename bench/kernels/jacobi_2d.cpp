// Stencil: one Jacobi sweep of a 5-point stencil on a rows x cols grid (row-major).
#include <cstdio>
#include <vector>

void jacobi_step(const std::vector<double>& in, std::vector<double>& out, int rows, int cols) {
  // parevo: select the loop below
  for (int i = 1; i < rows - 1; ++i) {
    for (int j = 1; j < cols - 1; ++j) {
      out[i * cols + j] = 0.25 * (in[(i - 1) * cols + j] + in[(i + 1) * cols + j] +
                                  in[i * cols + j - 1] + in[i * cols + j + 1]);
    }
  }
}

int main() {
  int rows = 1024, cols = 1024;
  std::vector<double> in(rows * cols), out(rows * cols, 0.0);
  for (int k = 0; k < rows * cols; ++k) in[k] = (k % 17) * 0.25;
  jacobi_step(in, out, rows, cols);
  double check = 0;
  for (double v : out) check += v;
  std::printf("%.4f\n", check);
  return 0;
}
