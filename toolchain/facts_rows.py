"""Row-major subscripts: ``a[i * W + j]`` with ``j`` an inner loop index in ``[0, W)``.

A loop over rows ``i`` that writes a flattened matrix at ``i * W + j`` writes
row ``i`` only, as long as the column ``j`` stays inside ``[0, W)``: then two
iterations of the outer loop never write the same element (the subscript is
injective in ``(i, j)``: ``i * W + j = i' * W + j'`` with ``0 <= j, j' < W``
forces ``i = i'``, ``j = j'``). That is the classic delinearization argument
(Maslov, *Delinearization: an efficient way to break multiloop dependence
equations*, PLDI 1992), applied only to the form parevo can prove from the
text:

* the subscript is ``i * W + j``, ``W * i + j``, ``j + i * W`` or
  ``j + W * i`` (parentheses allowed), ``i`` the selected loop's index;
* ``j`` is the index of a ``for`` loop around the access, inside the selected
  loop, counting up from a non-negative integer literal to ``W`` or to
  ``W - c`` (``c`` a non-negative literal), with ``W`` the same text;
* ``W`` is a name or member (``cols``, ``m.cols``) the selected loop never
  assigns.

Everything else stays a computed index (a possible write conflict). The
dynamic checks still run on every rewrite.
"""

from __future__ import annotations

from tree_sitter import Node

from .ctypes import TypeReader
from .loop_body import norm
from .loop_header import read_for_header
from .syntax import ancestors, int_literal, node_text, operator_of, strip_parens

_NAME_TYPES = ("identifier", "field_expression", "qualified_identifier")


def _product_width(node: Node | None, var: str, src: bytes) -> str | None:
    """``W`` when ``node`` is ``var * W`` or ``W * var`` with ``W`` a name or member."""
    node = strip_parens(node)
    if node is None or node.type != "binary_expression" or operator_of(node, src) != "*":
        return None
    a, b = strip_parens(node.child_by_field_name("left")), strip_parens(node.child_by_field_name("right"))
    if a is None or b is None:
        return None
    for x, w in ((a, b), (b, a)):
        if x.type == "identifier" and node_text(x, src) == var and w.type in _NAME_TYPES:
            return norm(node_text(w, src))
    return None


def _upper_within(upper: str, width: str) -> bool:
    """``upper`` is ``width`` or ``width - c`` with ``c`` a non-negative literal."""
    u = norm(upper)
    if u == width:
        return True
    head, sep, tail = u.rpartition("-")
    return bool(sep) and norm(head) == width and tail.strip().isdigit()


def _column_in_range(col: str, width: str, access: Node, outer: Node, src: bytes, reader: TypeReader) -> bool:
    """``col`` is the index of a ``for`` loop between ``access`` and ``outer`` ranging inside ``[0, width)``."""
    for node in ancestors(access, outer):
        if node.type == "for_statement":
            h = read_for_header(node, src, reader)
            if h.problem is None and h.index_var == col and not h.declared_outside:
                lo = h.lower.strip() if h.lower else ""
                return (h.step is not None and h.step > 0 and lo.isdigit()
                        and h.upper is not None and _upper_within(h.upper, width))
    return False


def row_major_width(idx: Node | None, access: Node, var: str, outer: Node, src: bytes,
                    assigned: set[str], reader: TypeReader) -> str | None:
    """The row width ``W`` when ``idx`` is a row-major subscript of row ``var`` (see module docstring).

    Args:
        idx: the subscript expression.
        access: the subscript (element access) node, to find the loops around it.
        var: the selected loop's index variable.
        outer: the selected loop's node (the search for the column loop stops there).
        src: the file's bytes.
        assigned: names the selected loop assigns (``W`` must not be one).
        reader: the file's type reader (for the column loop's header).

    Returns:
        ``W`` (whitespace-normalized text), or None when the form is not proved.
    """
    idx = strip_parens(idx)
    if idx is None or idx.type != "binary_expression" or operator_of(idx, src) != "+":
        return None
    a, b = strip_parens(idx.child_by_field_name("left")), strip_parens(idx.child_by_field_name("right"))
    for prod, col in ((a, b), (b, a)):
        width = _product_width(prod, var, src)
        if width is None or col is None or col.type != "identifier" or int_literal(col, src) is not None:
            continue
        if width.split(".")[0].split("::")[-1] in assigned or width == var:
            continue
        if _column_in_range(node_text(col, src), width, access, outer, src, reader):
            return width
    return None
