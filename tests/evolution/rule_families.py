"""Loops whose inputs the shared small-loop driver (``rule_cases``) cannot give: graphs, arrays to sort,
matrices, standard-algorithm calls. Each family has its own signature, input generator and comparison;
``family_driver`` builds one translation unit holding every case of a family, every candidate as a renamed
copy, and a ``main`` that runs original and candidate on fresh copies of the same inputs for several sizes
and seeds and prints one ``MISMATCH`` line per difference, then ``DONE <checks>``."""

from __future__ import annotations

from dataclasses import dataclass

from parevo.evolution.candidates import Candidate
from parevo.toolchain.parsing import find_loop, find_marked_lines
from parevo.toolchain.site import ParsedSite

from rule_check import differential_source

HEADER = """#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <numeric>
#include <queue>
#include <vector>
struct Item { int key; double w; };
"""


@dataclass
class Family:
    """``sig``: the case functions' parameters; ``main``: the driver (``CALLS`` is replaced by the checks);
    ``cases``: name → (declarations, the loop, the statement after it)."""

    sig: str
    main: str
    cases: dict[str, tuple[str, str, str]]


#: The level-synchronous BFS loop of the benchmark kernel, shared by cases that differ in their sources.
_BFS_LEVELS = """while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (dist[v] == -1) { dist[v] = dist[u] + 1; next.push_back(v); }
      }
    }
    frontier.swap(next);
  }"""

_GRAPH_MAIN = r"""
struct Inputs { std::vector<int> off, adj, dist, label; int src, nv; };
static Inputs make(int nv, unsigned seed) {
  Inputs in; in.nv = nv; in.src = nv > 0 ? (int)((seed * 7919u) % (unsigned)nv) : 0;
  unsigned s = seed * 2654435761u + 12345u;
  auto rnd = [&]() { s = s * 1664525u + 1013904223u; return s >> 8; };
  in.off.push_back(0);
  for (int v = 0; v < nv; ++v) {
    int d = (int)(rnd() % 5);
    for (int k = 0; k < d; ++k) in.adj.push_back((int)(rnd() % (unsigned)nv));
    in.off.push_back((int)in.adj.size());
  }
  in.dist.assign(nv, -1); in.label.resize(nv);
  for (int v = 0; v < nv; ++v) in.label[v] = (int)(rnd() % 1000);
  return in;
}
typedef long (*Fn)(const std::vector<int>&, const std::vector<int>&, std::vector<int>&, std::vector<int>&, int, int);
static long checks = 0;
static void check(const char* name, Fn ref, Fn cand) {
  const int sizes[] = {1, 2, 3, 7, 64, 1000, 30011};
  for (int n : sizes) for (unsigned seed = 1; seed <= 3; ++seed) {
    Inputs x = make(n, seed), y = make(n, seed);
    long rx = ref(x.off, x.adj, x.dist, x.label, x.src, x.nv);
    long ry = cand(y.off, y.adj, y.dist, y.label, y.src, y.nv);
    ++checks;
    if (rx != ry || x.dist != y.dist || x.label != y.label)
      std::printf("MISMATCH %s n=%d seed=%u ret %ld vs %ld\n", name, n, seed, rx, ry);
  }
}
int main() {
CALLS
  std::printf("DONE %ld\n", checks);
  return 0;
}
"""

GRAPH = Family(
    sig=("const std::vector<int>& off, const std::vector<int>& adj, std::vector<int>& dist, std::vector<int>& label, "
         "int src, int nv"),
    main=_GRAPH_MAIN,
    cases={
        "bfs": ("dist[src] = 0; std::vector<int> frontier(1, src);", _BFS_LEVELS, "return 0;"),
        "bfs_parent": ("dist[src] = src; std::vector<int> frontier(1, src); std::vector<int> next; long levels = 0;",
                       """while (frontier.size() > 0) {
    next.clear();
    ++levels;
    for (size_t k = 0; k < frontier.size(); ++k) {
      int u = frontier[k];
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (dist[v] < 0) { dist[v] = u; label[v] = label[u] + e; next.push_back(v); }
      }
    }
    std::swap(frontier, next);
  }""", "return levels;"),
        "bfs_start_twice": ("std::vector<int> frontier; if (nv > 0) { frontier.push_back(src); frontier.push_back(src); "
                            "dist[src] = 7; }", """while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (dist[v] == -1) { dist[v] = dist[u] + 1; next.push_back(v); }
      }
    }
    frontier = next;
  }""", "return 0;"),
        "bfs_cond_kept": ("std::vector<int> frontier; if (nv > 0) { frontier.push_back(src); dist[src] = 0; }",
                          """while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (dist[v] < 2) { dist[v] = dist[v] + 1; next.push_back(v); }
      }
    }
    frontier.swap(next);
  }""", "return 0;"),
        "bfs_queue": ("std::queue<int> q; if (nv > 0) { q.push(src); dist[src] = 0; }", """while (!q.empty()) {
    int u = q.front();
    q.pop();
    for (int e = off[u]; e < off[u + 1]; ++e) {
      int v = adj[e];
      if (dist[v] == -1) { dist[v] = dist[u] + 1; q.push(v); }
    }
  }""", "return static_cast<long>(q.size());"),
        "bfs_deque_parent": ("std::deque<int> q; if (nv > 0) { q.push_back(src); q.push_back(src); dist[src] = src; }",
                             """while (q.size() > 0) {
    const auto u = q.front(); q.pop_front();
    for (int e = off[u]; e < off[u + 1]; ++e) {
      int v = adj[e];
      if (dist[v] < 0) { dist[v] = u; label[v] = label[u] + e; q.push_back(v); }
    }
  }""", "return 0;"),
        "bfs_do": ("std::vector<int> frontier; if (nv > 0) { frontier.push_back(src); dist[src] = 0; }", """do {
    std::vector<int> next;
    for (int u : frontier)
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (dist[v] == -1) { dist[v] = dist[u] + 1; next.push_back(v); }
      }
    frontier = std::move(next);
  } while (!frontier.empty());""", "return static_cast<long>(frontier.size());"),
        "bfs_two_sources": ("std::vector<int> frontier; if (nv > 0) { frontier.push_back(src); dist[src] = 0; "
                            "int o = (src + 1) % nv; if (o != src) { frontier.push_back(o); dist[o] = 3; } }",
                            _BFS_LEVELS, "return 0;"),
        # many sources at distance 0 (equal reads: a level whose blocks claim in parallel), then weighted
        # distances (reads differ: the next level runs as written, in the order the first level left)
        "bfs_many_sources": ("std::vector<int> frontier; for (int k = 0; k < nv; k += 3) { frontier.push_back(k); "
                             "dist[k] = 0; }",
                             """while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (dist[v] == -1) { dist[v] = dist[u] + 1 + label[v] % 7; next.push_back(v); }
      }
    }
    frontier.swap(next);
  }""", "return 0;"),
        "bfs_masked": ("std::vector<int> frontier; if (nv > 0) { frontier.push_back(src); dist[src] = 0; }",
                       """while (!frontier.empty()) {
    std::vector<int> next;
    for (size_t k = 0; k < frontier.size(); ++k) {
      int u = frontier[k];
      for (long e = off[u]; e < off[u + 1]; e++) {
        const int v = adj[e];
        if (dist[v] < 0 && label[v] % 5 != 0) { dist[v] = dist[u] + 2; label[v] = dist[u] - 1; next.push_back(v); }
      }
    }
    frontier.swap(next);
  }""", "return 0;"),
        "bfs_claim_stays": ("std::vector<int> frontier; if (nv > 0) { frontier.push_back(src); dist[src] = 1; }",
                            """while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (dist[v] == -1) { dist[v] = dist[u] - 1; next.push_back(v); }
      }
    }
    frontier.swap(next);
  }""", "return 0;"),
        "bfs_half_range": ("std::vector<int> half(nv / 2 + 1, -1); std::vector<int> frontier; "
                           "if (nv > 0) { frontier.push_back(0); half[0] = 0; }", """while (!frontier.empty()) {
    std::vector<int> next;
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (v <= nv / 2 && half[v] == -1) { half[v] = half[u] + 1; next.push_back(v); }
      }
    }
    frontier.swap(next);
  }""", "for (int i = 0; i < nv && i <= nv / 2; ++i) dist[i] = half[i];\n  return 0;"),
        "bfs_mask_moves": ("std::vector<int> frontier; if (nv > 0) { frontier.push_back(src); dist[src] = 0; } "
                           "long levels = 0;", """while (!frontier.empty()) {
    std::vector<int> next;
    ++levels;
    label[static_cast<int>(levels) % nv] += 5;
    for (int u : frontier) {
      for (int e = off[u]; e < off[u + 1]; ++e) {
        int v = adj[e];
        if (dist[v] == -1 && label[v] % 5 != 0) { dist[v] = dist[u] + 1; next.push_back(v); }
      }
    }
    frontier.swap(next);
  }""", "return levels;"),
        "labels_min": ("for (int v = 0; v < nv; ++v) label[v] = v; bool changed = true;", """while (changed) {
    changed = false;
    for (int v = 0; v < nv; ++v) {
      for (int e = off[v]; e < off[v + 1]; ++e) {
        int u = adj[e];
        if (label[u] < label[v]) { label[v] = label[u]; changed = true; }
      }
    }
  }""", "return 0;"),
        "labels_max_do": ("bool changed = false;", """do {
    changed = false;
    for (int v = 0; v < nv; ++v)
      for (int e = off[v]; e < off[v + 1]; ++e)
        if (label[v] < label[adj[e]]) { label[v] = label[adj[e]]; changed = true; }
  } while (changed);""", "return 0;"),
    },
)

_SORT_MAIN = r"""
static std::vector<int> ints(int n, unsigned seed, int range) {
  std::vector<int> a(n); unsigned s = seed * 2654435761u + 7u;
  for (int i = 0; i < n; ++i) { s = s * 1664525u + 1013904223u; a[i] = (int)((s >> 8) % (unsigned)range) - range / 2; }
  return a;
}
typedef long (*Fn)(std::vector<int>&, std::vector<Item>&, int);
static long checks = 0;
static void check(const char* name, Fn ref, Fn cand) {
  const int sizes[] = {0, 1, 2, 3, 7, 64, 1000, 3001};
  for (int n : sizes) for (unsigned seed = 1; seed <= 3; ++seed) for (int range : {5, 100000}) {
    std::vector<int> x = ints(n, seed, range), y = x, k = ints(n, seed + 9, range);
    std::vector<Item> px(n), py;
    for (int i = 0; i < n; ++i) px[i] = Item{k[i], (double)i};
    py = px;
    long rx = ref(x, px, n), ry = cand(y, py, n);
    ++checks;
    bool same = rx == ry && x == y;
    for (int i = 0; same && i < n; ++i) same = px[i].key == py[i].key && px[i].w == py[i].w;
    if (!same) std::printf("MISMATCH %s n=%d seed=%u range=%d\n", name, n, seed, range);
  }
}
int main() {
CALLS
  std::printf("DONE %ld\n", checks);
  return 0;
}
"""

SORT = Family(
    sig="std::vector<int>& a, std::vector<Item>& items, int n",
    main=_SORT_MAIN,
    cases={
        "insertion_a": ("", """for (size_t i = 1; i < a.size(); ++i) {
    int key = a[i];
    size_t j = i;
    while (j > 0 && a[j - 1] > key) { a[j] = a[j - 1]; --j; }
    a[j] = key;
  }""", "return 0;"),
        "insertion_b_desc": ("", """for (int i = 1; i < n; ++i) {
    int key = a[i]; int j = i - 1;
    while (j >= 0 && a[j] < key) { a[j + 1] = a[j]; --j; }
    a[j + 1] = key;
  }""", "return 0;"),
        "insertion_field": ("", """for (int i = 0; i < n; ++i) {
    Item key = items[i]; int j = i;
    for (; j > 0 && items[j - 1].key > key.key; --j) items[j] = items[j - 1];
    items[j] = key;
  }""", "return 0;"),
        "insertion_outside_index": ("long i;", """for (i = 1; i < n; ++i) {
    int key = a[i]; long j = i - 1;
    while (j >= 0 && a[j] > key) { a[j + 1] = a[j]; --j; }
    a[j + 1] = key;
  }""", "return i;"),
    },
)

_NEST_MAIN = r"""
typedef long (*Fn)(std::vector<std::vector<double>>&, std::vector<double>&, int);
static long checks = 0;
static void check(const char* name, Fn ref, Fn cand) {
  const int sizes[] = {0, 1, 2, 3, 7, 40, 130};
  for (int n : sizes) for (unsigned seed = 1; seed <= 2; ++seed) {
    std::vector<std::vector<double>> A(n, std::vector<double>(n)); std::vector<double> x(n);
    unsigned s = seed * 2654435761u + 3u;
    for (int i = 0; i < n; ++i) { x[i] = i; for (int j = 0; j < n; ++j) {
      s = s * 1664525u + 1013904223u; A[i][j] = ((s >> 8) % 1000) / 100.0 + (i == j ? 50.0 : 0.0); } }
    auto B = A; auto y = x;
    long rx = ref(A, x, n), ry = cand(B, y, n);
    ++checks;
    bool same = rx == ry;
    for (int i = 0; same && i < n; ++i) { same = std::fabs(x[i] - y[i]) <= 1e-9 * (1 + std::fabs(x[i]));
      for (int j = 0; same && j < n; ++j) same = std::fabs(A[i][j] - B[i][j]) <= 1e-9 * (1 + std::fabs(A[i][j])); }
    if (!same) std::printf("MISMATCH %s n=%d seed=%u\n", name, n, seed);
  }
}
int main() {
CALLS
  std::printf("DONE %ld\n", checks);
  return 0;
}
"""

NEST = Family(
    sig="std::vector<std::vector<double>>& A, std::vector<double>& x, int n",
    main=_NEST_MAIN,
    cases={
        "gauss_elimination": ("", """for (int k = 0; k < n; ++k) {
    for (int i = k + 1; i < n; ++i) {
      const double f = A[i][k] / A[k][k];
      for (int j = k; j < n; ++j) A[i][j] -= f * A[k][j];
      x[i] -= f * x[k];
    }
  }""", "return 0;"),
        "time_steps": ("std::vector<double> tmp(n); long steps = 0;", """for (int step = 0; step < 5; ++step) {
    for (int i = 1; i + 1 < n; ++i) tmp[i] = 0.25 * (x[i - 1] + 2 * x[i] + x[i + 1]);
    for (int i = 1; i + 1 < n; ++i) x[i] = tmp[i];
    ++steps;
  }""", "return steps;"),
    },
)

_STL_MAIN = r"""
typedef double (*Fn)(std::vector<double>&, std::vector<double>&, std::vector<int>&, double);
static long checks = 0;
static void check(const char* name, Fn ref, Fn cand) {
  const int sizes[] = {0, 1, 2, 3, 7, 64, 1000, 100003};
  for (int n : sizes) for (unsigned seed = 1; seed <= 2; ++seed) {
    std::vector<double> a(n), out(n, 0.5); std::vector<int> v(n);
    unsigned s = seed * 2654435761u + 5u;
    for (int i = 0; i < n; ++i) { s = s * 1664525u + 1013904223u; a[i] = ((int)((s >> 8) % 2001) - 1000) / 1000.0;
                                  v[i] = (int)((s >> 4) % 97); }
    auto a2 = a; auto out2 = out; auto v2 = v;
    double rx = ref(a, out, v, 0.25), ry = cand(a2, out2, v2, 0.25);
    ++checks;
    bool same = std::fabs(rx - ry) <= 1e-9 * (1 + std::fabs(rx)) && a == a2 && v == v2;
    for (int i = 0; same && i < n; ++i) same = std::fabs(out[i] - out2[i]) <= 1e-9 * (1 + std::fabs(out[i]));
    if (!same) std::printf("MISMATCH %s n=%d seed=%u ret %.17g vs %.17g\n", name, n, seed, rx, ry);
  }
}
int main() {
CALLS
  std::printf("DONE %ld\n", checks);
  return 0;
}
"""

STL = Family(
    sig="std::vector<double>& a, std::vector<double>& out, std::vector<int>& v, double t",
    main=_STL_MAIN,
    cases={
        "accumulate": ("", "double s = std::accumulate(a.begin(), a.end(), 1.5);", "return s;"),
        "accumulate_int": ("", "long s = std::accumulate(v.begin(), v.end(), 0L);", "return (double)s;"),
        "accumulate_mul": ("", "return std::accumulate(a.begin(), a.begin() + a.size() / 2, 1.0, "
                               "std::multiplies<double>());", ""),
        "reduce": ("", "double s = std::reduce(a.begin(), a.end());", "return s;"),
        "transform": ("", "std::transform(a.begin(), a.end(), out.begin(), [&](double x) { return x * t + 1; });",
                      "return 0;"),
        "transform_binary": ("", "auto e = std::transform(a.begin(), a.end(), out.begin(), out.begin(), "
                                 "[](double x, double y) { return x - y; });", "return (double)(e - out.begin());"),
        "count_if": ("", "long c = std::count_if(a.begin(), a.end(), [&](double x) { return x > t; });",
                     "return (double)c;"),
        "count": ("", "auto c = std::count(v.begin(), v.end(), 3);", "return (double)c;"),
        "min_element": ("", "auto it = std::min_element(a.begin(), a.end());",
                        "return a.empty() ? -1.0 : (double)(it - a.begin()) + *it;"),
        "max_element_cmp": ("", "auto it = std::max_element(v.begin(), v.end(), [](int x, int y) { return x % 10 < "
                                "y % 10; });", "return v.empty() ? -1.0 : (double)(it - v.begin());"),
        "inclusive_scan": ("", "std::inclusive_scan(a.begin(), a.end(), out.begin());", "return 0;"),
        "partial_sum_inplace": ("", "std::partial_sum(v.begin(), v.end(), v.begin());", "return 0;"),
    },
)

_NAN_MAIN = r"""
typedef double (*Fn)(const std::vector<double>&, const std::vector<int>&, int);
static long checks = 0;
static void check(const char* name, Fn ref, Fn cand) {
  const int sizes[] = {0, 1, 2, 3, 7, 64, 1000, 100003};
  for (int n : sizes) for (unsigned seed = 1; seed <= 3; ++seed) {
    std::vector<double> a(n); std::vector<int> k(n); unsigned s = seed * 2654435761u + 11u;
    for (int i = 0; i < n; ++i) { s = s * 1664525u + 1013904223u; a[i] = ((int)((s >> 8) % 2001) - 1000) / 100.0;
      if ((s >> 3) % 7 == 0 || (seed == 3 && i == 0)) a[i] = std::nan(""); k[i] = (int)((s >> 5) % 10); }
    double rx = ref(a, k, n), ry = cand(a, k, n);
    ++checks;
    if (!(rx == ry || (rx != rx && ry != ry))) std::printf("MISMATCH %s n=%d seed=%u ret %.17g vs %.17g\n", name, n, seed,
                                                            rx, ry);
  }
}
int main() {
CALLS
  std::printf("DONE %ld\n", checks);
  return 0;
}
"""

NAN = Family(
    sig="const std::vector<double>& a, const std::vector<int>& k, int n",
    main=_NAN_MAIN,
    cases={
        "min_if": ("double best = 1e300;", "for (int i = 0; i < n; ++i) { if (a[i] < best) best = a[i]; }",
                   "return best;"),
        "max_std": ("double best = -1e300;", "for (int i = 0; i < n; ++i) best = std::max(best, a[i]);",
                    "return best;"),
        "min_filtered": ("double best = 1e300;", "for (int i = 0; i < n; ++i) { if (k[i] > 4 && a[i] < best) "
                                                 "best = a[i]; }", "return best;"),
        "argmin": ("double best = 1e300; int bi = -1;", "for (int i = 0; i < n; ++i) { if (a[i] < best) { "
                                                        "best = a[i]; bi = i; } }", "return bi + best;"),
        "argmax_le_filtered": ("double best = -1e300; int bi = -1;", "for (int i = 0; i < n; ++i) { if (k[i] % 2 == 0 "
                               "&& a[i] >= best) { best = a[i]; bi = i; } }", "return bi + best;"),
    },
)

FAMILIES = {"graph": GRAPH, "sort": SORT, "nest": NEST, "stl": STL, "nan": NAN}


def case_source(fam: Family, name: str) -> str:
    decls, loop, after = fam.cases[name]
    return f"double fn_{name}({fam.sig}) {{\n  {decls}\n  // parevo: select the loop below\n  {loop}\n  {after}\n}}\n" \
        if fam in (STL, NAN) else \
        f"long fn_{name}({fam.sig}) {{\n  {decls}\n  // parevo: select the loop below\n  {loop}\n  {after}\n}}\n"


def case_site(fam: Family, name: str) -> ParsedSite:
    """The site of one case's loop (in a file holding only that case)."""
    src = HEADER + case_source(fam, name)
    return find_loop(src, f"{name}.cpp", find_marked_lines(src)[0])


def family_driver(fam: Family, cands_by_case: dict[str, list[Candidate]]) -> str:
    """One translation unit: every case of ``fam``, its candidates as copies, and the differential ``main``."""
    return differential_source(HEADER, fam.main, [(name, case_source(fam, name), case_site(fam, name), cands)
                                                  for name, cands in cands_by_case.items()])
