"""A candidate's code as a tree-sitter tree: its token stream, syntax errors, calls and knobs.

Candidates are C++ and are read as syntax, never as text (the node helpers and
queries are :mod:`parevo.toolchain.syntax`'s):

* a **loop-level** text (statements that replace the selected loop) is parsed
  as the body of a function, ``void parevo_candidate() {\\n`` + text +
  ``\\n}``, so its statements parse as statements; a **function-level** text is
  parsed as it is. Node byte offsets index the wrapped text; :meth:`CandidateTree.edit`
  returns the candidate's own text again;
* the **token stream** (:func:`parevo.toolchain.syntax.tokens`: comments dropped,
  literals as written, layout irrelevant) is the candidate's identity in the
  evaluation cache (:attr:`parevo.evolution.candidates.Candidate.id`);
* **syntax errors** (tree-sitter ``ERROR`` and missing nodes) are reported with
  the candidate's own line and column, so a reply that does not parse is refused
  with a sentence the next prompt can carry (:mod:`parevo.evolution.responses`);
* **calls** are found with the call query, and a **knob** a proposer declared
  (``const size_t block = 2048;``, named in :attr:`Candidate.knobs`) by the
  literal-initializer query, so a mutation replaces exactly that node.

Parses are cached by text (256 entries): a search asks for the same
candidate's tokens and calls many times.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Node

from parevo.toolchain import syntax

_PREFIX = "void parevo_candidate() {\n"
_SUFFIX = "\n}\n"


@dataclass(frozen=True)
class SyntaxProblem:
    """One syntax error of a candidate: 1-based ``line`` and ``column`` (bytes) in the candidate's
    own text, ``what`` (``unexpected text`` or ``missing ;``) and ``near`` (the text there, at most
    40 characters of its first line)."""

    line: int
    column: int
    what: str
    near: str

    def sentence(self) -> str:
        """``line 3, column 7: unexpected text '@@'``."""
        return f"line {self.line}, column {self.column}: {self.what}" + (f" {self.near!r}" if self.near else "")


class CandidateTree:
    """The parse of one candidate's code (``level`` ``"loop"`` or ``"function"``).

    Attributes: ``text`` (the code), ``src`` (the bytes parsed, wrapped for a loop),
    ``offset`` (bytes before the code in ``src``), ``root`` (the tree's root node).
    """

    def __init__(self, text: str, level: str):
        self.text = text
        self.level = level
        wrapped = text if level == "function" else _PREFIX + text + _SUFFIX
        self.src = wrapped.encode("utf-8", errors="surrogatepass")
        self.offset = 0 if level == "function" else len(_PREFIX.encode())
        self._end = len(self.src) - (0 if level == "function" else len(_SUFFIX.encode()))
        self.tree = syntax.parse_bytes(self.src)
        self.root = self.tree.root_node

    # ---------------------------------------------------------------- reading
    def node_text(self, node: Node) -> str:
        """The text of ``node``."""
        return syntax.node_text(node, self.src)

    def tokens(self) -> list[str]:
        """The token stream of the whole parse (:func:`parevo.toolchain.syntax.tokens`)."""
        return syntax.tokens(self.root, self.src)

    def problems(self) -> list[SyntaxProblem]:
        """The syntax errors, in the candidate's own lines and columns (empty when it parses)."""
        line0 = 1 if self.level == "function" else 0  # the wrapper takes one line
        lines = self.text.split("\n")
        out = []
        for e in syntax.errors(self.root):
            if e.is_missing:
                what, near = f"missing {e.type}", ""
            else:
                what = "unexpected text"
                t = self.node_text(e).strip()
                near = t.splitlines()[0][:40] if t else ""
            line, column = e.start_point[0] + line0, e.start_point[1] + 1
            if line < 1:
                line, column = 1, 1
            elif line > len(lines):  # found in the wrapper's closing line: the end of the code
                line, column = len(lines), len(lines[-1].encode("utf-8", errors="surrogatepass")) + 1
            out.append(SyntaxProblem(line=line, column=column, what=what, near=near))
        return out

    def calls(self, names: Iterable[str] | None = None) -> list[syntax.Call]:
        """The calls in the code, in source order, optionally only those named ``names``."""
        return syntax.calls(self.root, self.src, names)

    def knob(self, name: str) -> Node | None:
        """The number literal initializing the constant ``name`` (a knob a proposer declared), when
        the code declares exactly one such constant; else None."""
        found = syntax.literal_inits(self.root, self.src, name)
        return found[0] if len(found) == 1 else None

    def identifiers(self) -> set[str]:
        """Every identifier spelled in the code (for choosing a fresh name)."""
        return {self.node_text(n) for n in syntax.walk(self.root) if n.child_count == 0
                and n.type in ("identifier", "field_identifier", "type_identifier", "namespace_identifier")}

    def enclosing_statement(self, node: Node) -> Node | None:
        """The statement of a ``{ … }`` block that holds ``node`` (where a declaration can go before it)."""
        n = node
        while n.parent is not None and n.parent.type != "compound_statement":
            n = n.parent
        return n if n.parent is not None else None

    def line_indent(self, node: Node) -> str:
        """The whitespace that starts ``node``'s line."""
        line_start = self.src.rfind(b"\n", 0, node.start_byte) + 1
        lead = self.src[line_start:node.start_byte]
        return lead[: len(lead) - len(lead.lstrip())].decode("utf-8", errors="replace")

    # ---------------------------------------------------------------- editing
    def edit(self, edits: Iterable[tuple[int, int, str]]) -> str:
        """The candidate's text after replacing each ``(start_byte, end_byte, new_text)`` of ``src``
        (non-overlapping; offsets as the nodes give them).

        Raises:
            ValueError: edits overlap or reach outside the candidate's code.
        """
        edits = list(edits)
        for s, e, _ in edits:
            if s < self.offset or e > self._end:
                raise ValueError(f"edit {s}-{e} is outside the candidate's code")
        out = syntax.replace_spans(self.src, edits)
        tail = len(self.src) - self._end
        return out[self.offset: len(out) - tail].decode("utf-8", errors="surrogatepass")


@lru_cache(maxsize=256)
def parse_candidate(text: str, level: str = "loop") -> CandidateTree:
    """The :class:`CandidateTree` of ``text`` at ``level`` (``"loop"`` or ``"function"``), cached."""
    return CandidateTree(text, level)


@lru_cache(maxsize=4096)
def token_digest(text: str, level: str = "loop") -> str:
    """SHA-256 (hex) of the token stream of ``text`` at ``level``: equal for texts that differ only
    in comments and layout, different when any token (a literal's spelling included) differs."""
    toks = parse_candidate(text, level).tokens()
    return hashlib.sha256(json.dumps(toks, ensure_ascii=False).encode("utf-8", errors="surrogatepass")).hexdigest()
