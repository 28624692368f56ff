"""The input plan: how the harness builds every parameter of the loop's function.

The models :func:`parevo.toolchain.inputs.plan_inputs` produces and
:mod:`parevo.toolchain.harness` turns into C++: per parameter its shape,
lengths (size variables), how its values are drawn (:class:`ValuePlan`); the
size variables in generation order (:class:`SizeVar`); the default value
ranges. How they are inferred is told in :mod:`parevo.toolchain.inputs`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from .ctypes import CType, Decl
from .declarations import StructPlan
from .sizes import eval_expr, parse_expr

DEFAULT_M = 256
DEFAULT_INNER = 8
DEFAULT_MAX_DEGREE = 8
SIGNED_RANGE = (-10, 10)
UNSIGNED_RANGE = (0, 20)
FLOAT_RANGE = (-1.0, 1.0)
NONNEG_FLOAT_RANGE = (0.0, 1.0)
DIVISOR_FLOAT_RANGE = (0.5, 1.5)
CHAR_RANGE = (97, 122)


class ValuePlan(BaseModel):
    """How the leaf values of a parameter (or one struct field) are drawn.

    ``kind``: ``values`` (uniform in ``[min, max]``; bool 50/50), ``index``
    (integers in ``[0, bound)``; ``bound`` a size expression), ``offsets``
    (monotone from 0, degrees in ``[0, max_degree]``), ``const`` (``value``),
    ``size`` (an integer parameter set to the size variable named by ``bound``),
    ``search`` (a scalar searched for in container ``of``: on even seeds a copy
    of one of its elements, on odd seeds ``value``, which none of them equals:
    checks see both outcomes and timing, at seed 1, scans the whole input).
    ``adversarial``: a plain input value nothing constrains (not a divisor, not
    under ``sqrt``/``log``, not from the input spec), so the differential test
    may also draw NaN, Inf, INT_MAX... for it (:mod:`parevo.toolchain.adversarial`).
    """

    kind: Literal["values", "index", "offsets", "const", "size", "search"] = "values"
    adversarial: bool = False
    min: float | None = None
    max: float | None = None
    bound: str | None = None
    max_degree: int = DEFAULT_MAX_DEGREE
    value: float | int | bool | None = None
    of: str | None = None
    why: str = ""


class SizeVar(BaseModel):
    """A size variable of the plan, computed in order before/while generating.

    ``expr`` is a size expression over ``n``, ``m``, ``inner``, other size
    variables and ``last(param)``; ``covers`` the size symbols it stands for,
    spelled ``len:x@0`` (the length of ``x``), ``val:n`` (the value of ``n``);
    ``why`` a short reason.
    """

    name: str
    expr: str
    covers: list[str]
    why: str = ""


class ParamPlan(BaseModel):
    """The plan of one parameter.

    ``lengths[l]`` is the size variable (or expression) of nesting level ``l``
    (``None`` for a fixed ``std::array`` level); ``values`` the leaf values;
    ``fields`` per struct-field path (``"pos.x"``) overrides. ``output``: the
    harness dumps it after the call. ``built``: the function fills it itself
    (generated empty). ``role``: ``size`` (the value is a size variable),
    ``index`` (an index scalar), ``scalar``, ``container``, ``pointer``,
    ``struct``.
    """

    name: str
    index: int
    type_text: str
    decl: Decl
    storage: str
    role: Literal["size", "index", "scalar", "container", "pointer", "struct"]
    lengths: list[str | None] = Field(default_factory=list)
    values: ValuePlan = Field(default_factory=ValuePlan)
    fields: dict[str, ValuePlan] = Field(default_factory=dict)
    output: bool = False
    built: bool = False
    why: list[str] = Field(default_factory=list)


class InputPlan(BaseModel):
    """Everything the harness needs to build inputs and call the function.

    ``steps`` is the generation order: size variable names (``S0``) and
    parameter names prefixed ``p:``. ``m``/``inner`` are the knob values,
    ``min_n`` the smallest n the checks should use. ``returns`` is the return
    type (``None`` for ``void``). ``match_position`` (a size expression) and
    ``match_rate`` say where a search loop's matches are
    (:mod:`parevo.toolchain.harness_match`).
    """

    function: str
    qualified_name: str
    return_type: str
    returns: CType | None = None
    params: list[ParamPlan]
    sizes: list[SizeVar]
    steps: list[str]
    structs: dict[str, StructPlan] = Field(default_factory=dict)
    m: int = DEFAULT_M
    inner: int = DEFAULT_INNER
    min_n: int = 0
    timing_n: int | None = None
    match_position: str | None = None
    match_rate: float | None = None
    notes: list[str] = Field(default_factory=list)

    def param(self, name: str) -> ParamPlan:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def size_at(self, n: int) -> dict[str, int | None]:
        """Size variables evaluated at ``n`` (``None`` where they need generated data)."""
        env: dict[str, int] = {"n": n, "m": self.m, "inner": self.inner}
        out: dict[str, int | None] = {}
        by_name = {s.name: s for s in self.sizes}
        for step in self.steps:
            s = by_name.get(step)
            if s is None:
                continue
            v = eval_expr(parse_expr(s.expr), env)
            out[s.name] = None if v is None else max(v, 0)
            if v is not None:
                env[s.name] = max(v, 0)
        return out

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for reports: per parameter its shape, lengths, values."""
        return {
            "function": self.qualified_name,
            "m": self.m,
            "inner": self.inner,
            "min_n": self.min_n,
            "timing_n": self.timing_n,
            **({"match_position": self.match_position} if self.match_position is not None else {}),
            **({"match_rate": self.match_rate} if self.match_rate is not None else {}),
            "sizes": {s.name: s.expr for s in self.sizes},
            "params": [
                {
                    "name": p.name,
                    "type": p.type_text,
                    "role": p.role,
                    "lengths": p.lengths,
                    "values": p.values.model_dump(exclude_defaults=True),
                    **({"fields": {k: v.model_dump(exclude_defaults=True) for k, v in p.fields.items()}}
                       if p.fields else {}),
                    "output": p.output,
                    **({"built": True} if p.built else {}),
                }
                for p in self.params
            ],
            "notes": self.notes,
        }

    def describe_json(self) -> str:
        return json.dumps(self.describe(), separators=(",", ":"))


def storage_type(t: CType, structs: dict[str, StructPlan]) -> str:
    """C++ type of the harness member holding a value of type ``t`` (pointers become
    ``parevo::buffer``; structs are spelled by their plan's name)."""
    def spell(x: CType) -> str:
        if x.kind == "struct":
            sp = structs.get((x.name or "").split("::")[-1])
            return sp.cxx_name if sp else (x.name or x.text)
        if x.kind == "vector":
            return f"{x.container or 'std::vector'}<{spell(x.elem)}>"  # type: ignore[arg-type]
        if x.kind == "array":
            return f"std::array<{spell(x.elem)}, {x.length}>"  # type: ignore[arg-type]
        if x.kind == "pair":
            return f"std::pair<{spell(x.elem)}, {spell(x.second)}>"  # type: ignore[arg-type]
        if x.kind == "pointer":
            return f"parevo::buffer<{spell(x.elem)}>"  # type: ignore[arg-type]
        return x.render()

    return spell(t)
