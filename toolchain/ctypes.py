"""Parse the C++ type of a parameter, field or return value into a small tree.

The harness only needs to know *shapes*: a scalar of some arithmetic kind, a
``std::vector`` of something, a ``std::array<T, N>``, a pointer to a buffer,
``std::vector<bool>``, a ``std::string``, a ``std::pair``/``std::complex``, a
user struct, or something it cannot build (``unsupported``, with the reason).

``parse_type("const std::vector<std::vector<double>>&")`` returns a
:class:`Decl` (top-level ``const``/reference) whose ``type`` is
``vector(vector(scalar double))``. The parser is a small hand-written
recursive-descent over tokens (no compiler involved); it accepts east or west
``const``, ``std::`` or bare names (``using namespace std``), multi-word
builtins (``unsigned long long int``), fixed-width typedefs (``int64_t``,
``std::uint32_t``), ``__restrict__``, array declarators (``double[]`` decays
to a pointer) and resolves the file's type aliases when given
(``aliases={"Vec": "std::vector<double>"}``).

It never raises for an unknown type: it returns ``kind="unsupported"`` with a
``reason`` the caller turns into a :class:`~parevo.toolchain.models.HarnessError`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

Kind = Literal[
    "scalar", "vector", "array", "pointer", "vector_bool", "string", "pair", "complex", "struct", "unsupported"
]
ScalarClass = Literal["bool", "char", "signed", "unsigned", "float", "double", "long double"]

# fixed-width / library typedefs -> (canonical spelling, class)
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
_IGNORED_WORDS = {"volatile", "__restrict__", "__restrict", "restrict", "typename", "struct", "class",
                  "mutable", "static", "register", "inline", "constexpr", "enum"}
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


class CType(BaseModel):
    """A node of the type tree.

    Attributes:
        kind: the shape (see module docstring).
        const: this level is ``const`` (for a pointer's ``elem``: the pointee).
        scalar: canonical spelling of a scalar (``"unsigned long long"``,
            ``"int64_t"``, ``"double"``), else ``None``.
        scalar_class: ``bool``/``char``/``signed``/``unsigned``/``float``/
            ``double``/``long double`` for scalars, else ``None``.
        elem: element type of ``vector``/``array``/``pointer``/``complex``.
        second: the second type of a ``pair`` (``elem`` is the first).
        length: ``N`` of ``std::array<T, N>`` as written (may be a constant's name).
        container: the template as written for vectors (``std::vector``,
            ``parlay::sequence``), so the harness stores the same type.
        name: the struct's name as written (``geom::Point``).
        reason: why an ``unsupported`` type cannot be generated.
        text: the original text of this node.
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
        if self.kind in ("vector", "array", "pointer"):
            return 1 + (self.elem.depth if self.elem is not None else 0)
        if self.kind in ("vector_bool", "string"):
            return 1
        return 0

    def element_at(self, level: int) -> CType:
        """The type reached after ``level`` subscripts (``level`` <= ``depth``)."""
        t = self
        for _ in range(level):
            if t.kind in ("vector", "array", "pointer"):
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
    """

    type: CType
    const: bool = False
    reference: Literal["", "&", "&&"] = ""
    text: str = ""


_TOKEN_RE = re.compile(r"\s*(::|[A-Za-z_][A-Za-z_0-9]*|\d+[uUlL]*|0[xX][0-9a-fA-F]+[uUlL]*|&&|[<>,*&\[\]()])")


def _tokenize(text: str) -> list[str]:
    toks: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos:].strip() == "":
                break
            raise _Unsupported(f"unexpected character {text[pos]!r}")
        toks.append(m.group(1))
        pos = m.end()
    return toks


class _Unsupported(Exception):
    pass


class _Parser:
    def __init__(self, text: str, aliases: dict[str, str], depth: int):
        self.text = text
        self.toks = _tokenize(text)
        self.pos = 0
        self.aliases = aliases
        self.depth = depth

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        t = self.peek()
        if t is None:
            raise _Unsupported("unexpected end of type")
        self.pos += 1
        return t

    def expect(self, tok: str) -> None:
        t = self.take()
        if t != tok:
            raise _Unsupported(f"expected {tok!r}, found {t!r}")

    # type := cv* base cv* ('*' cv* | '&' | '&&' | '[' N? ']')*
    def parse_decl(self) -> Decl:
        const = False
        ref: Literal["", "&", "&&"] = ""
        base_start = self.pos
        const |= self._cv()
        self.pending_const = False
        base = self.parse_base()
        const |= self._cv() or self.pending_const
        t = base
        while self.peek() in ("*", "&", "&&", "["):
            tok = self.take()
            if tok == "*":
                t = t.model_copy(update={"const": const})
                const = self._cv()
                t = CType(kind="pointer", elem=t, text=" ".join(self.toks[base_start:self.pos]))
            elif tok == "[":
                while self.peek() not in ("]", None):
                    self.take()
                self.expect("]")
                t = CType(kind="pointer", elem=t.model_copy(update={"const": const}),
                          text=" ".join(self.toks[base_start:self.pos]))
                const = False
            else:
                ref = tok  # type: ignore[assignment]
                const |= self._cv()
        return Decl(type=t, const=const, reference=ref, text=self.text)

    def _cv(self) -> bool:
        const = False
        while self.peek() in _IGNORED_WORDS or self.peek() == "const":
            if self.take() == "const":
                const = True
        return const

    def parse_base(self) -> CType:
        tok = self.peek()
        if tok is None:
            raise _Unsupported("empty type")
        if tok in _BUILTIN_WORDS:
            return self._builtin()
        name = self._qualified_name()
        short = name.split("::")[-1]
        if name in ("auto", "decltype") or short == "auto":
            return CType(kind="unsupported", text=name, reason="`auto` types cannot be generated")
        if name == "void":
            return CType(kind="unsupported", text="void", reason="void has no values")
        if self.peek() == "<":
            args = self._template_args()
            if self.peek() == "::":
                self.take()
                member = self._qualified_name()
                if member.split("::")[-1] in ("size_type", "difference_type"):
                    cls = "unsigned" if member.endswith("size_type") else "signed"
                    return CType(kind="scalar", scalar="std::size_t" if cls == "unsigned" else "std::ptrdiff_t",
                                 scalar_class=cls, text=f"{name}<...>::{member}")
                return CType(kind="unsupported", text=f"{name}<...>::{member}",
                             reason=f"member type {member} of a template cannot be generated")
            return self._template(name, short, args)
        # ::size_type, ::value_type of a container
        if short == "size_type":
            return CType(kind="scalar", scalar="std::size_t", scalar_class="unsigned", text=name)
        bare = name[5:] if name.startswith("std::") else name
        if bare in _NAMED_SCALARS:
            return CType(kind="scalar", scalar=name, scalar_class=_NAMED_SCALARS[bare], text=name)
        if name in _STRING_NAMES:
            return CType(kind="string", text=name)
        if name in self.aliases and self.depth < 8:
            d = parse_type(self.aliases[name], self.aliases, self.depth + 1)
            if d.reference:
                return CType(kind="unsupported", text=name, reason=f"alias {name} is a reference type")
            return d.type.model_copy(update={"const": d.type.const or d.const})
        if bare in _KNOWN_UNSUPPORTED:
            return CType(kind="unsupported", text=name, reason=f"{name} is not a type the harness can generate")
        return CType(kind="struct", name=name, text=name)

    def _builtin(self) -> CType:
        """A multi-word builtin (``unsigned long long int``); an embedded ``const`` is remembered."""
        words: list[str] = []
        const = False
        while self.peek() in _BUILTIN_WORDS or self.peek() == "const":
            w = self.take()
            if w == "const":
                const = True
            else:
                words.append(w)
        if const:
            self.pending_const = True
        text = " ".join(words)
        longs = words.count("long")
        if "bool" in words:
            return CType(kind="scalar", scalar="bool", scalar_class="bool", text=text)
        if "float" in words:
            return CType(kind="scalar", scalar="float", scalar_class="float", text=text)
        if "double" in words:
            if longs:
                return CType(kind="scalar", scalar="long double", scalar_class="long double", text=text)
            return CType(kind="scalar", scalar="double", scalar_class="double", text=text)
        unsigned = "unsigned" in words
        if "char" in words:
            if unsigned:
                return CType(kind="scalar", scalar="unsigned char", scalar_class="unsigned", text=text)
            if "signed" in words:
                return CType(kind="scalar", scalar="signed char", scalar_class="signed", text=text)
            return CType(kind="scalar", scalar="char", scalar_class="char", text=text)
        if "short" in words:
            core = "short"
        elif longs >= 2:
            core = "long long"
        elif longs == 1:
            core = "long"
        else:
            core = "int"
        spelled = ("unsigned " + core) if unsigned else core
        return CType(kind="scalar", scalar=spelled, scalar_class="unsigned" if unsigned else "signed", text=text)

    def _qualified_name(self) -> str:
        parts: list[str] = []
        if self.peek() == "::":
            self.take()
        while True:
            t = self.take()
            if not re.match(r"[A-Za-z_]", t):
                raise _Unsupported(f"unexpected {t!r}")
            parts.append(t)
            if self.peek() == "::":
                self.take()
                continue
            break
        return "::".join(parts)

    def _template_args(self) -> list[str]:
        """Raw texts of template arguments (nesting kept); splits ``>>``."""
        self.expect("<")
        args: list[list[str]] = [[]]
        depth = 0
        while True:
            t = self.take()
            if t == "<":
                depth += 1
            elif t == ">":
                if depth == 0:
                    break
                depth -= 1
            elif t == "," and depth == 0:
                args.append([])
                continue
            args[-1].append(t)
        return [_join(a) for a in args]

    def _template(self, name: str, short: str, args: list[str]) -> CType:
        text = f"{name}<{', '.join(args)}>"
        if name in _VECTOR_NAMES and args:
            elem = parse_type(args[0], self.aliases, self.depth + 1).type
            if elem.kind == "scalar" and elem.scalar_class == "bool" and name in ("std::vector", "vector"):
                return CType(kind="vector_bool", text=text)
            container = "std::deque" if short == "deque" else ("parlay::sequence" if name.startswith("parlay")
                                                                else "std::vector")
            return CType(kind="vector", elem=elem, container=container, text=text)
        if name in _ARRAY_NAMES and len(args) == 2:
            elem = parse_type(args[0], self.aliases, self.depth + 1).type
            return CType(kind="array", elem=elem, length=args[1], text=text)
        if name in _PAIR_NAMES and len(args) == 2:
            a = parse_type(args[0], self.aliases, self.depth + 1).type
            b = parse_type(args[1], self.aliases, self.depth + 1).type
            return CType(kind="pair", elem=a, second=b, text=text)
        if name in _COMPLEX_NAMES and len(args) == 1:
            elem = parse_type(args[0], self.aliases, self.depth + 1).type
            if not elem.is_floating:
                return CType(kind="unsupported", text=text, reason="std::complex of a non-floating type")
            return CType(kind="complex", elem=elem, text=text)
        if name in _STRING_NAMES:
            return CType(kind="string", text=text)
        return CType(kind="unsupported", text=text,
                     reason=f"{name}<...> is not a type the harness can generate")


def _join(tokens: list[str]) -> str:
    out = ""
    for t in tokens:
        if out and (re.match(r"[A-Za-z_0-9]", t) and re.match(r".*[A-Za-z_0-9]$", out)):
            out += " "
        out += t
    return out


def parse_type(text: str, aliases: dict[str, str] | None = None, _depth: int = 0) -> Decl:
    """Parse a declared C++ type (without the declared name) into a :class:`Decl`.

    Args:
        text: e.g. ``"const std::vector<double>&"``, ``"double*"``, ``"int[]"``.
        aliases: ``using``/``typedef`` names of the file mapped to their target
            text; resolved recursively (8 levels at most).

    Returns:
        The declaration. Types it cannot model come back as
        ``kind="unsupported"`` with a ``reason``; it does not raise.
    """
    try:
        p = _Parser(text, aliases or {}, _depth)
        d = p.parse_decl()
        if p.peek() is not None:
            rest = " ".join(p.toks[p.pos:])
            if rest == "(" or "(" in rest:
                return Decl(type=CType(kind="unsupported", text=text, reason="function pointers cannot be generated"),
                            text=text)
            return Decl(type=CType(kind="unsupported", text=text, reason=f"unexpected {rest!r} in the type"),
                        text=text)
        return d
    except _Unsupported as exc:
        return Decl(type=CType(kind="unsupported", text=text, reason=str(exc)), text=text)
