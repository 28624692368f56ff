"""Names in C++ fragments read from their parse (parevo.toolchain.snippet), never from the raw text."""

from parevo.toolchain.snippet import (
    assigned_variable,
    is_identifier,
    is_number,
    is_plain_count,
    names_in,
    rename_function,
    replace_expression,
    replace_name,
    unused_constants,
    uses_any,
)


def test_a_name_is_replaced_where_it_is_a_variable_and_nowhere_else():
    text = 'printf("i = %d\\n", i); /* i */ p.i += ns::i + a[i] + i2;'
    assert replace_name(text, "i", "(lo + k)") == \
        'printf("i = %d\\n", (lo + k)); /* i */ p.i += ns::i + a[(lo + k)] + i2;'


def test_an_expression_fragment_keeps_its_layout_and_non_ascii_literals():
    text = 'x[i] > 0 && s != "é i"'
    assert replace_name(text, "i", "j") == 'x[j] > 0 && s != "é i"'
    assert replace_name(text, "absent", "j") == text


def test_uses_reads_variables_not_literals_members_or_qualified_names():
    assert names_in('f(a, "b") + p->c + std::d + e') == {"f", "a", "p", "e"}
    assert uses_any("v.size() > 0", ["v"])
    assert not uses_any('s == "v" && p.v', ["v"])


def test_unused_constants_are_read_from_declarations_of_whole_lines():
    lines = [
        "const size_t n_iter = a.size();",
        "const int lo = 3;",
        'const char* msg = "lo";',
        "parlay::parallel_for(0, n_iter, [&](size_t k) {",
        '  puts("hi");',
        "});",
    ]
    # lo appears only inside a string literal; msg declares a pointer, not a constant of the frame's form
    assert unused_constants(lines) == [1]
    assert unused_constants(["const int a = 1;", "const int b = a;", "use(b);"]) == []


def test_single_tokens_and_plain_counts():
    assert is_identifier(" n ") and not is_identifier("n + 1") and not is_identifier("std::n")
    assert is_number("1024u") and is_number("1'000") and not is_number("n")
    assert all(is_plain_count(t) for t in ("n", "64", "v.size()", "p->size()"))
    assert not any(is_plain_count(t) for t in ("n - 1", "f()", "v.size(1)", "a.b.size()", '"n"'))


def test_an_expression_is_replaced_by_its_tokens_not_its_spelling():
    cond = 'a[i]>0 && b[a[ i ]] != 2 && s != "a[i]"'
    assert replace_expression(cond, "a[i]", "v") == 'v>0 && b[v] != 2 && s != "a[i]"'
    assert replace_expression(cond, "c[i]", "v") is None


def test_the_assigned_variable_of_a_line():
    assert assigned_variable("  s += x[i] * y[i];") == "s"
    assert assigned_variable("out[i] = v; // t = 1") == "out"
    assert assigned_variable('if (a == b) puts("c = d");') is None
    assert assigned_variable("p->total = 0;") is None


def test_renaming_a_definition_leaves_calls_and_literals():
    text = 'int main(int argc, char** argv) {\n  puts("main(");\n  return main_helper();\n}'
    assert rename_function(text, "main", "user_main") == \
        'int user_main(int argc, char** argv) {\n  puts("main(");\n  return main_helper();\n}'
    assert rename_function(text, "other", "x") == text
