"""The ``parevo`` command: ``evolve``, ``setup``, ``doctor`` and ``serve``.

Exit codes: 0 success (a verified rewrite, or ``doctor`` all good); 1 the
search ended without a verified rewrite (or the loop is not parallelizable);
2 bad input (file, selection, harness, toolchain; a device, FIFO, directory or
file over ``--max-file-bytes``; ``--sandbox strict`` without namespaces); 130
interrupted. ``evolve`` says which sandbox runs the candidates once: a fallback at
start, namespaces with the search's first progress line.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import math
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from parevo.evolution.engine import EvolveRequest, evolve, read_site, replay
from parevo.evolution.llm import LLMSettings
from parevo.evolution.report import OPERATORS_HELP, render_text
from parevo.evolution.search import Budget, ProgressEvent
from parevo.toolchain.discovery import DiscoverySettings, ParlayLibMissing, default_cache_dir, discover, doctor
from parevo.toolchain.facts import analyze
from parevo.toolchain.files import DEFAULT_MAX_FILE_BYTES, MAX_FILE_ENV, max_file_bytes, read_text
from parevo.toolchain.isolation import MODE_ENV, MODES, configure
from parevo.toolchain.models import ParevoError
from parevo.toolchain.parsing import find_loop
from parevo.toolchain.parlay_release import MANUAL_WAYS, PINNED
from parevo.toolchain.splice import apply_edits

from . import faults
from .cli_setup import cmd_setup, first_use

#: The most ParlayLib worker threads a timing may ask for (the language server's setting has the same bound).
MAX_THREADS = 1024

LOCATION = re.compile(r"^(?P<path>.+?):(?P<start>\d+)(?:-(?P<end>\d+))?$")

T = TypeVar("T")


def parse_location(text: str) -> tuple[str, int, int | None]:
    """``FILE:LINE`` or ``FILE:START-END`` (1-based) → (path, 0-based line, 0-based end or None).

    Raises:
        argparse.ArgumentTypeError: not of that form.
    """
    m = LOCATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected FILE:LINE or FILE:START-END, got {text!r}")
    start = int(m["start"]) - 1
    end = int(m["end"]) - 1 if m["end"] else None
    if start < 0 or (end is not None and end < start):
        raise argparse.ArgumentTypeError(f"bad line range in {text!r}")
    return m["path"], start, end


class ProgressPrinter:
    """Progress on stderr: one rewritten line on a terminal, one line per event otherwise.

    ``note`` is printed once, before the first event: only a search that really
    starts says it, so nothing precedes an error that stops it earlier.
    """

    def __init__(self, stream=None, quiet: bool = False, note: str | None = None):
        self.stream = stream = stream or sys.stderr
        self.tty = stream.isatty()
        self.quiet = quiet
        self.note = note

    def __call__(self, e: ProgressEvent) -> None:
        if self.quiet:
            return
        if self.note:
            self.stream.write(self.note + "\n")
            self.note = None
        best = f" | best {e.best_speedup:.2f}x" if e.best_speedup else ""
        # a wait for a quiet machine has no evaluation budget (total 0)
        counted = f"{e.tried}/{e.total} candidates" if e.total else f"{e.tried} candidates tried"
        text = f"[{e.elapsed:6.1f}s] {counted} | {e.stage}: {e.message}{best}"
        if self.tty:
            # a verified rewrite is published at once: it stays on screen while the search goes on
            self.stream.write("\r\x1b[2K" + (text if e.stage == "verified" else text[:200]))
            if e.stage in ("done", "verified"):
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _int_at_least(low: int, high: int | None = None):
    """argparse type: an integer in digits (``1048576``) of at least ``low`` (and at most ``high``)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
        if high is not None and v > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {v}")
        return v

    return parse


_positive_int = _int_at_least(1)


def _seconds(text: str, *, zero: bool = False) -> float:
    """argparse type: a positive (with ``zero``: or zero), finite number of seconds."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not zero):
        raise argparse.ArgumentTypeError(f"must be a {'' if zero else 'positive '}number of seconds"
                                         f"{' (0 or more)' if zero else ''}, got {text}")
    return v


def _seconds_or_zero(text: str) -> float:
    """argparse type: a finite number of seconds, 0 or more."""
    return _seconds(text, zero=True)


def _discovery(args) -> DiscoverySettings:
    return DiscoverySettings(cxx=args.cxx, parlay_include=args.parlay, workspace=args.workspace,
                             system_parlay=not args.no_system_parlay)


def _llm_settings(args) -> LLMSettings | None:
    """LLM settings from the options, falling back to ``PAREVO_LLM_*`` environment variables."""
    return LLMSettings.from_env(base_url=args.llm_base_url, model=args.llm_model, api_key_env=args.llm_key_env)


def _cache_dir(args) -> Path:
    """The compile cache this run uses (``--cache-dir``, ``$PAREVO_CACHE_DIR``, else the default)."""
    return Path(args.cache_dir) if getattr(args, "cache_dir", None) else default_cache_dir()


def _fault(e: OSError, args) -> str:
    """One sentence for an ``OSError`` met while searching: which path, what is wrong, the fix."""
    cache = _cache_dir(args)
    if faults.inside(e.filename, cache):
        return faults.sentence(e, "the compile cache", faults.CACHE_FIX)
    if e.errno == errno.ENOENT:
        return f"{e.filename or 'a file'} does not exist"
    return faults.sentence(e, "the file", "check the path and its permissions")


def _write_reports(result, json_path: str | None, args) -> None:
    """Write ``--json`` and copy the run's transcript beside it (``NAME.transcript.jsonl``).

    A report that cannot be written where asked is written to ``<cache>/reports/`` instead,
    and both paths are printed: a finished search is never lost.
    """
    if not json_path:
        return
    data = result.model_dump_json(indent=2)
    try:
        Path(json_path).write_text(data)
    except OSError as e:
        name = result.run_id or time.strftime("report-%Y%m%d-%H%M%S")
        fallback = _cache_dir(args) / "reports" / f"{name}.json"
        try:
            fallback.parent.mkdir(parents=True, exist_ok=True)
            fallback.write_text(data)
        except OSError as e2:
            print(f"parevo: {faults.sentence(e, 'the report path', 'pass another --json PATH')}; "
                  f"{faults.sentence(e2, 'the fallback report', faults.CACHE_FIX)}", file=sys.stderr)
            return
        print(f"parevo: {faults.sentence(e, 'the report path', 'pass another --json PATH', json_path)}; "
              f"the report was written to {fallback} instead", file=sys.stderr)
        json_path = str(fallback)
    else:
        print(f"report written to {json_path}")
    beside = Path(json_path).with_suffix(".transcript.jsonl")
    try:
        if result.transcript_path and Path(result.transcript_path).exists() and not (
                beside.exists() and beside.samefile(result.transcript_path)):
            shutil.copyfile(result.transcript_path, beside)
            print(f"transcript copied to {beside}")
    except OSError as e:
        print(f"parevo: the transcript stays at {result.transcript_path}: "
              f"{faults.sentence(e, 'its copy', 'pass another --json PATH', beside)}", file=sys.stderr)


def _sandbox(args) -> tuple[int | None, str | None]:
    """Apply ``--sandbox``; returns (2 when the setting is ``strict`` and namespaces are unavailable,
    the line to print once the search starts). A refusal and the fallback's warning are printed at
    once, on stderr, even with ``--quiet``; namespaces are said by the search's first progress line."""
    iso = configure(args.sandbox)
    if iso.refused or not iso.strong:
        print(f"parevo: {iso.status_line()}", file=sys.stderr)
        return (2 if iso.refused else None), None
    return None, f"parevo: {iso.status_line()}"


def _read_inputs(args, path: str) -> str:
    """The source file's text, after checking it and the input spec (regular files under the size cap).

    Raises:
        UnreadableFile: a device, FIFO, directory, or a file over ``--max-file-bytes``.
    """
    cap = args.max_file_bytes
    source = read_text(path, max_bytes=cap)
    spec = args.inputs or str(Path(path).with_name("parevo.inputs.toml"))
    if args.inputs or os.path.lexists(spec):
        read_text(spec, max_bytes=cap)
    return source


def cmd_evolve(args) -> int:
    if args.replay:
        if args.wait_quiet:
            print("parevo: --wait-quiet does not apply to a replay (its timings come from the transcript)",
                  file=sys.stderr)
        return _cmd_replay(args)
    if args.location is None:
        print("parevo: evolve needs FILE:LINE (or --replay RUN)", file=sys.stderr)
        return 2
    path, line, end = args.location
    refused, source, said = _preflight(args, lambda: _read_inputs(args, path))
    if refused is not None:
        return refused
    llm = _llm_settings(args)
    if args.no_rules and llm is None:
        print("parevo: --no-rules needs an LLM endpoint (--llm-model, or PAREVO_LLM_MODEL)", file=sys.stderr)
        return 2
    req = EvolveRequest(
        seed=args.seed,
        # the budget is the command's: Python's start, imports and reading the file came out of it already
        budget=Budget(seconds=max(1.0, round(args.budget - process_age(), 2)), evaluations=args.max_candidates),
        threads=args.threads, discovery=_discovery(args), cache_dir=args.cache_dir, input_spec=args.inputs,
        eval={"timing_n": args.timing_n} if args.timing_n else {},
        llm=llm, generations=args.generations, token_budget=args.max_tokens_budget, resume=not args.no_resume,
        rules=not args.no_rules, quiet_wait_s=args.wait_quiet,
    )
    notes = [said] if said else []
    if llm is None:
        notes.append("parevo: no LLM endpoint configured: searching rule-based candidates and parameter mutations only")
    note = "\n".join(notes) or None
    read: list = []  # the site and its facts, made once (the search runs again after a first-use install)

    def run(progress, cancel):
        if not read:
            site = read_site(path, line, end, source)  # parsed once (the text read and checked above)
            read.extend([site, analyze(site)])
        return evolve(read[0], read[1], req, progress, cancel)

    result = _run_search(run, args, note=note, interrupted="the search resumes from its last generation when run "
                                                          "again")
    if isinstance(result, int):
        return result
    if result.status != "verified":
        return 1
    return _apply(result, args) if args.apply else 0


def _apply(result, args) -> int:
    """``--apply``: write the verified rewrite into the file the result names, or say why not (exit 2)."""
    path = result.path
    try:
        current = read_text(path, max_bytes=args.max_file_bytes)
    except ParevoError as e:
        print(f"parevo: not applying: {e}", file=sys.stderr)
        return 2
    if hashlib.sha256(current.encode()).hexdigest() != result.source_sha256 and not _reads_as(current, result):
        print(f"parevo: not applying: {path} changed since the search read it; run the search again",
              file=sys.stderr)
        return 2
    try:
        Path(path).write_text(apply_edits(current, result.edits))
    except OSError as e:
        print(f"parevo: not applying: {faults.sentence(e, 'the file', 'check its permissions', path)}",
              file=sys.stderr)
        return 2
    print(f"applied the rewrite to {path}")
    return 0


def _reads_as(current: str, result) -> bool:
    """True when ``current`` (the file now) reads as the text the search read: a CUDA file's host code,
    or a file whose unparsable text before the function was passed over, has the recorded view."""
    if result.site is None:
        return False
    try:
        site = find_loop(current, result.path, result.site.loop.start_line)
    except ParevoError:
        return False
    return site.source_sha256 == result.source_sha256


def _run_search(run, args, *, interrupted: str = "", note: str | None = None):
    """Run ``run(progress, cancel)`` with the progress display; print the report and write ``--json``.

    The compile cache is checked first (an unwritable one is a sentence and exit 2, before any
    work). When ParlayLib is missing, :func:`~parevo.server.cli_setup.first_use` installs it
    (``--yes``, or asking on a terminal) and the search runs again.
    Returns the result, or the exit code (130 interrupted, 2 bad input) when there is none.
    """
    problem = faults.writable(_cache_dir(args))
    if problem is not None:
        print(f"parevo: {faults.sentence(problem, 'the compile cache', faults.CACHE_FIX)}", file=sys.stderr)
        return 2
    cancel = threading.Event()
    try:
        try:
            result = run(ProgressPrinter(quiet=args.quiet, note=note), cancel)
        except ParlayLibMissing as e:
            if not first_use(e, yes=args.yes):
                return 2
            result = run(ProgressPrinter(quiet=args.quiet, note=note), cancel)
    except KeyboardInterrupt:
        cancel.set()
        print(f"\nparevo: interrupted{f' ({interrupted})' if interrupted else ''}", file=sys.stderr)
        return 130
    except ParevoError as e:
        print(f"parevo: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"parevo: {_fault(e, args)}", file=sys.stderr)
        return 2
    print(render_text(result))
    _write_reports(result, args.json, args)
    return result


def _preflight(args, read: Callable[[], T]) -> tuple[int | None, T | None, str | None]:
    """What every search command does before it searches: ``read()`` the files it was given (a
    :class:`ParevoError` is its sentence on stderr and exit status 2), then settle the sandbox.

    Returns ``(exit status, or None to go on; what read() returned; the sandbox's note)``.
    """
    try:
        value = read()
    except ParevoError as e:
        print(f"parevo: {e}", file=sys.stderr)
        return 2, None, None
    refused, said = _sandbox(args)
    return refused, value, said


def process_age() -> float:
    """Seconds since this process started (``/proc/self/stat`` against ``/proc/uptime``); 0.0 where
    the kernel does not say."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def _cmd_replay(args) -> int:
    is_file = os.path.sep in args.replay or args.replay.endswith(".jsonl")
    refused, _, said = _preflight(
        args, lambda: read_text(args.replay, max_bytes=args.max_file_bytes) if is_file else None)
    if refused is not None:
        return refused
    result = _run_search(lambda progress, cancel: replay(args.replay, cache_dir=args.cache_dir, progress=progress,
                                                         cancel=cancel), args, note=said)
    if isinstance(result, int):
        return result
    if result.status != "verified":
        if args.apply:
            print(f"parevo: nothing to apply: the replayed search ended {result.status}", file=sys.stderr)
        return 1
    return _apply(result, args) if args.apply else 0


def storage_report(args) -> tuple[list[str], bool]:
    """``parevo doctor``'s lines on the folders parevo writes: the compile cache and the
    workspace's result store (``--workspace``, else the current folder); ok when both are writable."""
    lines: list[str] = []
    ok = True
    workspace = Path(args.workspace) if args.workspace else Path.cwd()
    for label, folder, fix in (("compile cache", _cache_dir(args), faults.CACHE_FIX),
                               ("result store", workspace / ".parevo" / "results", faults.STORE_FIX)):
        problem = faults.writable(folder, create=False)
        if problem is None:
            lines.append(f"[ok] {label}: {folder} (writable)")
        else:
            ok = False
            lines.append(f"[!!] {label}: {folder} {faults.reason(problem)}")
            lines.append(f"     fix: {fix}")
    return lines, ok


def cmd_doctor(args) -> int:
    iso = configure(args.sandbox)
    tc = discover(_discovery(args), probe=not iso.refused)  # refused: nothing may run, not even a probe
    text, ok = doctor(tc)
    storage, writable = storage_report(args)
    lines = text.rstrip("\n").split("\n")
    if lines and lines[-1].startswith(("ready", "not ready")):  # the verdict comes last, after our lines
        lines.pop()
    while lines and not lines[-1].strip():
        lines.pop()
    ok = ok and writable
    print("\n".join(lines + storage + ["", "ready" if ok else "not ready: fix the items marked !!"]))
    return 0 if ok else 1


def cmd_serve(args) -> int:
    from parevo.server.lsp import main as serve_main  # imported lazily: pygls is heavy

    return serve_main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``parevo`` command."""
    p = argparse.ArgumentParser(prog="parevo", description="Verified ParlayLib rewrites of serial C++ loops.")
    sub = p.add_subparsers(dest="command", required=True)

    def toolchain_opts(sp):
        sp.add_argument("--cxx", help="C++ compiler (default: $CXX, then g++, clang++)")
        sp.add_argument("--parlay", help="ParlayLib include directory (the one holding parlay/)")
        sp.add_argument("--workspace", help="folder with compile_commands.json (default: none)")
        sp.add_argument("--no-system-parlay", action="store_true",
                        help="ignore a ParlayLib on the compiler's default include paths (/usr/local/include, ...)")
        sp.add_argument("--sandbox", choices=MODES, default=None,
                        help="how compilers and candidates are isolated: auto (bubblewrap namespaces where they "
                             "work, else a process group, said at start), strict (refuse to run anything without "
                             f"namespaces), process-group (never use namespaces); default: ${MODE_ENV}, else auto")

    e = sub.add_parser("evolve", help="find, verify and measure a ParlayLib rewrite of a loop",
                       epilog=OPERATORS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("location", type=parse_location, nargs="?", help="FILE:LINE or FILE:START-END (1-based)")
    e.add_argument("--json", metavar="PATH", help="write the whole result as JSON")
    e.add_argument("--apply", action="store_true", help="write the winning rewrite into the file")
    e.add_argument("--seed", type=int, default=1, help="seed of inputs and proposers (default 1)")
    e.add_argument("--budget", type=_seconds, default=600.0, metavar="SECONDS", help="wall-clock budget")
    e.add_argument("--max-candidates", type=_positive_int, default=64, help="evaluation budget")
    e.add_argument("--threads", type=_int_at_least(1, MAX_THREADS),
                   help=f"ParlayLib worker threads for timing, 1 to {MAX_THREADS} (default: all cores)")
    e.add_argument("--timing-n", type=_positive_int, metavar="N",
                   help="time at input size N (your program's size) instead of calibrating; "
                        "default: timing_n of the input spec, else calibrated")
    e.add_argument("--wait-quiet", type=_seconds_or_zero, default=0.0, metavar="SECONDS",
                   help="when the machine was too busy to time the candidates (inconclusive timings), wait up to "
                        "SECONDS for idle cores, then search again: correctness verdicts come from the cache, so "
                        "it mostly times them (a second --budget; default 0: no wait)")
    e.add_argument("--inputs", help="input spec (TOML); default: parevo.inputs.toml beside the file")
    e.add_argument("--cache-dir", help="compile cache (default: $PAREVO_CACHE_DIR or ~/.cache/parevo)")
    e.add_argument("--quiet", action="store_true", help="no progress display")
    e.add_argument("--llm-base-url", metavar="URL",
                   help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (default: $PAREVO_LLM_BASE_URL, "
                        "else OpenAI's)")
    e.add_argument("--llm-model", metavar="NAME", help="model name; no model = no LLM (default: $PAREVO_LLM_MODEL)")
    e.add_argument("--llm-key-env", metavar="VAR",
                   help="NAME of the environment variable holding the API key (default: $PAREVO_LLM_KEY_ENV, "
                        "else OPENAI_API_KEY)")
    e.add_argument("--max-tokens-budget", type=_int_at_least(0), default=200_000, metavar="N",
                   help="LLM tokens (prompt + completion) for the whole search (default 200000)")
    e.add_argument("--generations", type=_int_at_least(0), default=8,
                   help="generations after the rule-based one (default 8)")
    e.add_argument("--replay", metavar="RUN",
                   help="re-run a recorded search offline (a run id or a transcript .jsonl): LLM replies and "
                        "timings from the transcript, verdicts from the evaluation cache")
    e.add_argument("--no-resume", action="store_true",
                   help="start afresh instead of resuming an interrupted search of the same loop")
    e.add_argument("--yes", "-y", action="store_true",
                   help="if ParlayLib is missing, install it without asking, as `parevo setup` does "
                        "(also: PAREVO_AUTO_SETUP=1)")
    e.add_argument("--no-rules", action="store_true",
                   help="start from the LLM's rewrites alone, without the rule-based candidates (needs --llm-model)")
    e.add_argument("--max-file-bytes", type=_positive_int, default=max_file_bytes(), metavar="BYTES",
                   help="largest source file, input spec or transcript read (regular files only; default "
                        f"${MAX_FILE_ENV}, else {DEFAULT_MAX_FILE_BYTES} = 8 MiB)")
    toolchain_opts(e)
    e.set_defaults(func=cmd_evolve)

    st = sub.add_parser(
        "setup", help=f"download the pinned ParlayLib ({PINNED.version}) for this user, or check what is installed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"Download ParlayLib {PINNED.version} (commit {PINNED.commit[:7]}) over HTTPS, check its SHA-256 "
                    "against the value pinned in parevo, and unpack its include/parlay into parevo's data folder. "
                    "Your own installations keep priority.",
        epilog=MANUAL_WAYS)
    st.add_argument("--from", dest="source", metavar="URL|ARCHIVE|DIRECTORY",
                    help="install from a mirror URL, a downloaded archive (.tar.gz, .zip) or a checkout "
                         "(default: $PAREVO_PARLAYLIB_FROM, else GitHub)")
    st.add_argument("--prefix", metavar="DIR",
                    help="install into DIR/include/parlay (default: ~/.local/share/parevo/parlaylib, or "
                         "$PAREVO_DATA_DIR/parlaylib)")
    st.add_argument("--check", action="store_true", help="say what is installed, where, and what parevo uses")
    toolchain_opts(st)
    st.set_defaults(func=lambda args: cmd_setup(args, _discovery(args)))

    d = sub.add_parser("doctor", help="check the compiler, ThreadSanitizer, ParlayLib, profilers and the "
                                      "folders parevo writes")
    toolchain_opts(d)
    d.add_argument("--cache-dir", help="compile cache to check (default: $PAREVO_CACHE_DIR or ~/.cache/parevo)")
    d.set_defaults(func=cmd_doctor)

    s = sub.add_parser("serve", help="run the language server (stdio)")
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``parevo`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command != "serve":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.rest = list(args.rest) + extra  # `serve --stdio`: REMAINDER misses leading options
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
