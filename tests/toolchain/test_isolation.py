"""Tests of parevo.toolchain.isolation: which sandbox runs, what a sandboxed run sees, and parent death."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from parevo.toolchain import isolation as iso_mod
from parevo.toolchain.isolation import (
    FALLBACK_TEXT,
    SandboxUnavailable,
    bwrap_argv,
    hidden_dirs,
    isolation,
)
from parevo.toolchain.sandbox import HOME_DIR, run_sandboxed

pytestmark = pytest.mark.fast


@pytest.fixture
def fresh_probes(monkeypatch):
    """Forget the probed isolations (a test changes what the probe finds), and restore them after."""
    saved = dict(iso_mod._POLICY.probed)
    iso_mod._POLICY.probed.clear()
    yield
    iso_mod._POLICY.probed.clear()
    iso_mod._POLICY.probed.update(saved)


def test_namespaces_are_used_here_and_say_so():
    got = isolation("auto")
    assert got.strong and got.kind == "namespaces", got.reason
    assert got.describe().startswith("namespaces (bubblewrap 0.")
    assert got.status_line() == f"sandbox: {got.describe()}"
    assert run_sandboxed(["/bin/true"]).isolation == "namespaces"


def test_without_bubblewrap_auto_falls_back_and_says_so_and_strict_refuses(monkeypatch, fresh_probes, tmp_path):
    monkeypatch.setenv("PAREVO_BWRAP", str(tmp_path / "bwrap"))
    weak = isolation("auto")
    assert weak.kind == "process-group" and not weak.refused
    assert weak.describe() == FALLBACK_TEXT == "process group only — candidates can read your files"
    assert "is not executable" in weak.status_line()
    assert run_sandboxed(["/bin/true"], sandbox=weak).ok
    strict = isolation("strict")
    assert strict.refused
    with pytest.raises(SandboxUnavailable, match="'strict' but namespaces are unavailable"):
        run_sandboxed(["/bin/sh", "-c", f"touch {tmp_path / 'ran'}"], sandbox=strict)
    assert not (tmp_path / "ran").exists()


def test_mode_comes_from_configure_then_the_environment(monkeypatch):
    try:
        monkeypatch.setenv("PAREVO_SANDBOX", "process-group")
        assert iso_mod.configure(None).kind == "process-group"
        monkeypatch.setenv("PAREVO_SANDBOX", "no-such-mode")  # a typo must not weaken the sandbox
        assert iso_mod.current_mode() == "strict"
        assert iso_mod.configure("auto").mode == "auto"
        with pytest.raises(ValueError, match="sandbox must be one of"):
            iso_mod.configure("off")
    finally:
        iso_mod.configure(None)
        monkeypatch.delenv("PAREVO_SANDBOX")


def test_hidden_dirs_cover_homes_and_temporaries_but_never_the_system(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    (tmp_path / "cfg" / "parevo").mkdir(parents=True)
    hidden = hidden_dirs()
    assert "/tmp" in hidden and "/run" in hidden
    assert os.path.realpath(Path.home()) in hidden or any(str(Path.home()).startswith(d + "/") for d in hidden)
    for home in ("/", "/usr", "/etc"):
        monkeypatch.setenv("HOME", home)
        assert home not in hidden_dirs()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert all(not d.startswith(("/usr", "/etc", "/bin", "/lib")) for d in hidden_dirs())


def test_bwrap_argv_binds_back_what_the_program_names_and_nothing_else(tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    obj = tmp_path / "a.o"
    obj.write_text("")
    work = tmp_path / "work"
    work.mkdir()
    argv = bwrap_argv("bwrap", ["/usr/bin/g++", f"-I{inc}", str(obj), "-o", str(work / "out")], workdir=str(work),
                      env={"TSAN_OPTIONS": f"suppressions={tmp_path / 'missing.supp'} exitcode=66"})
    pairs = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1)]
    assert ("--ro-bind", str(inc)) in pairs and ("--ro-bind", str(obj)) in pairs
    assert ("--bind", str(work)) in pairs and ("--chdir", str(work)) in pairs
    assert ("--tmpfs", "/tmp") in pairs and ("--remount-ro", "/tmp") in pairs
    assert all(str(tmp_path / "missing.supp") != a for a in argv)
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[-5:] == ["/usr/bin/g++", f"-I{inc}", str(obj), "-o", str(work / "out")]


_PROBE = textwrap.dedent("""
    import json, os, socket, sys
    port, prefix, home, name = int(sys.argv[1]), sys.argv[2], os.environ["PROBE_HOME"], os.environ["PROBE_NAME"]
    seen = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            for part in ("environ", "cmdline"):
                try:
                    seen.append(open(f"/proc/{pid}/{part}", "rb").read().decode(errors="replace"))
                except OSError:
                    pass
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port)); net = "connected"
    except OSError as e:
        net = type(e).__name__
    def can_write(path):
        try:
            open(path, "w").close(); return True
        except OSError:
            return False
    try:
        home_listing = os.listdir(home)
    except OSError:
        home_listing = None
    found = [t[i:i + 60] for t in seen for i in range(len(t)) if t.startswith(prefix, i)]
    print(json.dumps({"procs": sum(p.isdigit() for p in os.listdir("/proc")), "found": found,
                      "net": net, "home": home_listing, "cwd": os.getcwd(), "HOME": os.environ["HOME"],
                      "write_cwd": can_write("mine"), "write_tmp": can_write("/tmp/" + name),
                      "write_home": can_write(os.path.join(home, name)), "write_dev": can_write("/dev/shm/" + name)}))
""")


def test_a_run_sees_no_parevo_no_network_no_home_and_one_writable_folder(tmp_path, monkeypatch):
    secret = f"sk-probe-{time.monotonic_ns()}"  # looked for by its prefix, never by its value
    name = f"parevo-probe-{os.getpid()}-{time.monotonic_ns()}"  # files it must not be able to make
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    work = tmp_path / "work"
    work.mkdir()
    home = str(Path.home())
    dropped = [Path(folder) / name for folder in (home, "/tmp", "/dev/shm")]
    try:
        out = run_sandboxed([sys.executable, "-c", _PROBE, str(listener.getsockname()[1]), "sk-probe-"],
                            cwd=str(work), env_extra={"PROBE_HOME": home, "PROBE_NAME": name})  # not argv: a
        # path named in the arguments is bound back
    finally:
        listener.close()
        left = [f for f in dropped if f.exists()]
        for f in left:
            f.unlink()
    assert out.ok, out.stderr
    seen = json.loads(out.stdout)
    assert seen["procs"] <= 3  # the waiting shell, python; nothing of the machine
    assert not any(secret in text for text in seen["found"])
    assert seen["net"] != "connected"
    # hidden: an empty folder, or none; only the folder of the program's own installation is bound back
    real = os.path.realpath(sys.executable)
    ours = {Path(real).relative_to(home).parts[0]} if real.startswith(home.rstrip("/") + "/") else set()
    assert set(seen["home"] or []) <= ours, seen["home"]
    assert seen["cwd"] == str(work) and seen["HOME"] == str(work / HOME_DIR)
    assert seen["write_cwd"] and (work / "mine").exists()
    assert not seen["write_tmp"] and not seen["write_home"] and not seen["write_dev"]
    assert left == [], "files appeared outside the run's folder"
    assert not (work / HOME_DIR).exists()  # removed after the run


_PARENT = textwrap.dedent("""
    import sys
    from parevo.toolchain.isolation import isolation
    from parevo.toolchain.sandbox import RunLimits, run_sandboxed
    mode, marker = sys.argv[1], sys.argv[2]
    print("running", flush=True)
    run_sandboxed(["/bin/sh", "-c", f"setsid sleep {marker}1 & sleep {marker}2 & sleep {marker}3"],
                  sandbox=isolation(mode), limits=RunLimits(timeout_s=120))
""")


def _marked(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if f"sleep {marker}" in cmdline and state not in ("Z", "X"):
                found.append(int(entry))
    return found


def _kill_parent_and_see(mode: str) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """From a parent process, run a sandboxed shell that starts a ``setsid`` sleep (``escapee``), a
    background sleep (``child``) and a foreground one (``program``); ``kill -9`` the parent; return
    the sleeps that ran and those alive a second later, by role."""
    marker = f"61.{os.getpid()}{time.monotonic_ns() % 10**6:06d}"
    roles = {"escapee": marker + "1", "child": marker + "2", "program": marker + "3"}
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, mode, marker], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not all(_marked(m) for m in roles.values()) and time.monotonic() < deadline:
            time.sleep(0.02)
        ran = {role: _marked(m) for role, m in roles.items()}
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 1.0
        while any(_marked(m) for m in roles.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        return ran, {role: _marked(m) for role, m in roles.items()}
    finally:
        parent.kill()
        for pid in _marked(marker):  # what is left (the assertions say whether anything was)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended between the listing and the kill
                pass


def test_kill_9_of_parevo_kills_everything_in_the_namespace():
    ran, left = _kill_parent_and_see("auto")
    assert all(ran.values()), ran
    assert not any(left.values()), f"sandboxed processes outlived their parent's kill -9: {left}"


def test_kill_9_of_parevo_kills_the_fallback_run_and_its_group():
    """The fallback: PR_SET_PDEATHSIG makes the group's leader kill the group, so the program and its
    children die with parevo; a setsid() child has left the group and can escape (what the fallback
    allows, said by ``parevo doctor`` and the README)."""
    ran, left = _kill_parent_and_see("process-group")
    assert all(ran.values()), ran
    assert not left["program"] and not left["child"], f"outlived their parent's kill -9: {left}"
