"""Refuse early what the harness cannot run, before any search or compiler.

The harness calls the loop's *function* with generated inputs. Three kinds of
loop cannot be run that way, and saying so at ``prepare`` time (a disabled code
action with the reason, ``parevo evolve`` exiting with status 2) beats a search
that ends in a compiler error from generated code:

* a loop in ``main()``: ``main`` cannot be called with generated data (the
  harness renames it; a call of ``::main`` does not compile);
* a loop inside a lambda: the harness can only call named functions, and the
  lambda may never run when its enclosing function is called;
* a function whose signature the harness cannot build (member functions,
  templates, parameters of unsupported types...): the input planner's
  :class:`~parevo.toolchain.models.HarnessError` names the parameter and the
  input-spec entry that fixes it.

:func:`harness_refusal` decides with tree-sitter and the input planner only
(milliseconds); :func:`refusal_for` also reads the input spec beside the file
and caches the answer per file text, loop and spec version.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict

from .inputs import plan_inputs
from .inputspec import SPEC_FILENAME, InputSpec, load_spec
from .models import HarnessError, ParevoError
from .site import ParsedSite
from .syntax import ancestors

#: Node types between a loop and its function that the harness cannot call into.
LAMBDA_TYPES = frozenset({"lambda_expression"})


def _loop_in_lambda(site: ParsedSite) -> bool:
    return any(n.type in LAMBDA_TYPES for n in ancestors(site.loop_node, site.function_node))


def harness_refusal(site: ParsedSite, spec: InputSpec | None = None) -> str | None:
    """Why the harness cannot run ``site``'s loop (one sentence with the fix), or None when it can.

    Never raises: a failure of the input planner other than a :class:`HarnessError` is reported by
    the search itself, with its context.
    """
    if site.qualified_name.lstrip(":") == "main":
        return ("the loop is in main(): parevo runs the loop's function on generated inputs, and main() "
                "cannot be called that way; move the loop into a function that takes its data as "
                "parameters and call that function from main()")
    if _loop_in_lambda(site):
        return (f"the loop is inside a lambda in `{site.qualified_name}`: parevo can only call named "
                "functions; move the loop into a function of its own that takes its data as parameters")
    try:
        plan_inputs(site, spec)
    except HarnessError as e:
        return str(e)
    except ParevoError:
        return None
    return None


def _spec_version(path: str) -> tuple[str, float] | None:
    try:
        return path, os.stat(path).st_mtime
    except OSError:
        return None


_CACHE: OrderedDict[tuple, str | None] = OrderedDict()
_CACHE_SIZE = 128
_LOCK = threading.Lock()


def refusal_for(site: ParsedSite, spec_path: str | None = None) -> str | None:
    """:func:`harness_refusal` with the input spec at ``spec_path`` (default: ``parevo.inputs.toml``
    beside ``site.path``), cached per file text, loop span and spec modification time (128 entries).
    A spec that does not load is itself the reason."""
    path = spec_path or os.path.join(os.path.dirname(os.path.abspath(site.path)), SPEC_FILENAME)
    version = _spec_version(path)
    sha = hashlib.sha256(site.source.encode("utf-8", errors="surrogatepass")).hexdigest()
    key = (sha, site.loop.start_byte, site.loop.end_byte, version)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    try:
        why = harness_refusal(site, load_spec(path) if version is not None else None)
    except ParevoError as e:
        why = str(e)
    with _LOCK:
        _CACHE[key] = why
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return why


__all__ = ["harness_refusal", "refusal_for"]
