"""C++ parameter types read from tree-sitter declaration nodes into the harness's type tree."""

import pytest

from parevo.toolchain.ctypes import TypeReader, file_aliases
from parevo.toolchain.syntax import captures, parse


def parse_type(text: str, aliases: str = ""):
    """The Decl of a parameter of type ``text`` (``aliases``: the file's using/typedef lines before it),
    read from the nodes of ``void f(TEXT);``."""
    src = f"{aliases}\nvoid f({text});\n"
    root = parse(src).root_node
    param = captures("(parameter_declaration) @p", root)["p"][0]  # the outermost: f's own parameter
    return TypeReader(src.encode(), file_aliases(root)).decl(param, param.child_by_field_name("declarator"),
                                                            parameter=True)


@pytest.mark.parametrize(
    "text, kind, render, depth",
    [
        ("const std::vector<std::vector<double>>&", "vector", "std::vector<std::vector<double>>", 2),
        ("std::array<int, 16>", "array", "std::array<int, 16>", 1),
        ("double*", "pointer", "double*", 1),
        ("size_t", "scalar", "size_t", 0),
        ("std::size_t", "scalar", "std::size_t", 0),
        ("std::vector<bool>&", "vector_bool", "std::vector<bool>", 1),
        ("Particle", "struct", "Particle", 0),
        ("std::vector<Particle>&", "vector", "std::vector<Particle>", 1),
        ("unsigned long long", "scalar", "unsigned long long", 0),
        ("long unsigned int", "scalar", "unsigned long", 0),
        ("int64_t", "scalar", "int64_t", 0),
        ("float", "scalar", "float", 0),
        ("char", "scalar", "char", 0),
        ("bool", "scalar", "bool", 0),
        ("vector<int>", "vector", "std::vector<int>", 1),
        ("const std::string&", "string", "std::string", 1),
        ("std::vector<std::pair<int, int>>", "vector", "std::vector<std::pair<int, int>>", 1),
        ("std::complex<double>", "complex", "std::complex<double>", 0),
        ("parlay::sequence<int>&", "vector", "parlay::sequence<int>", 1),
        ("int[]", "pointer", "int*", 1),
        ("std::vector<int>::size_type", "scalar", "std::size_t", 0),
    ],
)
def test_shapes(text, kind, render, depth):
    d = parse_type(text)
    assert d.type.kind == kind
    assert d.type.render() == render
    assert d.type.depth == depth


def test_qualifiers_and_references():
    d = parse_type("const std::vector<double>&")
    assert d.const and d.reference == "&"
    d = parse_type("std::vector<double>&&")
    assert d.reference == "&&" and not d.const
    # west and east const on the pointee; a const pointer to mutable data
    assert parse_type("const double*").type.elem.const
    assert parse_type("double const*").type.elem.const
    d = parse_type("double* const")
    assert d.const and not d.type.elem.const
    assert parse_type("const float* __restrict__").type.render(keep_const=True) == "const float*"


def test_scalar_classes():
    assert parse_type("unsigned").type.scalar_class == "unsigned"
    assert parse_type("uint8_t").type.scalar_class == "unsigned"
    assert parse_type("std::int32_t").type.scalar_class == "signed"
    assert parse_type("long double").type.scalar_class == "long double"
    assert parse_type("signed char").type.scalar_class == "signed"
    assert parse_type("char").type.scalar_class == "char"
    assert parse_type("double").type.is_floating
    assert parse_type("short").type.is_integer
    assert parse_type("bool").type.is_bool and not parse_type("bool").type.is_integer


def test_aliases_resolve():
    aliases = "using Vec = std::vector<double>;\nusing Graph = std::vector<std::vector<int>>;\ntypedef float real;"
    assert parse_type("const Vec&", aliases).type.render() == "std::vector<double>"
    assert parse_type("Graph&", aliases).type.depth == 2
    assert parse_type("real*", aliases).type.elem.scalar == "float"


@pytest.mark.parametrize(
    "text",
    ["std::map<int, int>&", "std::unordered_map<std::string, int>", "void (*)(int)", "std::function<int(int)>",
     "auto", "std::set<int>", "std::complex<int>", "std::tuple<int, int>"],
)
def test_unsupported_types_have_a_reason(text):
    d = parse_type(text)
    bad = d.type.unsupported_parts()
    assert bad and bad[0].reason


def test_nested_unsupported_is_found():
    d = parse_type("std::vector<std::map<int, int>>")
    assert d.type.kind == "vector"
    assert d.type.unsupported_parts()[0].text.startswith("std::map")


def test_element_at_and_structs():
    t = parse_type("std::vector<std::array<Point, 3>>").type
    assert t.element_at(2).kind == "struct"
    assert t.structs() == ["Point"]
    assert parse_type("std::vector<bool>").type.element_at(1).is_bool
