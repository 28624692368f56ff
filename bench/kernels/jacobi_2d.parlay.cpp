// bench: expert ParlayLib replacement of the marked loop in jacobi_2d.cpp
// bench-includes: <parlay/parallel.h>
if (rows > 2) {
  // rows in parallel, each row's inner loop serial (it vectorizes)
  parlay::parallel_for(1, rows - 1, [&](int i) {
    for (int j = 1; j < cols - 1; ++j) {
      out[i * cols + j] = 0.25 * (in[(i - 1) * cols + j] + in[(i + 1) * cols + j] +
                                  in[i * cols + j - 1] + in[i * cols + j + 1]);
    }
  });
}
