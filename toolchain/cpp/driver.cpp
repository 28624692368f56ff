// parevo generic driver: compiled once, linked against each variant's object.
//
// The variant object implements the parevo C ABI (generated harness section):
// create/clone/destroy/invoke/dump/bytes/describe. This file knows nothing about
// the user's function; it only sequences calls, times them and writes results.
//
// Usage (exit code 0 ok, 2 usage error, 3 input generation failed, 4 I/O error,
// 5 the function threw an exception, 7 out of memory (std::bad_alloc while generating
// inputs or inside the function); the message is on stderr, see verdicts.py):
//   driver check OUTFILE n1:seed1 [n2:seed2 ...]
//       per case: create, invoke, dump the outputs to OUTFILE between
//       "case <n> <seed>" and "end" lines; flushed after each case, so a crash
//       mid-way shows which case was running. A case whose inputs hold adversarial
//       values (the seed's top byte is a value class, toolchain/adversarial.py)
//       says how many after its "case" line: "adversarial <count>".
//   driver time N SEED REPEATS
//       pristine inputs; one untimed warm-up (clone + invoke); then REPEATS x
//       (clone untimed, invoke timed with steady_clock, destroy). Prints
//       {"n":N,"bytes":B,"gen_s":S,"samples":[s,...],"call_cpu_s":C}
//   driver calibrate SEED TARGET_S MAX_BYTES N_START N_MAX
//       doubles n from N_START until one invoke takes >= TARGET_S seconds, or the
//       next size would exceed MAX_BYTES of inputs (estimated from the growth of
//       parevo_bytes) or N_MAX. Prints {"n":N,"bytes":B,"t":S} per size tried.
//   driver run N SEED REPEATS
//       create, then REPEATS x (clone, invoke, destroy): for ThreadSanitizer and
//       profiling runs. Prints {"n":N,"bytes":B,"samples":[s,...],"call_cpu_s":C}
//       where C is the CPU time (user+sys, all threads) spent inside the calls.
//   driver inputs OUTFILE n1:seed1 [...]
//       like check, but dumps every generated input (all parameters) before
//       the call: to show the input of a failing case, and to test the plan.
//   driver describe
//       prints the harness plan (JSON) of the linked variant.
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <exception>
#include <new>
#include <string>
#include <typeinfo>
#include <vector>

#include <sys/resource.h>

extern "C" {
void* parevo_create(std::uint64_t n, std::uint64_t seed);
void* parevo_clone(const void* inputs);
void parevo_destroy(void* inputs);
void parevo_invoke(void* inputs);
void parevo_dump(const void* inputs, std::FILE* f);
std::uint64_t parevo_bytes(const void* inputs);
const char* parevo_describe(void);
void parevo_dump_inputs(const void* inputs, std::FILE* f);
// Adversarial values the harness drew for the current case (parevo_harness.h increments it).
std::uint64_t parevo_adversarial_values = 0;
}

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

int usage(const char* msg) {
  std::fprintf(stderr,
               "parevo driver: %s\n"
               "usage: driver check OUTFILE n:seed [n:seed ...]\n"
               "       driver time N SEED REPEATS\n"
               "       driver calibrate SEED TARGET_S MAX_BYTES N_START N_MAX\n"
               "       driver run N SEED REPEATS\n"
               "       driver inputs OUTFILE n:seed [n:seed ...]\n"
               "       driver describe\n",
               msg);
  return 2;
}

bool parse_u64(const char* s, std::uint64_t& out) {
  if (s == nullptr || *s == '\0' || *s == '-') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return false;
  out = static_cast<std::uint64_t>(v);
  return true;
}

bool parse_double(const char* s, double& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  out = std::strtod(s, &end);
  return end != s && *end == '\0' && out >= 0;
}

// Exit code of a run that ran out of memory (std::bad_alloc), read by verdicts.py.
constexpr int kOutOfMemory = 7;

void* create_or_die(std::uint64_t n, std::uint64_t seed) {
  void* in = nullptr;
  try {
    in = parevo_create(n, seed);
  } catch (const std::bad_alloc& e) {
    std::fprintf(stderr, "parevo driver: out of memory generating inputs (n = %" PRIu64 ", seed %" PRIu64 "): %s\n",
                 n, seed, e.what());
    std::exit(kOutOfMemory);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parevo driver: generating inputs failed (n = %" PRIu64 ", seed %" PRIu64 "): %s\n", n,
                 seed, e.what());
    std::exit(3);
  }
  if (in == nullptr) {
    std::fprintf(stderr, "parevo driver: generating inputs failed (n = %" PRIu64 ", seed %" PRIu64 ")\n", n, seed);
    std::exit(3);
  }
  return in;
}

void print_samples(const std::vector<double>& samples) {
  std::printf("[");
  for (std::size_t k = 0; k < samples.size(); ++k) std::printf(k ? ",%.9g" : "%.9g", samples[k]);
  std::printf("]");
}

// The C++ name of a dynamic type (std::out_of_range), demangled by the C++ ABI.
std::string type_name(const std::type_info& t) {
  int status = 0;
  char* name = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name != nullptr ? name : t.name();
  std::free(name);
  return out;
}

// Call the function; an escaping exception ends the run with exit code 5 (7 for std::bad_alloc), its
// type and what() on stderr.
void invoke_or_die(void* in, std::uint64_t n, std::uint64_t seed) {
  try {
    parevo_invoke(in);
  } catch (const std::bad_alloc& e) {
    std::fprintf(stderr, "parevo driver: out of memory inside the function at n = %" PRIu64 " (seed %" PRIu64
                 "): %s\n", n, seed, e.what());
    std::exit(kOutOfMemory);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parevo driver: the function threw an exception (%s) at n = %" PRIu64 " (seed %" PRIu64
                 "): %s\n", type_name(typeid(e)).c_str(), n, seed, e.what());
    std::exit(5);
  } catch (...) {
    std::fprintf(stderr, "parevo driver: the function threw a non-standard exception at n = %" PRIu64
                 " (seed %" PRIu64 ")\n", n, seed);
    std::exit(5);
  }
}

int do_check(int argc, char** argv, bool inputs_only) {
  if (argc < 4) return usage("check/inputs need OUTFILE and at least one n:seed");
  std::vector<std::pair<std::uint64_t, std::uint64_t>> cases;
  for (int k = 3; k < argc; ++k) {
    const char* colon = std::strchr(argv[k], ':');
    if (colon == nullptr) return usage("a case must be n:seed");
    std::string n_text(argv[k], static_cast<std::size_t>(colon - argv[k]));
    std::uint64_t n = 0, seed = 0;
    if (!parse_u64(n_text.c_str(), n) || !parse_u64(colon + 1, seed)) return usage("a case must be n:seed");
    cases.emplace_back(n, seed);
  }
  std::FILE* f = std::fopen(argv[2], "w");
  if (f == nullptr) {
    std::fprintf(stderr, "parevo driver: cannot open %s for writing\n", argv[2]);
    return 4;
  }
  for (auto& c : cases) {
    std::fprintf(f, "case %" PRIu64 " %" PRIu64 "\n", c.first, c.second);
    std::fflush(f);
    parevo_adversarial_values = 0;
    void* in = create_or_die(c.first, c.second);
    if (parevo_adversarial_values > 0) {
      std::fprintf(f, "adversarial %" PRIu64 "\n", parevo_adversarial_values);
      std::fflush(f);  // kept even when the call crashes: the case's class applied
    }
    if (inputs_only) {
      parevo_dump_inputs(in, f);
    } else {
      invoke_or_die(in, c.first, c.second);
      parevo_dump(in, f);
    }
    std::fputs("end\n", f);
    std::fflush(f);
    parevo_destroy(in);
  }
  return std::fclose(f) == 0 ? 0 : 4;
}

// User plus system CPU time of the whole process (all threads), in seconds.
double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int do_time(int argc, char** argv, bool timed_mode) {
  std::uint64_t n = 0, seed = 0, repeats = 0;
  if (argc != 5 || !parse_u64(argv[2], n) || !parse_u64(argv[3], seed) || !parse_u64(argv[4], repeats))
    return usage(timed_mode ? "time needs N SEED REPEATS" : "run needs N SEED REPEATS");
  auto t0 = clock_type::now();
  void* pristine = create_or_die(n, seed);
  const double gen_s = seconds_since(t0);
  const std::uint64_t bytes = parevo_bytes(pristine);
  if (timed_mode) {  // warm-up: scheduler start, page faults of the code
    void* w = parevo_clone(pristine);
    invoke_or_die(w, n, seed);
    parevo_destroy(w);
  }
  std::vector<double> samples;
  double call_cpu_s = 0;  // user+sys CPU seconds of all threads, inside the timed calls only
  for (std::uint64_t r = 0; r < repeats; ++r) {
    void* in = parevo_clone(pristine);
    const double cpu0 = process_cpu_seconds();
    auto t = clock_type::now();
    invoke_or_die(in, n, seed);
    samples.push_back(seconds_since(t));
    call_cpu_s += process_cpu_seconds() - cpu0;
    parevo_destroy(in);
  }
  parevo_destroy(pristine);
  if (timed_mode)
    std::printf("{\"n\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"gen_s\":%.9g,\"samples\":", n, bytes, gen_s);
  else
    std::printf("{\"n\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"samples\":", n, bytes);
  print_samples(samples);
  std::printf(",\"call_cpu_s\":%.9g}\n", call_cpu_s);
  std::fflush(stdout);
  return 0;
}

int do_calibrate(int argc, char** argv) {
  std::uint64_t seed = 0, max_bytes = 0, n = 0, n_max = 0;
  double target = 0;
  if (argc != 7 || !parse_u64(argv[2], seed) || !parse_double(argv[3], target) || !parse_u64(argv[4], max_bytes) ||
      !parse_u64(argv[5], n) || !parse_u64(argv[6], n_max))
    return usage("calibrate needs SEED TARGET_S MAX_BYTES N_START N_MAX");
  if (n == 0) n = 1;
  bool warmed = false;
  std::uint64_t prev_bytes = 0;
  for (;;) {
    void* in = create_or_die(n, seed);
    const std::uint64_t bytes = parevo_bytes(in);
    if (!warmed) {
      void* w = parevo_clone(in);
      invoke_or_die(w, n, seed);
      parevo_destroy(w);
      warmed = true;
    }
    auto t = clock_type::now();
    invoke_or_die(in, n, seed);
    const double secs = seconds_since(t);
    parevo_destroy(in);
    std::printf("{\"n\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"t\":%.9g}\n", n, bytes, secs);
    std::fflush(stdout);
    if (secs >= target) break;
    if (n > n_max / 2) break;
    // bytes at 2n, extrapolated from the last doubling (2x when unknown)
    double growth = (prev_bytes > 0 && bytes > prev_bytes) ? static_cast<double>(bytes) / prev_bytes : 2.0;
    if (growth < 2.0) growth = 2.0;
    if (static_cast<double>(bytes) * growth > static_cast<double>(max_bytes)) break;
    prev_bytes = bytes;
    n *= 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("no mode given");
  const std::string mode = argv[1];
  if (mode == "check") return do_check(argc, argv, false);
  if (mode == "inputs") return do_check(argc, argv, true);
  if (mode == "time") return do_time(argc, argv, true);
  if (mode == "run") return do_time(argc, argv, false);
  if (mode == "calibrate") return do_calibrate(argc, argv);
  if (mode == "describe") {
    std::printf("%s\n", parevo_describe());
    return 0;
  }
  return usage("unknown mode");
}
