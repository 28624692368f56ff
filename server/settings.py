"""The language server's settings: one pydantic model, read from the client.

Sources, later ones win: defaults, ``initializationOptions`` (either the
settings object itself or ``{"parevo": {...}}``), then ``workspace/configuration``
for section ``parevo`` (when the client supports it), re-read on
``workspace/didChangeConfiguration``. Keys may be camelCase (``parlayInclude``,
as VS Code writes them) or snake_case.

Invalid values never stop the server: :func:`parse_settings` drops each
invalid field, falls back to its default and returns a message naming it.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

#: Server environment variable that allows ``eval.min_speedup`` below 1 (tests only).
TESTING_ENV = "PAREVO_TESTING"

_EVAL_KEYS = {
    "threads", "opt_flags", "check_sizes", "check_seeds", "check_threads", "tsan_threads", "tsan_runs", "tsan_max_input_bytes",
    "target_seconds", "max_input_bytes", "n_start", "n_max", "timing_n", "rounds", "repeats", "max_repeats",
    "min_speedup",
    "run_timeout_s", "compile_timeout_s",
}


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class BudgetSettings(_Model):
    """Limits of one search: wall-clock ``seconds`` and ``candidates`` evaluated."""

    seconds: float = Field(default=600.0, gt=0)
    candidates: int = Field(default=64, ge=1, validation_alias=AliasChoices("candidates", "evaluations"))


class LlmSettings(_Model):
    """Where the LLM proposer gets its completions (used only when ``model`` is set).

    ``api_key_env`` names the environment variable that holds the key: the key
    itself never goes into the settings.
    """

    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"

    @field_validator("base_url", "model")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v if v is None or v.strip() else None  # an empty field in an editor's settings UI: unset


class Settings(_Model):
    """Everything a user can configure under ``parevo``.

    * ``compiler``, ``parlay_include``: toolchain (else discovered).
    * ``system_parlay``: accept a ParlayLib on the compiler's default include
      paths (default True; False ignores such a copy).
    * ``auto_setup``: install ParlayLib without asking when a search needs it
      and none is found (default False: ask with ``window/showMessageRequest``).
    * ``threads``: ParlayLib worker threads for timing (default: all cores).
    * ``budget``: ``{"seconds", "candidates"}`` of one search.
    * ``seed``: seed of input generation and proposers.
    * ``llm``: ``{"baseUrl", "model", "apiKeyEnv"}``.
    * ``result_store``: ``"workspace"`` (``<workspace>/.parevo/results``),
      ``"user"`` (``<cache>/results``) or a directory.
    * ``cache_dir``: compile cache (default ``$PAREVO_CACHE_DIR`` or ``~/.cache/parevo``).
    * ``input_spec``: input spec TOML (default ``parevo.inputs.toml`` beside the file).
    * ``max_queued``: searches waiting behind the running one.
    * ``quiet_wait``: seconds a search whose candidates were timed on a busy
      machine waits for idle cores before it searches again (timing the
      candidates; 0: no wait). The wait gives way to any other queued search.
    * ``eval``: overrides of the evaluation cascade (``rounds``, ``repeats``,
      ``target_seconds``, ``check_sizes``, ...). ``min_speedup`` below 1 is
      refused unless the server runs with ``PAREVO_TESTING=1``.
    * ``sandbox``: ``"strict"`` refuses to run compilers and candidates without
      bubblewrap namespaces; ``"auto"`` (the default) keeps the mode the server
      started with (``parevo serve --sandbox``, ``PAREVO_SANDBOX``). Settings
      can come from a cloned workspace, so ``"process-group"`` (weaker) is
      refused here: only the command line or the environment can choose it.
    """

    compiler: str | None = Field(default=None, validation_alias=AliasChoices("compiler", "cxx"))
    parlay_include: str | None = Field(
        default=None, validation_alias=AliasChoices("parlayInclude", "parlay_include", "parlay"))
    system_parlay: bool = True
    auto_setup: bool = False
    threads: int | None = Field(default=None, ge=1, le=1024)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    seed: int = 1
    llm: LlmSettings = Field(default_factory=LlmSettings)
    result_store: str = "workspace"
    cache_dir: str | None = None
    input_spec: str | None = None
    max_queued: int = Field(default=4, ge=0, le=100)
    quiet_wait: float = Field(default=600.0, ge=0)
    eval: dict[str, Any] = Field(default_factory=dict)
    sandbox: Literal["auto", "strict"] = "auto"

    @field_validator("threads", mode="before")
    @classmethod
    def _zero_is_all(cls, v: Any) -> Any:
        return None if v == 0 else v  # 0 in an editor's settings UI: all cores

    @field_validator("result_store")
    @classmethod
    def _store(cls, v: str) -> str:
        if v in ("workspace", "user"):
            return v
        if not v.strip():
            raise ValueError("must be 'workspace', 'user' or a directory")
        return os.path.expanduser(v)

    @field_validator("sandbox", mode="before")
    @classmethod
    def _sandbox(cls, v: Any) -> Any:
        if v == "process-group":
            raise ValueError("a workspace's settings cannot weaken the sandbox: start the server with "
                             "`parevo serve --sandbox process-group` or PAREVO_SANDBOX=process-group instead")
        return v

    @field_validator("compiler", "parlay_include", "cache_dir", "input_spec")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        return os.path.expanduser(v)

    @field_validator("eval")
    @classmethod
    def _eval(cls, v: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in v.items():
            snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
            if snake not in _EVAL_KEYS:
                raise ValueError(f"unknown evaluation setting {key!r}")
            out[snake] = value
        ms = out.get("min_speedup")
        if ms is not None:
            if not isinstance(ms, (int, float)) or ms <= 0:
                raise ValueError("min_speedup must be a positive number")
            if ms < 1.0 and os.environ.get(TESTING_ENV) != "1":
                raise ValueError("min_speedup below 1 would offer slower rewrites; it is refused")
        try:  # type-check against the cascade's own model, lazily (it lives two layers down)
            from parevo.toolchain.evaluate import EvalConfig

            EvalConfig(**out)
        except ImportError:
            pass
        except ValidationError as e:
            raise ValueError("; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())) from None
        return out


def _unwrap(raw: Any) -> Any:
    if isinstance(raw, dict) and isinstance(raw.get("parevo"), dict):
        return raw["parevo"]
    return raw


def _drop(data: dict, loc: tuple) -> bool:
    """Remove the entry at ``loc`` (a validation error location) from nested ``data``."""
    node: Any = data
    for part in loc[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if isinstance(node, dict) and loc and loc[-1] in node:
        del node[loc[-1]]
        return True
    return False


def _find_key(data: dict, field: str) -> str | None:
    model_field = Settings.model_fields.get(field)
    names = [field, to_camel(field)]
    if model_field is not None and model_field.validation_alias is not None:
        names += [c for c in getattr(model_field.validation_alias, "choices", []) if isinstance(c, str)]
    return next((n for n in names if n in data), None)


def parse_settings(*layers: Any) -> tuple[Settings, list[str]]:
    """Merge ``layers`` (dicts, later wins, ``None`` skipped) into :class:`Settings`.

    Returns the settings and one message per invalid entry (each dropped, so
    its default applies). Never raises.
    """
    merged: dict[str, Any] = {}
    problems: list[str] = []
    for layer in layers:
        layer = _unwrap(layer)
        if layer is None:
            continue
        if isinstance(layer, list) and not layer:
            continue  # an empty JSON array is what an empty Lua table encodes to: no settings
        if not isinstance(layer, dict):
            problems.append(f"parevo settings must be an object, got {type(layer).__name__}; using defaults")
            continue
        for k, v in layer.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict) and k not in ("eval",):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in merged.items()}
    for _ in range(50):
        try:
            return Settings.model_validate(data), problems
        except ValidationError as e:
            dropped = False
            for err in e.errors():
                loc = tuple(err["loc"])
                shown = ".".join(str(p) for p in loc) or "settings"
                value = repr(err.get("input"))[:80]
                problems.append(f"invalid setting parevo.{shown} = {value}: {err['msg']}; using the default")
                if loc and isinstance(loc[0], str):
                    key = _find_key(data, loc[0]) or loc[0]
                    if len(loc) == 1 or not isinstance(data.get(key), dict):
                        dropped = data.pop(key, None) is not None or dropped
                    else:
                        dropped = _drop(data[key], loc[1:]) or dropped
            if not dropped:
                return Settings(), problems
    return Settings(), problems
