"""Turn an LLM reply into a candidate, or into a failed mutation with a reason to feed back.

Accepted reply forms (the prompt asks for exactly one):

1. a fenced code block (```` ```cpp ````) holding the **new loop**: the code that
   replaces the selected loop (``#include`` lines in it become the
   candidate's includes);
2. a fenced code block holding the **whole function**: a definition of the
   selected function (same name); any other top-level definition in the
   block is refused, since only the selected function may change;
3. **SEARCH/REPLACE edits** of the candidate's function (the function with the
   parent candidate's loop in place)::

       <<<<<<< SEARCH
       lines of the current function
       =======
       new lines
       >>>>>>> REPLACE

   Each SEARCH text must occur once in the function. Matching is exact first,
   then line by line ignoring leading and trailing whitespace (ShinkaEvolve's
   whitespace-tolerant edits). A SEARCH text found only outside the function
   is refused; one found nowhere fails with the most similar lines of the
   function as a "did you mean these lines" hint.

A function-level result whose text outside the loop equals the original
function's (line by line, ignoring indentation and blank lines) becomes a
loop-level candidate (:func:`to_loop_level`), so edits confined to the loop
produce the same minimal rewrite as a loop reply.

Code that does not parse as C++ (tree-sitter syntax errors in the new loop or
function) is refused with the first error's line and column: it could be
neither identified, mutated nor spliced into the user's file.

Only the reply's structure (code fences, SEARCH/REPLACE markers) is read with
regular expressions; the C++ inside (``#include`` lines, which function a block
defines) is read from its parse.

Nothing is silently dropped: every reply yields a :class:`Proposal` with
either a candidate or a ``failure`` (and often a ``hint``), which the search
records and puts in the next prompt.
"""

from __future__ import annotations

import difflib
import re
import textwrap

from pydantic import BaseModel

from parevo.toolchain import syntax
from parevo.toolchain.site import ParsedSite
from parevo.toolchain.syntax import declarator_name, function_declarator, node_text, parse
from parevo.toolchain.splice import reindent

from .candidates import Candidate

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)```", re.S)
_OPEN_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n")
_EDIT = re.compile(r"^[ \t]*<{5,}[ \t]*SEARCH[ \t]*\n(.*?)^[ \t]*={5,}[ \t]*\n(.*?)^[ \t]*>{5,}[ \t]*REPLACE[ \t]*$",
                   re.S | re.M)
_CODE_LANGS = {"", "cpp", "c++", "cxx", "cc", "c", "hpp", "h", "cuda"}


class Proposal(BaseModel):
    """The outcome of one reply: ``candidate`` or ``failure`` (with an optional ``hint``).

    ``form`` says what the reply held: ``loop``, ``function``, ``edit`` or ``none``.
    """

    candidate: Candidate | None = None
    failure: str | None = None
    hint: str | None = None
    form: str = "none"

    @property
    def ok(self) -> bool:
        """True when a candidate was produced."""
        return self.candidate is not None


def parent_function_text(site: ParsedSite, parent: Candidate | None) -> str:
    """The selected function as the parent candidate has it (the original function without a parent)."""
    if parent is None:
        return site.function_text
    if parent.function_text is not None:
        return parent.function_text
    a = site.loop.start_byte - site.function.start_byte
    b = site.loop.end_byte - site.function.start_byte
    raw = site.function_text.encode("utf-8")
    return raw[:a].decode("utf-8") + reindent(parent.loop_text, site.indent) + raw[b:].decode("utf-8")


def _norm_lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def to_loop_level(site: ParsedSite, function_text: str) -> str | None:
    """The new loop text when ``function_text`` differs from the original function only inside
    the loop (compared line by line, whitespace-insensitive), dedented; else None."""
    raw = site.function_text.encode("utf-8")
    a = site.loop.start_byte - site.function.start_byte
    b = site.loop.end_byte - site.function.start_byte
    pre, post = raw[:a].decode("utf-8"), raw[b:].decode("utf-8")
    if pre.rstrip(" \t") and not pre.rstrip(" \t").endswith("\n"):
        return None  # code before the loop on its first line: no clean line boundary
    if post.split("\n", 1)[0].strip():
        return None  # code after the loop on its last line
    pre_n, post_n = _norm_lines(pre), _norm_lines(post)
    lines = function_text.split("\n")
    # walk non-blank lines to find where the prefix ends and the suffix starts
    idx = [i for i, ln in enumerate(lines) if ln.strip()]
    if len(idx) < len(pre_n) + len(post_n):
        return None
    if [lines[i].strip() for i in idx[:len(pre_n)]] != pre_n:
        return None
    if post_n and [lines[i].strip() for i in idx[len(idx) - len(post_n):]] != post_n:
        return None
    start = idx[len(pre_n) - 1] + 1 if pre_n else 0
    end = idx[len(idx) - len(post_n)] if post_n else len(lines)
    middle = "\n".join(lines[start:end]).strip("\n")
    if not middle.strip():
        return None
    return textwrap.dedent(middle)


def _take_includes(text: str) -> tuple[str, list[str]]:
    """``text`` without its ``#include <…>``/``#include "…"`` directives (each found in the parse,
    removed with its line), and the headers they named, in order."""
    src = text.encode("utf-8", errors="surrogatepass")
    root = syntax.parse(text).root_node
    incs: list[str] = []
    edits = []
    for node in syntax.walk(root):
        path = node.child_by_field_name("path") if node.type == "preproc_include" else None
        if path is None or path.type not in ("system_lib_string", "string_literal"):
            continue
        incs.append(syntax.node_text(path, src).strip())
        start, end = node.start_byte, node.end_byte
        while start > 0 and src[start - 1] in b" \t":
            start -= 1
        if start > 0 and src[start - 1] != ord("\n"):
            start = node.start_byte  # code before it on its line: keep that
        if src[end - 1] != ord("\n"):
            while end < len(src) and src[end] in b" \t":
                end += 1
            if end < len(src) and src[end] == ord("\n"):
                end += 1
        edits.append((start, end, ""))
    return syntax.replace_spans(src, edits).decode("utf-8", errors="surrogatepass"), incs


def _top_level_functions(text: str) -> tuple[list[tuple[str, int, int]], list[str]]:
    """``([(name, start_byte, end_byte)], [other top-level node types])`` of a code block."""
    tree = parse(text)
    src = text.encode("utf-8")
    fns, others = [], []
    for node in tree.root_node.named_children:
        target = node
        if node.type == "template_declaration":
            target = next((c for c in node.named_children if c.type == "function_definition"), node)
        if target.type == "function_definition":
            decl = function_declarator(target)
            name = node_text(declarator_name(decl.child_by_field_name("declarator")), src) if decl is not None else ""
            fns.append((name or "?", target.start_byte, target.end_byte))
        elif node.type not in ("comment", "preproc_include", "using_declaration"):
            others.append(node.type)
    return fns, others


def _unqualified(name: str) -> str:
    return name.split("::")[-1]


def _from_block(site: ParsedSite, block: str, base_fields: dict) -> Proposal:
    code, incs = _take_includes(block)
    code = code.strip("\n")
    if not code.strip():
        return Proposal(failure="the code block is empty", form="none")
    fns, others = _top_level_functions(code)
    want = _unqualified(site.function_name)
    if fns:
        names = [_unqualified(n) for n, _, _ in fns]
        if want not in names:
            return Proposal(failure=f"the reply defines function(s) {', '.join(names)} but not the selected "
                                    f"function `{site.function_name}`; reply with the new loop or the whole "
                                    f"`{site.function_name}`", form="function")
        extra = [n for n in names if n != want]
        if extra or others:
            what = ", ".join([f"function `{n}`" for n in extra] + [f"a top-level {t}" for t in others[:3]])
            return Proposal(failure=f"edits outside the selected function `{site.function_name}` are refused "
                                    f"(the reply also has {what}); keep every change inside the function",
                            form="function")
        _, s, e = fns[0]
        fn_text = code.encode("utf-8")[s:e].decode("utf-8")
        loop = to_loop_level(site, fn_text)
        if loop is not None:
            return _parsed(Candidate(loop_text=loop, **_with_includes(base_fields, incs)), "function")
        return _parsed(Candidate(function_text=textwrap.dedent(fn_text), **_with_includes(base_fields, incs)),
                       "function")
    return _parsed(Candidate(loop_text=textwrap.dedent(code), **_with_includes(base_fields, incs)), "loop")


def _parsed(cand: Candidate, form: str) -> Proposal:
    """``cand`` as a proposal, or a failure naming the first syntax error when its code does not
    parse as C++ (what does not parse can be neither identified, mutated nor spliced into the
    user's file)."""
    problems = cand.tree.problems()
    if not problems:
        return Proposal(candidate=cand, form=form)
    p = problems[0]
    what = "new loop" if cand.level == "loop" else "new function"
    lines = cand.code.split("\n")
    shown = lines[p.line - 1] if 0 < p.line <= len(lines) else ""
    more = f" and {len(problems) - 1} more syntax error(s)" if len(problems) > 1 else ""
    return Proposal(failure=f"the {what} does not parse as C++ ({p.sentence()}{more}); reply with complete, "
                            "well-formed C++", hint=f"line {p.line} of the {what}:\n{shown}" if shown else None,
                    form=form)


def _with_includes(fields: dict, incs: list[str]) -> dict:
    out = dict(fields)
    merged = list(fields.get("includes", []))
    for i in incs:
        if i not in merged:
            merged.append(i)
    out["includes"] = merged
    return out


def _find_tolerant(lines: list[str], search: list[str]) -> list[int]:
    """Start indices where ``search`` matches ``lines`` line by line, ignoring surrounding whitespace."""
    s = [x.strip() for x in search]
    k = len(s)
    return [i for i in range(len(lines) - k + 1) if [x.strip() for x in lines[i:i + k]] == s]


def _closest(lines: list[str], search: list[str]) -> str:
    k = max(1, len(search))
    target = "\n".join(x.strip() for x in search)
    best, best_i = -1.0, 0
    for i in range(max(1, len(lines) - k + 1)):
        r = difflib.SequenceMatcher(None, "\n".join(x.strip() for x in lines[i:i + k]), target).ratio()
        if r > best:
            best, best_i = r, i
    return "\n".join(lines[best_i:best_i + k])


def apply_edits(site: ParsedSite, base: str, edits: list[tuple[str, str]]) -> tuple[str | None, str | None, str | None]:
    """Apply SEARCH/REPLACE ``edits`` to the function text ``base``.

    Returns ``(new text, None, None)`` or ``(None, failure, hint)``.
    """
    text = base
    for k, (search, replace) in enumerate(edits, 1):
        label = f"SEARCH block {k} of {len(edits)}" if len(edits) > 1 else "the SEARCH block"
        if not search.strip():
            return None, f"{label} is empty", None
        n = text.count(search)
        if n == 1:
            text = text.replace(search, replace, 1)
            continue
        if n > 1:
            return None, f"{label} matches {n} places in the function; include more lines to make it unique", None
        lines = text.split("\n")
        s_lines = search.strip("\n").split("\n")
        hits = _find_tolerant(lines, s_lines)
        if len(hits) == 1:
            i = hits[0]
            r_lines = replace.strip("\n").split("\n") if replace.strip() else []
            # keep the function's indentation: shift the replacement by the matched lines' offset
            have = len(lines[i]) - len(lines[i].lstrip())
            gave = len(s_lines[0]) - len(s_lines[0].lstrip())
            if have > gave:
                r_lines = [" " * (have - gave) + ln if ln.strip() else ln for ln in r_lines]
            text = "\n".join(lines[:i] + r_lines + lines[i + len(s_lines):])
            continue
        if len(hits) > 1:
            return None, f"{label} matches {len(hits)} places in the function; include more lines", None
        file_lines = site.source.split("\n")
        if search in site.source or _find_tolerant(file_lines, s_lines):
            return None, (f"{label} matches code outside the selected function `{site.function_name}`: "
                          "edits outside the function are refused"), None
        hint = _closest(lines, s_lines)
        return None, f"{label} was not found in the function", f"did you mean these lines?\n{hint}"
    return text, None, None


def parse_reply(reply: str, site: ParsedSite, parent: Candidate | None, *, origin: str, parent_ids: list[str],
                description: str = "") -> Proposal:
    """Interpret an LLM ``reply`` for the loop of ``site`` (see the module docstring).

    ``parent`` is the candidate the edits apply to (None: the original
    function). The candidate inherits the parent's includes and gets
    ``origin``, ``parent_ids`` and ``description``. Never raises.
    """
    base_fields = dict(origin=origin, parent_id=parent_ids[0] if parent_ids else None, parent_ids=list(parent_ids),
                       description=description, includes=list(parent.includes) if parent is not None else [])
    text = reply or ""
    edits = [(m.group(1).rstrip("\n") + "\n" if m.group(1).strip() else "", m.group(2)) for m in _EDIT.finditer(text)]
    if edits:
        base = parent_function_text(site, parent)
        clean = []
        incs: list[str] = []
        for search, replace in edits:
            replace, found = _take_includes(replace)
            incs += found
            clean.append((search.rstrip("\n"), replace.rstrip("\n")))
        new, failure, hint = apply_edits(site, base, clean)
        if new is None:
            return Proposal(failure=f"the edit does not apply: {failure}", hint=hint, form="edit")
        if new == base:
            return Proposal(failure="the edits leave the function unchanged", form="edit")
        loop = to_loop_level(site, new)
        fields = _with_includes(base_fields, incs)
        if loop is not None:
            return _parsed(Candidate(loop_text=loop, **fields), "edit")
        return _parsed(Candidate(function_text=new, **fields), "edit")
    if "SEARCH" in text and "REPLACE" in text and "<<<<<<<" in text:
        return Proposal(failure="the SEARCH/REPLACE block is malformed: use the lines `<<<<<<< SEARCH`, "
                                "`=======` and `>>>>>>> REPLACE`, each on its own line", form="edit")
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text) if lang.lower() in _CODE_LANGS]
    if not blocks:
        if _OPEN_FENCE.search(text):
            return Proposal(failure="the reply's code block is not closed (the reply was probably cut off)")
        return Proposal(failure="the reply has no ```cpp code block and no SEARCH/REPLACE edit")
    want = _unqualified(site.function_name)
    chosen = next((b for _, b in blocks
                   if want in (_unqualified(n) for n, _, _ in _top_level_functions(_take_includes(b)[0])[0])), None)
    return _from_block(site, chosen if chosen is not None else blocks[-1][1], base_fields)
