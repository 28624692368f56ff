"""What parevo reads of a document: its bytes where tree-sitter-cpp can read them, blanks where not.

A :class:`View` has exactly the document's length in UTF-8 bytes and its line
breaks; each of its bytes is the document's byte, a space, or (where a whole
statement was taken out) a ``;``. So the byte spans and lines of a view are the
document's, a site read from a view points at the user's code, and edits
computed on the view's text apply to the document unchanged (they never touch
a blanked part: the loop and its function are read as written).

Two views:

* :func:`cuda_host_view`: the host code of a CUDA file (``.cu``, ``.cuh``). The
  file is parsed with tree-sitter-cuda (:func:`parevo.toolchain.syntax.parse_cuda`);
  device-only declarations (``__global__``/``__device__`` functions,
  ``__constant__``/``__shared__`` variables) are blanked whole, annotations of
  host code (``__host__``, ``__forceinline__``, ``__launch_bounds__(...)``) alone,
  and a kernel launch statement ``k<<<grid, block>>>(args);`` becomes the empty
  statement ``;``. What remains is C++ that tree-sitter-cpp and a host compiler read.
* :func:`blank_lines`: lines taken out of a view (the text before a function that
  breaks its parse; :func:`parevo.toolchain.parsing.find_loop` decides which).

Each blanked region is a :class:`Hidden` that says what it was, so a caller can
refuse a loop whose function depended on it (a host function that launches a
kernel) with a sentence naming it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from tree_sitter import Node

from .syntax import CUDA_ANNOTATIONS, CUDA_DEVICE_MARKS, CUDA_LAUNCH, function_declarator, node_text, parse_cuda, walk

#: File suffixes read as CUDA.
CUDA_SUFFIXES = frozenset({".cu", ".cuh"})

HiddenKind = Literal["device", "launch", "annotation", "lines"]

_DECLARATIONS = frozenset({"function_definition", "declaration", "field_declaration", "template_declaration"})


@dataclass(frozen=True)
class Hidden:
    """A region of a document that a :class:`View` blanks: bytes ``[start_byte, end_byte)``, 0-based
    lines ``start_line..end_line``, what it was (``"the __global__ function scale"``, ``"the launch
    of the CUDA kernel scale"``) and its kind."""

    start_byte: int
    end_byte: int
    start_line: int
    end_line: int
    what: str
    kind: HiddenKind


@dataclass(frozen=True)
class View:
    """A document as parevo reads it (see the module docstring): ``text`` (same UTF-8 length and lines
    as the document) and the regions blanked in it, in source order."""

    text: str
    hidden: tuple[Hidden, ...] = ()

    def hidden_in(self, start_byte: int, end_byte: int, kinds: frozenset[str] | None = None) -> list[Hidden]:
        """The blanked regions overlapping bytes ``[start_byte, end_byte)`` (of the given kinds)."""
        return [h for h in self.hidden if h.start_byte < end_byte and start_byte < h.end_byte
                and (kinds is None or h.kind in kinds)]


def is_cuda(path: str) -> bool:
    """True for a CUDA source or header (by suffix: ``.cu``, ``.cuh``)."""
    return os.path.splitext(path)[1].lower() in CUDA_SUFFIXES


def document_view(text: str, path: str) -> View:
    """The view of document ``text`` at ``path``: :func:`cuda_host_view` for a CUDA file, else the
    text itself."""
    return cuda_host_view(text) if is_cuda(path) else View(text)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")


def _decode(src: bytes) -> str:
    return src.decode("utf-8", errors="surrogatepass")


def blank(src: bytes, regions: list[tuple[int, int, bytes]]) -> bytes:
    """``src`` with each ``(start, end, first)`` region replaced by ``first`` then spaces, line breaks
    kept: the same length and lines. Regions may nest or overlap (their union is blanked)."""
    out = bytearray(src)
    for start, end, first in regions:
        for i in range(start, end):
            if out[i] not in (0x0A, 0x0D):
                out[i] = 0x20
        out[start:start + len(first)] = first
    return bytes(out)


def blank_lines(view: View, first: int, stop: int, what: str) -> View:
    """``view`` with the 0-based lines ``first..stop-1`` blanked (recorded as one :class:`Hidden`)."""
    src = _encode(view.text)
    starts = [0] + [i + 1 for i, b in enumerate(src) if b == 0x0A]
    if first >= stop or first >= len(starts):
        return view
    a = starts[first]
    b = starts[stop] if stop < len(starts) else len(src)
    hidden = Hidden(a, b, first, stop - 1, what, "lines")
    return View(_decode(blank(src, [(a, b, b"")])), tuple(sorted(view.hidden + (hidden,), key=lambda h: h.start_byte)))


def _declaration_of(node: Node) -> Node | None:
    """The declaration a CUDA qualifier token belongs to (a template's whole ``template_declaration``)."""
    p = node.parent
    while p is not None and p.type not in _DECLARATIONS:
        p = p.parent
    if p is not None and p.parent is not None and p.parent.type == "template_declaration":
        p = p.parent
    return p


def _declared_name(decl: Node, src: bytes) -> str:
    inner = decl
    while inner.type == "template_declaration":
        nxt = next((c for c in inner.named_children if c.type in _DECLARATIONS), None)
        if nxt is None:
            break
        inner = nxt
    fdecl = function_declarator(inner) if inner.type == "function_definition" else None
    if fdecl is None:
        fdecl = next((n for n in walk(inner) if n.type == "function_declarator"), None)
    name = fdecl.child_by_field_name("declarator") if fdecl is not None else None
    if name is None:
        name = next((n for n in walk(inner) if n.type == "identifier"), None)
    return node_text(name, src) if name is not None else "?"


def _callee(call: Node, src: bytes) -> str:
    fn = call.child_by_field_name("function")
    return node_text(fn, src).strip() if fn is not None else "?"


def cuda_host_view(text: str) -> View:
    """The host code of CUDA source ``text`` (see the module docstring); never raises."""
    src = _encode(text)
    root = parse_cuda(src).root_node
    regions: list[tuple[int, int, bytes]] = []
    hidden: list[Hidden] = []

    def hide(node: Node, what: str, kind: HiddenKind, first: bytes = b"") -> None:
        regions.append((node.start_byte, node.end_byte, first))
        hidden.append(Hidden(node.start_byte, node.end_byte, node.start_point[0], node.end_point[0], what, kind))

    device: list[Node] = []
    for n in walk(root):
        if n.type in CUDA_DEVICE_MARKS:
            decl = _declaration_of(n)
            if decl is None:
                hide(n, n.type, "annotation")
                continue
            marks = {c.type for c in walk(decl) if c.type in CUDA_DEVICE_MARKS or c.type == "__host__"}
            if "__host__" in marks and n.type == "__device__":
                hide(n, n.type, "annotation")  # __host__ __device__: callable from the host too
            elif not any(d.id == decl.id for d in device):
                device.append(decl)
        elif n.type in CUDA_ANNOTATIONS:
            hide(n, node_text(n, src).split("(")[0], "annotation")
        elif n.type == CUDA_LAUNCH:
            call = n.parent
            kernel = _callee(call, src) if call is not None else "?"
            stmt = call.parent if call is not None else None
            if stmt is not None and stmt.type == "expression_statement" and stmt.named_child_count == 1:
                hide(stmt, f"the launch of the CUDA kernel {kernel}", "launch", b";")
            else:
                hide(n, f"the launch of the CUDA kernel {kernel}", "launch")
    for decl in device:
        mark = next(c.type for c in walk(decl) if c.type in CUDA_DEVICE_MARKS)
        kind = "function" if any(c.type == "function_declarator" for c in walk(decl)) else "variable"
        hide(decl, f"the {mark} {kind} {_declared_name(decl, src)}", "device")
    if not regions:
        return View(text)
    return View(_decode(blank(src, regions)), tuple(sorted(hidden, key=lambda h: (h.start_byte, -h.end_byte))))


__all__ = ["CUDA_SUFFIXES", "Hidden", "View", "blank", "blank_lines", "cuda_host_view", "document_view", "is_cuda"]
