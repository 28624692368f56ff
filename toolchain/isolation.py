"""Which isolation runs untrusted programs, and the bubblewrap command line that gives it.

parevo runs compilers and candidate programs that a language model or a
mutation wrote. With bubblewrap (``bwrap``, Debian package ``bubblewrap``) and
working namespaces, every run gets (see :func:`bwrap_argv`):

* its own PID namespace and ``/proc`` (parevo's environment, command line and
  every other process of the machine are invisible), a fresh read-only
  ``/dev`` (its devices usable, ``/dev/shm`` not writable);
* no network (a new network namespace: not even loopback services), new IPC
  and UTS namespaces, a new session (no terminal), no capabilities;
* a read-only view of the system; the user's home directories, the temporary
  directories, ``/run`` (sockets), ``/mnt``, ``/media`` and parevo's
  configuration directory (its signing key) hidden under empty read-only
  tmpfs mounts, with only the paths the run needs (the program, its
  arguments, include directories) bound back read-only;
* one writable directory: the run's working directory (with its ``HOME`` and
  ``TMPDIR`` inside), a temporary directory parevo made for the run;
* ``--die-with-parent``: when parevo dies, even by ``kill -9``, the kernel
  kills the sandbox's first process, and with it the whole PID namespace
  (``setsid()`` children included).

Where namespaces are unavailable (bubblewrap not installed, user namespaces
forbidden), runs fall back to a process group plus ``PR_SET_PDEATHSIG``
(:data:`GROUP_WAITER`), and parevo says so: :meth:`Isolation.describe`. The
fallback hides nothing: a candidate can read the user's files and parevo's
environment, use the network, and a child that calls ``setsid()`` can outlive it. The mode is one setting
(:data:`MODE_ENV`, ``parevo --sandbox``, the server's ``parevo.sandbox``):

* ``auto`` (default): namespaces when they work, else the fallback;
* ``strict``: refuse to run anything without namespaces
  (:class:`SandboxUnavailable`);
* ``process-group``: never use namespaces (the fallback, e.g. to test it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .models import ParevoError

SandboxMode = Literal["auto", "strict", "process-group"]
MODES: tuple[str, ...] = ("auto", "strict", "process-group")

#: Environment variable holding the sandbox mode (overridden by :func:`configure`).
MODE_ENV = "PAREVO_SANDBOX"

#: Environment variable naming the ``bwrap`` executable (default: ``bwrap`` on ``PATH``).
BWRAP_ENV = "PAREVO_BWRAP"

#: What the fallback allows, in the words every front door uses.
FALLBACK_TEXT = "process group only — candidates can read your files"

INSTALL_BWRAP = "install bubblewrap (`apt-get install bubblewrap`) and allow user namespaces"

#: System folders that are never hidden, whatever HOME says.
_SYSTEM = ("/", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc", "/dev",
           "/sys", "/var", "/boot", "/srv")

#: Folders hidden from every sandboxed run when they exist (plus the user's own, see :func:`hidden_dirs`).
_HIDDEN = ("/tmp", "/var/tmp", "/run", "/home", "/root", "/mnt", "/media")


class SandboxUnavailable(ParevoError):
    """The sandbox setting is ``strict`` and namespaces do not work here: nothing is run."""


class Isolation(BaseModel):
    """The isolation that runs untrusted programs in this process.

    ``kind`` is ``namespaces`` (bubblewrap at ``bwrap``, version line
    ``version``) or ``process-group`` (the fallback; ``reason`` says why).
    ``mode`` is the setting it was chosen under.
    """

    kind: Literal["namespaces", "process-group"]
    mode: SandboxMode
    bwrap: str | None = None
    version: str | None = None
    reason: str | None = None

    @property
    def strong(self) -> bool:
        """True when runs get their own namespaces."""
        return self.kind == "namespaces"

    @property
    def refused(self) -> bool:
        """True when the setting requires namespaces and they are not available."""
        return self.mode == "strict" and not self.strong

    def describe(self) -> str:
        """``namespaces (bubblewrap 0.8.0)`` or ``process group only — candidates can read your files``."""
        if self.strong:
            return f"namespaces ({self.version or 'bubblewrap'})"
        return FALLBACK_TEXT

    def status_line(self) -> str:
        """One line for the start of a CLI run or a server session, with the reason for a fallback."""
        text = f"sandbox: {self.describe()}"
        if self.refused:
            return (f"{text}; the sandbox setting is 'strict', so no compiler or candidate will run "
                    f"({self.reason}; to fix: {INSTALL_BWRAP})")
        if not self.strong and self.reason:
            text += f" ({self.reason})"
        return text

    def check(self) -> None:
        """Raise :class:`SandboxUnavailable` when runs are refused (strict mode without namespaces)."""
        if self.refused:
            raise SandboxUnavailable(
                f"the sandbox setting is 'strict' but namespaces are unavailable: {self.reason}. "
                f"To fix: {INSTALL_BWRAP}, or set the sandbox to 'auto' (--sandbox auto, {MODE_ENV}=auto, "
                f"or the parevo.sandbox setting) to accept {FALLBACK_TEXT}.")


class _Policy:
    """The process-wide sandbox mode (one per parevo process: a CLI run or a server) and the probes."""

    def __init__(self) -> None:
        self.mode: SandboxMode | None = None  # None: from the environment
        self.lock = threading.Lock()
        self.probed: dict[str, Isolation] = {}


_POLICY = _Policy()


def parse_mode(value: str | None) -> SandboxMode:
    """A sandbox mode from a setting's text (``None`` or empty: ``auto``).

    Raises:
        ValueError: not one of :data:`MODES`.
    """
    text = (value or "auto").strip().lower()
    if text not in MODES:
        raise ValueError(f"sandbox must be one of {', '.join(MODES)}, got {value!r}")
    return text  # type: ignore[return-value]


def configure(mode: str | None) -> Isolation:
    """Set the sandbox mode of this process (``None``: back to :data:`MODE_ENV`) and return the isolation.

    Raises:
        ValueError: an unknown mode.
    """
    with _POLICY.lock:
        _POLICY.mode = parse_mode(mode) if mode is not None else None
    return isolation()


def current_mode() -> SandboxMode:
    """The mode set by :func:`configure`, else :data:`MODE_ENV`, else ``auto`` (an invalid
    environment value counts as ``strict``: a typo must not weaken the sandbox)."""
    if _POLICY.mode is not None:
        return _POLICY.mode
    try:
        return parse_mode(os.environ.get(MODE_ENV))
    except ValueError:
        return "strict"


def isolation(mode: str | None = None) -> Isolation:
    """The isolation for ``mode`` (default :func:`current_mode`), probed once per process and mode.

    The probe runs ``bwrap`` with the full sandbox around ``true`` (about 10 ms).
    """
    chosen = parse_mode(mode) if mode is not None else current_mode()
    with _POLICY.lock:
        found = _POLICY.probed.get(chosen)
        if found is None:
            found = _POLICY.probed[chosen] = _probe(chosen)
        return found


def _probe(mode: SandboxMode) -> Isolation:
    if mode == "process-group":
        return Isolation(kind="process-group", mode=mode, reason="namespaces disabled by the sandbox setting")
    bwrap = shutil.which(os.environ.get(BWRAP_ENV) or "bwrap")
    if bwrap is None:
        where = os.environ.get(BWRAP_ENV)
        return Isolation(kind="process-group", mode=mode, reason=f"{where} ({BWRAP_ENV}) is not executable" if where
                         else "bubblewrap (bwrap) is not installed")
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        with tempfile.TemporaryDirectory(prefix="parevo-bwrap-probe-") as tmp:
            res = subprocess.run(bwrap_argv(bwrap, ["true"], workdir=tmp), capture_output=True, text=True,
                                 timeout=20, env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Isolation(kind="process-group", mode=mode, bwrap=bwrap, reason=f"bwrap cannot run: {e}")
    if res.returncode != 0:
        first = next((ln.strip() for ln in res.stderr.splitlines() if ln.strip()), f"exit status {res.returncode}")
        return Isolation(kind="process-group", mode=mode, bwrap=bwrap, version=version or None,
                         reason=f"bwrap cannot create namespaces here: {first}")
    return Isolation(kind="namespaces", mode=mode, bwrap=bwrap, version=version or "bubblewrap")


# ---------------------------------------------------------------- what a run sees


def config_dir() -> Path:
    """parevo's configuration directory: ``$XDG_CONFIG_HOME/parevo``, else ``~/.config/parevo``
    (not created here). It holds the result-signing key, so it is hidden from every run."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "parevo"


def _user_home() -> str | None:
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return None


def hidden_dirs() -> list[str]:
    """Directories replaced by an empty read-only tmpfs in every sandboxed run (absolute, existing,
    outermost first, none inside another): the temporary directories, ``/run``, every home
    directory (``$HOME`` and the password database's), ``/mnt``, ``/media``, parevo's
    configuration directory. System folders (``/usr``, ``/etc``, ...) are never hidden."""
    wanted = [*_HIDDEN, tempfile.gettempdir(), os.environ.get("HOME"), _user_home(), str(config_dir())]
    found: list[str] = []
    for d in wanted:
        if not d or not os.path.isabs(d):
            continue
        real = os.path.realpath(d)
        if real in _SYSTEM or any(s.startswith(real.rstrip("/") + "/") for s in _SYSTEM if s != "/"):
            continue
        if os.path.isdir(real) and real not in found:
            found.append(real)
    found.sort(key=lambda p: (p.count("/"), p))
    return [d for d in found if not any(_inside(d, other) for other in found if other != d)]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def package_dir() -> str:
    """The ``parevo.toolchain`` package folder (harness headers, TSan suppressions): always readable."""
    return str(Path(__file__).resolve().parent)


def paths_in(argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Absolute existing paths a command names: arguments, ``-I``/``-isystem``/``-L`` folders, and
    ``key=/path`` entries of ``*_OPTIONS`` variables (sanitizer suppressions)."""
    found: list[str] = []

    def add(text: str) -> None:
        if text.startswith("/") and os.path.exists(text) and text not in found:
            found.append(text)

    for a in argv:
        for opt in ("-isystem", "-iquote", "-I", "-L"):
            if a.startswith(opt) and len(a) > len(opt):
                add(a[len(opt):])
                break
        else:
            add(a)
    for key, value in (env or {}).items():
        if key.endswith("_OPTIONS"):
            for part in value.replace(":", " ").split():
                add(part.partition("=")[2])
    return found


#: The sandbox's first process (PID 1 of its namespace): a shell that runs the program as PID 2
#: and waits for it, so that ``wait4`` on bwrap returns the program's CPU time and peak memory
#: (bwrap's own reaper exits without collecting them), the program keeps ordinary signal
#: semantics (PID 1 ignores signals it has no handler for), and when it exits, the kernel
#: kills whatever else is left in the namespace. A program killed by signal N makes it exit
#: with 128 + N; the shell's own messages ("Segmentation fault") go to /dev/null.
WAITER = ["/bin/sh", "-c", 'exec 3>&2 2>/dev/null; "$@" 2>&3 3>&-; exit $?', "sh"]

#: The fallback's first process, leader of the run's process group: a shell that gets SIGTERM
#: when parevo dies (``PR_SET_PDEATHSIG``) and then kills the whole group, so a ``kill -9`` of
#: parevo takes the program and its children along (a child that left the group with
#: ``setsid()`` escapes: the fallback's limit). It waits for the program, for its resource
#: usage and exit status (128 + N when killed by signal N), as :data:`WAITER` does.
GROUP_WAITER = ["/bin/sh", "-c", 'exec 3<&0 4>&2 2>/dev/null; trap "kill -KILL 0" TERM; '
                '"$@" <&3 2>&4 3<&- 4>&- & wait $!; exit $?', "sh"]


def install_prefix(program: str, hidden: list[str]) -> str:
    """What must be readable to run ``program``: its installation prefix when it lives in a
    ``bin`` folder (``~/gcc/bin/g++`` needs ``~/gcc``, its ``libexec`` and headers), else the
    program itself. A prefix that is a hidden directory itself (``~/bin/tool``) is never exposed
    whole: then only the ``bin`` folder is."""
    real = os.path.realpath(program)
    parent = os.path.dirname(real)
    if os.path.basename(parent) not in ("bin", "sbin"):
        return real
    prefix = os.path.dirname(parent)
    return parent if prefix in hidden or prefix == "/" else prefix


def command(iso: Isolation, argv: list[str], *, workdir: str, readable: list[str] | None = None,
            env: dict[str, str] | None = None) -> list[str]:
    """The command line that runs ``argv`` under ``iso``: :func:`bwrap_argv` in namespaces, else
    ``argv`` under :data:`GROUP_WAITER` (the caller makes it a process-group leader whose parent-death
    signal is SIGTERM: see :func:`parent_death_signal`)."""
    if iso.strong:
        return bwrap_argv(iso.bwrap or "bwrap", argv, workdir=workdir, readable=readable, env=env)
    return [*GROUP_WAITER, *argv]


def parent_death_signal(iso: Isolation) -> int:
    """The signal a run's first process gets when parevo dies: SIGKILL for bwrap (``--die-with-parent``
    then kills the namespace), SIGTERM for :data:`GROUP_WAITER` (which then kills its group)."""
    return int(signal.SIGKILL if iso.strong else signal.SIGTERM)


def bwrap_argv(bwrap: str, argv: list[str], *, workdir: str, readable: list[str] | None = None,
               env: dict[str, str] | None = None) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in the sandbox described in the module docstring.

    ``workdir`` (absolute) is the one writable directory and the working directory; ``readable``
    lists extra paths bound back read-only when they lie in a hidden directory (the paths
    :func:`paths_in` finds in ``argv`` and ``env``, the :func:`install_prefix` of every program
    among them, and :func:`package_dir`, always are).
    """
    workdir = os.path.abspath(workdir)
    hidden = hidden_dirs()
    out = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--as-pid-1"]
    for d in hidden:
        out += ["--tmpfs", d]
    named = paths_in(argv, env)
    wanted = [package_dir(), *named, *(readable or [])]
    wanted += [install_prefix(p, hidden) for p in named if os.path.isfile(p) and os.access(p, os.X_OK)]
    binds: list[str] = []
    for p in [q for w in wanted for q in (os.path.abspath(w), os.path.realpath(w))]:
        if _inside(p, workdir) or not any(_inside(p, d) for d in hidden) or not os.path.exists(p):
            continue
        if p not in binds and not any(_inside(p, b) for b in binds):
            binds = [b for b in binds if not _inside(b, p)] + [p]
    for p in sorted(binds, key=lambda q: (q.count("/"), q)):
        out += ["--ro-bind", p, p]
    out += ["--bind", workdir, workdir]
    for d in ["/dev", *hidden]:  # /dev: its devices stay usable, its tmpfs (and /dev/shm) read-only
        out += ["--remount-ro", d]
    out += ["--chdir", workdir, "--", *WAITER, *argv]
    return out
