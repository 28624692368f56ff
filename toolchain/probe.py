"""How far a search loop runs on the timing inputs: the evidence behind "the inputs decided it".

A first-match search is as fast as its serial loop is short: when the
generated inputs match within the first elements, the original returns after
a handful of iterations and no parallel rewrite can be faster, whatever its
quality. :func:`search_reach` measures it: the original loop with an
iteration counter (a local object whose destructor prints the count to
stderr, so every way out of the loop, ``return`` included, reports it),
compiled with the same harness and run once on the timing inputs (size ``n``,
the timing seed). :func:`reach_note` turns the count into the report's
sentence, and says how to describe representative inputs in the input spec
(``match_position``, ``match_rate``: :mod:`parevo.toolchain.harness_match`).
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from .harness import variant_source
from .site import ParsedSite

_MARK = "parevo-probe-iterations"
_LINE = re.compile(rf"^{_MARK} (\d+)$", re.M)


class SearchReach(BaseModel):
    """Iterations the original search loop ran on the timing inputs (``n``, ``seed``), of a loop whose size is
    ``n``; ``first_block`` is how many iterations count as "at once" (the first block a parallel search
    scans before it can stop early)."""

    n: int
    seed: int
    iterations: int
    first_block: int

    @property
    def early(self) -> bool:
        """The loop stopped within its first block."""
        return self.iterations <= self.first_block


def probe_loop_text(site: ParsedSite) -> str:
    """The original loop with an iteration counter that prints itself when the loop's scope is left."""
    src = site.src
    body = site.body_node
    loop = site.loop_node
    if body is None:
        raise ValueError("the loop has no body")
    tick = "++pv_probe.iterations;"
    if body.type == "compound_statement":
        text = (src[loop.start_byte:body.start_byte + 1] + f" {tick}".encode() + src[body.start_byte + 1:loop.end_byte])
    else:
        text = (src[loop.start_byte:body.start_byte] + f"{{ {tick} ".encode() + src[body.start_byte:body.end_byte]
                + b" }" + src[body.end_byte:loop.end_byte])
    counter = ("struct pv_probe_t { unsigned long long iterations = 0; ~pv_probe_t() { "
               f"std::fprintf(stderr, \"{_MARK} %llu\\n\", iterations); }} }} pv_probe;")
    return "{\n" + counter + "\n" + text.decode("utf-8", errors="replace") + "\n}"


def search_reach(ev, site: ParsedSite, n: int, seed: int, first_block: int = 4096) -> SearchReach | None:
    """Run the counting copy of ``site``'s loop once at size ``n`` and ``seed`` with ``ev`` (a prepared
    :class:`~parevo.toolchain.evaluate.Evaluator`); None when it does not build or run (the report then
    says nothing it did not measure)."""
    source = variant_source(site, probe_loop_text(site), ["<cstdio>"], ev.plan)
    outcome, exe = ev.build(source, label="probe")
    if exe is None:
        return None
    run = ev.run_once(exe, n, seed)
    counts = [int(m) for m in _LINE.findall(run.stderr)]
    if not run.ok or not counts:
        return None
    return SearchReach(n=n, seed=seed, iterations=counts[-1], first_block=first_block)


def reach_note(reach: SearchReach, function: str) -> str:
    """The report's sentence for ``reach``: where the original stopped, and what to tell parevo."""
    where = (f"on the generated timing inputs (n = {reach.n:,}, seed {reach.seed}) the original loop stops after "
             f"{reach.iterations:,} iteration{'s' if reach.iterations != 1 else ''}")
    if not reach.early:
        return where + "."
    return (where + ": its first match comes within the first block a parallel search scans, so the inputs, not "
            "the rewrites, decide that none is faster. If your data matches later or rarely, describe it in the "
            f"input spec (parevo.inputs.toml, see INPUTS.md \"Searches\"): `[{function}]` with "
            "`match_position = \"n / 2\"` (no match before the middle) or `match_rate = 0.0` (no match at all), "
            "and run again.")


__all__ = ["SearchReach", "probe_loop_text", "reach_note", "search_reach"]
