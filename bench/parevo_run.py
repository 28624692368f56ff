"""Run parevo's search on a kernel and keep what the benchmark needs.

The search is :func:`parevo.evolution.engine.evolve` as the CLI runs it
(rule-based proposers; an LLM proposer too when the engine has LLM settings and
one is configured). The benchmark then re-times parevo's winner side by side
with the other methods; parevo's own cost comes from the
:class:`~parevo.evolution.result.EvolutionResult`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from parevo.evolution.engine import EvolveRequest, evolve, read_site
from parevo.evolution.search import Budget
from parevo.toolchain.facts import analyze

from .suite import Kernel

#: Environment variables that configure an LLM endpoint for the search (all optional; the engine's names).
LLM_ENV = {"base_url": "PAREVO_LLM_BASE_URL", "model": "PAREVO_LLM_MODEL", "api_key_env": "PAREVO_LLM_KEY_ENV"}


@dataclass
class LlmChoice:
    """An LLM endpoint to pass to the search, if the engine takes one (``None`` fields: not set)."""

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None

    @property
    def configured(self) -> bool:
        """True when a model is named (without one the engine uses no LLM; the base URL has a default)."""
        return bool(self.model)

    @classmethod
    def from_env(cls) -> "LlmChoice":
        """Read :data:`LLM_ENV` from the environment."""
        return cls(**{k: os.environ.get(v) or None for k, v in LLM_ENV.items()})


def llm_request_fields(llm: LlmChoice) -> tuple[dict, str]:
    """Keyword arguments for :class:`EvolveRequest` that select the LLM, and a note for the report.

    Passes ``llm`` through only when the engine's request model has such a
    field; otherwise the search is rule-based and the note says why. The API
    key never passes through here: only the name of the variable holding it.
    """
    if not llm.configured:
        return {}, "rules only (no LLM model configured: --llm-model or PAREVO_LLM_MODEL)"
    if "llm" not in EvolveRequest.model_fields:
        return {}, "rules only: an LLM was configured but this parevo engine takes no LLM settings"
    value = {k: v for k, v in (("base_url", llm.base_url), ("model", llm.model), ("api_key_env", llm.api_key_env))
             if v}
    return {"llm": value}, f"rules + LLM ({llm.model} at {llm.base_url or 'the default endpoint'})"


def _fresh_search_fields() -> dict:
    """Ask the engine for a fresh search (no resume from a checkpoint), when it has that knob."""
    return {"resume": False} if "resume" in EvolveRequest.model_fields else {}


@dataclass
class ParevoOutcome:
    """What the search found for one kernel, and what it cost.

    ``status`` is the engine's (``verified``, ``none-verified``,
    ``not-parallelizable``, ``cancelled``) or ``error``. ``winner`` is the
    verified-and-faster rewrite (``loop_text``, or ``function_text`` for a rewrite of the
    whole function; ``includes``, ``origin``, ``speedup`` as parevo measured it);
    ``runner_up`` the best rewrite that was
    correct and race-free but rejected as not faster (timed by the benchmark
    for information only). Times are seconds of wall clock.
    """

    status: str
    message: str = ""
    pattern: str = ""
    winner: dict | None = None
    runner_up: dict | None = None
    seconds_total: float = 0.0
    time_to_first_verified: float | None = None
    candidates: int = 0
    candidates_by_stage: dict[str, int] = field(default_factory=dict)
    compiles: int = 0
    compile_seconds: float = 0.0
    cache_hits: int = 0
    proposers: list[str] = field(default_factory=list)
    search_n: int | None = None
    llm_note: str = ""
    eval_cache_hits: int | None = None
    eval_cache_lookups: int | None = None
    llm_usage: dict | None = None

    @property
    def compile_seconds_per_compile(self) -> float | None:
        """Mean seconds per compile actually run (cache hits excluded)."""
        return self.compile_seconds / self.compiles if self.compiles else None

    @property
    def compile_seconds_per_candidate(self) -> float | None:
        """Compile seconds (optimized and ThreadSanitizer builds) per candidate evaluated."""
        return self.compile_seconds / self.candidates if self.candidates else None

    @property
    def cache_hit_rate(self) -> float | None:
        """Cache hits / (hits + compiles run); parevo's compiler counts object and link hits but only object
        compiles, so this slightly overstates the object hit rate."""
        total = self.cache_hits + self.compiles
        return self.cache_hits / total if total else None


def _rewrite(rec) -> dict:
    t = rec.stage("time")
    return {"id": rec.id, "origin": rec.candidate.origin, "loop_text": rec.candidate.loop_text,
            "function_text": rec.candidate.function_text,
            "includes": list(rec.candidate.includes), "speedup": rec.speedup,
            "search_timing": t.summary if t else None}


def run_parevo(kernel: Kernel, *, seed: int, threads: int, budget_s: float, evaluations: int, cache_dir: str,
               eval_overrides: dict, llm: LlmChoice | None = None) -> ParevoOutcome:
    """Search a rewrite of ``kernel``'s marked loop; never raises (errors become ``status='error'``)."""
    extra, note = llm_request_fields(llm or LlmChoice())
    t0 = time.monotonic()
    try:
        req = EvolveRequest(seed=seed, threads=threads,
                            budget=Budget(seconds=budget_s, evaluations=evaluations), cache_dir=cache_dir,
                            eval=dict(eval_overrides), **extra, **_fresh_search_fields())
        site = read_site(str(kernel.path), kernel.line)
        res = evolve(site, analyze(site), req)
    except Exception as e:  # a kernel parevo cannot handle is a result, not a crash of the suite
        return ParevoOutcome(status="error", message=f"{type(e).__name__}: {e}", seconds_total=time.monotonic() - t0,
                             llm_note=note)
    stages: dict[str, int] = {}
    for rec in res.candidates:
        where = "winner-eligible" if rec.faster else (rec.rejected_stage or "unknown")
        stages[where] = stages.get(where, 0) + 1
    best = res.best
    correct = [r for r in res.candidates if r.verified and not r.faster and r.speedup is not None]
    runner_up = max(correct, key=lambda r: r.speedup) if (best is None and correct) else None
    return ParevoOutcome(
        status=res.status, message=res.message, pattern=res.pattern,
        winner=_rewrite(best) if best else None, runner_up=_rewrite(runner_up) if runner_up else None,
        seconds_total=res.seconds_total, time_to_first_verified=res.time_to_first_verified,
        candidates=len(res.candidates), candidates_by_stage=stages, compiles=res.compiles,
        compile_seconds=res.compile_seconds, cache_hits=res.cache_hits, proposers=list(res.proposers),
        search_n=res.baseline.n if res.baseline else None, llm_note=note,
        eval_cache_hits=getattr(getattr(res, "search", None), "eval_cache_hits", None),
        eval_cache_lookups=getattr(getattr(res, "search", None), "eval_cache_lookups", None),
        llm_usage=res.llm.model_dump() if getattr(res, "llm", None) is not None else None,
    )
