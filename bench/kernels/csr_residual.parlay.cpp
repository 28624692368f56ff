// bench: expert ParlayLib replacement of the marked loop in csr_residual.cpp
// bench-includes: <parlay/parallel.h>
parlay::parallel_for(0, rows, [&](int i) {
  double ax = 0.0;
  for (int k = offsets[i]; k < offsets[i + 1]; ++k) ax += vals[k] * x[cols[k]];
  r[i] = b[i] - ax;
});
