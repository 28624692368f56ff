"""The candidate model: a proposed new text for the selected loop, or for its whole function."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

from .candidate_syntax import CandidateTree, parse_candidate, token_digest


class Candidate(BaseModel):
    """A rewrite of the loop: ``loop_text`` replaces the loop's span in its
    function; ``includes`` (``<parlay/primitives.h>`` form, with the brackets)
    are added to the file if missing.

    A **function-level** candidate sets ``function_text`` instead: the whole
    new definition of the loop's enclosing function (same name and
    signature), which replaces the function's span; ``loop_text`` is then
    empty. Proposers that can express a rewrite at loop level should: a
    function-level rewrite whose text outside the loop is unchanged is turned
    back into a loop-level one (:func:`parevo.evolution.responses.to_loop_level`).

    ``origin`` names the proposer (``rule:reduce-delayed``, ``llm:improve``,
    ``mut:granularity``), ``params`` the variant's knobs
    (``{"granularity": 1024}``), ``parent_id`` the candidate it was derived
    from, ``parent_ids`` all parents (two for a crossover).

    ``knobs`` names the constants the proposer declared for its numeric knobs,
    ``{"block": "blk_size"}`` for a text holding ``const size_t blk_size = 2048;``:
    a parameter mutation (:mod:`parevo.evolution.mutations`) finds that
    declaration in the candidate's parse and replaces its literal, and nothing
    else (never a literal of the user's). Granularity needs no entry: it is the
    granularity argument of a ``parlay::parallel_for``/``tabulate``/``map`` call.
    """

    loop_text: str = ""
    function_text: str | None = None
    includes: list[str] = Field(default_factory=list)
    origin: str
    description: str = ""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    knobs: dict[str, str] = Field(default_factory=dict)
    parent_id: str | None = None
    parent_ids: list[str] = Field(default_factory=list)

    @property
    def level(self) -> str:
        """``"function"`` when the candidate replaces the whole function, else ``"loop"``."""
        return "function" if self.function_text is not None else "loop"

    @property
    def code(self) -> str:
        """The candidate's own text: the function for a function-level candidate, else the loop."""
        return self.function_text if self.function_text is not None else self.loop_text

    @property
    def tree(self) -> CandidateTree:
        """The parse of :attr:`code` (cached by text; see :mod:`parevo.evolution.candidate_syntax`)."""
        return parse_candidate(self.code, self.level)

    @property
    def id(self) -> str:
        """12-hex-digit hash of the level, the code's token stream and the sorted includes.

        The token stream (:func:`parevo.toolchain.syntax.tokens`) drops comments
        and layout and keeps every literal as written, so two candidates share
        an id exactly when they are one program: ``s += 1`` and ``s += 2`` on a
        line holding ``"http://x"`` differ, a reindented copy with other
        comments does not. Text that does not parse still gets an id (its
        unparsed text counts as tokens). A function-level id hashes an ``fn``
        marker, so a loop and a function with equal text differ.
        """
        level = "fn\n" if self.function_text is not None else "loop\n"
        key = level + token_digest(self.code, self.level) + "\n" + "\n".join(sorted(set(self.includes)))
        return hashlib.sha256(key.encode()).hexdigest()[:12]
