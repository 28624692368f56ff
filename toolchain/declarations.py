"""File-level C++ declarations the input plan needs, read with tree-sitter.

* :func:`find_function_node` / :func:`find_loop_node`: the site's nodes in the tree;
* :func:`type_aliases`: ``using X = T;`` and ``typedef T X;`` of the file;
* :func:`array_params`: parameters declared ``T a[]`` (pointers), refusing
  function pointers and variadic functions;
* :func:`struct_plans`: the file's structs with their fields parsed, fully
  qualified names (namespaces), and why a struct cannot be generated (private
  fields, pointer/reference fields, no default constructor).
"""

from __future__ import annotations

from pydantic import BaseModel

from .ctypes import CType, parse_type
from .models import HarnessError, LoopSite, StructDef
from .syntax import node_text as text_of
from .syntax import parse as parse_source
from .syntax import walk


class StructPlan(BaseModel):
    """A user struct the harness generates and dumps: fields in declaration order."""

    name: str
    cxx_name: str
    fields: list[tuple[str, CType, int | None]]


def find_function_node(site: LoopSite):
    tree = parse_source(site.source)
    root = tree.root_node
    node = root.descendant_for_byte_range(site.function.start_byte, site.function.end_byte)
    while node is not None and not (node.type == "function_definition" and
                                    node.start_byte == site.function.start_byte):
        node = node.parent
    if node is None:
        for n in walk(root):
            if n.type == "function_definition" and n.start_byte == site.function.start_byte:
                return root, n
        raise HarnessError(f"cannot find the function {site.function_name} in {site.path} (stale loop site?)")
    return root, node


def find_loop_node(fn_node, site: LoopSite):
    for n in walk(fn_node):
        if n.start_byte == site.loop.start_byte and n.end_byte == site.loop.end_byte:
            return n
    return fn_node


def type_aliases(root, src: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for n in walk(root):
        if n.type == "alias_declaration":
            name = n.child_by_field_name("name")
            ty = n.child_by_field_name("type")
            if name is not None and ty is not None:
                out[text_of(name, src)] = text_of(ty, src)
        elif n.type == "type_definition":
            ty = n.child_by_field_name("type")
            decls = n.children_by_field_name("declarator")
            if ty is not None:
                prefix = " ".join(text_of(c, src) for c in n.children
                                  if c.type == "type_qualifier" or c == ty)
                for d in decls:
                    if d.type == "type_identifier":
                        out[text_of(d, src)] = prefix
    return out


def array_params(fn_node, src: bytes) -> set[str]:
    """Parameters declared with array syntax (``double a[]``): they are pointers.

    Raises:
        HarnessError: a parameter is a function pointer or a variadic ``...``.
    """
    out: set[str] = set()
    d = fn_node.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    plist = d.child_by_field_name("parameters") if d is not None else None
    if plist is None:
        return out
    for p in plist.named_children:
        if p.type == "variadic_parameter_declaration" or text_of(p, src).strip() == "...":
            raise HarnessError("the function takes variadic arguments (`...`): the harness cannot call it; "
                               "select a loop in a function with a fixed parameter list")
        decl = p.child_by_field_name("declarator")
        if decl is None and p.type in ("parameter_declaration", "optional_parameter_declaration") and \
                text_of(p, src).strip() != "void":
            raise HarnessError(f"a parameter of type `{text_of(p, src).strip()}` has no name: the harness passes "
                               "every parameter by name; give it a name")
        if decl is not None and any(n.type == "function_declarator" for n in walk(decl)):
            raise HarnessError(f"parameter `{text_of(p, src).strip()}` is a function pointer: the harness cannot "
                               "generate a function; call the loop's function from a wrapper that passes the "
                               "function itself, and select the loop there")
        if decl is not None and decl.type == "array_declarator":
            inner = decl.child_by_field_name("declarator")
            if inner is not None:
                out.add(text_of(inner, src))
    return out


def struct_plans(site: LoopSite, root, src: bytes, aliases: dict[str, str]) -> tuple[dict[str, StructPlan],
                                                                                      dict[str, str]]:
    """Plans of the file's structs, and for each a reason it cannot be generated (if any)."""
    plans: dict[str, StructPlan] = {}
    problems: dict[str, str] = {}
    nodes = {n.start_byte: n for n in walk(root) if n.type in ("struct_specifier", "class_specifier")}
    for sd in site.structs:
        node = nodes.get(sd.span.start_byte)
        scopes = []
        p = node.parent if node is not None else None
        while p is not None:
            if p.type == "namespace_definition":
                nm = p.child_by_field_name("name")
                if nm is not None:
                    scopes.append(text_of(nm, src))
            elif p.type in ("struct_specifier", "class_specifier"):
                nm = p.child_by_field_name("name")
                if nm is not None:
                    scopes.append(text_of(nm, src))
            p = p.parent
        cxx = "::" + "::".join(list(reversed(scopes)) + [sd.name])
        fields = []
        problem = None
        for f in sd.fields:
            ft = parse_type(f.type_text, aliases)
            if ft.reference:
                problem = f"its field `{f.name}` is a reference"
            elif ft.type.kind == "pointer":
                problem = f"its field `{f.name}` is a pointer (the harness cannot know what it points to)"
            elif ft.type.unsupported_parts():
                problem = f"its field `{f.name}` has type `{f.type_text}` ({ft.type.unsupported_parts()[0].reason})"
            alen = f.array_len if f.array_len is not None and f.array_len >= 0 else None
            if f.array_len is not None and f.array_len < 0:
                problem = f"its field `{f.name}` is an array whose length is not a literal"
            fields.append((f.name, ft.type, alen))
        if node is not None:
            problem = problem or _struct_shape_problem(node, sd, src)
        plans[sd.name] = StructPlan(name=sd.name, cxx_name=cxx, fields=fields)
        if problem:
            problems[sd.name] = problem
    return plans, problems


def _struct_shape_problem(node, sd: StructDef, src: bytes) -> str | None:
    body = node.child_by_field_name("body")
    if body is None:
        return "it has no definition in this file"
    access = "private" if node.type == "class_specifier" else "public"
    ctors: list[int] = []
    for c in body.named_children:
        if c.type == "access_specifier":
            access = text_of(c, src).strip().rstrip(":")
        elif c.type == "field_declaration":
            is_fn = any(d.type == "function_declarator" for d in c.children_by_field_name("declarator"))
            if not is_fn and access != "public":
                return f"it has {access} fields"
        elif c.type in ("function_definition", "declaration"):
            d = c.child_by_field_name("declarator")
            if d is not None and d.type == "function_declarator":
                nm = d.child_by_field_name("declarator")
                if nm is not None and text_of(nm, src) == sd.name:
                    params = d.child_by_field_name("parameters")
                    ctors.append(params.named_child_count if params is not None else 0)
    if ctors and 0 not in ctors:
        return "it has constructors but no default constructor"
    return None
