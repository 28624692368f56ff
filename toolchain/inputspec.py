"""Input specs: a user's overrides of the harness's input plan (TOML).

The format is documented in :mod:`parevo.toolchain.inputs` and in
``toolchain/INPUTS.md``. ``load_spec(path)`` reads a file, ``find_spec(src)``
finds ``parevo.inputs.toml`` beside a source file, ``spec_from_dict`` builds a
spec from already-parsed TOML. Errors are :class:`HarnessError` naming the file
and the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .models import HarnessError

SPEC_FILENAME = "parevo.inputs.toml"

class FieldSpec(BaseModel):
    """Overrides for one field of a struct element (``fields.<path>`` of a parameter)."""

    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None
    kind: Literal["values", "index", "offsets"] | None = None
    index_of: str | None = None
    value: float | int | bool | None = None


class ParamSpec(BaseModel):
    """Overrides for one parameter (a table ``[function.param]`` of the spec)."""

    model_config = ConfigDict(extra="forbid")
    length: str | int | None = None
    inner_length: str | int | None = None
    min: float | None = None
    max: float | None = None
    kind: Literal["values", "index", "offsets"] | None = None
    index_of: str | None = None
    value: float | int | bool | str | None = None
    max_degree: int | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)


class FunctionSpec(BaseModel):
    """Overrides for one function: knobs plus per-parameter tables."""

    model_config = ConfigDict(extra="forbid")
    m: int | None = None
    min_n: int | None = None
    inner: int | None = None
    timing_n: int | None = Field(default=None, ge=1)
    match_position: str | int | None = None
    match_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    params: dict[str, ParamSpec] = Field(default_factory=dict)


class InputSpec(BaseModel):
    """A parsed input spec. ``path`` is where it came from (for messages)."""

    model_config = ConfigDict(extra="forbid")
    m: int | None = None
    min_n: int | None = None
    inner: int | None = None
    timing_n: int | None = Field(default=None, ge=1)
    match_position: str | int | None = None
    match_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    functions: dict[str, FunctionSpec] = Field(default_factory=dict)
    path: str | None = None

    def for_function(self, qualified_name: str, name: str) -> FunctionSpec:
        """The function's spec merged with the global knobs (function wins)."""
        fs = self.functions.get(qualified_name) or self.functions.get(name) or FunctionSpec()
        return FunctionSpec(
            m=fs.m if fs.m is not None else self.m,
            min_n=fs.min_n if fs.min_n is not None else self.min_n,
            inner=fs.inner if fs.inner is not None else self.inner,
            timing_n=fs.timing_n if fs.timing_n is not None else self.timing_n,
            match_position=fs.match_position if fs.match_position is not None else self.match_position,
            match_rate=fs.match_rate if fs.match_rate is not None else self.match_rate,
            params=fs.params,
        )


def spec_from_dict(data: dict[str, Any], path: str | None = None) -> InputSpec:
    """Build an :class:`InputSpec` from parsed TOML. Raises HarnessError when malformed."""
    where = path or "input spec"
    top: dict[str, Any] = {"path": path, "functions": {}}
    try:
        for key, val in data.items():
            if isinstance(val, dict):
                fn: dict[str, Any] = {"params": {}}
                for k2, v2 in val.items():
                    if isinstance(v2, dict):
                        fn["params"][k2] = v2
                    else:
                        fn[k2] = v2
                top["functions"][key] = fn
            else:
                top[key] = val
        return InputSpec.model_validate(top)
    except ValidationError as exc:
        errs = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p not in ('functions', 'params'))}: {e['msg']}"
            for e in exc.errors()
        )
        raise HarnessError(f"{where}: invalid input spec ({errs}); see INPUTS.md for the format") from None


def load_spec(path: str | Path) -> InputSpec:
    """Read a TOML input spec. Raises HarnessError when unreadable or malformed."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except OSError as exc:
        raise HarnessError(f"cannot read the input spec {p}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{p}: the input spec is not valid TOML: {exc}") from None
    return spec_from_dict(data, str(p))


def find_spec(source_path: str | Path) -> InputSpec | None:
    """The ``parevo.inputs.toml`` beside ``source_path``, loaded, or ``None``."""
    p = Path(source_path).with_name(SPEC_FILENAME)
    return load_spec(p) if p.is_file() else None
