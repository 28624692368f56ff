"""Small loops, one per pattern shape, and a differential driver for their candidates.

Each case is a function ``double fn_<case>(…)`` over shared inputs (vectors
``a``, ``b``, ``out``, ``h``, ``idx``, ``w``, ``ua``, ``ids`` and sizes ``n``,
``m``) that returns the loop's scalar result. ``driver_source`` builds one
translation unit holding every case, every candidate as a renamed copy, and a
``main`` that runs original and candidate on fresh copies of the same inputs
for several sizes (0, 1, 2, 3, 7, 64, 1000, 100003) and prints one line per
mismatch; it prints ``DONE <checks>`` at the end.
"""

from __future__ import annotations

from parevo.evolution.candidates import Candidate
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.parsing import find_loop, find_marked_lines

from rule_check import differential_source

SIG = ("std::vector<double>& a, std::vector<double>& b, std::vector<double>& out, std::vector<double>& h, "
       "const std::vector<int>& idx, const std::vector<double>& w, const std::vector<unsigned>& ua, "
       "std::vector<int>& ids, int n, int m, double r, double t")

# name: (declarations before the loop, the loop, the statement after it)
CASES: dict[str, tuple[str, str, str]] = {
    "map_continue": ("", "for (int i = 0; i < n; ++i) { if (a[i] < 0) continue; b[i] = a[i] * 2; }", "return 0;"),
    "map_offset": ("", "for (int i = 2; i < n; ++i) { b[i] = a[i - 2] + a[i]; }", "return 0;"),
    "map_step2": ("", "for (int i = 1; i < n; i += 2) b[i] = a[i] + 1;", "return 0;"),
    "map_private": ("double tmp;", "for (int i = 0; i < n; ++i) { tmp = a[i] * 2; b[i] = tmp + 1; }", "return 0;"),
    "map_range_ref": ("", "for (auto& x : b) { x = x * 2 + 1; }", "return 0;"),
    "map_outside_idx": ("int i;", "for (i = 0; i < n; ++i) b[i] = a[i];", "return i;"),
    "map_le": ("", "for (int i = 0; i <= n - 1; ++i) b[i] = -a[i];", "return 0;"),
    "red_down": ("double s = 0;", "for (int i = n - 1; i >= 0; --i) s += a[i];", "return s;"),
    "red_mul": ("double p = 1;", "for (int i = 0; i < n; ++i) p *= (1.0 + a[i] * 1e-4);", "return p;"),
    "red_minus": ("double s = 5;", "for (int i = 0; i < n; ++i) s -= a[i];", "return s;"),
    "red_or": ("bool found = false;", "for (int i = 0; i < n; ++i) { if (a[i] > 0.999) found = true; }",
               "return found;"),
    "red_and_expr": ("bool ok = true;", "for (int i = 0; i < n; ++i) ok = ok && (a[i] > -0.999);", "return ok;"),
    "red_xor": ("unsigned x = 7;", "for (int i = 0; i < n; ++i) x ^= ua[i];", "return x;"),
    "red_bitand": ("unsigned x = ~0u;", "for (int i = 0; i < n; ++i) x &= ua[i] | 1u;", "return x;"),
    "red_ifmin": ("double mn = 1e300;", "for (int i = 0; i < n; ++i) { if (a[i] < mn) mn = a[i]; }", "return mn;"),
    "red_ternary_max": ("double mx = -1e300;", "for (int i = 0; i < n; ++i) mx = a[i] > mx ? a[i] : mx;",
                        "return mx;"),
    "red_count": ("int c = 0;", "for (int i = 0; i < n; ++i) if (a[i] > 0) c += 1;", "return c;"),
    "red_two": ("double s = 0; long c = 0;",
                "for (int i = 0; i < n; ++i) { if (a[i] > 0) { s += a[i]; c++; } }", "return s + 1000.0 * c;"),
    "red_nested": ("double s = 0;", "for (int i = 0; i < n; ++i) for (int j = 0; j < i % 5; ++j) s += a[i] * j;",
                   "return s;"),
    "red_range": ("double s = 0;", "for (double x : a) s += x * x;", "return s;"),
    "red_local": ("double s = 0;", "for (int i = 0; i < n; ++i) { double d = a[i] - 0.5; s += d * d; }",
                  "return s;"),
    "arg_max_nonstrict": ("double best = n > 0 ? a[0] : 0; int bi = 0;",
                          "for (int i = 1; i < n; ++i) { if (a[i] >= best) { best = a[i]; bi = i; } }",
                          "return bi + best;"),
    "arg_min_strict": ("double best = 1e300; int bi = -1;",
                       "for (int i = 0; i < n; ++i) { if (a[i] < best) { best = a[i]; bi = i; } }",
                       "return bi;"),
    "arg_min_local_cast": ("double best = 1e300; long bi = -1;",
                           "for (int i = 0; i < n; ++i) { double d = a[i] * a[i] - b[i];"
                           " if (d < best) { best = d; bi = static_cast<long>(i); } }",
                           "return bi;"),
    "hist_weighted": ("", "for (int i = 0; i < n; ++i) { h[idx[i] % m] += w[i]; }", "return 0;"),
    "hist_count": ("", "for (int i = 0; i < n; ++i) { if (a[i] > 0) h[idx[i] % m]++; }", "return 0;"),
    "scan_excl": ("double acc = 1;", "for (int i = 0; i < n; ++i) { out[i] = acc; acc += a[i]; }", "return acc;"),
    "scan_incl_expr": ("double acc = 0;", "for (int i = 0; i < n; ++i) { acc += a[i]; b[i] = acc * 2; }",
                       "return acc;"),
    "scan_carried": ("", "for (int i = 1; i < n; ++i) { out[i] = out[i - 1] + a[i]; }", "return 0;"),
    "scan_inplace": ("", "for (int i = 1; i < n; ++i) b[i] += b[i - 1];", "return 0;"),
    "scan_shifted": ("", "for (int i = 0; i < n - 1; ++i) { out[i + 1] = out[i] + a[i]; }", "return 0;"),
    "rows_major": ("int rows = m > 0 ? n / m : 0;",
                   "for (int i = 0; i < rows; ++i) { for (int j = 0; j < m; ++j) b[i * m + j] = a[i * m + j] * 2 + 1; }",
                   "return 0;"),
    "scan_product": ("", "for (int i = 1; i < n; ++i) b.at(i) = b.at(i - 1) * (1 + a[i] * 1e-3);", "return 0;"),
    "map_at": ("", "for (int i = 0; i < n; ++i) b.at(i) = std::max(b.at(i), 0.25);", "return 0;"),
    "filter_idx": ("", "for (int i = 0; i < n; ++i) { if (a[i] > t) ids.push_back(i); }", "return 0;"),
    "filter_range": ("", "for (double x : a) { if (x > 0) out.push_back(x); }", "return 0;"),
    "filter_local": ("", "for (int i = 0; i < n; ++i) { double v = a[i] * 3; if (v > 1) out.push_back(v); }",
                     "return 0;"),
    "append_all": ("", "for (int i = 0; i < n; ++i) out.push_back(a[i] + 1);", "return 0;"),
    "search_break": ("int at = -1;", "for (int i = 0; i < n; ++i) { if (a[i] > t) { at = i; break; } }",
                     "return at;"),
    "search_outside": ("int i;", "for (i = 0; i < n; ++i) { if (a[i] > t) break; }", "return i;"),
    "search_return": ("", "for (int i = 3; i < n; ++i) { if (a[i] < -t) return i * 2; }", "return -1;"),
    "nest_rows": ("", "for (int i = 0; i < n; ++i) { double s = 0; for (int j = 0; j <= i % 7; ++j) s += a[j]; "
                      "b[i] = s; }", "return 0;"),
    # issue 16: guarded reductions over any iteration value, one tuple monoid for several accumulators
    "gmin_and": ("double best = 1e300;", "for (int i = 0; i < n; ++i) { if (a[i] > 0.2 && a[i] < best) best = a[i]; }",
                 "return best;"),
    "gmin_nested": ("double best = 5;", "for (int i = 0; i < n; ++i) { if (idx[i] % 3 == 0) { if (a[i] * b[i] < best) "
                                        "best = a[i] * b[i]; } }", "return best;"),
    "gmin_inner": ("double best = 1e300;", "for (int i = 0; i < n; ++i) { double s = 0; for (int j = 0; j <= i % 3; "
                                           "++j) s += w[j]; if (s - a[i] < best) best = s - a[i]; }", "return best;"),
    "gargmin_and": ("double best = 1e300; int bi = -1;", "for (int i = 0; i < n; ++i) { if (idx[i] > 500 && "
                                                         "a[i] < best) { best = a[i]; bi = i; } }", "return bi + best;"),
    "gargmax_le": ("double best = -1e300; int bi = -1;", "for (int i = 0; i < n; ++i) { if (b[i] > 3) { if (a[i] >= "
                                                         "best) { best = a[i]; bi = i; } } }", "return bi + best;"),
    "gargmax_none": ("double best = 2; int bi = -7;", "for (int i = 0; i < n; ++i) { if (b[i] > 300 && a[i] >= best) "
                                                      "{ best = a[i]; bi = i; } }", "return bi + best;"),
    "argmin_sum": ("double best = 1e300; int bi = -1; double s = 0;", "for (int i = 0; i < n; ++i) { s += a[i]; "
                   "if (a[i] < best) { best = a[i]; bi = i; } }", "return bi + s + best;"),
    "argmin_map": ("double best = 1e300; int bi = -1;", "for (int i = 0; i < n; ++i) { b[i] = a[i] * 2; if (b[i] < "
                                                        "best) { best = b[i]; bi = i; } }", "return bi + best;"),
    "sum_count_guard": ("double s = 0; long c = 0;", "for (int i = 0; i < n; ++i) { if (a[i] > t) { s += "
                                                     "std::sqrt(a[i]); ++c; } }", "return s + c;"),
    "min_max_pair": ("double lo = 1e300, hi = -1e300;", "for (int i = 0; i < n; ++i) { if (a[i] < lo) lo = a[i]; "
                                                        "if (a[i] > hi) hi = a[i]; }", "return hi - lo;"),
    # issue 16: any direction and step, read as a forward loop over positions
    "rev_search": ("", "for (int i = n - 1; i >= 0; --i) { if (a[i] > t) return i; }", "return -1;"),
    "rev_search_break": ("int at = -5;", "for (int i = n - 1; i >= 0; --i) { if (a[i] < -t) { at = i * 3; break; } }",
                         "return at;"),
    "rev_copy": ("", "for (int i = n - 1; i >= 0; --i) b[n - 1 - i] = a[i];", "return 0;"),
    "rev_scan_acc": ("double acc = 0.5;", "for (int i = n - 1; i >= 0; --i) { acc += a[i]; out[i] = acc; }",
                     "return acc;"),
    "rev_scan_carried": ("", "for (int i = n - 2; i >= 0; --i) out[i] = out[i + 1] + a[i];", "return 0;"),
    "postdec_sum": ("double s = 0;", "for (size_t i = a.size(); i-- > 0; ) s += a[i] * (double)i;", "return s;"),
    "postdec_search": ("", "for (size_t i = a.size(); i-- > 0; ) { if (a[i] < -t) return (double)i; }",
                       "return -1;"),
    "stride2_map": ("", "for (int i = 0; i + 1 < n; i += 2) { b[i] = a[i] + a[i + 1]; b[i + 1] = a[i] - a[i + 1]; }",
                    "return 0;"),
    "stride2_search": ("", "for (int i = 1; i < n; i += 2) { if (a[i] > t) return i; }", "return -1;"),
    "stride3_filter": ("", "for (int i = 0; i < n; i += 3) { if (a[i] > t) out.push_back(a[i]); }", "return 0;"),
    "rev_argmin": ("double best = 1e300; int bi = -1;", "for (int i = n - 1; i >= 0; --i) { if (a[i] < best) { "
                   "best = a[i]; bi = i; } }", "return bi + best;"),
    "rev_argmax_le": ("double best = -1e300; int bi = -1;", "for (int i = n - 1; i >= 0; --i) { if (a[i] >= best) {"
                      " best = a[i]; bi = i; } }", "return bi + best;"),
    "rev_filter": ("", "for (int i = n - 1; i >= 0; --i) { if (a[i] > t) out.push_back(a[i]); }", "return 0;"),
    "rev_hist": ("", "for (int i = n - 1; i >= 0; --i) { h[idx[i] % m] += w[i]; }", "return 0;"),
    "while_count": ("double s = 0; int j = 0;", "while (j < n) { s += a[j] * j; ++j; }", "return s;"),
    "while_postdec": ("double s = 0; int j = n;", "while (j-- > 0) { if (a[j] > t) s += a[j]; }", "return s;"),
    "do_count": ("double s = 1; int j = 0;", "do { if (j < n) s += a[j]; s += 1; j++; } while (j < n);", "return s;"),
    "while_map_used_after": ("int j = 0;", "while (j < n) { b[j] = a[j] * 2; j++; }", "return j;"),
    # issue 16: early exits
    "range_return": ("", "for (const auto& x : a) { if (x > t) return x * 2; }", "return -1;"),
    "range_flag_break": ("bool found = false;", "for (double x : a) { if (x > t) { found = true; break; } }",
                         "return found;"),
    "flag_in_cond": ("bool found = false; int pos = -1;", "for (int i = 0; i < n && !found; ++i) { if (a[i] > t) { "
                     "found = true; pos = i; } }", "return pos;"),
    "flag_in_cond_set": ("bool found = n % 2 == 1; int pos = -1;", "for (int i = 0; i < n && !found; ++i) { if "
                         "(a[i] > t) { found = true; pos = i; } }", "return pos + found;"),
    "last_match": ("int pos = -1;", "for (int i = 0; i < n; ++i) { if (a[i] > t) pos = i; }", "return pos;"),
    "last_match2": ("int pos = -1; double v = 0;", "for (int i = 0; i < n; ++i) { if (a[i] > t) { pos = i; "
                    "v = b[i]; } }", "return pos + v;"),
    "last_match_range": ("double last = -1;", "for (double x : a) { if (x > t) last = x; }", "return last;"),
    "last_match_rev": ("int pos = -1;", "for (int i = n - 1; i >= 0; --i) { if (a[i] < -t) pos = i; }",
                       "return pos;"),
    "while_search": ("int i = 0;", "while (i < n && a[i] <= t) ++i;", "return i;"),
    "for_extra_test": ("int i;", "for (i = 0; i < n && a[i] <= t; ++i) {}", "return i;"),
}

HEADER = """#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>
"""


def case_source(name: str) -> str:
    """The function of one case, with its select marker."""
    decls, loop, after = CASES[name]
    return (f"double fn_{name}({SIG}) {{\n  {decls}\n  // parevo: select the loop below\n  {loop}\n  {after}\n}}\n")


def case_site(name: str) -> ParsedSite:
    """The :class:`ParsedSite` of a case's loop (in a file holding only that case)."""
    src = HEADER + case_source(name)
    return find_loop(src, f"{name}.cpp", find_marked_lines(src)[0])


_MAIN = r"""
struct Inputs {
  std::vector<double> a, b, out, h, w; std::vector<int> idx, ids; std::vector<unsigned> ua; int n, m;
};
static Inputs make(int n, unsigned seed) {
  Inputs in; in.n = n; in.m = 13;
  unsigned s = seed * 2654435761u + 12345u;
  auto rnd = [&]() { s = s * 1664525u + 1013904223u; return s >> 8; };
  for (int i = 0; i < n; ++i) {
    in.a.push_back(((int)(rnd() % 2001) - 1000) / 1000.0);
    in.b.push_back((int)(rnd() % 100) / 8.0);
    in.w.push_back((int)(rnd() % 64) / 4.0);
    in.idx.push_back((int)(rnd() % 1000));
    in.ua.push_back(rnd());
  }
  in.out.assign(n, 0.5); in.out.push_back(9.0);
  in.h.assign(in.m, 1.0); in.ids = {42};
  return in;
}
static bool close(double x, double y) {
  if (x == y) return true;
  return std::fabs(x - y) <= 1e-9 * std::max(1.0, std::max(std::fabs(x), std::fabs(y)));
}
static bool same(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) if (!close(x[i], y[i])) return false;
  return true;
}
typedef double (*Fn)(std::vector<double>&, std::vector<double>&, std::vector<double>&, std::vector<double>&,
                     const std::vector<int>&, const std::vector<double>&, const std::vector<unsigned>&,
                     std::vector<int>&, int, int, double, double);
static long checks = 0;
static void check(const char* name, Fn ref, Fn cand) {
  const int sizes[] = {0, 1, 2, 3, 7, 64, 1000, 100003};
  for (int n : sizes) for (unsigned seed = 1; seed <= 2; ++seed) {
    Inputs x = make(n, seed), y = make(n, seed);
    double rx = ref(x.a, x.b, x.out, x.h, x.idx, x.w, x.ua, x.ids, x.n, x.m, 0.5, 0.75);
    double ry = cand(y.a, y.b, y.out, y.h, y.idx, y.w, y.ua, y.ids, y.n, y.m, 0.5, 0.75);
    ++checks;
    if (!close(rx, ry) || !same(x.a, y.a) || !same(x.b, y.b) || !same(x.out, y.out) || !same(x.h, y.h) ||
        x.ids != y.ids)
      std::printf("MISMATCH %s n=%d seed=%u ret %.17g vs %.17g\n", name, n, seed, rx, ry);
  }
}
int main() {
CALLS
  std::printf("DONE %ld\n", checks);
  return 0;
}
"""


def driver_source(cands_by_case: dict[str, list[Candidate]]) -> str:
    """One translation unit: every case, its candidates as copies, and the differential ``main``."""
    return differential_source(HEADER, _MAIN, [(name, case_source(name), case_site(name), cands)
                                               for name, cands in cands_by_case.items()])
