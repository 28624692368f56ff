// parevo_harness.h: C++ runtime of the generated harness section.
//
// Included at the very top of every variant translation unit (before the
// user's code, so the user's macros cannot touch it). Provides:
//   * parevo::rng        xoshiro256** seeded through splitmix64 by (seed, stream);
//                        each parameter uses its own stream (its index), so its
//                        data does not depend on how the others were generated.
//   * parevo::draw_int / draw_real / draw_bool   one value in a range
//   * parevo::draw_free_real / draw_free_int / draw_index   the same, or an adversarial
//                        value of the case's class (NaN, Inf, -0.0, subnormal, INT_MIN/MAX,
//                        ties, all-equal, one bucket; toolchain/adversarial.py)
//   * parevo::buffer<T>  contiguous, copyable storage behind a pointer parameter
//                        (no std::vector<bool> packing; one extra zeroed element,
//                        so char buffers are NUL-terminated)
//   * parevo::resize_to, parevo::fill_offsets   container helpers
//   * parevo::codec<T>   dump (text) and byte size of arithmetic types, sequences
//                        (vector, vector<bool>, array, deque, string,
//                        parlay::sequence, buffer), C arrays, std::pair,
//                        std::complex; user structs get a specialization from
//                        the generated section.
//
// Dump format (parsed by parevo/toolchain/outputs.py), one token group per line:
//   case <n> <seed>          start of a case            end     end of a case
//   out <name>               an output; one value follows
//   d <%.17g> | f <%.9g> | l <%.21Lg>     double / float / long double
//   i <int> | u <uint> | b <0|1> | c <code>   signed / unsigned / bool / char
//   [ <count>  ... ]         a sequence of <count> values
//   { <fields> ... }         a struct: each field is ". <name>" then its value
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace parevo {

// ------------------------------------------------------------------ random numbers
inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman & Vigna), one independent stream per (seed, stream).
// The top byte of the seed is the case's value class (see "value classes" below).
struct rng {
  std::uint64_t s[4];
  unsigned cls = 0;            // value class of the case (0: ordinary values)
  bool has_fixed = false;      // all-equal / one-bucket: the one value of this stream
  std::uint64_t fixed = 0;
  rng(std::uint64_t seed, std::uint64_t stream) : cls(static_cast<unsigned>(seed >> 56)) {
    std::uint64_t x = seed;
    std::uint64_t a = splitmix64(x);
    x = a ^ (0xD1B54A32D192ED03ull * (stream + 1));
    for (auto& w : s) w = splitmix64(x);
  }
  static std::uint64_t rotl(std::uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  // uniform in [0, 1)
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // uniform in [0, bound) (bound > 0), rejection sampling: no modulo bias
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() -
                                std::numeric_limits<std::uint64_t>::max() % bound;
    std::uint64_t v;
    do v = next(); while (v >= limit);
    return v % bound;
  }
};

// An integer of type T uniform in [lo, hi] (inclusive), clamped to T's range.
// hi < lo gives lo (clamped): an empty range still yields a valid value.
template <class T>
T draw_int(rng& r, long long lo, long long hi) {
  static_assert(std::is_integral<T>::value, "draw_int needs an integral type");
  const long long tmin = std::is_signed<T>::value || sizeof(T) >= sizeof(long long)
                             ? static_cast<long long>(std::numeric_limits<T>::min())
                             : 0LL;
  const long long tmax = sizeof(T) >= sizeof(long long) ? std::numeric_limits<long long>::max()
                                                        : static_cast<long long>(std::numeric_limits<T>::max());
  if (std::is_unsigned<T>::value && lo < 0) lo = 0;
  lo = std::max(lo, tmin);
  hi = std::min(hi, tmax);
  if (hi <= lo) return static_cast<T>(lo);
  const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo) + 1;
  const std::uint64_t off = span == 0 ? r.next() : r.below(span);
  return static_cast<T>(static_cast<std::uint64_t>(lo) + off);
}

// A floating value of type T uniform in [lo, hi).
template <class T>
T draw_real(rng& r, double lo, double hi) {
  if (!(hi > lo)) return static_cast<T>(lo);
  return static_cast<T>(lo + (hi - lo) * r.unit());
}

// ------------------------------------------------------------------ value classes
// Adversarial classes of the differential test (toolchain/adversarial.py). Only values the
// original's semantics leave free are drawn through draw_free_real / draw_free_int (plain input
// values), draw_index (index values) and draw_bool; class 0 draws exactly what draw_real /
// draw_int / draw_bool draw. Every adversarial value drawn is counted in
// parevo_adversarial_values (defined by the driver, reported per case), so parevo knows
// which classes apply to a loop.
enum value_class : unsigned {
  vc_normal = 0, vc_nan = 1, vc_inf = 2, vc_negative_zero = 3, vc_subnormal = 4, vc_int_extremes = 5,
  vc_ties = 6, vc_all_equal = 7, vc_one_bucket = 8,
};

}  // namespace parevo
extern "C" std::uint64_t parevo_adversarial_values;
namespace parevo {

inline void noted() { ++parevo_adversarial_values; }

// This stream's one value for all-equal / one-bucket (drawn once).
inline std::uint64_t fixed_of(rng& r) {
  if (!r.has_fixed) {
    r.fixed = r.next();
    r.has_fixed = true;
  }
  return r.fixed;
}

// A plain floating input value in [lo, hi), or an adversarial one of the case's class.
template <class T>
T draw_free_real(rng& r, double lo, double hi) {
  using L = std::numeric_limits<T>;
  switch (r.cls) {
    case vc_nan:
      if (r.below(8) == 0) { noted(); return L::quiet_NaN(); }
      break;
    case vc_inf:
      if (r.below(8) == 0) { noted(); return r.below(2) ? L::infinity() : -L::infinity(); }
      break;
    case vc_negative_zero: {
      const std::uint64_t k = r.below(4);
      if (k == 0) { noted(); return -static_cast<T>(0); }
      if (k == 1) return static_cast<T>(0);
      break;
    }
    case vc_subnormal:
      if (r.below(2) == 0) {
        noted();
        const T v = L::denorm_min() * static_cast<T>(1 + r.below(1u << 20));  // below the smallest normal
        return r.below(2) ? -v : v;
      }
      break;
    case vc_ties:
      noted();
      return static_cast<T>(lo + (hi - lo) * static_cast<double>(1 + r.below(3)) / 4.0);
    case vc_all_equal:
      noted();
      return static_cast<T>(lo + (hi - lo) * static_cast<double>(fixed_of(r) >> 11) * 0x1.0p-53);
    default:
      break;
  }
  return draw_real<T>(r, lo, hi);
}

// A plain integer input value in [lo, hi], or an adversarial one of the case's class.
template <class T>
T draw_free_int(rng& r, long long lo, long long hi) {
  using L = std::numeric_limits<T>;
  switch (r.cls) {
    case vc_int_extremes:
      if (r.below(2) == 0) {
        noted();
        const T half = static_cast<T>(L::max() / 2 + 1);  // two of them overflow
        if constexpr (std::is_signed<T>::value) {
          const T pick[6] = {L::min(), L::max(), static_cast<T>(L::min() + 1), static_cast<T>(L::max() - 1), half,
                             static_cast<T>(-half)};
          return pick[r.below(6)];
        } else {
          const T pick[5] = {0, 1, L::max(), static_cast<T>(L::max() - 1), half};
          return pick[r.below(5)];
        }
      }
      break;
    case vc_ties: {
      noted();
      const long long pick[3] = {lo, lo + (hi - lo) / 2, hi};
      const long long v = pick[r.below(3)];
      return draw_int<T>(r, v, v);  // clamped to T's range; draws nothing
    }
    case vc_all_equal: {
      noted();
      const std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1;
      const long long v = lo + static_cast<long long>(span == 0 ? fixed_of(r) : fixed_of(r) % span);
      return draw_int<T>(r, v, v);
    }
    default:
      break;
  }
  return draw_int<T>(r, lo, hi);
}

// An index value in [lo, hi]; in the one-bucket class every index of this stream is the same.
template <class T>
T draw_index(rng& r, long long lo, long long hi) {
  if (r.cls == vc_one_bucket && hi >= lo) {
    noted();
    const std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1;
    const long long v = lo + static_cast<long long>(span == 0 ? fixed_of(r) : fixed_of(r) % span);
    return draw_int<T>(r, v, v);
  }
  return draw_int<T>(r, lo, hi);
}

inline bool draw_bool(rng& r) {
  if (r.cls == vc_all_equal) {
    noted();
    return (fixed_of(r) >> 63) != 0;
  }
  return (r.next() >> 63) != 0;
}

// Clamp a signed size computation at 0.
inline std::uint64_t size_of(long long v) { return v < 0 ? 0u : static_cast<std::uint64_t>(v); }
// Integer division of size expressions (0 for a zero divisor).
inline long long div0(long long a, long long b) { return b == 0 ? 0 : a / b; }

// ------------------------------------------------------------------ pointer storage
template <class T>
class buffer {
 public:
  using value_type = T;
  buffer() { resize(0); }
  buffer(const buffer& o) : p_(new T[o.n_ + 1]()), n_(o.n_) { std::copy(o.p_.get(), o.p_.get() + o.n_, p_.get()); }
  buffer(buffer&&) noexcept = default;
  buffer& operator=(const buffer& o) {
    buffer t(o);
    std::swap(p_, t.p_);
    std::swap(n_, t.n_);
    return *this;
  }
  buffer& operator=(buffer&&) noexcept = default;
  void resize(std::size_t n) {
    std::unique_ptr<T[]> q(new T[n + 1]());
    if (p_) std::copy(p_.get(), p_.get() + std::min(n, n_), q.get());
    p_ = std::move(q);
    n_ = n;
  }
  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }
  T* begin() { return p_.get(); }
  T* end() { return p_.get() + n_; }
  const T* begin() const { return p_.get(); }
  const T* end() const { return p_.get() + n_; }

 private:
  std::unique_ptr<T[]> p_;
  std::size_t n_ = 0;
};

// ------------------------------------------------------------------ container helpers
template <class C, class = void>
struct has_resize : std::false_type {};
template <class C>
struct has_resize<C, std::void_t<decltype(std::declval<C&>().resize(std::size_t{}))>> : std::true_type {};

// Resize a container to n elements; fixed-size containers (std::array) keep their size.
template <class C>
void resize_to(C& c, std::uint64_t n) {
  if constexpr (has_resize<C>::value) c.resize(static_cast<std::size_t>(n));
}
template <class T, std::size_t N>
void resize_to(T (&)[N], std::uint64_t) {}

// CSR offsets: c[0] = 0, c[k] = c[k-1] + degree with degree uniform in [0, max_degree].
template <class C>
void fill_offsets(rng& r, C& c, long long max_degree) {
  using V = std::decay_t<decltype(c[0])>;
  long long acc = 0;
  for (std::size_t k = 0; k < c.size(); ++k) {
    if (k > 0) acc += draw_int<long long>(r, 0, max_degree);
    c[k] = static_cast<V>(acc);
  }
}

// Last element of an offsets container (0 when empty): the length of the arrays it indexes.
template <class C>
std::uint64_t last_of(const C& c) {
  if (c.size() == 0) return 0;
  long long v = static_cast<long long>(c[c.size() - 1]);
  return v < 0 ? 0u : static_cast<std::uint64_t>(v);
}

// ------------------------------------------------------------------ dump and size
template <class T, class Enable = void>
struct codec;  // specialized below and, for user structs, by the generated section

template <class T, class = void>
struct is_sequence : std::false_type {};
template <class T>
struct is_sequence<T, std::void_t<typename T::value_type, decltype(std::declval<const T&>().size()),
                                  decltype(std::declval<const T&>().begin()),
                                  decltype(std::declval<const T&>().end())>> : std::true_type {};

template <class T>
void dump(std::FILE* f, const T& x) {
  codec<T>::dump(f, x);
}
template <class T>
std::uint64_t bytes_of(const T& x) {
  return codec<T>::bytes(x);
}

template <class T>
struct codec<T, std::enable_if_t<std::is_arithmetic<T>::value>> {
  static void dump(std::FILE* f, const T& x) {
    if constexpr (std::is_same<T, bool>::value) {
      std::fprintf(f, "b %d\n", x ? 1 : 0);
    } else if constexpr (std::is_same<T, char>::value) {
      std::fprintf(f, "c %d\n", static_cast<int>(x));
    } else if constexpr (std::is_same<T, float>::value) {
      std::fprintf(f, "f %.9g\n", static_cast<double>(x));
    } else if constexpr (std::is_same<T, double>::value) {
      std::fprintf(f, "d %.17g\n", x);
    } else if constexpr (std::is_floating_point<T>::value) {
      std::fprintf(f, "l %.21Lg\n", static_cast<long double>(x));
    } else if constexpr (std::is_signed<T>::value) {
      std::fprintf(f, "i %lld\n", static_cast<long long>(x));
    } else {
      std::fprintf(f, "u %llu\n", static_cast<unsigned long long>(x));
    }
  }
  static std::uint64_t bytes(const T&) { return sizeof(T); }
};

template <class T>
struct codec<T, std::enable_if_t<is_sequence<T>::value && !std::is_arithmetic<T>::value>> {
  using V = typename T::value_type;
  static void dump(std::FILE* f, const T& x) {
    std::fprintf(f, "[ %zu\n", static_cast<std::size_t>(x.size()));
    for (auto&& e : x) codec<V>::dump(f, e);
    std::fputs("]\n", f);
  }
  static std::uint64_t bytes(const T& x) {
    if constexpr (std::is_same<T, std::vector<bool>>::value) {
      return sizeof(T) + (x.size() + 7) / 8;
    } else if constexpr (std::is_arithmetic<V>::value) {
      return sizeof(T) + static_cast<std::uint64_t>(x.size()) * sizeof(V);
    } else {
      std::uint64_t b = sizeof(T);
      for (auto&& e : x) b += codec<V>::bytes(e);
      return b;
    }
  }
};

template <class T, std::size_t N>
struct codec<T[N], void> {
  static void dump(std::FILE* f, const T (&x)[N]) {
    std::fprintf(f, "[ %zu\n", N);
    for (std::size_t k = 0; k < N; ++k) codec<T>::dump(f, x[k]);
    std::fputs("]\n", f);
  }
  static std::uint64_t bytes(const T (&x)[N]) {
    std::uint64_t b = 0;
    for (std::size_t k = 0; k < N; ++k) b += codec<T>::bytes(x[k]);
    return b;
  }
};

template <class A, class B>
struct codec<std::pair<A, B>, void> {
  static void dump(std::FILE* f, const std::pair<A, B>& x) {
    std::fputs("{ 2\n. first\n", f);
    codec<A>::dump(f, x.first);
    std::fputs(". second\n", f);
    codec<B>::dump(f, x.second);
    std::fputs("}\n", f);
  }
  static std::uint64_t bytes(const std::pair<A, B>& x) {
    return sizeof(x) - sizeof(A) - sizeof(B) + codec<A>::bytes(x.first) + codec<B>::bytes(x.second);
  }
};

template <class T>
struct codec<std::complex<T>, void> {
  static void dump(std::FILE* f, const std::complex<T>& x) {
    std::fputs("{ 2\n. re\n", f);
    codec<T>::dump(f, x.real());
    std::fputs(". im\n", f);
    codec<T>::dump(f, x.imag());
    std::fputs("}\n", f);
  }
  static std::uint64_t bytes(const std::complex<T>&) { return sizeof(std::complex<T>); }
};

// A field of a user struct: ". name" then its value (used by generated struct codecs).
template <class T>
void dump_field(std::FILE* f, const char* name, const T& x) {
  std::fprintf(f, ". %s\n", name);
  codec<T>::dump(f, x);
}
// Extra bytes a field owns beyond sizeof (its heap data).
template <class T>
std::uint64_t field_extra_bytes(const T& x) {
  return codec<T>::bytes(x) - sizeof(T);
}

// An output: "out <name>" then its value.
template <class T>
void dump_output(std::FILE* f, const char* name, const T& x) {
  std::fprintf(f, "out %s\n", name);
  codec<T>::dump(f, x);
}
// An output behind a pointer parameter: the buffer's first n elements.
template <class T>
void dump_output(std::FILE* f, const char* name, const buffer<T>& x) {
  std::fprintf(f, "out %s\n", name);
  codec<buffer<T>>::dump(f, x);
}

// The function's return value (nothing for void), kept for the dump.
template <class R>
struct result {
  std::optional<R> value;
  template <class F>
  void run(F&& f) {
    value.emplace(f());
  }
  void dump(std::FILE* f) const {
    if (value) dump_output(f, "return", *value);
  }
  std::uint64_t bytes() const { return value ? bytes_of(*value) : 0; }
};
template <>
struct result<void> {
  template <class F>
  void run(F&& f) {
    f();
  }
  void dump(std::FILE*) const {}
  std::uint64_t bytes() const { return 0; }
};

}  // namespace parevo
