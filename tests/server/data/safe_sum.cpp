// A race-free ParlayLib loop: each iteration writes only its own element.
#include <parlay/parallel.h>
#include <vector>

void square_all(std::vector<long>& a) {
  parlay::parallel_for(0, a.size(), [&](size_t i) {
    a[i] = a[i] * a[i];
  });
}
