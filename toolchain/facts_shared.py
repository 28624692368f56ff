"""Shared objects and packed storage: what parallel iterations must not write together.

Mixed into the facts analysis (:mod:`parevo.toolchain.facts`):

* **Member functions on shared objects.** A call of a member function that is
  not ``const`` on an object every iteration shares (``q.push(v)``,
  ``s.insert(x)``, ``bs.set(i)``, ``acc.add(x)``) is a write conflict: parallel
  iterations would change one object at the same time. Not a conflict: a call
  on a ``const`` object; a member known to leave its object unchanged
  (:data:`CONST_METHODS` of the standard containers, or a member declared
  ``const`` in a struct of the file); a call on an element at the loop index
  (``rows[i].push_back(x)``: that element belongs to the iteration); and
  ``push_back``/``emplace_back`` on a container the loop only appends to, a
  filter the rules rewrite with ``parlay::filter``/``pack`` (recorded as a
  :class:`~parevo.toolchain.models.Push`).
* **Keyed containers.** ``m[k]`` on a ``std::map``/``std::unordered_map``
  inserts a missing key, so reading or writing through it on a shared map is
  a write conflict (no rule rewrites a histogram over a map).
* **Packed storage.** A write at the loop index into a ``std::vector<bool>`` or a
  ``std::bitset`` (``out[i] = v``, ``out[i].flip()``, ``bs.set(i)``) is recorded as a
  :class:`~parevo.toolchain.models.PackedWrite`: neighbouring elements share a
  64-bit word, so the rules split such a loop only into word-aligned blocks, or
  compute into a byte-per-element temporary and copy it back by whole words
  (:mod:`parevo.evolution.rules_packed`). Bit-fields are not packed storage
  across iterations: a bit-field of the iteration's own element is a memory
  location of that element only (C++ [intro.memory]/3: adjacent bit-fields of
  one object share a memory location, distinct objects never do), and a
  bit-field of an object all iterations share is a write to a shared object
  (a conflict like any other member of it).
"""

from __future__ import annotations

from tree_sitter import Node

from .ctypes import CType, Decl
from .models import Access, PackedWrite
from .syntax import captures, line_of, node_text, span_of, strip_parens

#: Member functions of the standard containers, strings, bitsets and atomics that do not change
#: their object (C++ ``const`` members; element accessors such as ``at``/``front`` only read unless
#: assigned, which the write analysis sees as a write through them).
CONST_METHODS = frozenset("""
    size empty length capacity max_size count contains find rfind find_first_of find_last_of at front back data
    begin end cbegin cend rbegin rend crbegin crend c_str top lower_bound upper_bound equal_range substr compare
    starts_with ends_with real imag load test all any none to_ulong to_ullong to_string get key_comp value_comp
    hash_function bucket_count load_factor max_load_factor get_allocator
""".split())
#: Templates whose ``operator[]`` inserts a missing key.
KEYED = frozenset({"map", "unordered_map"})
#: Members of ``std::bitset`` that change the bit at their first argument.
BIT_SETTERS = frozenset({"set", "reset", "flip"})
#: Bits of a word of ``std::vector<bool>``/``std::bitset`` storage.
WORD_BITS = 64

_CONST_MEMBERS = """
[(function_definition declarator: (function_declarator declarator: (field_identifier) @name) @fn)
 (field_declaration declarator: (function_declarator declarator: (field_identifier) @name) @fn)
 (declaration declarator: (function_declarator declarator: (field_identifier) @name) @fn)]
"""


def _template(t: CType | None) -> str:
    """``map`` for ``std::map<...>`` (an unsupported template keeps its name), else ''."""
    if t is None or t.kind != "unsupported" or not t.name:
        return ""
    return t.name.split("::")[-1]


class SharedFacts:
    """Mixin: shared objects and packed storage (needs ``site``, ``f``, ``src``, ``private``, ``conflicts``,
    ``t`` and ``offset`` of the analysis)."""

    # ----- types of names
    def decl_of_root(self, name: str) -> Decl | None:
        """The declared type of a name used as an object or container: a plain name declared before the
        loop, or a field path ``cfg.mask`` / ``p->mask`` through the file's structs (None when unknown)."""
        if not name:
            return None
        parts = name.replace("->", ".").split(".")
        decl = self.site.decl_of(parts[0].strip())
        for field in parts[1:]:
            t = decl.type if decl is not None else None
            if t is not None and t.kind == "pointer":
                t = t.elem
            sd = self.struct_def(t)
            fd = next((x for x in sd.fields if x.name == field.strip()), None) if sd is not None else None
            decl = fd.decl if fd is not None else None
        return decl

    def struct_def(self, t: CType | None):
        """The file's struct a type names (``None`` when not a struct of the file)."""
        if t is None or t.kind != "struct" or not t.name:
            return None
        short = t.name.split("::")[-1]
        return next((s for s in self.site.structs if s.name == short), None)

    def const_member(self, t: CType | None, method: str) -> bool:
        """True when ``method`` of the file's struct ``t`` is declared ``const`` (every overload)."""
        sd = self.struct_def(t)
        if sd is None:
            return False
        node = self.site.struct_nodes.get(sd.span.start_byte)
        if node is None:
            return False
        got = captures(_CONST_MEMBERS, node)
        fns = [fn for fn, nm in zip(got.get("fn", []), got.get("name", [])) if node_text(nm, self.src) == method]
        return bool(fns) and all(any(c.type == "type_qualifier" and node_text(c, self.src) == "const"
                                     for c in fn.children) for fn in fns)

    # ----- member calls
    def element_at_index(self, obj: Node) -> bool:
        """``a[i]`` (the loop index, offset 0, or the range-for element): an object of this iteration."""
        obj = strip_parens(obj)
        f = self.f
        if obj is not None and obj.type == "identifier" and f.range_var and self.t(obj) == f.range_var:
            return True
        while obj is not None and obj.type == "field_expression":
            obj = strip_parens(obj.child_by_field_name("argument"))
        if obj is None or obj.type != "subscript_expression":
            return False
        return self.offset(_only_index(obj)) == 0

    def member_call(self, call: Node, method: str, obj: Node, root: str) -> str:
        """Classify ``obj.method(...)``: ``"element"`` (an element at the loop index, or a bit of a
        ``std::bitset`` at it: a write at the index), ``"read"`` (leaves a shared object unchanged),
        ``"push"`` (``push_back`` on a shared container: the caller records a filter) or
        ``"conflict"`` (recorded here, with the sentence the user sees)."""
        line = line_of(call)
        if self.element_at_index(obj):
            objname = self.t(obj)
            self.f.writes_at_index.append(Access(array=root, index=objname, kind="update", op=f".{method}()",
                                                 line=line, span=span_of(call)))
            self.note_packed(root, 0, None, line)
            return "element"
        bare = strip_parens(obj)
        if method in ("push_back", "emplace_back") and bare is not None and bare.type in ("identifier",
                                                                                        "field_expression"):
            return "push"
        decl = self.decl_of_root(root)
        direct = bare is not None and bare.type == "identifier"
        t = decl.type if decl is not None else None
        if direct and decl is not None and (decl.const or (t is not None and t.const)):
            return "read"
        if method in CONST_METHODS or (direct and self.const_member(t, method)):
            return "read"
        if direct and _template(t) == "bitset" and method in BIT_SETTERS:
            args = call.child_by_field_name("arguments")
            first = args.named_children[0] if args is not None and args.named_child_count else None
            if first is not None and self.offset(first) == 0:
                self.f.writes_at_index.append(Access(array=root, index=self.t(first), kind="update",
                                                     op=f".{method}()", line=line, span=span_of(call)))
                self.note_packed(root, 0, None, line)
                return "element"
        self.conflicts.append((f"write conflict: `{self.t(call)}` at line {line + 1} calls `{method}`, which changes "
                               f"`{self.t(obj)}`, an object all iterations share: parallel iterations would change "
                               "it at the same time", [line]))
        return "conflict"

    # ----- keyed containers
    def keyed_access(self, name: str, node: Node, write: bool) -> bool:
        """An element access ``node`` of a shared ``std::map``/``std::unordered_map`` that is a write conflict
        (recorded; True): any write (no rule rewrites a histogram over a map), and a read through
        ``operator[]``, which inserts a missing key (``m.at(k)``, ``m.find(k)`` of a read are fine)."""
        root = name.split("[")[0]
        if root.replace("->", ".").split(".")[0] in self.private:
            return False
        decl = self.decl_of_root(root)
        kind = _template(decl.type if decl is not None else None)
        if kind not in KEYED:
            return False
        bare = strip_parens(node)
        if not write and (bare is None or bare.type != "subscript_expression" or decl.const):
            return False
        line = line_of(node)
        verb = "updates" if write else "reads"
        if bare is not None and bare.type == "subscript_expression":
            why = (f"{verb} the std::{kind} `{root}` through operator[], which inserts a missing key into a map "
                   "all iterations share")
        else:
            why = (f"updates an element of the std::{kind} `{root}`, a map all iterations share (no parallel "
                   "rewrite updates a map)")
        self.conflicts.append((f"write conflict: `{self.t(node)}` at line {line + 1} {why}", [line]))
        return True

    # ----- packed storage
    def note_packed_unaligned(self, name: str, line: int) -> None:
        """A write into the ``std::vector<bool>``/``std::bitset`` ``name`` at an element that is not the
        iteration's position plus a constant (a stride, a loop read backwards): blocks of iterations would
        split its 64-element words between workers, so it is a write conflict."""
        decl = self.decl_of_root(name)
        t = decl.type if decl is not None else None
        if t is not None and (t.kind == "vector_bool" or _template(t) == "bitset"):
            self.conflicts.append((f"write conflict: the loop writes the packed `{name}` (64 elements per word) at "
                                   f"line {line + 1} at an element that is not its iteration position plus a "
                                   "constant: workers would share its words", [line]))

    def note_packed(self, name: str, offset: int | None, element: Node | None, line: int) -> None:
        """Record a write at the loop index (``offset`` k of ``i + k``; None for a row-major write) into a
        ``std::vector<bool>`` or ``std::bitset`` named ``name``; ``element`` is the written ``out[i]``."""
        decl = self.decl_of_root(name)
        t = decl.type if decl is not None else None
        kind = "vector<bool>" if t is not None and t.kind == "vector_bool" else \
            "bitset" if _template(t) == "bitset" else None
        if kind is not None:
            self.f.packed_writes.append(PackedWrite(array=name, kind=kind, offset=offset, line=line,
                                                    span=span_of(element) if element is not None else None))


def _only_index(sub: Node) -> Node | None:
    """The one index of a subscript ``a[e]`` (None for ``a[e1, e2]``)."""
    idx = sub.child_by_field_name("indices") or sub.child_by_field_name("index")
    if idx is not None and idx.type == "subscript_argument_list":
        idx = idx.named_children[0] if idx.named_child_count == 1 else None
    return idx


__all__ = ["BIT_SETTERS", "CONST_METHODS", "KEYED", "SharedFacts", "WORD_BITS"]
