"""Names in C++ fragments: an expression or a list of statements, read from their parse.

The rule-based rewrites build candidates from pieces of the loop's text (a
condition, an index expression, the body's statements) and need to know which
variables a piece uses, to rename one of them, or to drop a prologue constant
nothing uses. A regex over that text would also see the name inside a string
literal (``printf("i = %d", i)``), a comment, a member (``p.i``) or a qualified
name (``ns::i``); here the fragment is parsed with tree-sitter-cpp inside a
function body, and only its ``identifier`` nodes count.

A fragment is parsed as statements (``{ TEXT }``) and, when that leaves
syntax errors, as an expression (``auto v = (TEXT);``); the parse with fewer
errors is used (tree-sitter's error recovery still yields the identifiers of
a fragment neither reading parses cleanly).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Node

from .syntax import errors, function_declarator, parse_bytes, tokens, walk

_STATEMENTS = (b"void parevo_fragment() {\n", b"\n}\n")
_EXPRESSION = (b"void parevo_fragment() {\nauto parevo_value = (\n", b"\n);\n}\n")


@dataclass(frozen=True)
class Fragment:
    """A parsed fragment: ``src`` is the wrapped UTF-8 text, ``start``/``end`` the fragment's bytes in it,
    ``root`` the tree's root node."""

    src: bytes
    start: int
    end: int
    root: Node


@lru_cache(maxsize=512)
def fragment(text: str) -> Fragment:
    """Parse ``text`` (statements or an expression) inside a function body (see the module docstring)."""
    body = text.encode("utf-8", errors="surrogatepass")
    best: Fragment | None = None
    best_errors = 0
    for head, tail in (_STATEMENTS, _EXPRESSION):
        src = head + body + tail
        root = parse_bytes(src).root_node
        n = len(errors(root))
        if best is None or n < best_errors:
            best, best_errors = Fragment(src, len(head), len(head) + len(body), root), n
        if n == 0:
            break
    assert best is not None
    return best


def _variable_nodes(frag: Fragment) -> list[Node]:
    """The fragment's ``identifier`` nodes that are not part of a qualified name (``ns::x``), in order.

    Members (``p.x``, ``p->x``) are ``field_identifier`` nodes and types ``type_identifier`` nodes, so
    neither is among them; string literals, character literals and comments hold no nodes of that type."""
    out = []
    for n in walk(frag.root):
        if n.type != "identifier" or n.start_byte < frag.start or n.end_byte > frag.end:
            continue
        if n.parent is not None and n.parent.type == "qualified_identifier":
            continue
        out.append(n)
    return sorted(out, key=lambda n: n.start_byte)


def names_in(text: str) -> set[str]:
    """The variable and function names ``text`` uses (its ``identifier`` nodes; see :func:`_variable_nodes`)."""
    return {n.text.decode("utf-8", errors="replace") for n in _variable_nodes(fragment(text))}


def uses_any(text: str, names: Iterable[str]) -> bool:
    """True when ``text`` uses one of ``names`` as a variable or function name (not in a string literal,
    a comment, a member or a qualified name)."""
    used = names_in(text)
    return any(n in used for n in names)


def replace_name(text: str, name: str, replacement: str) -> str:
    """``text`` with every use of the variable ``name`` replaced by ``replacement`` (text); string literals,
    comments, members and qualified names that spell ``name`` stay as written."""
    frag = fragment(text)
    key = name.encode("utf-8")
    out, pos = [], frag.start
    for n in _variable_nodes(frag):
        if n.text == key:
            out.append(frag.src[pos:n.start_byte])
            out.append(replacement.encode("utf-8", errors="surrogatepass"))
            pos = n.end_byte
    if not out:
        return text
    out.append(frag.src[pos:frag.end])
    return b"".join(out).decode("utf-8", errors="surrogatepass")


def unused_constants(lines: list[str]) -> list[int]:
    """Indices of the lines of ``lines`` (statements, one per line at the top level) that declare one
    constant (``const T name = value;``, the whole line) whose name no other line uses."""
    text = "\n".join(lines)
    frag = fragment(text)
    starts, off = [], frag.start
    for ln in lines:
        starts.append(off)
        off += len(ln.encode("utf-8", errors="surrogatepass")) + 1
    body = next((c for c in frag.root.named_children if c.type == "function_definition"), None)
    block = body.child_by_field_name("body") if body is not None else None
    if block is None:
        return []
    uses: dict[bytes, int] = {}
    for n in _variable_nodes(frag):
        uses[n.text] = uses.get(n.text, 0) + 1
    out = []
    for st in block.named_children:
        if st.type != "declaration" or st.start_byte not in starts:
            continue
        j = starts.index(st.start_byte)
        if st.end_byte != starts[j] + len(lines[j].encode("utf-8", errors="surrogatepass")):
            continue  # not the whole line
        if not any(c.type == "type_qualifier" and c.text == b"const" for c in st.children):
            continue
        decls = st.children_by_field_name("declarator")
        if len(decls) != 1 or decls[0].type != "init_declarator":
            continue
        target = decls[0].child_by_field_name("declarator")
        if target is None or target.type != "identifier":
            continue
        if uses.get(target.text, 0) == 1:  # its own declarator only
            out.append(j)
    return out


def _expression_node(frag: Fragment) -> Node | None:
    """The fragment's one expression: the value of ``auto parevo_value = (TEXT);`` or the expression of a
    single ``TEXT;`` statement, without its parentheses (None when the fragment is not one expression or
    does not parse cleanly)."""
    if errors(frag.root):
        return None
    node = next((n for n in walk(frag.root) if n.start_byte >= frag.start and n.end_byte <= frag.end
                 and n.is_named and n.type not in ("comment", "ERROR")), None)
    if node is None or node.start_byte != _skip_space(frag, frag.start) or node.end_byte != _trim_space(frag):
        return None
    return node


def _skip_space(frag: Fragment, pos: int) -> int:
    while pos < frag.end and frag.src[pos:pos + 1].isspace():
        pos += 1
    return pos


def _trim_space(frag: Fragment) -> int:
    end = frag.end
    while end > frag.start and frag.src[end - 1:end].isspace():
        end -= 1
    return end


def is_identifier(text: str) -> bool:
    """True when ``text`` (surrounding whitespace aside) is one unqualified name: ``n``, ``size``."""
    node = _expression_node(fragment(text))
    return node is not None and node.type == "identifier"


def is_number(text: str) -> bool:
    """True when ``text`` is one number literal: ``0``, ``1024u``, ``1'000``."""
    node = _expression_node(fragment(text))
    return node is not None and node.type == "number_literal"


def is_plain_count(text: str) -> bool:
    """True when ``text`` can stand as a loop count evaluated more than once without cost or effect: a
    name (``n``), a number literal, or a member call without arguments (``v.size()``, ``p->size()``) on a
    name."""
    node = _expression_node(fragment(text))
    if node is None:
        return False
    if node.type in ("identifier", "number_literal"):
        return True
    if node.type != "call_expression":
        return False
    fn, args = node.child_by_field_name("function"), node.child_by_field_name("arguments")
    if fn is None or fn.type != "field_expression" or args is None or args.named_child_count:
        return False
    obj, field = fn.child_by_field_name("argument"), fn.child_by_field_name("field")
    return obj is not None and obj.type == "identifier" and field is not None and field.type == "field_identifier"


def replace_expression(text: str, expr: str, replacement: str) -> str | None:
    """``text`` with every subexpression spelled as ``expr`` (the same tokens, whatever the layout)
    replaced by ``replacement``; None when ``text`` has no such subexpression or ``expr`` is not one
    expression. Outermost matches win; string literals and comments are never matched."""
    pattern_frag = fragment(expr)
    pattern = _expression_node(pattern_frag)
    if pattern is None:
        return None
    want = tokens(pattern, pattern_frag.src)
    frag = fragment(text)
    hits: list[Node] = []
    stack = [frag.root]
    while stack:
        n = stack.pop()
        if n.end_byte <= frag.start or n.start_byte >= frag.end:
            continue
        if (n.is_named and n.start_byte >= frag.start and n.end_byte <= frag.end and n.type == pattern.type
                and tokens(n, frag.src) == want):
            hits.append(n)
            continue
        stack.extend(reversed(n.children))
    if not hits:
        return None
    out, pos = [], frag.start
    for n in sorted(hits, key=lambda n: n.start_byte):
        out += [frag.src[pos:n.start_byte], replacement.encode("utf-8", errors="surrogatepass")]
        pos = n.end_byte
    out.append(frag.src[pos:frag.end])
    return b"".join(out).decode("utf-8", errors="surrogatepass")


def assigned_variable(line: str) -> str | None:
    """The variable the first assignment of ``line`` (one source line, possibly part of a longer
    statement) writes: ``s`` in ``s += x;`` and in ``out[i] = v;``; None when the line assigns no variable
    or array element (a member, a dereference, a call's result)."""
    frag = fragment(line)
    for n in walk(frag.root):
        if n.type != "assignment_expression" or n.start_byte < frag.start or n.end_byte > frag.end:
            continue
        left = n.child_by_field_name("left")
        if left is not None and left.type == "subscript_expression":
            left = left.child_by_field_name("argument")
        return left.text.decode("utf-8", errors="replace") if left is not None and left.type == "identifier" \
            else None
    return None


def rename_function(text: str, old: str, new: str) -> str:
    """``text`` (one function definition) with the name it defines changed from ``old`` to ``new`` (its
    declarator only: calls, string literals and comments that spell ``old`` stay); unchanged when the
    definition's name is not ``old``."""
    src = text.encode("utf-8", errors="surrogatepass")
    fn = next((n for n in parse_bytes(src).root_node.named_children if n.type == "function_definition"), None)
    decl = function_declarator(fn) if fn is not None else None
    name = decl.child_by_field_name("declarator") if decl is not None else None
    if name is None or name.type != "identifier" or name.text != old.encode("utf-8"):
        return text
    return (src[:name.start_byte] + new.encode("utf-8") + src[name.end_byte:]).decode("utf-8", errors="surrogatepass")
