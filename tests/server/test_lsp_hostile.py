"""``parevo serve`` under a hostile client (issue 13): every request answered, no traceback in any
response, lone surrogates, a prompt and clean ``exit``.

These tests talk raw JSON-RPC (:mod:`rawclient`) so they can send what a typed client cannot.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lsp_session import DATA, EXAMPLES, HEAVY, HEAVY_LOOP, seed_verified_result, server_env, workspace_with
from rawclient import RawClient, no_traceback

from parevo.server.reaper import descendants

INVALID_PARAMS = -32602


@pytest.fixture
def raw(tmp_path, parevo_cache_dir):
    """A raw client on a workspace holding sum_squares.cpp and heavy_sum.cpp."""
    ws = workspace_with(tmp_path / "ws", EXAMPLES / "sum_squares.cpp", DATA / HEAVY)
    c = RawClient(ws, server_env(parevo_cache_dir), tmp_path / "stderr.txt")
    c.ws = ws
    yield c
    c.close()


def _hover(uri, line, col=0):
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": col}}


@pytest.mark.fast
def test_protocol_invalid_requests_are_answered_with_a_sentence(raw):
    raw.initialize(raw.ws)
    uri = raw.open(raw.ws / "sum_squares.cpp")
    bad = [
        ("textDocument/hover", _hover(uri, -1), "Position.line"),
        ("textDocument/hover", {"textDocument": {"uri": uri}}, "missing field position"),
        ("textDocument/hover", "params as a string", "expected an object"),
        ("textDocument/codeAction", {"textDocument": {"uri": uri}, "context": {"diagnostics": []},
                                     "range": {"start": {"line": 7, "character": 0},
                                               "end": {"line": 7, "character": -4}}}, "Position.character"),
        ("textDocument/codeAction", {"textDocument": {"uri": 5}, "context": {"diagnostics": []},
                                     "range": {"start": {"line": 7, "character": 0},
                                               "end": {"line": 7, "character": 0}}}, None),
        ("workspace/executeCommand", {"command": "parevo.noSuchCommand", "arguments": []}, "not defined"),
    ]
    for method, params, needle in bad:
        res = raw.request(method, params, timeout=30)
        assert no_traceback(res), res
        if needle is None:  # `uri: 5` reads as the URI "5": no C++ document there, nothing to offer
            assert res.get("result") is None and "error" not in res, res
            continue
        err = res["error"]
        assert err["code"] == INVALID_PARAMS, res
        assert needle in err["message"] and len(err["message"]) < 300, err
    # still serving
    acts = raw.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "context": {"diagnostics": []},
                                                   "range": {"start": {"line": 7, "character": 2},
                                                             "end": {"line": 7, "character": 2}}})
    assert [a["title"] for a in acts["result"]] == ["Parallelize with ParlayLib"]


@pytest.mark.fast
def test_unknown_or_stale_resolve_data_is_a_request_error_that_says_what_to_do(raw):
    raw.initialize(raw.ws)
    uri = raw.open(raw.ws / "sum_squares.cpp")
    for data in ({"kind": "apply", "uri": uri, "key": "0" * 40 + "-1"},
                 {"kind": "apply", "uri": uri, "key": 12},
                 {"kind": "apply", "uri": "file:///nowhere/gone.cpp", "key": "x"}):
        res = raw.request("codeAction/resolve", {"title": "Apply ParlayLib rewrite", "data": data})
        assert no_traceback(res), res
        err = res["error"]
        assert err["code"] == -32803 and "run the search again" in err["message"], res
    # unknown data shapes pass through unchanged (Neovim 0.7 resolves command-only actions too)
    res = raw.request("codeAction/resolve", {"title": "Parallelize with ParlayLib", "data": [1, 2]})
    assert res["result"]["title"] == "Parallelize with ParlayLib"


@pytest.mark.fast
def test_lone_surrogates_are_read_and_positions_stay_exact(raw):
    seed_verified_result(raw.ws)
    raw.initialize(raw.ws)
    text = (raw.ws / HEAVY).read_text()
    # a lone surrogate in a comment on the line above the function, and a string before the loop's column
    lines = text.split("\n")
    lines[3] = lines[3] + " // \ud800 broken by a client"
    text = "\n".join(lines)
    uri = raw.open(raw.ws / HEAVY, text=text)
    for _ in range(300):
        diags = [n for n in raw.notifications if n["method"] == "textDocument/publishDiagnostics"
                 and n["params"]["uri"] == uri and n["params"]["diagnostics"]]
        if diags:
            break
        time.sleep(0.05)
    [d] = diags[-1]["params"]["diagnostics"]
    assert d["code"] == "parevo.speedup"
    assert d["range"]["start"] == {"line": HEAVY_LOOP, "character": 2}
    acts = raw.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "context": {"diagnostics": []},
                                                   "range": {"start": {"line": HEAVY_LOOP, "character": 2},
                                                             "end": {"line": HEAVY_LOOP, "character": 2}}})
    titles = [a["title"] for a in acts["result"]]
    assert titles[0].startswith("Apply ParlayLib rewrite") and titles[1].startswith("Parallelize with ParlayLib")
    resolved = raw.request("codeAction/resolve", acts["result"][0])
    edits = resolved["result"]["edit"]["documentChanges"][0]["edits"]
    # the minimal edit keeps `  double s = ` of the accumulator's declaration and rewrites from its initializer on
    assert edits[-1]["range"]["start"] == {"line": HEAVY_LOOP - 1, "character": len("  double s = ")}
    assert "UnicodeEncodeError" not in raw.stderr()


def _start_search(raw: RawClient, tmp_path: Path, how: str) -> str:
    """Start a search that really compiles (a comment no cache has seen); wait until the compiler runs."""
    path = raw.ws / HEAVY
    path.write_text(path.read_text() + f"// {how} {time.time_ns()}\n")
    raw.initialize(raw.ws, {"budget": {"seconds": 900, "candidates": 2}})
    uri = raw.open(path)
    res = raw.request("workspace/executeCommand", {"command": "parevo.parallelize",
                                                   "arguments": [uri, HEAVY_LOOP, None, 1]}, timeout=120)
    assert res["result"]["started"] is True, res
    for _ in range(1200):
        if any("cc1plus" in _cmdline(p) for p in descendants(raw.proc.pid)):
            return uri
        time.sleep(0.05)
    raise AssertionError("the search never ran the compiler")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


@pytest.mark.parlay
@pytest.mark.parametrize("how", ["shutdown then exit", "exit alone"])
def test_exit_during_a_search_ends_the_process_within_2_s_without_a_traceback(raw, tmp_path, how):
    _start_search(raw, tmp_path, how)
    below = set(descendants(raw.proc.pid))
    if how == "shutdown then exit":
        t0 = time.monotonic()
        res = raw.request("shutdown", None, timeout=10)
        assert "error" not in res and time.monotonic() - t0 < 5
    t0 = time.monotonic()
    raw.notify("exit", None)
    code = raw.wait_exit(10)
    took = time.monotonic() - t0
    assert code == (0 if how == "shutdown then exit" else 1)
    assert took < 2.0, f"exit took {took:.1f} s"
    err = raw.stderr()
    assert "Traceback" not in err and "I/O operation on closed file" not in err, err[-2000:]
    assert len(err) < 20_000
    time.sleep(0.2)
    alive = [p for p in below if Path(f"/proc/{p}").exists() and not _zombie(p)]
    assert not alive, f"processes outlived the server: {[_cmdline(p) for p in alive]}"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.parlay
def test_an_unusable_cache_is_a_message_once_and_a_diagnostic(tmp_path, parevo_cache_dir):
    ws = workspace_with(tmp_path / "ws", EXAMPLES / "sum_squares.cpp")
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    env = server_env(parevo_cache_dir)
    c = RawClient(ws, env, tmp_path / "stderr.txt")
    try:
        c.initialize(ws, {"cacheDir": str(blocker / "cache")})
        uri = c.open(ws / "sum_squares.cpp")
        for _ in range(2):
            res = c.request("workspace/executeCommand", {"command": "parevo.parallelize",
                                                         "arguments": [uri, 7, None, 1]}, timeout=120)
            assert res["result"]["started"] is False and "compile cache" in res["result"]["reason"]
        expected = f"the compile cache {blocker / 'cache'} cannot be a folder: a file is in the way"
        shown = [n["params"]["message"] for n in c.notifications if n["method"] == "window/showMessage"]
        assert len([m for m in shown if expected in m]) == 1, shown
        for _ in range(100):
            diags = [d for n in c.notifications if n["method"] == "textDocument/publishDiagnostics"
                     and n["params"]["uri"] == uri for d in n["params"]["diagnostics"]]
            if diags:
                break
            time.sleep(0.05)
        assert any(d["code"] == "parevo.error" and expected in d["message"] and "cacheDir" in d["message"]
                   for d in diags), diags
    finally:
        c.close()


def _big_cpp(mb: float) -> tuple[str, int]:
    """About ``mb`` MB of small functions with a loop each, and a loop line in the middle."""
    line = "double f{k}(const double* a, int n) {{ double s = 0; for (int i = 0; i < n; ++i) s += a[i]; return s; }}\n"
    count = int(mb * 1e6 / len(line.format(k=10000)))
    return "".join(line.format(k=k) for k in range(count)), count // 2


def _action_params(uri: str, line: int, col: int = 40) -> dict:
    return {"textDocument": {"uri": uri}, "context": {"diagnostics": []},
            "range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}}


@pytest.mark.fast
def test_a_document_over_the_size_limit_gets_a_note_and_nothing_is_read(raw):
    raw.initialize(raw.ws)
    text, line = _big_cpp(9)
    uri = raw.open(raw.ws / "huge.cpp", text=text)
    t0 = time.monotonic()
    res = raw.request("textDocument/codeAction", _action_params(uri, line), timeout=60)
    assert time.monotonic() - t0 < 10  # refused before parsing
    [act] = res["result"]
    assert act["title"] == "Parallelize with ParlayLib"
    assert act["disabled"]["reason"].startswith("too large for parevo (") and "limit 8 MB" in act["disabled"]["reason"]


def test_a_small_document_is_served_while_a_large_one_is_read(raw):
    raw.initialize(raw.ws)
    small = raw.open(raw.ws / "sum_squares.cpp")
    text, line = _big_cpp(2)
    big = raw.open(raw.ws / "large.cpp", text=text)
    raw.request("textDocument/hover", _hover(small, 8, 4))  # the small document is read
    big_id = 10_000
    raw.send({"jsonrpc": "2.0", "id": big_id, "method": "textDocument/codeAction", "params": _action_params(big, line)})
    answered_meanwhile = 0
    for _ in range(20):
        acts = raw.request("textDocument/codeAction", _action_params(small, 7, 2), timeout=60)
        assert [a["title"] for a in acts["result"]] == ["Parallelize with ParlayLib"]
        raw.request("textDocument/hover", _hover(small, 8, 4), timeout=60)
        if big_id not in raw.responses:
            answered_meanwhile += 1
    assert answered_meanwhile >= 10, "the small document waited for the large one"
    res = raw.wait_response(big_id, timeout=600)
    assert [a["title"] for a in res["result"]] == ["Parallelize with ParlayLib"]
