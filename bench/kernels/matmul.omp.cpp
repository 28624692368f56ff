// bench: hand-written OpenMP replacement of the marked loop in matmul.cpp
// bench-flags: -fopenmp
#pragma omp parallel for
for (int i = 0; i < n; ++i) {
  for (int j = 0; j < n; ++j) C[i * n + j] = 0.0;
  for (int k = 0; k < n; ++k) {
    double aik = A[i * n + k];
    for (int j = 0; j < n; ++j) C[i * n + j] += aik * B[k * n + j];
  }
}
