// bench: hand-written OpenMP replacement of the marked loop in jacobi_2d.cpp
// bench-flags: -fopenmp
#pragma omp parallel for
for (int i = 1; i < rows - 1; ++i) {
  for (int j = 1; j < cols - 1; ++j) {
    out[i * cols + j] = 0.25 * (in[(i - 1) * cols + j] + in[(i + 1) * cols + j] +
                                in[i * cols + j - 1] + in[i * cols + j + 1]);
  }
}
