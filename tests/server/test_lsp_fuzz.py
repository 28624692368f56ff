"""Fuzzing a real ``parevo serve`` (issue 13): random ranges and malformed documents.

Bounded (a fixed number of messages) and seeded (the same messages on every run; set
``PAREVO_FUZZ_SEED`` to try others), over stdio pipes only (no network: no LLM endpoint is
configured and searches are never started). Asserts that the server never crashes, answers
every request, puts no Python traceback in any response (nor in its log), and changes no file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
import time

import pytest
from lsp_session import DATA, EXAMPLES, server_env, workspace_with
from rawclient import RawClient, no_traceback

pytestmark = pytest.mark.fast

SEED = int(os.environ.get("PAREVO_FUZZ_SEED", "20261130"))
MESSAGES = 1000

SNIPPETS = ["for (int i = 0; i < n; ++i) {", "}", "{", "s += a[i];", "while (x) x--;", "#define FOR(i, n) for (",
            "template <class T>", "int f(int* a, int n) {", "/* unterminated", "\"unterminated", "R\"(raw)\"",
            "parlay::parallel_for(0, n, [&](size_t i) {", "});", "#pragma omp parallel for", "kern<<<1, 2>>>(x);",
            "\ud800", "\x00", "é😀", "\r\n", "\t" * 40, "((((((((((", "))))", "1'000'000", "::", "->*"]


def _malformed(rng: random.Random) -> str:
    """A document that is not (quite) C++: pieces of loops, unbalanced braces, odd characters."""
    kind = rng.randrange(5)
    if kind == 0:  # a deep expression in a loop body
        depth = rng.choice([50, 500, 3000])
        return ("double f(const double* a, int n) {\n  double s = 0;\n  for (int i = 0; i < n; ++i) s += "
                + "(" * depth + "a[i]" + ")" * depth + ";\n  return s;\n}\n")
    if kind == 1:  # a very long sum
        terms = rng.choice([100, 2000])
        return ("double f(const double* a, int n) {\n  double s = 0;\n  for (int i = 0; i < n; ++i) s += "
                + " + ".join(f"a[i] * {k}" for k in range(terms)) + ";\n  return s;\n}\n")
    if kind == 2:  # random printable noise
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 3000)))
    lines = [rng.choice(SNIPPETS) for _ in range(rng.randrange(1, 80))]
    return "\n".join(lines)


def _position(rng: random.Random, lines: int) -> dict:
    line = rng.choice([0, rng.randrange(max(1, lines)), lines, lines + 5, 10**6])
    return {"line": line, "character": rng.choice([0, 1, 4, 80, 10**6])}


def _range(rng: random.Random, lines: int) -> dict:
    a, b = _position(rng, lines), _position(rng, lines)
    return {"start": a, "end": b} if rng.random() < 0.8 else {"start": b, "end": a}


def _invalid_params(rng: random.Random, uri: str) -> tuple[str, object]:
    return rng.choice([
        ("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": -1, "character": 0}}),
        ("textDocument/hover", "not an object"),
        ("textDocument/codeAction", {"textDocument": {"uri": 5}, "range": None}),
        ("textDocument/codeAction", {"textDocument": {"uri": uri}, "context": {"diagnostics": []},
                                     "range": {"start": {"line": 2**40, "character": 0},
                                               "end": {"line": 0, "character": 0}}}),
        ("codeAction/resolve", {"title": 7}),
        ("workspace/executeCommand", {"command": "parevo.cancel", "arguments": "x"}),
        ("textDocument/hover", []),
    ])


def test_random_ranges_and_malformed_documents(tmp_path, parevo_cache_dir):
    rng = random.Random(SEED)
    files = [EXAMPLES / n for n in ("sum_squares.cpp", "histogram.cpp", "stencil.cpp", "recurrence.cpp",
                                    "bfs_step.cpp")] + [DATA / "racy_sum.cpp", DATA / "heavy_sum.cpp"]
    ws = workspace_with(tmp_path / "ws", *files)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in ws.iterdir()}
    env = server_env(parevo_cache_dir)
    for var in ("PAREVO_LLM_MODEL", "PAREVO_LLM_BASE_URL", "OPENAI_API_KEY"):
        env.pop(var, None)
    c = RawClient(ws, env, tmp_path / "stderr.txt")
    sent: list[int] = []
    try:
        c.initialize(ws)
        docs: dict[str, str] = {}
        for p in sorted(ws.glob("*.cpp")):
            docs[c.open(p)] = p.read_text()
        for k in range(8):  # documents that exist only in the editor (never written)
            uri = c.open(ws / f"unsaved_{k}.cpp", text=_malformed(rng))
            docs[uri] = ""
        versions = {uri: 1 for uri in docs}
        next_id = 1000
        for _ in range(MESSAGES):
            uri = rng.choice(list(docs))
            lines = docs[uri].count("\n") + 1 if docs[uri] else 200
            roll = rng.random()
            method, params = None, None
            if roll < 0.35:
                method, params = "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": _range(rng, lines),
                                                             "context": {"diagnostics": []}}
            elif roll < 0.6:
                method, params = "textDocument/hover", {"textDocument": {"uri": uri},
                                                        "position": _position(rng, lines)}
            elif roll < 0.68:
                method, params = "codeAction/resolve", {"title": "Apply ParlayLib rewrite", "data": rng.choice([
                    {"kind": "apply", "uri": uri, "key": "f" * 40 + "-3"}, {"kind": "apply"}, None, "x", [1]])}
            elif roll < 0.75:
                method, params = "workspace/executeCommand", rng.choice([
                    {"command": "parevo.status", "arguments": []},
                    {"command": "parevo.loopStatus", "arguments": [uri, rng.randrange(-2, lines + 3)]},
                    {"command": "parevo.cancel", "arguments": [uri, rng.randrange(0, lines + 3)]},
                    {"command": "parevo.cancel", "arguments": []},
                    {"command": "parevo.nothing", "arguments": [1, 2]}])
            elif roll < 0.85:
                method, params = _invalid_params(rng, uri)
            elif roll < 0.95:  # an edit: a random range replaced (possibly outside the document)
                versions[uri] += 1
                text = rng.choice(SNIPPETS) if rng.random() < 0.7 else _malformed(rng)
                c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": versions[uri]},
                                                    "contentChanges": [{"range": _range(rng, lines), "text": text}]})
                docs[uri] = docs[uri] + text if docs[uri] else ""
                continue
            else:  # a whole new malformed text
                versions[uri] += 1
                text = _malformed(rng)
                c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": versions[uri]},
                                                    "contentChanges": [{"text": text}]})
                docs[uri] = text
                continue
            next_id += 1
            c.send({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params})
            sent.append(next_id)
        deadline = time.monotonic() + 600
        for msg_id in sent:  # every request is answered
            c.wait_response(msg_id, max(1.0, deadline - time.monotonic()), f"request {msg_id}")
        assert c.proc.poll() is None, "the server died"
        for msg_id in sent:
            res = c.responses[msg_id]
            assert no_traceback(res), json.dumps(res)[:2000]
            if "error" in res:
                assert len(res["error"]["message"]) < 600 and "\n" not in res["error"]["message"], res
        res = c.request("shutdown", None, timeout=30)
        assert "error" not in res
        c.notify("exit", None)
        assert c.wait_exit(10) == 0
        assert not c.apply_edits  # the server never asked to change a file
        err = c.stderr()
        assert "Traceback" not in err, err[-3000:]
    finally:
        c.close()
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before}
    assert after == before, "a file changed"
    assert sorted(p.name for p in ws.iterdir() if p.name != ".parevo") == sorted(p.name for p in before)
