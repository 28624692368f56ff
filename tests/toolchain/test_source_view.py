"""Code tree-sitter-cpp cannot read as written (issue 13, item 6): CUDA files read for their host code,
loops written through a macro refused with a sentence naming the macro, and errors elsewhere in the
file not blocking a function that parses. Every view keeps the document's bytes and lines, so the
site's spans (and the edits computed on them) are the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from parevo.toolchain.models import ParseFailure
from parevo.toolchain.parsing import find_loop, site_in_text
from parevo.toolchain.source_view import cuda_host_view

pytestmark = pytest.mark.fast

CUDA = """#include <vector>

__global__ void scale(float* x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= 2.0f;  // é
}

__device__ __forceinline__ float sq(float v) { return v * v; }
__constant__ float coeff[4];

void run(float* dx, int n) {
  scale<<<(n + 255) / 256, 256>>>(dx, n);
}

__host__ double sum_squares(const double* a, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) {
    s += a[i] * a[i];
  }
  return s;
}

__host__ __device__ void prepare(float* h, float* dx, int n) {
  for (int i = 0; i < n; ++i) h[i] = i;
  scale<<<1, 32>>>(dx, n);
}
"""

GOOD = """double sum_squares(const double* a, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) {
    s += a[i] * a[i];
  }
  return s;
}
"""


def _line(src: str, text: str) -> int:
    return next(i for i, ln in enumerate(src.splitlines()) if text in ln)


def test_cuda_host_view_keeps_bytes_and_lines_and_blanks_device_code():
    view = cuda_host_view(CUDA)
    assert len(view.text.encode()) == len(CUDA.encode()) and view.text.count("\n") == CUDA.count("\n")
    kept = b"double sum_squares(const double* a, int n) {"
    assert view.text.encode().index(kept) == CUDA.encode().index(kept)  # bytes (a blanked é is two spaces)
    for gone in ("__global__", "__device__", "__host__", "__forceinline__", "__constant__", "<<<", "threadIdx",
                 "coeff"):
        assert gone not in view.text
    assert [(h.kind, h.what) for h in view.hidden if h.kind != "annotation"] == [
        ("device", "the __global__ function scale"), ("device", "the __device__ function sq"),
        ("device", "the __constant__ variable coeff"), ("launch", "the launch of the CUDA kernel scale"),
        ("launch", "the launch of the CUDA kernel scale")]
    # a launch statement is the empty statement: run() still parses as a function
    assert view.text.splitlines()[_line(CUDA, "scale<<<(n")].strip() == ";"


def test_a_host_loop_in_a_cu_file_is_read_and_its_spans_are_the_users():
    line = _line(CUDA, "for (int i = 0; i < n; ++i) {")
    site = find_loop(CUDA, "/w/k.cu", line)
    assert site.function_name == "sum_squares" and site.loop.start_line == line
    assert CUDA.encode()[site.loop.start_byte:site.loop.end_byte].decode() == site.loop_text
    assert "__host__" not in site.source and "__global__" not in site.source
    # found again in a later version of the document (the store's lookup after a restart)
    again = site_in_text(site.info(), "// moved\n" + CUDA)
    assert again is not None and again.loop.start_line == line + 1


def test_cuda_device_code_and_a_function_that_launches_a_kernel_are_refused_by_name():
    with pytest.raises(ParseFailure, match=r"k.cu:5 is in the __global__ function scale \(line 3\).*device code"):
        find_loop(CUDA, "/w/k.cu", 4)
    with pytest.raises(ParseFailure, match=r"in prepare\(\), which makes the launch of the CUDA kernel scale "
                                           r"\(line 25\)"):
        find_loop(CUDA, "/w/k.cu", _line(CUDA, "h[i] = i"))


def test_the_same_text_as_cpp_is_not_read_as_cuda():
    with pytest.raises(ParseFailure, match="does not parse"):
        find_loop(CUDA, "/w/k.cpp", _line(CUDA, "for (int i = 0; i < n; ++i) {"))


@pytest.mark.parametrize("before", ["int x = ;\n@@@ garbage $$\n", "struct P { int x; }\n", "template <class T\n"])
def test_errors_before_a_function_that_parses_do_not_block_it(before):
    src = before + GOOD + "void h() { int y = ; }\n"
    line = _line(src, "for (int i")
    site = find_loop(src, "/w/t.cpp", line)
    assert site.function_name == "sum_squares" and site.loop.start_line == line
    assert len(site.source.encode()) == len(src.encode()) and site.function_text in src
    assert site_in_text(site.info(), src) is not None


def test_an_error_inside_the_function_still_blocks_it():
    src = "int x = ;\n" + GOOD.replace("double s = 0;", "double s = ;")
    with pytest.raises(ParseFailure, match=r"t.cpp:3:.*does not parse"):
        find_loop(src, "/w/t.cpp", _line(src, "for (int i"))


MACRO = (Path(__file__).resolve().parents[1] / "server" / "data" / "macro_loop.cpp").read_text()


@pytest.mark.parametrize("text", ["FOR(i, a.size())", "s += a[i] * a[i];"])
def test_a_loop_written_through_a_macro_is_refused_naming_the_macro(text):
    with pytest.raises(ParseFailure, match=r"t.cpp:7: the loop is written through the macro FOR \(defined at "
                                           r"line 3\).*does not expand macros"):
        find_loop(MACRO, "/w/t.cpp", _line(MACRO, text))
    header = MACRO.replace("#define FOR(i, n) for (size_t i = 0; i < (n); ++i)\n", '#include "loops.h"\n')
    with pytest.raises(ParseFailure, match=r"macro FOR \(not defined in this file\)"):
        find_loop(header, "/w/t.cpp", _line(header, text))


def test_the_host_code_of_a_cu_file_compiles_and_runs_in_the_harness(harness_build, tmp_path):
    """g++ builds the harness around the host view (kernels, launches and qualifiers blanked) and the
    original runs on generated inputs."""
    from parevo.toolchain.harness import original_source
    from parevo.toolchain.inputs import plan_inputs

    site = find_loop(CUDA, str(tmp_path / "k.cu"), _line(CUDA, "for (int i = 0; i < n; ++i) {"))
    exe = harness_build.exe(original_source(site, plan_inputs(site)))
    got, res = harness_build.dump(exe, "check", ["0:1", "17:2"])
    assert res.returncode == 0 and len(got) == 2 and all(c.complete for c in got)
