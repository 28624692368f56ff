"""Token streams, call queries, syntax errors and span edits of ``toolchain/syntax.py``."""

from __future__ import annotations

import pytest

from parevo.toolchain import syntax

pytestmark = pytest.mark.fast


def toks(text: str) -> list[str]:
    return syntax.tokens(syntax.parse(text).root_node, text.encode())


def test_tokens_keep_literals_as_written_and_drop_comments_and_layout():
    assert toks('s += 1; // http://x\nputs("http://x"); /* c */ x = R"(a // b)" + 1\'000 + u8"y" + \'/\';') == [
        "s", "+=", "1", ";", "puts", "(", '"http://x"', ")", ";", "x", "=", 'R"(a // b)"', "+", "1'000", "+",
        'u8"y"', "+", "'/'", ";"]
    assert toks("a  =\n\tb ;") == toks("a=b;") == ["a", "=", "b", ";"]
    assert toks('x = "a  b";') != toks('x = "a b";')


def test_tokens_end_preprocessor_lines():
    assert toks("#define K 2\nx = K;") == ["#define", "K", "2", "\n", "x", "=", "K", ";"]
    assert toks("#define K 2 x = K;") == ["#define", "K", "2 x = K;", "\n"]
    assert toks("#include <vector> // c\nint v;") == ["#include", "<vector>", "\n", "int", "v", ";"]


def test_tokens_keep_text_error_recovery_skipped():
    one, two = toks("s += 1 @@ {{"), toks("s += 2 @@ {{")
    assert one != two and "@@" in "".join(one)


def test_calls_with_names_arguments_and_templates():
    text = "void f() { parlay::tabulate<double>(n, [&](size_t i) { return g(i, 2); }, /* g */ 16); x.size(); }"
    src = text.encode()
    calls = syntax.calls(syntax.parse(text).root_node, src)
    assert [(c.name, c.short, len(c.args)) for c in calls] == [
        ("parlay::tabulate", "tabulate", 3), ("g", "g", 2), ("x.size", "size", 0)]
    tab = calls[0]
    assert syntax.node_text(tab.args[2], src) == "16"
    assert src[tab.callee.start_byte:syntax.name_end(tab.callee)] == b"parlay::tabulate"


def test_errors_are_outermost_and_spans_are_replaced_back_to_front():
    tree = syntax.parse("int f() { return 1 +; }")
    (e,) = syntax.errors(tree.root_node)
    assert e.is_missing or e.type == "ERROR"
    assert syntax.errors(syntax.parse("int f() { return 1; }").root_node) == []
    assert syntax.replace_spans(b"abcdef", [(0, 1, "X"), (3, 5, "")]) == b"Xbcf"
    with pytest.raises(ValueError):
        syntax.replace_spans(b"abcdef", [(0, 3, "X"), (2, 4, "Y")])
