// bench: expert ParlayLib replacement of the marked loop in matmul.cpp
// bench-includes: <parlay/parallel.h>
if (n > 0) {
  // one row of C per task (granularity 1: a row is n^2 multiply-adds)
  parlay::parallel_for(0, n, [&](int i) {
    double* c = &C[i * n];
    for (int j = 0; j < n; ++j) c[j] = 0.0;
    for (int k = 0; k < n; ++k) {
      double aik = A[i * n + k];
      const double* b = &B[k * n];
      for (int j = 0; j < n; ++j) c[j] += aik * b[j];
    }
  }, 1);
}
