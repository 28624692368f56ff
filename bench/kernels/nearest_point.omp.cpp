// bench: hand-written OpenMP replacement of the marked loop in nearest_point.cpp
// bench-flags: -fopenmp
#pragma omp parallel
{
  long my_best = -1;
  double my_d = 1e300;
  #pragma omp for nowait
  for (size_t i = 0; i < xs.size(); ++i) {
    double dx = xs[i] - qx, dy = ys[i] - qy;
    double d = dx * dx + dy * dy;
    if (d < my_d) {
      my_d = d;
      my_best = static_cast<long>(i);
    }
  }
  #pragma omp critical
  {
    // smaller distance wins; on a tie the smaller index (the serial loop keeps the first)
    if (my_best != -1 && (my_d < best_d || (my_d == best_d && best != -1 && my_best < best))) {
      best_d = my_d;
      best = my_best;
    }
  }
}
