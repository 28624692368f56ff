"""Input plans: constraint inference from how the function uses its parameters, and input specs."""

from pathlib import Path

import pytest

from parevo.toolchain.inputs import find_spec, load_spec, plan_inputs, spec_from_dict
from parevo.toolchain.models import HarnessError
from parevo.toolchain.parsing import find_loop, find_marked_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MARK = "// parevo: select the loop below"


def site_of(src: str, path: str = "/tmp/parevo_test.cpp"):
    return find_loop(src, path, find_marked_lines(src)[0])


def plan_of(src: str, spec=None):
    return plan_inputs(site_of(src), spec)


def example_plan(name: str):
    path = EXAMPLES / name
    return plan_inputs(site_of(path.read_text(), str(path)))


def length_at(plan, pname: str, n: int, level: int = 0):
    sizes = plan.size_at(n)
    return sizes[plan.param(pname).lengths[level]]


def test_loop_bound_parameter_is_n_and_pointers_follow():
    plan = example_plan("saxpy.cpp")
    assert plan.param("n").role == "size"
    assert plan.size_at(100)[plan.param("n").values.bound] == 100
    assert length_at(plan, "x", 100) == 100 and length_at(plan, "y", 100) == 100
    assert plan.param("y").output and not plan.param("x").output
    assert plan.param("a").role == "scalar"


def test_container_size_bound_is_n():
    plan = example_plan("sum_squares.cpp")
    assert length_at(plan, "a", 37) == 37
    plan = example_plan("prefix_sum.cpp")
    assert length_at(plan, "out", 37) == 37
    assert plan.param("out").output


def test_histogram_keys_index_bins_of_size_m():
    plan = example_plan("histogram.cpp")
    keys = plan.param("keys")
    assert keys.values.kind == "index"
    assert plan.size_at(1000)[keys.values.bound] == plan.m == 256
    assert length_at(plan, "hist", 1000) == 256
    assert length_at(plan, "keys", 1000) == 1000


def test_csr_offsets_are_monotone_and_arrays_follow_the_last_offset():
    plan = example_plan("spmv_csr.cpp")
    assert plan.param("offsets").values.kind == "offsets"
    assert length_at(plan, "offsets", 50) == 51
    sizes = {s.name: s.expr for s in plan.sizes}
    assert sizes[plan.param("vals").lengths[0]] == "last(offsets)"
    assert sizes[plan.param("cols").lengths[0]] == "last(offsets)"
    assert plan.param("cols").values.kind == "index"
    assert plan.param("cols").values.bound == plan.param("x").lengths[0]
    # offsets are generated before the arrays sized by their last element
    steps = plan.steps
    assert steps.index("p:offsets") < steps.index(plan.param("vals").lengths[0])


def test_bfs_in_neighbours_index_dist():
    plan = example_plan("bfs_step.cpp")
    assert plan.param("offsets").values.kind == "offsets"
    assert plan.param("in_nbrs").values.kind == "index"
    assert plan.param("in_nbrs").values.bound == plan.param("dist").lengths[0]
    assert length_at(plan, "dist", 64) == 64


def test_nested_vector_inner_length_from_use():
    plan = example_plan("matvec_nested.cpp")
    assert length_at(plan, "m", 10) == 10
    assert plan.param("m").lengths[1] == plan.param("x").lengths[0] or \
        length_at(plan, "m", 10, 1) == length_at(plan, "x", 10)
    assert length_at(plan, "y", 10) == 10


def test_stencil_neighbours_need_n_elements():
    plan = example_plan("stencil.cpp")
    assert length_at(plan, "in", 20) == 20
    assert length_at(plan, "out", 20) == 20


def test_struct_field_used_as_divisor_stays_away_from_zero():
    plan = example_plan("particles.cpp")
    ps = plan.param("ps")
    assert ps.fields["mass"].min >= 0.5
    assert ps.fields["x"].min == -1.0
    assert ps.output


def test_sqrt_makes_values_non_negative():
    plan = example_plan("vec3_norms.cpp")
    assert plan.param("pts").values.min == 0.0
    assert plan.param("pts").lengths[1] is None  # std::array level: fixed


def test_push_back_output_starts_empty():
    plan = example_plan("filter_positive.cpp")
    assert plan.param("out").built


def test_constant_index_keeps_container_non_empty():
    plan = example_plan("argmin.cpp")
    assert length_at(plan, "a", 0) == 1
    assert length_at(plan, "a", 10) == 10


def test_flattened_2d_index_needs_n_times_m():
    src = f"""
#include <vector>
void rowsum(const std::vector<double>& A, std::vector<double>& out, int rows, int cols) {{
  {MARK}
  for (int i = 0; i < rows; ++i) {{
    double s = 0;
    for (int j = 0; j < cols; ++j) s += A[i * cols + j];
    out[i] = s;
  }}
}}
"""
    plan = plan_of(src)
    sizes = plan.size_at(10)
    assert sizes[plan.param("rows").values.bound] == 10
    assert sizes[plan.param("cols").values.bound] == plan.m
    assert length_at(plan, "A", 10) == 10 * plan.m
    assert length_at(plan, "out", 10) == 10


def test_locals_and_range_for_elements_are_followed():
    src = f"""
#include <vector>
struct Edge {{ int u; int v; double w; }};
void relax(const std::vector<Edge>& edges, std::vector<double>& dist, std::vector<int>& hits) {{
  {MARK}
  for (const Edge& e : edges) {{
    int k = e.v;
    dist[e.u] += e.w;
    hits[k]++;
  }}
}}
"""
    plan = plan_of(src)
    edges = plan.param("edges")
    assert length_at(plan, "edges", 9) == 9
    assert edges.fields["u"].kind == "index" and edges.fields["u"].bound == plan.param("dist").lengths[0]
    assert edges.fields["v"].kind == "index" and edges.fields["v"].bound == plan.param("hits").lengths[0]
    assert edges.fields["w"].kind == "values"


def test_size_tie_from_comparison():
    src = f"""
#include <vector>
#include <stdexcept>
double f(const std::vector<double>& a, const std::vector<double>& b) {{
  if (a.size() != b.size()) throw std::runtime_error("sizes");
  double s = 0;
  {MARK}
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}}
"""
    plan = plan_of(src)
    assert plan.param("a").lengths[0] == plan.param("b").lengths[0]


def test_scalar_used_as_index_stays_in_range():
    src = f"""
#include <vector>
double pick(const std::vector<double>& a, int k) {{
  double s = 0;
  {MARK}
  for (size_t i = 0; i < a.size(); ++i) s += a[i];
  return s + a[k];
}}
"""
    plan = plan_of(src)
    k = plan.param("k")
    assert k.role == "index" and k.values.bound == plan.param("a").lengths[0]


def test_integer_divisor_parameter_is_positive():
    src = f"""
#include <vector>
void bucket(const std::vector<int>& a, std::vector<int>& out, int width) {{
  {MARK}
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] / width;
}}
"""
    plan = plan_of(src)
    assert plan.param("width").values.min >= 1


def test_parallel_for_call_defines_n():
    src = f"""
#include <vector>
#include <parlay/parallel.h>
void twice(const std::vector<double>& a, std::vector<double>& out) {{
  {MARK}
  parlay::parallel_for(0, a.size(), [&](size_t i) {{ out[i] = 2 * a[i]; }});
}}
"""
    plan = plan_of(src)
    assert length_at(plan, "a", 33) == 33 and length_at(plan, "out", 33) == 33


def test_type_aliases_and_array_parameters():
    src = f"""
#include <vector>
using Vec = std::vector<float>;
typedef double real;
void f(const Vec& a, real out[], int n) {{
  {MARK}
  for (int i = 0; i < n; ++i) out[i] = a[i];
}}
"""
    plan = plan_of(src)
    assert plan.param("a").storage == "std::vector<float>"
    assert plan.param("out").storage == "parevo::buffer<double>"
    assert plan.param("out").output


# ------------------------------------------------------------------ unsupported parameters


@pytest.mark.parametrize(
    "decl, needle",
    [
        ("const std::map<int, int>& table", "std::map"),
        ("int (*fn)(int)", "fn"),
        ("double** rows", "pointer to a pointer"),
        ("const Opaque& o", "not a struct defined in this file"),
        ("const Node& node", "pointer"),
        ("const Secret& s", "private fields"),
    ],
)
def test_unsupported_parameter_raises_with_name_type_and_fix(decl, needle):
    src = f"""
#include <map>
#include <vector>
struct Node {{ int v; Node* next; }};
class Secret {{ int x; }};
void f({decl}, std::vector<int>& out) {{
  {MARK}
  for (size_t i = 0; i < out.size(); ++i) out[i] = 1;
}}
"""
    with pytest.raises(HarnessError) as exc:
        plan_of(src)
    msg = str(exc.value)
    name = decl.replace("(*", " ").replace(")", " ").split()[-2 if "(" in decl else -1]
    assert f"`{name.strip('*&')}`" in msg or "parameter" in msg
    assert needle in msg


def test_member_function_and_template_are_refused():
    src = f"""
#include <vector>
struct Acc {{
  std::vector<double> data;
  double sum() const {{
    double s = 0;
    {MARK}
    for (size_t i = 0; i < data.size(); ++i) s += data[i];
    return s;
  }}
}};
"""
    with pytest.raises(HarnessError, match="member function"):
        plan_of(src)
    src = f"""
#include <vector>
template <class T>
T total(const std::vector<T>& a) {{
  T s = 0;
  {MARK}
  for (size_t i = 0; i < a.size(); ++i) s += a[i];
  return s;
}}
"""
    with pytest.raises(HarnessError, match="template"):
        plan_of(src)


# ------------------------------------------------------------------ input specs


SPMV = (EXAMPLES / "spmv_csr.cpp")


def test_spec_overrides_lengths_values_and_indices(tmp_path):
    spec_file = tmp_path / "parevo.inputs.toml"
    spec_file.write_text(
        """
m = 64
[spmv]
min_n = 2
[spmv.x]
length = "n+1"
[spmv.vals]
min = 2.0
max = 3.0
[spmv.offsets]
max_degree = 3
"""
    )
    spec = load_spec(spec_file)
    plan = plan_inputs(site_of(SPMV.read_text(), str(SPMV)), spec)
    assert plan.m == 64 and plan.min_n == 2
    assert length_at(plan, "x", 10) == 11
    assert (plan.param("vals").values.min, plan.param("vals").values.max) == (2.0, 3.0)
    assert plan.param("offsets").values.max_degree == 3
    # cols still index x, whose length is now n+1
    assert plan.param("cols").values.bound == plan.param("x").lengths[0]


def test_spec_index_of_and_value(tmp_path):
    src = f"""
#include <vector>
void f(const std::vector<int>& keys, std::vector<int>& out, int shift) {{
  {MARK}
  for (size_t i = 0; i < keys.size(); ++i) out[i] = keys[i] + shift;
}}
"""
    spec = spec_from_dict({"f": {"keys": {"kind": "index", "index_of": "out"}, "shift": {"value": 3},
                                 "out": {"length": 10}}})
    plan = plan_of(src, spec)
    assert plan.param("keys").values.kind == "index"
    assert plan.param("shift").values.kind == "const" and plan.param("shift").values.value == 3
    assert length_at(plan, "out", 1000) == 10


def test_spec_errors_are_harness_errors(tmp_path):
    with pytest.raises(HarnessError, match="no parameter `nope`"):
        plan_inputs(site_of(SPMV.read_text(), str(SPMV)), spec_from_dict({"spmv": {"nope": {"min": 1}}}))
    with pytest.raises(HarnessError, match="invalid input spec"):
        spec_from_dict({"spmv": {"x": {"lenght": "n"}}})
    with pytest.raises(HarnessError, match="unknown name"):
        plan_inputs(site_of(SPMV.read_text(), str(SPMV)), spec_from_dict({"spmv": {"x": {"length": "q+1"}}}))
    bad = tmp_path / "bad.toml"
    bad.write_text("m = = 3")
    with pytest.raises(HarnessError, match="not valid TOML"):
        load_spec(bad)


def test_find_spec_beside_the_source(tmp_path):
    src = tmp_path / "k.cpp"
    src.write_text("int main() { return 0; }\n")
    assert find_spec(src) is None
    (tmp_path / "parevo.inputs.toml").write_text("m = 32\n")
    assert find_spec(src).m == 32


def test_plan_describe_is_json():
    import json

    plan = example_plan("spmv_csr.cpp")
    d = json.loads(plan.describe_json())
    assert d["function"] == "spmv"
    assert {p["name"] for p in d["params"]} == {"offsets", "cols", "vals", "x", "y", "rows"}


def test_searched_scalar_is_present_on_even_seeds_and_absent_on_odd():
    plan = example_plan("find_first.cpp")
    t = plan.param("target").values
    assert t.kind == "search" and t.of == "a" and t.value == 11
    assert plan.steps.index("p:a") < plan.steps.index("p:target")
    spec = spec_from_dict({"find_first": {"target": {"min": 0, "max": 3}}})
    plan = plan_inputs(site_of((EXAMPLES / "find_first.cpp").read_text()), spec)
    assert plan.param("target").values.kind == "values"
