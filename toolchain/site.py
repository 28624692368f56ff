"""The parsed site: the selected loop in its file, parsed once, as nodes and typed declarations.

A :class:`ParsedSite` is made once per request from the selection
(:func:`parevo.toolchain.parsing.find_loop`) and handed to everything
downstream: loop facts (:mod:`parevo.toolchain.facts`), input planning
(:mod:`parevo.toolchain.inputs`), the rule-based rewrites
(:mod:`parevo.evolution.rules`), the engine (:func:`parevo.evolution.engine.evolve`)
and the splice that computes the user's edits (:mod:`parevo.toolchain.splice`).
It holds

* the tree-sitter tree of the whole file and the function, loop and body nodes;
* the function's parameters and the locals declared before the loop, each with
  its type as a :class:`~parevo.toolchain.ctypes.Decl` tree read from the
  declaration's nodes (the file's aliases resolved), plus the text as written;
* the file's plain structs, includes and ``main``;
* byte spans (:class:`~parevo.toolchain.models.Span`) of the loop and the
  function, and the content hash (SHA-256 of the function's text) that keys
  stored results and the engine's edits.

Tree-sitter objects never leave the process: :meth:`ParsedSite.info` is the
serializable part (a :class:`SiteInfo`), which results and transcripts carry.
A site is immutable; a changed document is a new site.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, Field
from tree_sitter import Node, Tree

from .ctypes import Decl, TypeReader
from .models import Span
from .syntax import node_text, span_of

LoopKind = Literal["for", "range_for", "while", "do", "call", "algorithm"]


class Param(BaseModel):
    """One parameter of the function that encloses the loop.

    ``decl`` is its type as a tree (read from the declaration's nodes). ``type_text``
    is the declaration as written without the name (``const std::vector<double>&``);
    ``base_type`` the type specifier alone (``std::vector<double>``, ``double`` for
    ``const double*``).
    """

    name: str
    type_text: str
    base_type: str
    decl: Decl
    is_const: bool = False
    is_reference: bool = False
    is_pointer: bool = False


class LocalVar(BaseModel):
    """A local variable declared in the enclosing function before the loop, in a scope around it."""

    name: str
    type_text: str
    line: int
    decl: Decl


class StructField(BaseModel):
    """A field of a plain struct: its name, type as written and as a tree (the element type of
    an array field ``int id[3]``, whose ``array_len`` is 3; -1 when the length is not a literal)."""

    name: str
    type_text: str
    decl: Decl
    array_len: int | None = None


class StructDef(BaseModel):
    """A struct or class with a body defined in the user's file; ``scopes`` are the namespaces and
    classes around it, outermost first."""

    name: str
    fields: list[StructField]
    span: Span
    scopes: list[str] = Field(default_factory=list)

    @property
    def cxx_name(self) -> str:
        """The fully qualified name (``::geom::Point``)."""
        return "::" + "::".join(self.scopes + [self.name])


class SiteInfo(BaseModel):
    """The serializable part of a :class:`ParsedSite`: where the loop is and what it was read from.

    Spans are byte offsets into the text whose SHA-256 is ``source_sha256``;
    ``content_hash`` is the SHA-256 of the function's text.
    """

    path: str
    loop_kind: LoopKind
    loop: Span
    function: Span
    function_name: str
    qualified_name: str
    content_hash: str
    source_sha256: str
    include_insert_byte: int = 0
    includes: list[str] = Field(default_factory=list)

    @property
    def loop_offset(self) -> int:
        """Bytes from the function's start to the loop's start (equal in every copy of the function)."""
        return self.loop.start_byte - self.function.start_byte


@dataclass(frozen=True, eq=False)
class ParsedSite:
    """The selected loop of one document version, parsed once (see the module docstring).

    Attributes:
        path: the file's absolute path.
        source: the whole file text; ``tree`` its parse.
        function_node, loop_node: the enclosing ``function_definition`` and the loop
            statement (or, ``loop_kind == "call"``, the ``parallel_for``-like call).
        loop_kind: ``for``, ``range_for``, ``while``, ``do``, ``call`` or ``algorithm`` (a statement
            holding a standard-algorithm call such as ``std::accumulate``, the loop it stands for).
        function_name, qualified_name: the function's name, and the name to call it by from
            file scope (namespaces included).
        return_type, returns: the return type as written and as a tree.
        params, locals: the function's parameters; the locals declared before the loop in a
            scope around it (source order).
        structs: the file's structs with a body; ``struct_nodes`` their specifier nodes by
            start byte.
        includes, include_insert_byte: the file's top-level ``#include`` paths as written
            (``<vector>``) and the byte after the last of them.
        main_name: the span of the identifier of the file's own ``main``, if any.
        indent: the whitespace before the loop on its line (empty when code precedes it).
        reader: the type reader of the file (its aliases), for declarations read later.
    """

    path: str
    source: str
    tree: Tree
    function_node: Node
    loop_node: Node
    loop_kind: LoopKind
    function_name: str
    qualified_name: str
    return_type: str
    returns: Decl | None
    params: list[Param]
    locals: list[LocalVar]
    structs: list[StructDef]
    includes: list[str]
    include_insert_byte: int
    main_name: Span | None
    indent: str
    reader: TypeReader
    struct_nodes: dict[int, Node] = field(default_factory=dict)

    def __reduce__(self):
        """Pickle as the text, path and loop span; the receiving process parses the file again
        (tree-sitter trees cannot cross processes: the server's analysis worker hands sites back so)."""
        return (_site_from_span, (self.source, self.path, self.loop_node.start_byte, self.loop_node.end_byte))

    # -------------------------------------------------------------- derived
    @cached_property
    def src(self) -> bytes:
        """The file's UTF-8 bytes (what spans index)."""
        return self.source.encode("utf-8")

    @property
    def root(self) -> Node:
        """The translation unit node."""
        return self.tree.root_node

    @cached_property
    def loop(self) -> Span:
        """The loop's span."""
        return span_of(self.loop_node)

    @cached_property
    def function(self) -> Span:
        """The enclosing function's span."""
        return span_of(self.function_node)

    @cached_property
    def loop_text(self) -> str:
        """The loop's text."""
        return node_text(self.loop_node, self.src)

    @cached_property
    def function_text(self) -> str:
        """The enclosing function's text."""
        return node_text(self.function_node, self.src)

    @property
    def body_node(self) -> Node | None:
        """The loop's body statement (None for a parallel call)."""
        return self.loop_node.child_by_field_name("body")

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the function's text: results keyed by it go stale when the function changes."""
        return hashlib.sha256(self.function_text.encode("utf-8")).hexdigest()

    @cached_property
    def source_sha256(self) -> str:
        """SHA-256 (hex) of the whole file text the spans index."""
        return hashlib.sha256(self.src).hexdigest()

    def info(self) -> SiteInfo:
        """The serializable description of this site."""
        return SiteInfo(path=self.path, loop_kind=self.loop_kind, loop=self.loop, function=self.function,
                        function_name=self.function_name, qualified_name=self.qualified_name,
                        content_hash=self.content_hash, source_sha256=self.source_sha256,
                        include_insert_byte=self.include_insert_byte, includes=list(self.includes))

    # -------------------------------------------------------------- declarations
    def variable(self, name: str) -> Param | LocalVar | None:
        """The parameter or local (the last one declared before the loop wins) called ``name``."""
        for v in reversed(self.locals):
            if v.name == name:
                return v
        return next((p for p in self.params if p.name == name), None)

    def decl_of(self, name: str) -> Decl | None:
        """The declared type of the parameter or local ``name``, else None."""
        v = self.variable(name)
        return v.decl if v is not None else None

    def value_type(self, name: str) -> str:
        """The C++ type of a copy of variable ``name`` as written (``double``, ``std::vector<int>``),
        or ``std::decay_t<decltype(name)>`` when it is not declared before the loop or is ``auto``."""
        d = self.decl_of(name)
        if d is not None and d.value_text:
            return d.value_text
        return f"std::decay_t<decltype({name})>"


def _site_from_span(source: str, path: str, start_byte: int, end_byte: int) -> ParsedSite:
    """The site of a pickled :class:`ParsedSite` (see ``ParsedSite.__reduce__``)."""
    from .parsing import site_at  # parsing builds sites: imported here, not at module level

    return site_at(source, path, start_byte, end_byte)
