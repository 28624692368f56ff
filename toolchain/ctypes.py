"""C++ types as small trees, built from tree-sitter declaration nodes.

The harness and the rewrite rules need to know *shapes*: a scalar of some
arithmetic kind, a ``std::vector`` of something, a ``std::array<T, N>``, a
pointer to a buffer, ``std::vector<bool>``, a ``std::string``, a
``std::pair``/``std::complex``, a user struct, a C array ``T x[N]``, or
something the harness cannot build (``unsupported``, with the reason).

:class:`TypeReader` turns a declaration's nodes (its ``type`` field, the
``type_qualifier`` nodes beside it and its declarator) into a :class:`Decl`
whose ``type`` is a :class:`CType` tree: for ``const
std::vector<std::vector<double>>& a`` the reader walks the ``qualified_identifier``
/ ``template_type`` / ``template_argument_list`` nodes and the
``reference_declarator`` and returns ``Decl(const=True, reference="&",
type=vector(vector(scalar double)))``. It understands east and west ``const``
(a pointer declarator's own qualifiers are its level's), ``std::`` or bare
names (``using namespace std``), multi-word builtins (``sized_type_specifier``:
``unsigned long long int``), fixed-width typedefs (``int64_t``,
``std::uint32_t``), ``__restrict__``, array declarators (a parameter ``double
a[]`` decays to a pointer; elsewhere ``T x[N]`` is a ``carray``), a template's
``size_type``, and the file's own ``using X = T;`` / ``typedef T X;`` aliases,
resolved through their nodes (:func:`file_aliases`; 8 levels at most, cycles
refused).

It never raises for an unknown type: it returns ``kind="unsupported"`` with a
``reason`` the caller turns into a :class:`~parevo.toolchain.models.HarnessError`.
Type trees deeper than :data:`MAX_DEPTH` levels are unsupported, so no input
can exhaust the stack.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from tree_sitter import Node

from .syntax import captures, declarator_layers, node_text

Kind = Literal[
    "scalar", "vector", "array", "pointer", "carray", "vector_bool", "string", "pair", "complex", "struct",
    "unsupported",
]
ScalarClass = Literal["bool", "char", "signed", "unsigned", "float", "double", "long double"]

#: Deepest type tree built (template arguments, pointers and aliases count one level each).
MAX_DEPTH = 16
_MAX_ALIAS_DEPTH = 8

# fixed-width / library typedefs -> class
_NAMED_SCALARS: dict[str, ScalarClass] = {
    "size_t": "unsigned", "ssize_t": "signed", "ptrdiff_t": "signed", "intptr_t": "signed",
    "uintptr_t": "unsigned", "intmax_t": "signed", "uintmax_t": "unsigned",
    "int8_t": "signed", "int16_t": "signed", "int32_t": "signed", "int64_t": "signed",
    "uint8_t": "unsigned", "uint16_t": "unsigned", "uint32_t": "unsigned", "uint64_t": "unsigned",
    "wchar_t": "signed", "char16_t": "unsigned", "char32_t": "unsigned", "char8_t": "unsigned",
}
for _w in (8, 16, 32, 64):
    for _k in ("fast", "least"):
        _NAMED_SCALARS[f"int_{_k}{_w}_t"] = "signed"
        _NAMED_SCALARS[f"uint_{_k}{_w}_t"] = "unsigned"

_BUILTIN_WORDS = {"unsigned", "signed", "short", "long", "int", "char", "double", "float", "bool"}
_VECTOR_NAMES = {"std::vector", "vector", "parlay::sequence", "std::deque", "deque"}
_ARRAY_NAMES = {"std::array", "array"}
_STRING_NAMES = {"std::string", "string"}
_PAIR_NAMES = {"std::pair", "pair"}
_COMPLEX_NAMES = {"std::complex", "complex"}
_KNOWN_UNSUPPORTED = {
    "map", "unordered_map", "set", "unordered_set", "multimap", "multiset", "list", "forward_list",
    "function", "tuple", "optional", "variant", "span", "string_view", "unique_ptr", "shared_ptr",
    "queue", "stack", "priority_queue", "valarray", "atomic", "mutex", "any", "bitset",
}
_POINTERS = ("pointer_declarator", "abstract_pointer_declarator")
_REFERENCES = ("reference_declarator", "abstract_reference_declarator")
_ARRAYS = ("array_declarator", "abstract_array_declarator")
_FUNCTIONS = ("function_declarator", "abstract_function_declarator")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _scalar(spelled: str, cls: ScalarClass, text: str) -> CType:
    return CType(kind="scalar", scalar=spelled, scalar_class=cls, text=text)


def _unsupported(text: str, reason: str) -> CType:
    return CType(kind="unsupported", text=text, reason=reason)


class CType(BaseModel):
    """A node of the type tree.

    Attributes:
        kind: the shape (see module docstring).
        const: this level is ``const`` (for a pointer's ``elem``: the pointee).
        scalar: canonical spelling of a scalar (``"unsigned long long"``,
            ``"int64_t"``, ``"double"``), else ``None``.
        scalar_class: ``bool``/``char``/``signed``/``unsigned``/``float``/
            ``double``/``long double`` for scalars, else ``None``.
        elem: element type of ``vector``/``array``/``pointer``/``carray``/``complex``.
        second: the second type of a ``pair`` (``elem`` is the first).
        length: ``N`` of ``std::array<T, N>`` or of a C array ``T x[N]`` as written (may be a
            constant's name; ``""`` for ``T x[]``).
        container: the template as written for vectors (``std::vector``,
            ``parlay::sequence``), so the harness stores the same type.
        name: the struct's name as written (``geom::Point``); for an ``unsupported``
            template, the template's name (``std::map``, ``std::bitset``).
        reason: why an ``unsupported`` type cannot be generated.
        text: the text of this node as written (whitespace normalized).
    """

    kind: Kind
    const: bool = False
    scalar: str | None = None
    scalar_class: ScalarClass | None = None
    elem: CType | None = None
    second: CType | None = None
    length: str | None = None
    container: str | None = None
    name: str | None = None
    reason: str | None = None
    text: str = ""

    # ------------------------------------------------------------------ queries
    @property
    def is_integer(self) -> bool:
        """An integral scalar other than ``bool`` (``char`` included)."""
        return self.kind == "scalar" and self.scalar_class in ("char", "signed", "unsigned")

    @property
    def is_floating(self) -> bool:
        return self.kind == "scalar" and self.scalar_class in ("float", "double", "long double")

    @property
    def is_bool(self) -> bool:
        return self.kind == "scalar" and self.scalar_class == "bool"

    @property
    def is_sequence(self) -> bool:
        """Indexable with ``[]`` and has ``size()`` (vector, array, vector<bool>, string)."""
        return self.kind in ("vector", "array", "vector_bool", "string")

    @property
    def depth(self) -> int:
        """How many ``[]`` reach a leaf: ``vector<vector<int>>`` -> 2, ``int*`` -> 1, ``int`` -> 0."""
        if self.kind in ("vector", "array", "pointer", "carray"):
            return 1 + (self.elem.depth if self.elem is not None else 0)
        if self.kind in ("vector_bool", "string"):
            return 1
        return 0

    def element_at(self, level: int) -> CType:
        """The type reached after ``level`` subscripts (``level`` <= ``depth``)."""
        t = self
        for _ in range(level):
            if t.kind in ("vector", "array", "pointer", "carray"):
                assert t.elem is not None
                t = t.elem
            elif t.kind == "vector_bool":
                t = CType(kind="scalar", scalar="bool", scalar_class="bool", text="bool")
            elif t.kind == "string":
                t = CType(kind="scalar", scalar="char", scalar_class="char", text="char")
            else:
                raise ValueError(f"{self.render()} has no element at level {level}")
        return t

    def unsupported_parts(self) -> list[CType]:
        """Every ``unsupported`` node in the tree (empty when the harness can build it)."""
        out: list[CType] = []
        if self.kind == "unsupported":
            out.append(self)
        for sub in (self.elem, self.second):
            if sub is not None:
                out.extend(sub.unsupported_parts())
        return out

    def structs(self) -> list[str]:
        """Names of the user structs this type mentions."""
        out = [self.name] if self.kind == "struct" and self.name else []
        for sub in (self.elem, self.second):
            if sub is not None:
                out.extend(sub.structs())
        return out

    def render(self, keep_const: bool = False) -> str:
        """Canonical C++ spelling of a *value* of this type (no top-level const/reference).

        ``keep_const`` keeps the ``const`` of a pointer's pointee
        (``const double*``); inner ``const`` elsewhere is dropped.
        """
        if self.kind == "scalar":
            return self.scalar or self.text
        if self.kind == "vector":
            assert self.elem is not None
            return f"{self.container or 'std::vector'}<{self.elem.render()}>"
        if self.kind == "vector_bool":
            return "std::vector<bool>"
        if self.kind == "array":
            assert self.elem is not None
            return f"std::array<{self.elem.render()}, {self.length}>"
        if self.kind == "string":
            return "std::string"
        if self.kind == "pair":
            assert self.elem is not None and self.second is not None
            return f"std::pair<{self.elem.render()}, {self.second.render()}>"
        if self.kind == "complex":
            assert self.elem is not None
            return f"std::complex<{self.elem.render()}>"
        if self.kind == "pointer":
            assert self.elem is not None
            inner = self.elem.render()
            return f"{'const ' if keep_const and self.elem.const else ''}{inner}*"
        if self.kind == "struct":
            return self.name or self.text
        return self.text


class Decl(BaseModel):
    """A declared type: the tree plus top-level ``const`` and reference.

    ``reference`` is ``""``, ``"&"`` or ``"&&"``. For ``const double*`` the
    top level is the pointer (not const); ``type.elem.const`` is True.
    ``text`` is the type as written without the declared name and array extents
    (``const std::vector<double>&``); ``value_text`` the type of a copy as written,
    without cv-qualifiers and references (``std::vector<double>``, ``double*`` for
    ``const double*``), empty for ``auto`` (the caller spells it with ``decltype``).
    """

    type: CType
    const: bool = False
    reference: Literal["", "&", "&&"] = ""
    text: str = ""
    value_text: str = ""


#: The nodes of one alias: the node holding the aliased type (and its qualifiers) and the
#: declarator applied to it (None for ``using X = T;``).
AliasNodes = tuple[Node, Node | None]


def file_aliases(root: Node) -> dict[str, AliasNodes]:
    """``using X = T;`` and ``typedef T X, *PX;`` of a file, by name (alias templates left out)."""
    out: dict[str, AliasNodes] = {}
    got = captures("[(alias_declaration) (type_definition)] @alias", root).get("alias", [])
    for n in got:
        if n.parent is not None and n.parent.type == "template_declaration":
            continue
        if n.type == "alias_declaration":
            name, ty = n.child_by_field_name("name"), n.child_by_field_name("type")
            if name is not None and ty is not None:
                out[name.text.decode("utf-8", errors="replace")] = (ty, ty.child_by_field_name("declarator"))
            continue
        for d in n.children_by_field_name("declarator"):
            name = declarator_layers(d)[1]
            if name is not None:
                out[name.text.decode("utf-8", errors="replace")] = (n, d)
    return out


class TypeReader:
    """Reads :class:`Decl` trees from declaration nodes of one file.

    Args:
        src: the file's UTF-8 bytes.
        aliases: the file's aliases (:func:`file_aliases`), resolved on use.
    """

    def __init__(self, src: bytes, aliases: dict[str, AliasNodes] | None = None):
        self.src = src
        self.aliases = aliases or {}
        self._resolving: set[str] = set()

    # -------------------------------------------------------------- declarations
    def decl(self, holder: Node, declarator: Node | None, *, parameter: bool = False, depth: int = 0) -> Decl:
        """The declared type of ``declarator`` in ``holder``.

        ``holder`` is the node with a ``type`` field and the ``type_qualifier`` nodes beside
        it (a parameter, declaration, field or ``type_definition``, a ``type_descriptor``, a
        ``function_definition`` for its return type). Declarator layers are applied from the
        outside in (``* const & x``: a reference to a const pointer); for a function
        definition the layers stop at its ``function_declarator``. ``parameter`` makes an
        array declarator a pointer (array-to-pointer decay).
        """
        type_node = holder.child_by_field_name("type")
        quals = [c for c in holder.children if c.type == "type_qualifier"]
        base = self.type(type_node, depth)
        t = base.model_copy(update={"const": True}) if any(q.text == b"const" for q in quals) else base
        prefix = _norm(" ".join(node_text(c, self.src) for c in holder.children
                                if c.type == "type_qualifier" or (type_node is not None and c.id == type_node.id)))
        value = "" if type_node is None or type_node.type == "placeholder_type_specifier" else _norm(
            node_text(type_node, self.src))
        marks = ""
        ref: Literal["", "&", "&&"] = ""
        layers = declarator_layers(declarator)[0]
        if holder.type == "function_definition":
            cut = next((k for k, d in enumerate(layers) if d.type in _FUNCTIONS), len(layers))
            layers = layers[:cut]
        for layer in layers:
            if layer.type in _FUNCTIONS:
                return Decl(type=_unsupported(prefix, "function pointers cannot be generated"), text=prefix)
            if layer.type in _POINTERS:
                own_const = any(c.type == "type_qualifier" and c.text == b"const" for c in layer.children)
                t = CType(kind="pointer", elem=t, const=own_const, text=_norm(prefix + marks + "*"))
                marks += "*"
                value += "*" if value else ""
            elif layer.type in _REFERENCES:
                ref = "&&" if any(c.type == "&&" for c in layer.children) else "&"
                marks += ref
            elif layer.type in _ARRAYS:
                size = layer.child_by_field_name("size")
                if parameter:
                    t = CType(kind="pointer", elem=t, text=_norm(prefix + marks + "*"))
                else:
                    t = CType(kind="carray", elem=t, length=node_text(size, self.src).strip(),
                              text=_norm(prefix + marks))
            if t.depth > MAX_DEPTH:
                return Decl(type=_unsupported(prefix, "the type is nested too deeply"), text=prefix)
        const = t.const
        return Decl(type=t.model_copy(update={"const": False}), const=const, reference=ref,
                    text=(prefix + marks).strip(), value_text=value)

    # -------------------------------------------------------------- type specifiers
    def type(self, node: Node | None, depth: int = 0) -> CType:
        """The :class:`CType` of a type specifier node (``primitive_type``, ``template_type`` …)."""
        if node is None:
            return _unsupported("", "empty type")
        text = _norm(node_text(node, self.src))
        if depth > MAX_DEPTH:
            return _unsupported(text, "the type is nested too deeply")
        t = node.type
        if t == "primitive_type":
            if text in _BUILTIN_WORDS:
                return _builtin([text], text)
            return self.named(text, depth)
        if t == "sized_type_specifier":
            words = [c.type for c in node.children if not c.is_named]
            inner = node.child_by_field_name("type")
            if inner is not None:
                words.append(node_text(inner, self.src).strip())
            return _builtin(words, text)
        if t == "type_identifier":
            return self.named(text, depth)
        if t == "qualified_identifier":
            return self._qualified(node, text, depth)
        if t == "template_type":
            return self._template(node_text(node.child_by_field_name("name"), self.src).strip(), node, text, depth)
        if t in ("struct_specifier", "class_specifier", "union_specifier"):
            name = node.child_by_field_name("name")
            if name is None:
                return _unsupported(text, "an unnamed struct cannot be generated")
            return CType(kind="struct", name=_norm(node_text(name, self.src)).lstrip(":"), text=text)
        if t == "enum_specifier":
            return _unsupported(text, "enum types cannot be generated")
        if t == "placeholder_type_specifier":
            return _unsupported(text, "`auto` types cannot be generated")
        if t == "decltype":
            return _unsupported(text, "`decltype` types cannot be generated")
        if t == "dependent_type":
            return _unsupported(text, f"member type {text} of a template cannot be generated")
        return _unsupported(text, f"{text} is not a type the harness can generate")

    def named(self, name: str, depth: int) -> CType:
        """A type spelled by a (possibly qualified) name: a typedef'd scalar, a string, an alias
        of the file, a known library type, else a struct."""
        name = name.lstrip(":")
        short = name.split("::")[-1]
        bare = name[5:] if name.startswith("std::") else name
        if name == "void":
            return _unsupported("void", "void has no values")
        if short == "size_type":
            return _scalar("std::size_t", "unsigned", name)
        if bare in _NAMED_SCALARS:
            return _scalar(name, _NAMED_SCALARS[bare], name)
        if name in _STRING_NAMES:
            return CType(kind="string", text=name)
        alias = name if name in self.aliases else (short if not name.startswith("std::") and short in self.aliases
                                                   else None)
        if alias is not None:
            return self._alias(alias, depth)
        if bare in _KNOWN_UNSUPPORTED:
            return _unsupported(name, f"{name} is not a type the harness can generate")
        return CType(kind="struct", name=name, text=name)

    def _alias(self, name: str, depth: int) -> CType:
        if name in self._resolving or len(self._resolving) >= _MAX_ALIAS_DEPTH:
            return _unsupported(name, f"alias {name} refers to itself")
        holder, declarator = self.aliases[name]
        self._resolving.add(name)
        try:
            d = self.decl(holder, declarator, depth=depth + 1)
        finally:
            self._resolving.discard(name)
        if d.reference:
            return _unsupported(name, f"alias {name} is a reference type")
        return d.type.model_copy(update={"const": d.type.const or d.const})

    def _qualified(self, node: Node, text: str, depth: int) -> CType:
        scopes: list[Node] = []
        n: Node | None = node
        while n is not None and n.type == "qualified_identifier":
            sc = n.child_by_field_name("scope")
            if sc is not None:
                scopes.append(sc)
            n = n.child_by_field_name("name")
        if n is None:
            return _unsupported(text, f"{text} is not a type the harness can generate")
        member = node_text(n, self.src).strip()
        if any(sc.type == "template_type" for sc in scopes):
            if member in ("size_type", "difference_type"):
                unsigned = member == "size_type"
                return _scalar("std::size_t" if unsigned else "std::ptrdiff_t", "unsigned" if unsigned else "signed",
                               text)
            return _unsupported(text, f"member type {member} of a template cannot be generated")
        prefix = "::".join(node_text(sc, self.src).strip() for sc in scopes)
        if n.type == "template_type":
            tname = node_text(n.child_by_field_name("name"), self.src).strip()
            return self._template(f"{prefix}::{tname}" if prefix else tname, n, text, depth)
        return self.named(f"{prefix}::{member}" if prefix else member, depth)

    def _template(self, name: str, node: Node, text: str, depth: int) -> CType:
        arglist = node.child_by_field_name("arguments")
        args = [a for a in arglist.named_children if a.type != "comment"] if arglist is not None else []
        short = name.split("::")[-1]

        def arg_type(a: Node) -> CType:
            if a.type == "type_descriptor":
                return self.decl(a, a.child_by_field_name("declarator"), depth=depth + 1).type
            return _unsupported(_norm(node_text(a, self.src)), "a value where a type is expected")

        if name in _VECTOR_NAMES and args:
            elem = arg_type(args[0])
            if elem.kind == "scalar" and elem.scalar_class == "bool" and name in ("std::vector", "vector"):
                return CType(kind="vector_bool", text=text)
            container = "std::deque" if short == "deque" else ("parlay::sequence" if name.startswith("parlay")
                                                                else "std::vector")
            return CType(kind="vector", elem=elem, container=container, text=text)
        if name in _ARRAY_NAMES and len(args) == 2:
            return CType(kind="array", elem=arg_type(args[0]), length=_norm(node_text(args[1], self.src)), text=text)
        if name in _PAIR_NAMES and len(args) == 2:
            return CType(kind="pair", elem=arg_type(args[0]), second=arg_type(args[1]), text=text)
        if name in _COMPLEX_NAMES and len(args) == 1:
            elem = arg_type(args[0])
            if not elem.is_floating:
                return _unsupported(text, "std::complex of a non-floating type")
            return CType(kind="complex", elem=elem, text=text)
        if name in _STRING_NAMES:
            return CType(kind="string", text=text)
        return CType(kind="unsupported", text=text, name=name,
                     reason=f"{name}<...> is not a type the harness can generate")


def _builtin(words: list[str], text: str) -> CType:
    """A multi-word builtin (``unsigned long long int``) from its words."""
    longs = words.count("long")
    if "bool" in words:
        return _scalar("bool", "bool", text)
    if "float" in words:
        return _scalar("float", "float", text)
    if "double" in words:
        return _scalar("long double", "long double", text) if longs else _scalar("double", "double", text)
    unsigned = "unsigned" in words
    if "char" in words:
        if unsigned:
            return _scalar("unsigned char", "unsigned", text)
        if "signed" in words:
            return _scalar("signed char", "signed", text)
        return _scalar("char", "char", text)
    if "short" in words:
        core = "short"
    elif longs >= 2:
        core = "long long"
    elif longs == 1:
        core = "long"
    else:
        core = "int"
    return _scalar(("unsigned " + core) if unsigned else core, "unsigned" if unsigned else "signed", text)
