"""The serial meaning of a parallel loop: the same body, run as a serial loop.

A racy parallel loop says what its author meant: each iteration's body, for
every index of the range. Run in order, that is a serial loop, and its result
is the reference a correct parallel version must reproduce. The race fix
(:mod:`parevo.evolution.racefix`) searches verified rewrites of that serial
loop. :func:`serial_meaning` builds it from the syntax tree:

* ``parlay::parallel_for(lo, hi, [&](size_t i) { body }[, granularity])``
  becomes ``for (size_t i = lo; i < hi; ++i) { body }``: the lambda's body
  verbatim, its ``return;`` statements turned into ``continue;`` (a
  ``return`` inside an inner loop or ``switch`` of the body has no such
  meaning and is refused). A parameter of another type than ``size_t``
  (``int i``) is declared from a ``size_t`` counter as the call converts it.
* ``#pragma omp parallel for [clauses]`` above a ``for`` loop: the loop
  alone. ``reduction``, ``schedule``, ``collapse`` and ``nowait`` do not
  change what the loop computes; ``private``, ``firstprivate``,
  ``lastprivate``, ``linear``, ``copyin`` and ``threadprivate`` do, and are
  refused. Other ``#pragma omp`` lines inside the region (``atomic``,
  ``critical``) are dropped: run serially they mean nothing.
* A serial loop whose body holds such constructs: each of them, innermost
  last.

Each replacement keeps the line count (a removed pragma leaves an empty line,
listed in :attr:`SerialMeaning.blank_lines`), so lines of the serial text
are lines of the user's file. Everything else (``std::thread``,
``par_do``, ``tabulate``, an OpenMP ``parallel`` region without ``for``,
``std::for_each`` with an execution policy) is refused with
:class:`NoSerialMeaning` saying why. Pure: no I/O.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from tree_sitter import Node

from .models import ParevoError
from .site import ParsedSite
from .syntax import LOOP_TYPES, declared_name, node_text, parse, walk

#: OpenMP clauses that change what a loop computes (a serial loop has no private copies).
UNSUPPORTED_CLAUSES = ("private", "firstprivate", "lastprivate", "linear", "copyin", "copyprivate",
                       "threadprivate")
#: Integer types a ``parallel_for`` index can be taken as without a conversion.
SIZE_TYPES = ("size_t", "std::size_t", "auto", "unsigned long", "const size_t", "const std::size_t",
              "const auto")
MAX_PASSES = 8


class NoSerialMeaning(ParevoError):
    """The parallel construct has no serial meaning parevo can derive (the message says why)."""


class SerialMeaning(BaseModel):
    """The user's file with the parallel loop made serial.

    ``source``: the whole new file text (only the loop's region differs, line
    for line); ``line``: the 0-based line of the serial loop to select in it;
    ``blank_lines``: 0-based lines that stand for removed ``#pragma`` lines
    (empty in ``source``; the fix removes them); ``replaced``: what was made
    serial, for people (``parlay::parallel_for at line 11``).
    """

    source: str
    line: int
    blank_lines: list[int] = Field(default_factory=list)
    replaced: list[str] = Field(default_factory=list)


def _call_name(call: Node, src: bytes) -> str:
    fn = call.child_by_field_name("function")
    if fn is None:
        return ""
    return node_text(fn, src).split("<")[0].split("::")[-1].strip()


def _omp_pragma(node: Node, src: bytes) -> str | None:
    """The directive text of an OpenMP pragma node (``omp parallel for reduction(+:s)``), else None."""
    if node.type != "preproc_call":
        return None
    d = node.child_by_field_name("directive")
    arg = node.child_by_field_name("argument")
    if d is None or node_text(d, src).strip() != "#pragma" or arg is None:
        return None
    text = " ".join(node_text(arg, src).replace("\\\n", " ").split())
    return text if text.split(" ")[0] == "omp" else None


def _clause_words(directive: str) -> list[str]:
    """The words of an OpenMP directive outside parentheses (``parallel``, ``for``, ``reduction``...)."""
    words, depth, cur = [], 0, []
    for ch in directive:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if depth == 0 and (ch.isalnum() or ch == "_"):
            cur.append(ch)
        else:
            if cur:
                words.append("".join(cur))
            cur = []
    if cur:
        words.append("".join(cur))
    return words


def _line(node: Node) -> int:
    return node.start_point[0] + 1


class _Pass:
    """One pass over the region: the replacements of its outermost parallel constructs."""

    def __init__(self, src: bytes, region: tuple[int, int], names: set[str]):
        self.src = src
        self.lo, self.hi = region
        self.names = names
        self.edits: list[tuple[int, int, str]] = []
        self.blank: list[int] = []  # 0-based lines of emptied pragma lines
        self.replaced: list[str] = []

    def inside(self, n: Node) -> bool:
        return self.lo <= n.start_byte and n.end_byte <= self.hi

    def taken(self, n: Node) -> bool:
        return any(s <= n.start_byte and n.end_byte <= e for s, e, _ in self.edits)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    # ------------------------------------------------------------------ constructs
    def visit(self, root: Node) -> None:
        for n in walk(root):
            if not self.inside(n) or self.taken(n):
                continue
            if n.type == "call_expression":
                name = _call_name(n, self.src)
                if name == "parallel_for":
                    self.parallel_for(n)
                elif name in ("par_do", "blocked_for", "tabulate", "async") or (
                        name == "for_each" and "execution::par" in node_text(n, self.src)):
                    raise NoSerialMeaning(f"`{node_text(n.child_by_field_name('function'), self.src)}` at line "
                                          f"{_line(n)} is not a loop parevo can make serial; the race fix "
                                          "handles parlay::parallel_for and `#pragma omp parallel for` loops")
            elif n.type in ("type_identifier", "qualified_identifier") and node_text(n, self.src) in (
                    "std::thread", "std::jthread"):
                raise NoSerialMeaning(f"the loop starts threads (`{node_text(n, self.src)}` at line {_line(n)}): "
                                      "parevo cannot derive a serial loop from it")
            elif n.type == "preproc_call":
                directive = _omp_pragma(n, self.src)
                if directive is not None:
                    self.omp(n, directive)

    def parallel_for(self, call: Node) -> None:
        src = self.src
        stmt = call.parent
        if stmt is None or stmt.type != "expression_statement":
            raise NoSerialMeaning(f"the parlay::parallel_for at line {_line(call)} is part of a larger "
                                  "expression: the race fix needs it as a statement of its own")
        args = [a for a in call.child_by_field_name("arguments").named_children if a.type != "comment"]
        if len(args) < 3 or args[2].type != "lambda_expression":
            raise NoSerialMeaning(f"the parlay::parallel_for at line {_line(call)} does not take a lambda as its "
                                  "third argument: the race fix needs the loop body written out")
        lo, hi, lam = args[0], args[1], args[2]
        body = lam.child_by_field_name("body")
        decl = lam.child_by_field_name("declarator")
        params = decl.child_by_field_name("parameters") if decl is not None else None
        plist = [p for p in (params.named_children if params is not None else []) if p.type != "comment"]
        if body is None or len(plist) != 1:
            raise NoSerialMeaning(f"the lambda of the parlay::parallel_for at line {_line(call)} does not take "
                                  "one index parameter")
        if decl is not None and any(c.type == "mutable" or node_text(c, src) == "mutable" for c in decl.children):
            raise NoSerialMeaning(f"the lambda at line {_line(lam)} is `mutable`: its copies have no serial "
                                  "meaning")
        param = plist[0]
        pname = declared_name(param.child_by_field_name("declarator"), src)
        ptype = node_text(param.child_by_field_name("type"), src).strip() if param.child_by_field_name(
            "type") is not None else "auto"
        quals = " ".join(node_text(c, src) for c in param.children if c.type == "type_qualifier")
        ptype = f"{quals} {ptype}".strip()
        if pname is None:
            raise NoSerialMeaning(f"the lambda at line {_line(lam)} does not name its index parameter")
        body_text = self.body_with_continues(body)
        lo_t, hi_t = node_text(lo, src).strip(), node_text(hi, src).strip()
        if ptype in SIZE_TYPES or ptype.replace("const ", "") in SIZE_TYPES:
            head = f"for (size_t {pname} = {lo_t}; {pname} < {hi_t}; ++{pname})"
        else:
            k = self.fresh(f"{pname}_index")
            head = f"for (size_t {k} = {lo_t}; {k} < {hi_t}; ++{k})"
            # the call converts its size_t index to the parameter's type, as the declaration does here
            inner = body_text[1:]
            body_text = "{ " + f"{ptype} {pname} = {k};" + (inner if inner.startswith("\n") else " " + inner)
        # keep the line count: newlines between the call's start and the body, and after the body
        gap_before = src[stmt.start_byte:body.start_byte].count(b"\n")
        gap_after = src[body.end_byte:stmt.end_byte].count(b"\n")
        text = head + ("\n" * gap_before if gap_before else " ") + body_text + "\n" * gap_after
        self.edits.append((stmt.start_byte, stmt.end_byte, text))
        self.replaced.append(f"parlay::parallel_for at line {_line(call)}")

    def body_with_continues(self, body: Node) -> str:
        """The lambda body's text with its own ``return;`` statements turned into ``continue;``."""
        src = self.src
        edits = []
        for n in walk(body):
            if n.type != "return_statement":
                continue
            p, nested = n.parent, False
            while p is not None and p != body:
                if p.type == "lambda_expression":
                    break  # a nested lambda's own return
                if p.type in LOOP_TYPES or p.type == "switch_statement":
                    nested = True
                p = p.parent
            if p is not None and p != body:
                continue
            if nested:
                raise NoSerialMeaning(f"the `return` at line {_line(n)} leaves the lambda from inside an inner "
                                      "loop or switch: as a serial loop it has no equivalent `continue`")
            if n.named_child_count:
                raise NoSerialMeaning(f"the lambda returns a value at line {_line(n)}: parallel_for ignores it, "
                                      "so the loop body is not a statement list parevo can keep")
            edits.append((n.start_byte - body.start_byte, n.end_byte - body.start_byte, "continue;"))
        text = src[body.start_byte:body.end_byte]
        for s, e, new in sorted(edits, reverse=True):
            text = text[:s] + new.encode("utf-8") + text[e:]
        return text.decode("utf-8", errors="replace")

    def omp(self, pragma: Node, directive: str) -> None:
        words = _clause_words(directive)
        bad = [w for w in words if w in UNSUPPORTED_CLAUSES]
        if bad:
            raise NoSerialMeaning(f"`#pragma {directive}` at line {_line(pragma)} has a `{bad[0]}` clause: its "
                                  f"private copies have no serial meaning; declare the variable inside the loop "
                                  "body instead and check again")
        nxt = pragma.next_named_sibling
        if "parallel" in words and "for" not in words:
            raise NoSerialMeaning(f"`#pragma {directive}` at line {_line(pragma)} opens a parallel region, not a "
                                  "parallel loop: the race fix handles `#pragma omp parallel for` loops")
        if "for" in words and (nxt is None or nxt.type != "for_statement"):
            raise NoSerialMeaning(f"`#pragma {directive}` at line {_line(pragma)} is not followed by a `for` loop")
        if "for" in words:
            self.replaced.append(f"`#pragma {directive}` at line {_line(pragma)}")
        # the pragma line becomes empty (same line count); any other omp pragma (atomic, critical) too
        text = node_text(pragma, self.src)
        self.edits.append((pragma.start_byte, pragma.end_byte, "\n" * text.count("\n")))
        self.blank.append(pragma.start_point[0])


def serial_meaning(site: ParsedSite) -> SerialMeaning:
    """The serial meaning of the (already parallel) loop at ``site`` (see the module docstring).

    Raises:
        NoSerialMeaning: the loop holds no parallel construct parevo can make serial, or one that
            changes what the loop computes (the message names it and its line).
    """
    source = site.source
    tree = site.tree
    src = site.src
    loop = site.loop_node
    start, end = loop.start_byte, loop.end_byte
    if loop.type == "call_expression" and loop.parent is not None and loop.parent.type == "expression_statement":
        end = loop.parent.end_byte
    prev = loop.prev_named_sibling
    if loop.type == "for_statement" and prev is not None and _omp_pragma(prev, src) is not None:
        start = prev.start_byte
    line = loop.start_point[0]
    names = {node_text(n, src) for n in walk(tree.root_node) if n.type == "identifier"}
    blank_lines: set[int] = set()
    replaced: list[str] = []
    for _ in range(MAX_PASSES):
        tree = parse(source)
        p = _Pass(src, (start, end), names)
        p.visit(tree.root_node)
        if not p.edits:
            break
        for s, e, new in sorted(p.edits, reverse=True):
            src = src[:s] + new.encode("utf-8") + src[e:]
            end += len(new.encode("utf-8")) - (e - s)
        blank_lines.update(p.blank)  # every replacement keeps the line count: lines stay lines
        replaced += p.replaced
        source = src.decode("utf-8")
    else:
        raise NoSerialMeaning("the loop nests parallel constructs too deeply to make serial")
    if not replaced:
        raise NoSerialMeaning("the loop holds no parlay::parallel_for or `#pragma omp parallel for` to make serial")
    return SerialMeaning(source=source, line=_first_code_line(source, start, line), blank_lines=sorted(blank_lines),
                         replaced=replaced)


def _first_code_line(source: str, start_byte: int, fallback: int) -> int:
    """The first non-blank line at or after byte ``start_byte`` (the serial loop's header)."""
    data = source.encode("utf-8")
    line = data[:start_byte].count(b"\n")
    lines = source.split("\n")
    while line < len(lines) and not lines[line].strip():
        line += 1
    return line if line < len(lines) else fallback
