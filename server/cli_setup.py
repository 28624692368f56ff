"""``parevo setup`` and the first-use install of ``parevo evolve``.

``parevo setup`` installs the pinned ParlayLib for this user
(:func:`parevo.toolchain.parlay_setup.install`); ``--from`` takes a mirror URL,
a downloaded archive or a checkout; ``--prefix`` another folder; ``--check``
says what is installed and what parevo uses. When ``parevo evolve`` finds no
ParlayLib, :func:`first_use` says so in one line and installs it the same way:
at once with ``--yes`` or ``PAREVO_AUTO_SETUP=1``, after asking on a terminal,
and otherwise (no terminal) it prints how. Without network access it says so
and prints the manual ways (the README's, verbatim).
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from typing import TextIO

from parevo.toolchain.discovery import DiscoverySettings, ParlayLibMissing, discover
from parevo.toolchain.parlay_release import MANUAL_WAYS, PINNED, setup_prefix
from parevo.toolchain.parlay_setup import NetworkUnavailable, SetupFailed, describe_source, install, status

#: Environment variable that makes ``parevo evolve`` install ParlayLib without asking (like ``--yes``).
AUTO_ENV = "PAREVO_AUTO_SETUP"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def cmd_setup(args, discovery: DiscoverySettings) -> int:
    """``parevo setup``: 0 installed (or already there) / ``--check`` finds ParlayLib; 1 ``--check``
    finds none; 2 the install failed (the reason and the manual ways on stderr)."""
    if args.check:
        return _check(discovery)
    try:
        done = install(args.source, args.prefix, log=print)
    except NetworkUnavailable as e:
        _print_offline(e, sys.stderr)
        return 2
    except SetupFailed as e:
        print(f"parevo: {e}", file=sys.stderr)
        return 2
    tc = discover(discovery, probe=False)
    if tc.parlay_include and os.path.realpath(tc.parlay_include) != os.path.realpath(done.include_dir):
        print(f"note: parevo keeps using {tc.parlay_include}/parlay (found via {tc.parlay_found_via}, version "
              f"{tc.parlay_version}): your own installations come first")
    return 0


def _check(discovery: DiscoverySettings) -> int:
    text, _, _ = status()
    print(text)
    tc = discover(discovery, probe=False)
    for problem in tc.problems:
        print(f"note: {problem}")
    if not tc.parlay_include:
        print("parevo finds no ParlayLib.")
        print(MANUAL_WAYS)
        return 1
    print(f"parevo uses: {tc.parlay_include}/parlay (found via {tc.parlay_found_via}), version {tc.parlay_version} "
          f"({tc.parlay_version_from})")
    return 0


def _print_offline(e: Exception, stream: TextIO) -> None:
    print(f"parevo: cannot download ParlayLib: no network access ({e})", file=stream)
    print(MANUAL_WAYS, file=stream)


def first_use(err: ParlayLibMissing, *, yes: bool, stream: TextIO | None = None,
              stdin: TextIO | None = None) -> bool:
    """ParlayLib is missing for a search: install it (asking first where that is wanted).

    Returns True when ParlayLib was installed (run the search again), False when
    not; everything said goes to ``stream`` (stderr), beginning with one line
    saying ParlayLib was not found.
    """
    stream = stream or sys.stderr
    stdin = stdin or sys.stdin
    where = setup_prefix() / "include" / "parlay"
    source = describe_source(None)
    host = urllib.parse.urlsplit(source).hostname or source
    why = f" ({'; '.join(err.problems)})" if err.problems else ""
    offer = f"ParlayLib {PINNED.version} from {host} (SHA-256 pinned) into {where}"
    if yes or _truthy(os.environ.get(AUTO_ENV)):
        print(f"parevo: ParlayLib not found{why}; installing {offer}", file=stream)
    elif stdin.isatty() and stream.isatty():
        print(f"parevo: ParlayLib not found{why}.", file=stream)
        stream.write(f"Download {offer}? [Y/n] ")
        stream.flush()
        answer = stdin.readline()  # "" at end of input (Ctrl-D): no; an empty line: the default, yes
        if not answer or answer.strip().lower() not in ("", "y", "yes"):
            print(MANUAL_WAYS, file=stream)
            return False
    else:
        print(f"parevo: ParlayLib not found{why}: run `parevo setup` (or add --yes) to download {offer}, "
              "or install it yourself.", file=stream)
        print(MANUAL_WAYS, file=stream)
        return False
    try:
        install(log=lambda line: print(f"  {line}", file=stream))
    except NetworkUnavailable as e:
        _print_offline(e, stream)
        return False
    except SetupFailed as e:
        print(f"parevo: ParlayLib was not installed: {e}", file=stream)
        return False
    return True
