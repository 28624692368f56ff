"""The candidate model: a proposed new text for the selected loop."""

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

    ``origin`` names the proposer (``rule:reduce-delayed``, ``llm:improve``),
    ``params`` the variant's knobs (``{"granularity": 1024}``), ``parent_id``
    the candidate it was derived from, if any.
    """

    loop_text: str
    includes: list[str] = Field(default_factory=list)
    origin: str
    description: str = ""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    parent_id: str | None = None

    @property
    def id(self) -> str:
        """12-hex-digit hash of the normalized loop text and sorted includes."""
        key = normalize_code(self.loop_text) + "\n" + "\n".join(sorted(set(self.includes)))
        return hashlib.sha256(key.encode()).hexdigest()[:12]
