"""Prompts for the LLM mutation operators, from the templates in ``evolution/templates``.

Every prompt is two messages:

* **system** (``system.md``): the evaluator's rules (compiler and flags,
  differential test, ThreadSanitizer, timing threads), the ParlayLib reference
  (``parlay_reference.md``: primitives with their signatures and costs, written
  from the installed headers and the measurements in toolchain.md) and the
  accepted reply forms (new loop, whole function, SEARCH/REPLACE edits);
* **user**: ``context.md`` (the function, the selected loop, the loop facts,
  the best candidates so far with their figures) followed by one task:
  ``improve.md`` (a verified candidate with its timing and profile feedback),
  ``fix.md`` (a failed candidate with its compile, test or race evidence),
  ``combine.md`` (two elites from different cells, as in OpenEvolve's
  inspirations and ShinkaEvolve's crossover) or ``first.md`` (nothing evaluated
  yet); then ``notes.md``, the feedback on earlier unusable replies (an edit
  that did not apply, no code...), so no failure is silently dropped.

Templates use :class:`string.Template` (``$name``) placeholders, so C++ braces
need no escaping. Prompts hold no timestamps or cache states: the same search
state always gives the same prompt (replays check this by SHA-256).
"""

from __future__ import annotations

import textwrap
from functools import lru_cache
from importlib import resources
from string import Template

from parevo.toolchain.models import LoopFacts
from parevo.toolchain.site import ParsedSite

from .candidates import Candidate
from .feedback import figures, record_feedback
from .responses import parent_function_text
from .result import CandidateRecord


@lru_cache(maxsize=None)
def template(name: str) -> str:
    """The text of ``templates/<name>`` (package data)."""
    return (resources.files("parevo.evolution") / "templates" / name).read_text(encoding="utf-8")


def _fill(name: str, **values) -> str:
    return Template(template(name)).safe_substitute(**{k: str(v) for k, v in values.items()})


def facts_text(site: ParsedSite, facts: LoopFacts) -> str:
    """The loop facts as a short bullet list."""
    out = [f"- pattern: {facts.pattern}" + ("" if facts.parallelizable else " (not parallelizable as it stands)")]
    if facts.reason:
        out.append(f"- obstacle: {facts.reason}")
    if facts.normalized:
        out.append(f"- read as: {facts.normalized}")
    if facts.sequential_outer:
        out.append(f"- the selected loop stays sequential ({facts.sequential_outer}); its inner loop(s) at line(s) "
                   + ", ".join(str(il.line + 1) for il in facts.inner_parallel) + " can run in parallel")
    if facts.frontier is not None:
        out.append(f"- frontier `{facts.frontier.frontier}` processed level by level (next level in "
                   f"`{facts.frontier.next}`); a vertex is claimed once per level")
    if facts.relaxation is not None:
        out.append(f"- `{facts.relaxation.labels}` relaxed by {facts.relaxation.kind} until `{facts.relaxation.flag}` "
                   "stays false (the fixpoint does not depend on the order)")
    if facts.sort is not None:
        out.append(f"- insertion sort: `{facts.sort.array}[0..{facts.sort.count})` ends sorted (stable)")
    if facts.algorithm is not None:
        out.append(f"- a `std::{facts.algorithm.name}` call")
    if facts.index_var:
        step = f", step {facts.step}" if facts.step not in (None, 1) else ""
        out.append(f"- index `{facts.index_var}` ({facts.index_type or '?'}) from `{facts.lower}` to `{facts.upper}`"
                   f"{step}")
    elif facts.range_var:
        out.append(f"- range-for over `{facts.range_expr}` binding `{facts.range_var}`")
    for r in facts.reductions:
        cond = " (conditional)" if r.conditional else ""
        out.append(f"- reduction: `{r.var}` ({r.var_type}) with `{r.op.value}` of `{r.expr}`{cond}")
    for a in facts.argextremes:
        out.append(f"- arg{a.kind}: `{a.value_var}`/`{a.index_var}` of `{a.expr}` "
                   f"({'first' if a.strict else 'last'} on ties)")
    if facts.writes_at_index:
        out.append("- writes at the loop index: " + ", ".join(sorted({f"`{w.array}`" for w in facts.writes_at_index})))
    for name in dict.fromkeys(p.array for p in facts.packed_writes):
        kind = next(p.kind for p in facts.packed_writes if p.array == name)
        out.append(f"- `{name}` is a std::{kind}: 64 elements share a word, so workers may only write it in "
                   "blocks that start and end on a multiple of 64 elements (or write a byte per element into "
                   "a temporary and copy it back by whole words)")
    if facts.writes_computed:
        out.append("- writes at computed indices (possible conflicts): "
                   + ", ".join(f"`{w.array}[{w.index}]`" for w in facts.writes_computed[:4]))
    for p in facts.pushes:
        out.append(f"- appends to `{p.container}`" + (f" when `{p.condition}`" if p.condition else ""))
    for d in facts.dependences:
        out.append(f"- loop-carried dependence: {d.description}")
    if facts.scan is not None:
        out.append(f"- prefix computation ({facts.scan.kind} scan with `{facts.scan.op.value}`)")
    if facts.search is not None:
        out.append(f"- early exit ({facts.search.kind}) when `{facts.search.condition}`: the first match must win")
    impure = [c.name for c in facts.calls if not c.pure]
    if impure:
        out.append("- calls with possible side effects: " + ", ".join(f"`{c}`" for c in impure))
    if facts.inner_loops:
        out.append(f"- {facts.inner_loops} inner loop(s)")
    if facts.already_parallel:
        out.append("- the loop is already parallel")
    return "\n".join(out)


def _code_of(site: ParsedSite, cand: Candidate) -> str:
    return cand.code.strip("\n")


def best_text(site: ParsedSite, best: list[CandidateRecord]) -> str:
    """The best verified candidates with their figures and code (fittest first)."""
    if not best:
        return "None verified yet."
    parts = []
    for i, r in enumerate(best, 1):
        kind = "function" if r.candidate.function_text is not None else "loop"
        parts.append(f"{i}. `{r.id}` ({r.candidate.origin}): {figures(r)}; {kind}:\n```cpp\n"
                     f"{_code_of(site, r.candidate)}\n```")
    return "\n".join(parts)


def notes_text(notes: list[str]) -> str:
    """The feedback on unusable earlier replies (empty when there is none)."""
    if not notes:
        return ""
    return _fill("notes.md", items="\n".join(f"- {n}" for n in notes))


class PromptBuilder:
    """Builds the messages for one loop.

    Args:
        site, facts: the loop and its analysis.
        compiler, flags: how candidates are compiled (for the system message).
        threads, tsan_threads: timing and race-check thread counts.
        top_k: best candidates shown in every prompt.
    """

    def __init__(self, site: ParsedSite, facts: LoopFacts, *, compiler: str, flags: list[str], threads: int,
                 tsan_threads: int, top_k: int = 3):
        self.site = site
        self.facts = facts
        self.top_k = top_k
        self.system = _fill("system.md", compiler=compiler, flags=" ".join(flags), threads=threads,
                            tsan_threads=tsan_threads, reference=template("parlay_reference.md").strip(),
                            function_name=site.function_name)

    def _context(self, best: list[CandidateRecord]) -> str:
        s = self.site
        return _fill("context.md", path=s.path, function_name=s.function_name,
                     loop_lines=f"{s.loop.start_line + 1}-{s.loop.end_line + 1}",
                     function_text=s.function_text.strip("\n"),
                     loop_text=textwrap.dedent(s.indent + s.loop_text).strip("\n"),
                     facts=facts_text(s, self.facts), best=best_text(s, best[: self.top_k]))

    def _messages(self, best: list[CandidateRecord], task: str) -> list[dict]:
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self._context(best).rstrip() + "\n\n" + task.strip() + "\n"}]

    def improve(self, parent: CandidateRecord, best: list[CandidateRecord], notes: list[str]) -> list[dict]:
        """Ask for a faster version of a verified ``parent``."""
        task = _fill("improve.md", cand_id=parent.id, origin=parent.candidate.origin,
                     cand_function=parent_function_text(self.site, parent.candidate).strip("\n"),
                     figures=figures(parent), feedback=record_feedback(self.site, parent), notes=notes_text(notes))
        return self._messages(best, task)

    def fix(self, failed: CandidateRecord, best: list[CandidateRecord], notes: list[str]) -> list[dict]:
        """Ask for a corrected version of a ``failed`` candidate, with its evidence."""
        task = _fill("fix.md", cand_id=failed.id, origin=failed.candidate.origin,
                     cand_function=parent_function_text(self.site, failed.candidate).strip("\n"),
                     stage=failed.rejected_stage or "?", feedback=record_feedback(self.site, failed),
                     notes=notes_text(notes))
        return self._messages(best, task)

    def combine(self, a: CandidateRecord, b: CandidateRecord, best: list[CandidateRecord],
                notes: list[str]) -> list[dict]:
        """Ask for a crossover of two elites."""
        task = _fill("combine.md", a_id=a.id, a_origin=a.candidate.origin, a_figures=figures(a),
                     a_function=parent_function_text(self.site, a.candidate).strip("\n"),
                     a_feedback=record_feedback(self.site, a), b_id=b.id, b_origin=b.candidate.origin,
                     b_figures=figures(b), b_function=parent_function_text(self.site, b.candidate).strip("\n"),
                     b_feedback=record_feedback(self.site, b), notes=notes_text(notes))
        return self._messages(best, task)

    def first(self, best: list[CandidateRecord], notes: list[str], why: str = "") -> list[dict]:
        """Ask for a first rewrite (no parent)."""
        task = _fill("first.md", why=f" ({why})" if why else "", notes=notes_text(notes))
        return self._messages(best, task)
