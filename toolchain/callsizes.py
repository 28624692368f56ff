"""The program's own input size: constant sizes at the calls of the selected function.

A speedup depends on n, and the size the developer's program uses is the one
that matters. Without a size from the settings or the input spec, parevo reads
the calls of the function in the same file and in the files of the
workspace's ``compile_commands.json`` (tree-sitter, through
:mod:`parevo.toolchain.syntax`), and for each argument whose parameter the
input plan sizes by ``n`` works out a constant:

* a size parameter: the argument's value (``dot(x.data(), y.data(), n)`` with
  ``int n = 1 << 20;`` before it);
* a container or pointer parameter: the size of the container passed
  (``std::vector<double> a(1 << 22)``, ``std::vector<double> x(n), y(n)``,
  ``auto v = std::vector<float>(N)``, ``double arr[4096]``, a later
  ``a.resize(K)`` / ``a.assign(K, x)``), passed as ``a``, ``a.data()`` or ``&a[0]``.

Constants are integer literals (digit separators and suffixes understood)
combined with ``+ - * / % << >>``, parentheses, casts, and variables whose
declaration initializes them with such a constant and that are never assigned
again in their function (or are namespace-scope). Anything else is not a
constant, and the call site gives no size. The largest size found wins (the
call that costs most); :class:`CallSize` says where it came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel
from tree_sitter import Node

from .syntax import ancestor, captures, int_literal, node_text, parse, strip_parens, walk

MAX_DEPTH = 40  # nested expressions and variable chains followed at most
MAX_FILES = 200  # compile_commands.json files read at most
MAX_FILE_BYTES = 2 << 20

_CALLS = "(call_expression function: (_) @fn arguments: (argument_list) @args) @call"
_ASSIGNED = """
(assignment_expression left: (identifier) @name)
(update_expression argument: (identifier) @name)
"""
_OPS = {"<<": lambda a, b: a << b if 0 <= b < 63 else None, ">>": lambda a, b: a >> b if 0 <= b < 63 else None,
        "*": lambda a, b: a * b, "+": lambda a, b: a + b, "-": lambda a, b: a - b,
        "/": lambda a, b: a // b if b else None, "%": lambda a, b: a % b if b else None}


class CallSize(BaseModel):
    """A constant size at a call of the function: ``n``, the file and 1-based ``line`` of the call,
    the calling function, and the argument it came from."""

    n: int
    path: str
    line: int
    caller: str
    argument: str

    def describe(self) -> str:
        """``the call in main() at sum_squares.cpp:42``."""
        where = f"{os.path.basename(self.path)}:{self.line}"
        return f"the call in {self.caller}() at {where}" if self.caller else f"the call at {where}"


def _callee_name(fn: Node, src: bytes) -> str:
    """The last name of a call's function (``ns::f`` → ``f``, ``f<T>`` → ``f``); "" for other forms."""
    fn = strip_parens(fn)
    while fn is not None and fn.type in ("qualified_identifier", "template_function"):
        fn = fn.child_by_field_name("name")
    return node_text(fn, src) if fn is not None and fn.type == "identifier" else ""


def _function_of(node: Node) -> Node | None:
    return ancestor(node, {"function_definition"})


def _function_name(fn: Node | None, src: bytes) -> str:
    d = fn.child_by_field_name("declarator") if fn is not None else None
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    name = d.child_by_field_name("declarator") if d is not None else None
    return node_text(name, src) if name is not None else ""


class _Scope:
    """Declarations visible at a call: its function's body before it, then namespace scope."""

    def __init__(self, root: Node, call: Node, src: bytes):
        self.root, self.call, self.src = root, call, src
        self.function = _function_of(call)
        self.assigned: set[str] = set()
        if self.function is not None:
            self.assigned = {node_text(n, src) for n in captures(_ASSIGNED, self.function).get("name", [])}

    def declarators(self, name: str) -> list[tuple[Node, bool]]:
        """``(declarator node, local)`` pairs declaring ``name`` visible at the call, nearest first."""
        out: list[tuple[Node, bool]] = []
        scopes = []
        if self.function is not None:
            scopes.append((self.function, True))
        scopes.append((self.root, False))
        for scope, local in scopes:
            found = []
            for decl in walk(scope):
                if decl.type != "declaration" or decl.start_byte >= self.call.start_byte:
                    continue
                if not local and _function_of(decl) is not None:
                    continue  # another function's local
                for d in decl.children_by_field_name("declarator"):
                    if _declared_name(d, self.src) == name:
                        found.append((d, local))
            out.extend(reversed(found))
        return out


def _declared_name(d: Node, src: bytes) -> str:
    node = d
    while node is not None and node.type in ("init_declarator", "function_declarator", "array_declarator",
                                              "pointer_declarator", "reference_declarator"):
        node = node.child_by_field_name("declarator") or (node.named_children[0] if node.named_children else None)
    return node_text(node, src) if node is not None and node.type == "identifier" else ""


def _value(node: Node | None, scope: _Scope, depth: int = 0) -> int | None:
    """The integer constant ``node`` denotes at the call (see the module docstring), else None."""
    node = strip_parens(node)
    if node is None or depth > MAX_DEPTH:
        return None
    src = scope.src
    v = int_literal(node, src)
    if v is not None:
        return v
    t = node.type
    if t == "binary_expression":
        op = node.child_by_field_name("operator")
        a = _value(node.child_by_field_name("left"), scope, depth + 1)
        b = _value(node.child_by_field_name("right"), scope, depth + 1)
        f = _OPS.get(node_text(op, src)) if op is not None else None
        return f(a, b) if f is not None and a is not None and b is not None else None
    if t == "cast_expression":
        return _value(node.child_by_field_name("value"), scope, depth + 1)
    if t == "call_expression":  # static_cast<size_t>(x), size_t(x)
        fn = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        name = node_text(fn, src) if fn is not None else ""
        if args is not None and args.named_child_count == 1 and (
                name.split("<")[0].strip() in ("static_cast", "std::size_t", "size_t", "int", "long", "unsigned")):
            return _value(args.named_children[0], scope, depth + 1)
        return None
    if t in ("identifier", "type_identifier"):
        return _variable(node_text(node, src), scope, depth + 1)
    return None


def _variable(name: str, scope: _Scope, depth: int) -> int | None:
    """The constant a variable holds at the call: its initializer, if it is never assigned again."""
    for d, local in scope.declarators(name):
        if local and name in scope.assigned:
            return None
        if d.type == "init_declarator":
            value = d.child_by_field_name("value")
            if value is not None and value.type == "initializer_list" and value.named_child_count == 1:
                value = value.named_children[0]
            return _value(value, scope, depth + 1)
        return None
    return None


def _container_name(arg: Node, src: bytes) -> str:
    """``a`` for the arguments ``a``, ``a.data()``, ``&a[0]``, ``a.begin()``; "" otherwise."""
    arg = strip_parens(arg)
    if arg is None:
        return ""
    if arg.type == "identifier":
        return node_text(arg, src)
    if arg.type == "call_expression":
        fn = arg.child_by_field_name("function")
        if fn is not None and fn.type == "field_expression":
            field = fn.child_by_field_name("field")
            obj = strip_parens(fn.child_by_field_name("argument"))
            if field is not None and node_text(field, src) in ("data", "begin") and obj is not None \
                    and obj.type == "identifier":
                return node_text(obj, src)
    if arg.type == "pointer_expression" and arg.child_count == 2 and arg.children[0].type == "&":
        sub = strip_parens(arg.child_by_field_name("argument"))
        if sub is not None and sub.type == "subscript_expression":
            obj = strip_parens(sub.child_by_field_name("argument"))
            if obj is not None and obj.type == "identifier":
                return node_text(obj, src)
    return ""


def _container_size(name: str, scope: _Scope, depth: int = 0) -> int | None:
    """The element count of container (or array) ``name`` at the call, else None."""
    for d, local in scope.declarators(name):
        if d.type == "array_declarator":
            return _value(d.child_by_field_name("size"), scope, depth + 1)
        if d.type == "function_declarator":  # `std::vector<double> x(n)`: the most vexing parse
            params = d.child_by_field_name("parameters")
            items = params.named_children if params is not None else []
            if len(items) >= 1 and items[0].type == "parameter_declaration":
                ty = items[0].child_by_field_name("type")
                if ty is not None and items[0].child_by_field_name("declarator") is None:
                    return _value(ty, scope, depth + 1)
            return None
        if d.type == "init_declarator":
            value = d.child_by_field_name("value")
            if value is not None and value.type == "argument_list" and value.named_child_count >= 1:
                return _value(value.named_children[0], scope, depth + 1)
            if value is not None and value.type == "call_expression":  # auto v = std::vector<T>(n)
                args = value.child_by_field_name("arguments")
                if args is not None and args.named_child_count >= 1:
                    return _value(args.named_children[0], scope, depth + 1)
            return None
        if local and scope.function is not None:  # declared empty: a resize or assign before the call
            return _resized(name, d, scope, depth)
        return None
    return None


def _resized(name: str, decl: Node, scope: _Scope, depth: int) -> int | None:
    """The size of the last ``name.resize(K)`` / ``name.assign(K, …)`` between the declaration and the call."""
    src = scope.src
    last = None
    for m in captures(_CALLS, scope.function).get("call", []):
        if not (decl.end_byte <= m.start_byte < scope.call.start_byte):
            continue
        fn = m.child_by_field_name("function")
        if fn is None or fn.type != "field_expression":
            continue
        obj = strip_parens(fn.child_by_field_name("argument"))
        field = fn.child_by_field_name("field")
        if obj is None or obj.type != "identifier" or node_text(obj, src) != name or field is None:
            continue
        if node_text(field, src) in ("resize", "assign"):
            args = m.child_by_field_name("arguments")
            if args is not None and args.named_child_count >= 1:
                last = _value(args.named_children[0], scope, depth + 1)
    return last


def _resolves_to_n(var: str | None, sizes: dict[str, str]) -> bool:
    seen = set()
    while var is not None and var not in seen:
        if var == "n":
            return True
        seen.add(var)
        var = sizes.get(var)
    return False


def sizes_in_source(source: str, path: str, function_name: str, plan, *, skip_function: str = "") -> list[CallSize]:
    """The constant sizes at every call of ``function_name`` in ``source`` (see the module docstring).

    ``plan`` is the :class:`~parevo.toolchain.inputs.InputPlan` (which parameters are sized by n);
    calls inside ``skip_function`` (the function itself: recursion) are ignored.
    """
    tree = parse(source)
    src = source.encode("utf-8", errors="surrogatepass")
    sizes = {s.name: s.expr.strip() for s in plan.sizes}
    params = sorted(plan.params, key=lambda p: p.index)
    out: list[CallSize] = []
    for m in captures(_CALLS, tree.root_node).get("call", []):
        fn = m.child_by_field_name("function")
        if fn is None or _callee_name(fn, src) != function_name:
            continue
        caller = _function_name(_function_of(m), src)
        if skip_function and caller == skip_function:
            continue
        args = m.child_by_field_name("arguments").named_children
        if len(args) != len(params):
            continue
        scope = _Scope(tree.root_node, m, src)
        found: list[tuple[int, str]] = []
        for p, arg in zip(params, args):
            n = None
            if p.role == "size" and _resolves_to_n(p.values.bound, sizes):
                n = _value(arg, scope)
            elif p.role in ("container", "pointer") and p.lengths and _resolves_to_n(p.lengths[0], sizes):
                name = _container_name(arg, src)
                n = _container_size(name, scope) if name else None
            if n is not None and n > 0:
                found.append((n, p.name))
        if found:
            n, pname = max(found)
            out.append(CallSize(n=n, path=path, line=m.start_point[0] + 1, caller=caller, argument=pname))
    return out


def compile_commands_files(workspace: str | None) -> list[str]:
    """Source files listed in ``workspace``'s ``compile_commands.json`` (or ``build/…``), absolute."""
    if not workspace:
        return []
    files: list[str] = []
    for db in (Path(workspace) / "compile_commands.json", Path(workspace) / "build" / "compile_commands.json"):
        try:
            entries = json.loads(db.read_text())
        except (OSError, ValueError):
            continue
        for e in entries if isinstance(entries, list) else []:
            if isinstance(e, dict) and isinstance(e.get("file"), str):
                full = os.path.normpath(os.path.join(e.get("directory") or str(db.parent), e["file"]))
                if full not in files:
                    files.append(full)
    return files[:MAX_FILES]


def call_site_size(source: str, path: str, function_name: str, plan, workspace: str | None = None) -> CallSize | None:
    """The program's size for the loop's function: the largest constant size at its calls in
    ``source`` and in the workspace's ``compile_commands.json`` files, or None (calibrate)."""
    found = sizes_in_source(source, path, function_name, plan, skip_function=function_name)
    here = os.path.abspath(path)
    for f in compile_commands_files(workspace):
        if os.path.abspath(f) == here:
            continue
        try:
            if os.path.getsize(f) > MAX_FILE_BYTES:
                continue
            text = Path(f).read_text(errors="replace")
        except OSError:
            continue
        if function_name not in text:
            continue
        found += sizes_in_source(text, f, function_name, plan, skip_function=function_name)
    return max(found, key=lambda c: c.n) if found else None
