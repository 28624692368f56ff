"""Rewrites in the user's style: clang-format over the changed lines, minimal edits.

A verified rewrite is spliced in as the rules wrote it; before an editor (or
``parevo evolve``'s diff) shows it, :func:`styled_edits` formats the lines it
changed with clang-format and returns the smallest edits that turn the
user's text into the formatted one:

* **which clang-format**: ``$PAREVO_CLANG_FORMAT``, else the system's
  ``clang-format`` (the one the user's own tooling runs), else the binary of
  the ``clang-format`` PyPI wheel (a dependency of parevo);
* **which style**: the project's ``.clang-format`` (or ``_clang-format``) in
  the file's folder or above, else a style inferred from the file
  (:func:`infer_style`: indentation width and tabs, brace placement after
  functions, control statements, classes and namespaces, the column limit),
  on top of LLVM's; include sorting is always off (parevo only adds lines);
* **what changes**: only the lines the rewrite changed (``--lines``); the
  result must hold exactly the same tokens as the unformatted rewrite
  (comments compared without their whitespace), so what was verified is what
  is applied; otherwise, or when no clang-format runs, the rewrite is used
  as spliced and :func:`last_problem` says why.

Edits are minimal: a line diff (:mod:`difflib`) whose changed blocks are
trimmed of their common leading and trailing characters.
"""

from __future__ import annotations

import difflib
import logging
import os
import shutil
import subprocess
from collections import Counter
from functools import lru_cache
from pathlib import Path

from .splice import TextEdit, apply_edits
from .syntax import node_text, parse, parse_bytes, walk

log = logging.getLogger(__name__)

#: Environment variable naming the clang-format to run.
CLANG_FORMAT_ENV = "PAREVO_CLANG_FORMAT"
STYLE_FILES = (".clang-format", "_clang-format")
#: Column limits an inferred style may use: LLVM's 80, at most 100 (no 100+-column lines).
MIN_COLUMNS, MAX_COLUMNS = 80, 100
TIMEOUT_S = 20.0

_problem: str | None = None


def last_problem() -> str | None:
    """Why the last :func:`styled_edits` left the rewrite unformatted (``None`` when it formatted)."""
    return _problem


@lru_cache(maxsize=1)
def clang_format() -> str | None:
    """The clang-format executable: ``$PAREVO_CLANG_FORMAT``, the system's, else the PyPI wheel's (or None)."""
    env = os.environ.get(CLANG_FORMAT_ENV)
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("clang-format")
    if found:
        return found
    try:
        import clang_format as wheel  # type: ignore[import-not-found]

        exe = wheel.get_executable("clang-format")
        return exe if os.access(exe, os.X_OK) else None
    except (ImportError, AttributeError):
        return None


def project_style_file(path: str) -> Path | None:
    """The ``.clang-format`` (or ``_clang-format``) clang-format would use for ``path``: its folder or above."""
    d = Path(path).resolve().parent
    for folder in (d, *d.parents):
        for name in STYLE_FILES:
            f = folder / name
            if f.is_file():
                return f
    return None


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _columns(text: str, tab: int) -> int:
    return len(text.expandtabs(tab))


def infer_style(source: str) -> dict[str, object]:
    """clang-format options describing how ``source`` is written (over ``BasedOnStyle: LLVM``).

    From the syntax tree: ``IndentWidth`` is the most common step from a block's opening line to its
    first statement; ``UseTab`` when most indented lines start with a tab; ``BraceWrapping``
    (``BreakBeforeBraces: Custom``) after functions, control statements, classes/structs and
    namespaces, by majority (LLVM's choice where the file has none); ``ColumnLimit`` the longest line
    when above 80, at most 100. Pointer alignment is derived by clang-format itself
    (``DerivePointerAlignment``).
    """
    lines = source.split("\n")
    tree = parse(source)
    indented = [ln for ln in lines if ln.strip() and ln[:1] in (" ", "\t")]
    tabs = sum(1 for ln in indented if ln.startswith("\t"))
    use_tab = bool(indented) and tabs * 2 > len(indented)
    steps: Counter[int] = Counter()
    votes: dict[str, Counter[bool]] = {k: Counter() for k in ("function", "control", "class", "namespace")}
    kinds = {
        "function_definition": "function",
        "for_statement": "control", "for_range_loop": "control", "while_statement": "control",
        "if_statement": "control", "switch_statement": "control", "do_statement": "control",
        "class_specifier": "class", "struct_specifier": "class",
        "namespace_definition": "namespace",
    }
    src = source.encode("utf-8")
    for n in walk(tree.root_node):
        if n.type in ("compound_statement", "field_declaration_list", "declaration_list"):
            owner = n.parent
            if owner is not None and owner.type in ("else_clause", "condition_clause"):
                owner = owner.parent
            kind = kinds.get(owner.type) if owner is not None else None
            brace_row = n.start_point[0]
            if kind is not None and owner is not None:
                before = src[owner.start_byte:n.start_byte].rstrip()
                # the header's last token is on an earlier line than the brace: the brace is wrapped
                head_end_row = owner.start_point[0] + before.count(b"\n")
                votes[kind][brace_row > head_end_row] += 1
            kids = [c for c in n.named_children if c.type != "comment"]
            if kids and kids[0].start_point[0] > brace_row:
                open_line = lines[owner.start_point[0] if owner is not None and kind is not None else brace_row]
                first_line = lines[kids[0].start_point[0]]
                step = _columns(_indent_of(first_line), 8) - _columns(_indent_of(open_line), 8)
                if use_tab:
                    step = 1 if step > 0 else 0
                if 0 < step <= 8:
                    steps[step] += 1
    width = steps.most_common(1)[0][0] if steps else 2
    style: dict[str, object] = {"BasedOnStyle": "LLVM"}
    if use_tab:
        style.update({"UseTab": "ForIndentation", "IndentWidth": 4, "TabWidth": 4})
    else:
        style["IndentWidth"] = width
        style["ContinuationIndentWidth"] = 2 * width
    llvm = {"function": False, "control": False, "class": False, "namespace": False}

    def wrapped(kind: str) -> bool:
        v = votes[kind]
        return v[True] > v[False] if v else llvm[kind]

    style["BreakBeforeBraces"] = "Custom"
    style["BraceWrapping"] = {
        "AfterFunction": wrapped("function"),
        "AfterControlStatement": "Always" if wrapped("control") else "Never",
        "AfterClass": wrapped("class"), "AfterStruct": wrapped("class"),
        "AfterNamespace": wrapped("namespace"), "BeforeElse": wrapped("control"),
        "BeforeCatch": wrapped("control"), "BeforeWhile": False,
        "SplitEmptyFunction": True, "SplitEmptyRecord": True, "SplitEmptyNamespace": True,
        "AfterCaseLabel": False, "AfterEnum": wrapped("class"), "AfterUnion": wrapped("class"),
        "AfterExternBlock": False, "IndentBraces": False,
    }
    longest = max((_columns(ln, 4 if use_tab else 8) for ln in lines), default=0)
    style["ColumnLimit"] = MIN_COLUMNS if longest <= MIN_COLUMNS else min(MAX_COLUMNS, longest)
    style["DerivePointerAlignment"] = True
    return style


def _yaml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def style_for(path: str, source: str) -> tuple[str, str]:
    """The ``--style`` argument for ``path`` and where it comes from (``.clang-format path`` or ``inferred``)."""
    found = project_style_file(path)
    if found is not None:
        return f"file:{found}", str(found)
    style = infer_style(source)
    style.update({"SortIncludes": "Never", "ReflowComments": False, "FixNamespaceComments": False,
                  "IncludeBlocks": "Preserve"})
    return _yaml(style), "inferred from the file"


def _leaf_tokens(source: str) -> list[tuple[str, str]]:
    # rewritten and formatted texts, not the user's document: parsed uncached and uncounted
    src = source.encode("utf-8", errors="surrogatepass")
    out: list[tuple[str, str]] = []
    stack = [parse_bytes(src).root_node]
    while stack:
        n = stack.pop()
        if n.child_count == 0 or n.type in ("string_literal", "raw_string_literal", "char_literal",
                                            "system_lib_string", "preproc_arg"):
            text = node_text(n, src)
            out.append((n.type, "".join(text.split()) if n.type in ("comment", "preproc_arg") else text))
            continue
        stack.extend(reversed(n.children))
    return out


def same_tokens(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same C++ token for token (whitespace and comment layout aside)."""
    return _leaf_tokens(a) == _leaf_tokens(b)


def changed_lines(old: str, new: str) -> list[tuple[int, int]]:
    """1-based inclusive line ranges of ``new`` that differ from ``old`` (inserted or replaced lines)."""
    sm = difflib.SequenceMatcher(a=old.split("\n"), b=new.split("\n"), autojunk=False)
    return [(j1 + 1, j2) for tag, _i1, _i2, j1, j2 in sm.get_opcodes() if tag in ("replace", "insert") and j2 > j1]


def format_lines(source: str, path: str, ranges: list[tuple[int, int]], style: str | None = None) -> str:
    """``source`` with the 1-based line ``ranges`` formatted by clang-format in ``style`` (default: the
    project's ``.clang-format``, else the file's own, :func:`style_for`).

    Raises:
        RuntimeError: no clang-format was found, or it failed (the message says how).
    """
    exe = clang_format()
    if exe is None:
        raise RuntimeError("no clang-format found (install clang-format, or pip install clang-format)")
    if style is None:
        style, _origin = style_for(path, source)
    argv = [exe, f"--style={style}", f"--assume-filename={path}", "--sort-includes=0"]
    argv += [f"--lines={a}:{b}" for a, b in ranges]
    try:
        proc = subprocess.run(argv, input=source.encode("utf-8"), capture_output=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"clang-format did not run: {e}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"clang-format failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc.stdout.decode("utf-8", errors="replace")


def edits_between(old: str, new: str) -> list[TextEdit]:
    """The minimal edits turning ``old`` into ``new``: changed line blocks, trimmed of common leading and
    trailing characters; byte offsets into ``old``."""
    a, b = old.split("\n"), new.split("\n")
    starts = [0]
    for ln in a:
        starts.append(starts[-1] + len(ln) + 1)
    edits: list[TextEdit] = []
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        lo, hi = starts[i1], starts[i2]  # characters of old, lines i1..i2 with their newlines
        before = old[lo:hi]
        after = "".join(ln + "\n" for ln in b[j1:j2])
        if i2 == len(a) and hi > len(old):  # the last line has no newline
            hi = len(old)
            before = old[lo:hi]
            if j2 == len(b):
                after = after[:-1] if after.endswith("\n") else after
        k = 0
        while k < min(len(before), len(after)) and before[k] == after[k]:
            k += 1
        m = 0
        while m < min(len(before), len(after)) - k and before[len(before) - 1 - m] == after[len(after) - 1 - m]:
            m += 1
        s, e = lo + k, hi - m
        edits.append(_edit(old, s, e, after[k:len(after) - m]))
    return edits


def _edit(source: str, start: int, end: int, text: str) -> TextEdit:
    """A :class:`TextEdit` replacing characters ``start:end`` of ``source`` (its byte span)."""
    return TextEdit(start_byte=len(source[:start].encode("utf-8")), end_byte=len(source[:end].encode("utf-8")),
                    new_text=text)


def styled_source(source: str, new: str, path: str) -> str:
    """``new`` (``source`` with a rewrite spliced in) with the changed lines formatted, or ``new`` itself
    when formatting is impossible or would change a token (:func:`last_problem` says why)."""
    global _problem
    style, origin = style_for(path, source)
    if origin != "inferred from the file":
        try:  # the file's content is part of the cache key: an edited .clang-format applies at once
            style += "\0" + Path(origin).read_text(errors="replace")
        except OSError:
            pass
    text, _problem = _styled(source, new, path, style)
    return text


@lru_cache(maxsize=64)
def _styled(source: str, new: str, path: str, style_key: str) -> tuple[str, str | None]:
    ranges = changed_lines(source, new)
    if not ranges:
        return new, None
    try:
        formatted = format_lines(new, path, ranges, style_key.split("\0", 1)[0])
    except RuntimeError as e:
        log.info("parevo: rewrite left unformatted: %s", e)
        return new, str(e)
    if not same_tokens(new, formatted):
        why = "clang-format changed the rewrite's tokens; it is shown as verified, unformatted"
        log.warning("parevo: %s", why)
        return new, why
    return formatted, None


def styled_edits(source: str, edits: list[TextEdit], path: str) -> list[TextEdit]:
    """``edits`` (a rewrite of ``source``) as minimal edits whose result is formatted in the user's style.

    Never raises for formatting problems: the unformatted rewrite is returned as minimal edits then.
    """
    return edits_between(source, styled_source(source, apply_edits(source, edits), path))
