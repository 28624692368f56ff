"""File-level C++ declarations the input plan needs, read from the parsed site's nodes.

* :func:`check_parameters`: refuses function pointers, variadic functions and
  unnamed parameters (array parameters are already pointers in the site's
  declarations);
* :func:`struct_plans`: the file's structs with their fields' types (trees from
  the declaration nodes), fully qualified names (namespaces), and why a struct
  cannot be generated (private fields, pointer/reference fields, no default
  constructor).
"""

from __future__ import annotations

from pydantic import BaseModel
from tree_sitter import Node

from .ctypes import CType
from .models import HarnessError
from .site import ParsedSite, StructDef
from .syntax import captures, function_declarator
from .syntax import node_text as text_of


class StructPlan(BaseModel):
    """A user struct the harness generates and dumps: fields in declaration order."""

    name: str
    cxx_name: str
    fields: list[tuple[str, CType, int | None]]


def check_parameters(fn_node: Node, src: bytes) -> None:
    """Refuse a parameter list the harness cannot call.

    Raises:
        HarnessError: a parameter is a function pointer, has no name, or the function is
            variadic (``...``).
    """
    d = function_declarator(fn_node)
    plist = d.child_by_field_name("parameters") if d is not None else None
    if plist is None:
        return
    for p in plist.named_children:
        if p.type == "variadic_parameter_declaration" or text_of(p, src).strip() == "...":
            raise HarnessError("the function takes variadic arguments (`...`): the harness cannot call it; "
                               "select a loop in a function with a fixed parameter list")
        decl = p.child_by_field_name("declarator")
        if decl is None and p.type in ("parameter_declaration", "optional_parameter_declaration") and \
                text_of(p, src).strip() != "void":
            raise HarnessError(f"a parameter of type `{text_of(p, src).strip()}` has no name: the harness passes "
                               "every parameter by name; give it a name")
        if decl is not None and captures("(function_declarator) @f", decl).get("f"):
            raise HarnessError(f"parameter `{text_of(p, src).strip()}` is a function pointer: the harness cannot "
                               "generate a function; call the loop's function from a wrapper that passes the "
                               "function itself, and select the loop there")


def struct_plans(site: ParsedSite) -> tuple[dict[str, StructPlan], dict[str, str]]:
    """Plans of the file's structs, and for each a reason it cannot be generated (if any)."""
    plans: dict[str, StructPlan] = {}
    problems: dict[str, str] = {}
    for sd in site.structs:
        node = site.struct_nodes.get(sd.span.start_byte)
        fields = []
        problem = None
        for f in sd.fields:
            ft = f.decl
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
            problem = problem or _struct_shape_problem(node, sd, site.src)
        plans[sd.name] = StructPlan(name=sd.name, cxx_name=sd.cxx_name, fields=fields)
        if problem:
            problems[sd.name] = problem
    return plans, problems


def _struct_shape_problem(node: Node, sd: StructDef, src: bytes) -> str | None:
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
