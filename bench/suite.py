"""The benchmark suite: serial kernels and their hand-written alternatives.

Layout of ``bench/kernels/``:

* ``<name>.cpp``: the serial kernel, a standalone C++17 program whose loop to
  parallelize sits below a ``// parevo: select the loop below`` comment (as in
  ``examples/``).
* ``<name>.omp.cpp`` and ``<name>.parlay.cpp``: **loop replacements**: C++ text
  that replaces the marked loop inside its function (same variables in scope),
  so the parevo harness checks them against the serial loop on identical
  inputs and the same driver times them. Directive comments at the top:
  ``// bench-flags: -fopenmp`` (extra compile and link flags),
  ``// bench-includes: <omp.h> <algorithm>`` (headers the text needs),
  ``// bench-serial: true`` (the "alternative" is the serial loop kept as it
  is: the loop is not parallelizable).
* ``suite.toml``: per kernel its ``category``, ``parallelizable``, ``ci``
  (member of the reduced suite) and ``eval`` overrides of parevo's
  ``EvalConfig`` (e.g. ``n_start`` for superlinear kernels).
* ``parevo.inputs.toml``: the input spec parevo reads for every kernel here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from parevo.toolchain.parsing import find_marked_lines

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
SUITE_FILE = "suite.toml"

_DIRECTIVE = re.compile(r"^\s*//\s*bench-(flags|includes|serial)\s*:\s*(.*?)\s*$")


class SuiteError(ValueError):
    """The suite description or a kernel file is malformed (the message names the file)."""


@dataclass
class Alternative:
    """A hand-written replacement of a kernel's marked loop.

    ``method`` is ``omp`` or ``parlay``; ``loop_text`` the replacement (directive
    lines removed); ``includes`` headers in ``<...>`` form; ``flags`` extra
    compile and link flags; ``serial`` True when the text is the serial loop
    kept on purpose.
    """

    method: str
    path: Path
    loop_text: str
    includes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    serial: bool = False


@dataclass
class Kernel:
    """One benchmark kernel: the serial file, its marked loop and its alternatives.

    ``line`` is the 0-based line of the marker comment (parevo selects the
    loop below it); ``eval`` overrides parevo's ``EvalConfig`` fields.
    """

    name: str
    path: Path
    category: str
    line: int
    alternatives: dict[str, Alternative]
    parallelizable: bool = True
    ci: bool = False
    eval: dict = field(default_factory=dict)


def parse_alternative(path: Path, method: str) -> Alternative:
    """Read a loop-replacement file: directive comments, then the loop text.

    Raises:
        SuiteError: the file is empty once the directives are removed.
    """
    flags: list[str] = []
    includes: list[str] = []
    serial = False
    body: list[str] = []
    for ln in path.read_text().splitlines():
        m = _DIRECTIVE.match(ln)
        if not m:
            body.append(ln)
            continue
        key, value = m.group(1), m.group(2)
        if key == "flags":
            flags += value.split()
        elif key == "includes":
            includes += re.findall(r"<[^>]+>|\"[^\"]+\"", value)
        else:
            serial = value.lower() in ("true", "yes", "1")
    text = "\n".join(body).strip("\n")
    if not text.strip():
        raise SuiteError(f"{path}: no loop text")
    return Alternative(method=method, path=path, loop_text=text + "\n", includes=includes, flags=flags,
                       serial=serial)


def load_suite(kernel_dir: Path = KERNEL_DIR, only: list[str] | None = None, reduced: bool = False) -> list[Kernel]:
    """The kernels listed in ``suite.toml``, in its order.

    Args:
        kernel_dir: the directory holding ``suite.toml`` and the kernel files.
        only: keep these kernel names (an unknown name is an error).
        reduced: keep only the kernels marked ``ci = true``.

    Raises:
        SuiteError: a listed kernel lacks its files or marker, or ``only`` names
            an unknown kernel.
    """
    meta = tomllib.loads((kernel_dir / SUITE_FILE).read_text())
    unknown = sorted(set(only or []) - set(meta))
    if unknown:
        raise SuiteError(f"unknown kernel(s) {', '.join(unknown)}; the suite has {', '.join(meta)}")
    kernels = []
    for name, info in meta.items():
        if only and name not in only:
            continue
        if reduced and not info.get("ci", False):
            continue
        path = kernel_dir / f"{name}.cpp"
        if not path.exists():
            raise SuiteError(f"{kernel_dir / SUITE_FILE}: kernel {name!r} has no file {path.name}")
        lines = find_marked_lines(path.read_text())
        if len(lines) != 1:
            raise SuiteError(f"{path}: needs exactly one `// parevo: select the loop below` marker, has {len(lines)}")
        alts = {}
        for method in ("omp", "parlay"):
            alt_path = kernel_dir / f"{name}.{method}.cpp"
            if not alt_path.exists():
                raise SuiteError(f"{path}: missing its {method} version {alt_path.name}")
            alts[method] = parse_alternative(alt_path, method)
        kernels.append(Kernel(
            name=name, path=path, category=str(info.get("category", "")), line=lines[0], alternatives=alts,
            parallelizable=bool(info.get("parallelizable", True)), ci=bool(info.get("ci", False)),
            eval=dict(info.get("eval", {})),
        ))
    return kernels
