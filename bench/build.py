"""Build benchmark variants: one harness, many builds, each with its own flags.

Every variant of a kernel is the parevo harness translation unit
(:func:`~parevo.toolchain.harness.variant_source`) with the marked loop
replaced by a loop text, compiled with the evaluator's optimized flags plus the
variant's own (``-fopenmp``, ``-ftree-parallelize-loops=P``,
``-DPARLAY_SEQUENTIAL``) and linked against the generic driver. Inputs are
therefore identical across variants for a given ``(n, seed)``; only the loop
text and the flags differ, and both are recorded.

Objects and executables go through the evaluator's caching
:class:`~parevo.toolchain.compiler.Compiler`, so a variant whose source and
flags parevo already compiled (the serial loop, parevo's winner) is a cache hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parevo.toolchain.evaluate import Evaluator
from parevo.toolchain.harness import driver_source, variant_source

#: Flag that makes GCC report which loops -ftree-parallelize-loops parallelized (on stderr).
AUTOPAR_REPORT_FLAG = "-fopt-info-loop-optimized"


@dataclass
class BuildSpec:
    """What to build: a loop text with its includes and extra flags.

    ``key`` names the build in reports (``serial``, ``gcc-autopar``, ``omp``,
    ``parlay``, ``parlay/seq``, ``parevo``, ``parevo/seq``); ``method`` is the
    method it belongs to. ``function_text``, when set, replaces the whole
    function instead (a rewrite that declares its reduction in place).
    """

    key: str
    method: str
    loop_text: str
    includes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    function_text: str | None = None


@dataclass
class Built:
    """A built variant: its executable (``None`` when the build failed) and evidence.

    ``compile_seconds`` is wall time spent compiling and linking (0 on cache
    hits); ``cached`` is True when both object and link came from the cache;
    ``error`` the first compiler error; ``stderr`` the compiler's messages
    (kept for the GCC auto-parallelization report).
    """

    spec: BuildSpec
    exe: str | None
    compile_seconds: float = 0.0
    cached: bool = False
    error: str | None = None
    stderr: str = ""
    command: list[str] = field(default_factory=list)


def link_flags(flags: list[str]) -> list[str]:
    """The subset of compile ``flags`` the link needs (OpenMP runtime, autopar runtime)."""
    return [f for f in flags if f == "-fopenmp" or f.startswith("-ftree-parallelize-loops")]


def build_variant(ev: Evaluator, spec: BuildSpec) -> Built:
    """Compile ``spec`` into a harness executable for ``ev``'s loop (never raises on a compile error).

    The driver object is the evaluator's (same source and flags: a cache hit
    once :meth:`Evaluator.prepare` ran).
    """
    comp = ev.compiler
    timeout = ev.config.compile_timeout_s
    driver = comp.compile_object(driver_source(), ev.flags, label="driver", timeout_s=timeout, cancel=ev.cancel)
    if not driver.ok:
        return Built(spec=spec, exe=None, error=f"driver: {driver.first_error}", stderr=driver.stderr)
    source = variant_source(ev.site, spec.loop_text, spec.includes, ev.plan, function_text=spec.function_text)
    label = f"{ev.site.function_name}-{spec.key.replace('/', '-')}"
    obj = comp.compile_object(source, ev.flags + spec.flags, label=label, timeout_s=timeout, cancel=ev.cancel)
    if not obj.ok:
        return Built(spec=spec, exe=None, compile_seconds=obj.seconds, error=obj.first_error or "compile failed",
                     stderr=obj.stderr, command=obj.command)
    exe = comp.link([driver.output_path, obj.output_path], ["-pthread", *link_flags(spec.flags)], timeout_s=timeout,
                    cancel=ev.cancel)
    seconds = obj.seconds + exe.seconds
    if not exe.ok:
        return Built(spec=spec, exe=None, compile_seconds=seconds, error=exe.first_error or "link failed",
                     stderr=exe.stderr, command=obj.command)
    return Built(spec=spec, exe=exe.output_path, compile_seconds=seconds, cached=obj.cached and exe.cached,
                 stderr=obj.stderr, command=obj.command)


_PARLOOP = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):\d+: optimized: parallelizing (?:inner|outer) loop", re.M)


def autopar_loops(stderr: str, path: str, first_line1: int, last_line1: int) -> list[int]:
    """1-based lines inside ``[first_line1, last_line1]`` of ``path`` where GCC reports
    ``parallelizing ... loop`` (from :data:`AUTOPAR_REPORT_FLAG` output)."""
    out = []
    for m in _PARLOOP.finditer(stderr):
        line = int(m.group("line"))
        if m.group("file").endswith(path.split("/")[-1]) and first_line1 <= line <= last_line1:
            out.append(line)
    return sorted(set(out))
