// parevo's memory-bandwidth probe: the STREAM triad a[i] = b[i] + s * c[i]
// (McCalpin, "Memory Bandwidth and Machine Balance in Current High Performance
// Computers", IEEE TCCA Newsletter, 1995), timed with one thread and with
// THREADS threads over the same arrays.
//
//   stream BYTES THREADS REPS
//
// BYTES is the size of the three arrays together. One pool of THREADS threads
// first touches the arrays in the chunks it later works on; then, REPS times,
// the triad runs once on thread 0 alone over the whole range and once on all
// threads (a contiguous chunk each), each pass between two barriers, so thread
// start-up is not timed. Counted bytes per element: 3 x 8 (two reads, one
// write, as STREAM counts them). Prints one JSON line:
//   {"bytes":B,"threads":T,"reps":R,"one_s":S1,"all_s":ST,"one_gbs":G1,"all_gbs":GT}
// with the best (smallest) time of each mode.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_acq_rel);
    } else {
      while (gen_.load(std::memory_order_acquire) == gen) std::this_thread::yield();
    }
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<int> gen_{0};
};

void triad(double* a, const double* b, const double* c, std::size_t lo, std::size_t hi) {
  const double s = 3.0;
  for (std::size_t i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: stream BYTES THREADS REPS\n");
    return 2;
  }
  const std::size_t bytes = std::strtoull(argv[1], nullptr, 10);
  const int threads = std::max(1, std::atoi(argv[2]));
  const int reps = std::max(1, std::atoi(argv[3]));
  const std::size_t n = std::max<std::size_t>(bytes / (3 * sizeof(double)), 1024);
  double* a = new double[n];
  double* b = new double[n];
  double* c = new double[n];
  Barrier barrier(threads);
  std::vector<double> one(reps), all(reps);
  auto chunk = [&](int t, std::size_t& lo, std::size_t& hi) {
    lo = n * t / threads;
    hi = n * (t + 1) / threads;
  };
  auto worker = [&](int t) {
    std::size_t lo, hi;
    chunk(t, lo, hi);
    for (std::size_t i = lo; i < hi; ++i) {  // first touch where the work will be
      a[i] = 0.0;
      b[i] = 1.0;
      c[i] = 2.0;
    }
    for (int r = 0; r < reps; ++r) {
      barrier.wait();
      auto t0 = std::chrono::steady_clock::now();
      if (t == 0) triad(a, b, c, 0, n);
      barrier.wait();
      if (t == 0) one[r] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      barrier.wait();
      t0 = std::chrono::steady_clock::now();
      triad(a, b, c, lo, hi);
      barrier.wait();
      if (t == 0) all[r] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& th : pool) th.join();
  const double s1 = *std::min_element(one.begin(), one.end());
  const double st = *std::min_element(all.begin(), all.end());
  const double counted = 3.0 * sizeof(double) * static_cast<double>(n);
  volatile double sink = a[n / 2];
  (void)sink;
  std::printf("{\"bytes\":%.0f,\"threads\":%d,\"reps\":%d,\"one_s\":%.9g,\"all_s\":%.9g,\"one_gbs\":%.6g,"
              "\"all_gbs\":%.6g}\n",
              counted, threads, reps, s1, st, counted / s1 / 1e9, counted / st / 1e9);
  delete[] a;
  delete[] b;
  delete[] c;
  return 0;
}
