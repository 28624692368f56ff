// bench: hand-written OpenMP replacement of the marked loop in csr_residual.cpp
// bench-flags: -fopenmp
#pragma omp parallel for schedule(dynamic, 256)
for (int i = 0; i < rows; ++i) {
  double ax = 0.0;
  for (int k = offsets[i]; k < offsets[i + 1]; ++k) ax += vals[k] * x[cols[k]];
  r[i] = b[i] - ax;
}
