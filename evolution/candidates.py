"""The candidate model: a proposed new text for the selected loop, or for its whole function."""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, Field


def normalize_code(text: str) -> str:
    """Return ``text`` with comments removed and whitespace runs folded.

    Two candidates that differ only in layout or comments normalize to the same
    string, so the evaluation cache treats them as one program.
    """
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return " ".join(text.split())


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
    """

    loop_text: str = ""
    function_text: str | None = None
    includes: list[str] = Field(default_factory=list)
    origin: str
    description: str = ""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
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
    def id(self) -> str:
        """12-hex-digit hash of the normalized text and sorted includes.

        Loop-level ids are unchanged from earlier versions (normalized loop
        text, newline, sorted includes); a function-level id hashes a
        ``fn`` marker first, so a loop and a function with equal text differ.
        """
        body = normalize_code(self.loop_text)
        if self.function_text is not None:
            body = "fn\n" + normalize_code(self.function_text)
        key = body + "\n" + "\n".join(sorted(set(self.includes)))
        return hashlib.sha256(key.encode()).hexdigest()[:12]
