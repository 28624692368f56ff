"""Insertion sort recognized as what it computes: the array sorted, stably.

The loop::

    for (size_t i = 1; i < n; ++i) {          // i from 0 or 1
      T key = a[i];
      size_t j = i;                           // or: long j = i - 1;
      while (j > 0 && a[j - 1] > key) {       // or: j >= 0 && a[j] > key   (or a for loop)
        a[j] = a[j - 1];                      //     a[j + 1] = a[j];
        --j;
      }
      a[j] = key;                             //     a[j + 1] = key;
    }

inserts each ``a[i]`` after the elements of the sorted prefix that are not
greater than it, so on exit ``a[0..n)`` holds its elements in ascending order
with equal elements in their original order: ``std::stable_sort`` with ``<``
(``<`` in the inner test sorts descending, with ``>``). The comparison may read
one field of both (``a[j - 1].w > key.w``). :func:`sort_idiom` returns the
:class:`~parevo.toolchain.models.SortIdiom` when the loop is exactly this shape
(any other statement, a non-strict ``>=``, a prefix not starting at 0 or 1, a
key that is not an integer, which keeps NaN out of the order, is refused with
the reason). The rewrite is ``parlay::sort_inplace`` (integers compared whole:
equal values are indistinguishable, so stability does not matter) or
``parlay::stable_sort_inplace`` by the field.
"""

from __future__ import annotations

from tree_sitter import Node

from .ctypes import CType
from .loop_body import norm
from .loop_header import read_for_header
from .models import SortIdiom
from .site import ParsedSite
from .syntax import (
    block_statements,
    condition_value,
    conjuncts,
    declarator_layers,
    int_literal,
    node_text,
    operator_of,
    strip_casts,
    strip_parens,
)


def _decl_init(stmt: Node, src: bytes) -> tuple[str, Node, Node] | None:
    """``(name, value, declaration)`` of ``T name = value;``."""
    if stmt.type != "declaration":
        return None
    ds = stmt.children_by_field_name("declarator")
    if len(ds) != 1 or ds[0].type != "init_declarator":
        return None
    nm = declarator_layers(ds[0])[1]
    v = ds[0].child_by_field_name("value")
    return (node_text(nm, src), v, stmt) if nm is not None and v is not None else None


def _assign(stmt: Node, src: bytes) -> tuple[Node, Node] | None:
    if stmt.type != "expression_statement" or not stmt.named_child_count:
        return None
    e = strip_parens(stmt.named_children[0])
    if e.type != "assignment_expression" or operator_of(e, src) != "=":
        return None
    return strip_parens(e.child_by_field_name("left")), strip_parens(e.child_by_field_name("right"))


def _elem(node: Node | None, array: str, src: bytes) -> Node | None:
    """The subscript of ``array[x]``, else None."""
    n = strip_parens(node)
    if n is None or n.type != "subscript_expression":
        return None
    base = strip_parens(n.child_by_field_name("argument"))
    idx = n.child_by_field_name("indices")
    if base is None or node_text(base, src) != array or idx is None or idx.named_child_count != 1:
        return None
    return idx.named_children[0]


def _offset(node: Node | None, var: str, src: bytes) -> int | None:
    """c when ``node`` is ``var + c`` / ``var - c`` / ``var``."""
    n = strip_casts(node)
    if n is None:
        return None
    if n.type == "identifier":
        return 0 if node_text(n, src) == var else None
    if n.type == "binary_expression" and operator_of(n, src) in ("+", "-"):
        left = strip_casts(n.child_by_field_name("left"))
        c = int_literal(n.child_by_field_name("right"), src)
        if left is not None and left.type == "identifier" and node_text(left, src) == var and c is not None:
            return c if operator_of(n, src) == "+" else -c
    return None


class _Why(Exception):
    pass


def sort_idiom(site: ParsedSite) -> tuple[SortIdiom | None, str | None]:
    """The :class:`SortIdiom` of ``site``'s loop, or ``(None, reason)`` when it is not an insertion sort
    parevo can replace (see the module docstring); ``(None, None)`` when it does not look like one at all."""
    try:
        return _read(site), None
    except _Why as e:
        return None, str(e) or None


def _read(site: ParsedSite) -> SortIdiom | None:
    loop, src = site.loop_node, site.src
    if loop.type != "for_statement":
        return None
    h = read_for_header(loop, src, site.reader, site.decl_of)
    if h.problem or h.step != 1 or not h.index_var or h.body is None:
        return None
    i = h.index_var
    stmts = block_statements(h.body)
    if len(stmts) != 4:
        return None
    key_d, j_d, inner, store = stmts
    kd, jd = _decl_init(key_d, src), _decl_init(j_d, src)
    if kd is None or jd is None or inner.type not in ("while_statement", "for_statement"):
        return None
    key, key_val, _ = kd
    j, j_val, _ = jd
    kv = strip_parens(key_val)
    if kv is None or kv.type != "subscript_expression":
        return None
    array = node_text(strip_parens(kv.child_by_field_name("argument")), src)
    if _offset(_elem(kv, array, src), i, src) != 0:
        return None
    start = _offset(j_val, i, src)  # j = i (shift from a[j-1]) or j = i - 1 (shift from a[j])
    if start not in (0, -1):
        return None
    d = 1 if start == 0 else 0  # the compared element is a[j - d]; the hole is a[j + 1 - d]
    # the inner loop: while (j > 0 && a[j - 1] CMP key) { a[j] = a[j - 1]; --j; }  (or j >= 0 && a[j] …)
    if inner.type == "for_statement":
        if inner.child_by_field_name("initializer") is not None:
            return None
        cond = condition_value(inner.child_by_field_name("condition"))
        upd = inner.child_by_field_name("update")
        shift = block_statements(inner.child_by_field_name("body"))
        steps = [upd] if upd is not None else []
    else:
        cond = condition_value(inner.child_by_field_name("condition"))
        body = block_statements(inner.child_by_field_name("body"))
        if len(body) != 2:
            return None
        shift, steps = body[:1], [body[1].named_children[0] if body[1].named_child_count else None]
    if len(shift) != 1 or len(steps) != 1 or steps[0] is None:
        return None
    st = strip_parens(steps[0])
    if not (st.type == "update_expression" and operator_of(st, src) == "--"
            and node_text(strip_parens(st.child_by_field_name("argument")), src) == j):
        return None
    parts = conjuncts(cond) if cond is not None else []
    if len(parts) != 2:
        return None
    guard, cmp = parts
    g_op = operator_of(guard, src) if guard.type == "binary_expression" else ""
    g_var = node_text(strip_parens(guard.child_by_field_name("left")), src) if g_op else ""
    g_bound = int_literal(guard.child_by_field_name("right"), src) if g_op else None
    if not ((d == 1 and g_op == ">" and g_bound == 0) or (d == 0 and g_op == ">=" and g_bound == 0)) or g_var != j:
        return None
    sh = _assign(shift[0], src)
    if sh is None or _offset(_elem(sh[0], array, src), j, src) != 1 - d or _offset(_elem(sh[1], array, src), j,
                                                                                    src) != -d:
        return None
    fin = _assign(store, src)
    if fin is None or _offset(_elem(fin[0], array, src), j, src) != 1 - d or node_text(fin[1], src) != key:
        return None
    # the comparison: X(a[j - d]) > X(key), or X(key) < X(a[j - d]) (ascending); the mirror image descends
    if cmp.type != "binary_expression" or operator_of(cmp, src) not in ("<", ">", "<=", ">="):
        return None
    op = operator_of(cmp, src)
    left, right = strip_parens(cmp.child_by_field_name("left")), strip_parens(cmp.child_by_field_name("right"))
    elem_side = None
    for side, other, flip in ((left, right, False), (right, left, True)):
        path_e, base_e = _field_path(side, src)
        path_k, base_k = _field_path(other, src)
        if base_k is not None and node_text(base_k, src) == key and base_e is not None and \
                _offset(_elem(base_e, array, src), j, src) == -d and path_e == path_k:
            elem_side = (flip, path_e)
    if elem_side is None:
        return None
    if op in ("<=", ">="):
        raise _Why("the insertion sort's test `" + node_text(cmp, src) + "` also moves equal elements: its result "
                   "is not a stable sort (write `>` or `<`)")
    flip, path = elem_side
    greater = (op == ">") != flip  # a[j-1] > key: ascending
    if (h.lower or "").strip() not in ("0", "1"):
        raise _Why(f"the insertion sort starts at `{i} = {h.lower}`: it sorts `{array}[0..{h.upper})` only when the "
                   "elements before its start are already sorted")
    d_arr = site.decl_of(array)
    elem: CType | None = d_arr.type.elem if d_arr is not None and d_arr.type.kind in ("vector", "array", "pointer",
                                                                                       "carray") else None
    key_type = _field_type(site, elem, path)
    if key_type is None or not key_type.is_integer:
        raise _Why(f"the insertion sort compares `{norm(node_text(cmp, src))}`, not integers: parevo replaces it by "
                   "a parallel sort only for integer keys (a floating-point NaN has no place in the order)")
    return SortIdiom(array=array, count=h.upper or "", lower=(h.lower or "0").strip(), field=".".join(path) or None, descending=not greater,
                     index_var=i, index_declared_outside=h.declared_outside,
                     value_type=elem.render() if elem is not None else "")


def _field_path(node: Node | None, src: bytes) -> tuple[list[str], Node | None]:
    """``(['w', 'k'], base)`` of ``base.w.k`` (``([], node)`` for a plain node)."""
    path: list[str] = []
    n = strip_parens(node)
    while n is not None and n.type == "field_expression" and node_text(n.child_by_field_name("operator"),
                                                                        src) == ".":
        path.insert(0, node_text(n.child_by_field_name("field"), src))
        n = strip_parens(n.child_by_field_name("argument"))
    return path, n


def _field_type(site: ParsedSite, t: CType | None, path: list[str]) -> CType | None:
    for name in path:
        if t is None or t.kind != "struct":
            return None
        st = next((s for s in site.structs if s.name == (t.name or "").split("::")[-1]), None)
        fld = next((f for f in st.fields if f.name == name), None) if st is not None else None
        t = fld.decl.type if fld is not None and fld.array_len is None else None
    return t


__all__ = ["sort_idiom"]
