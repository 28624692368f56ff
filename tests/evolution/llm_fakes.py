"""Test doubles for the LLM search: a loopback OpenAI-compatible server and a scripted cascade.

* :class:`FakeOpenAI` serves ``POST /v1/chat/completions`` on 127.0.0.1 (a
  random port) with the real HTTP protocol the ``openai`` client speaks. A
  ``responder(request_json, index)`` returns what to do for each request:
  ``{"reply": text, "usage": (prompt, completion)}``, ``{"status": 429,
  "headers": {...}}``, ``{"status": 500}``, ``{"delay": seconds, ...}``
  (slow reply), or ``{"no_usage": True, "reply": ...}``. Every request is
  recorded (``requests``: parsed JSON bodies; ``headers``).
* :func:`scripted_evaluate` replaces ``CascadeRunner.evaluate``: verdicts
  come from markers in the candidate's text (``NOCOMPILE``, ``WRONG``,
  ``RACY``, ``SPEEDUP(x)``, ``BUSY``: an inconclusive timing), with evidence shaped like the real
  cascade's.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from parevo.evolution.result import CandidateRecord
from parevo.toolchain.compiler import CompileOutcome
from parevo.toolchain.evaluate import Baseline
from parevo.toolchain.outputs import Mismatch
from parevo.toolchain.timing import TimingResult, decide
from parevo.toolchain.tsan import Frame, RaceAccess, RaceReport
from parevo.toolchain.verdicts import StageVerdict


def completion(text: str, prompt_tokens: int | None = 100, completion_tokens: int | None = 50,
               model: str = "fake-model") -> dict:
    body = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    if prompt_tokens is not None:
        body["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "total_tokens": prompt_tokens + completion_tokens}
    return body


class FakeOpenAI:
    """A loopback chat-completions server (see the module docstring). Use as a context manager."""

    def __init__(self, responder):
        self.responder = responder
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    index = len(outer.requests)
                    outer.requests.append(body)
                    outer.headers.append(dict(self.headers))
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found"}})
                action = outer.responder(body, index)
                if action.get("delay"):
                    time.sleep(action["delay"])
                status = action.get("status", 200)
                if status != 200:
                    return self._send(status, {"error": {"message": action.get("message", f"HTTP {status}"),
                                                         "type": "test"}}, action.get("headers"))
                pt, ct = action.get("usage", (100, 50))
                if action.get("no_usage"):
                    pt = ct = None
                self._send(200, completion(action.get("reply", ""), pt, ct, body.get("model", "fake-model")))

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def user_prompts(self) -> list[str]:
        """The user message of every chat request, in order."""
        out = []
        for r in self.requests:
            msgs = r.get("messages", [])
            out.append(next((m["content"] for m in reversed(msgs) if m.get("role") == "user"), ""))
        return out


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


# ------------------------------------------------------------------ scripted cascade

SRC = """#include <vector>
#include <cmath>

double heavy(const std::vector<double>& a) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += std::sqrt(a[i]) * std::sin(a[i]);
  }
  return s;
}
"""
LOOP_LINE = 5  # 0-based


FAKE_BASELINE = Baseline(cases=["0:1", "1:1", "17:1", "1000:1"], n=1 << 20, input_bytes=8 << 20,
                         original_seconds=0.01)


def fake_prepare(self):
    """Stands in for ``Evaluator.prepare``: no compile, a fixed baseline."""
    self.baseline = FAKE_BASELINE.model_copy()
    return self.baseline


def _speedup(text: str, cid: str) -> float:
    m = re.search(r"SPEEDUP\(([\d.]+)\)", text)
    if m:
        return float(m.group(1))
    return 0.6 + (int(cid[:4], 16) % 150) / 100.0  # 0.60x..2.09x, fixed per candidate


def scripted_evaluate(self, cand) -> CandidateRecord:
    """Stands in for ``CascadeRunner.evaluate`` (see the module docstring). Counts calls on the runner."""
    self.scripted_calls = getattr(self, "scripted_calls", 0) + 1
    site = self.ev.site
    text = cand.code
    rec = CandidateRecord(id=cand.id, candidate=cand)
    first = (site.function if cand.function_text is not None else site.loop).start_line + 1
    lines = text.strip("\n").split("\n")

    def line_of(marker: str) -> int:
        k = next((i for i, ln in enumerate(lines) if marker in ln), 0)
        return first + k

    if "NOCOMPILE" in text:
        ln = line_of("NOCOMPILE")
        out = CompileOutcome(ok=False, stderr=f"{site.path}:{ln}:7: error: 'NOCOMPILE' was not declared in this "
                                              f"scope\n{site.path}:{ln + 1}:3: error: expected ';'\n",
                             first_error=f"{site.path}:{ln}:7: error: 'NOCOMPILE' was not declared in this scope",
                             error_file=site.path, error_line1=ln, error_col1=7)
        v = StageVerdict(stage="compile", passed=False, compile=out,
                         summary=f"did not compile (line {ln}): 'NOCOMPILE' was not declared")
        rec.stages.append(v)
        rec.rejected_stage, rec.reason = "compile", v.summary
        return rec
    rec.stages.append(StageVerdict(stage="compile", passed=True, summary="compiled"))
    if "WRONG" in text:
        mm = Mismatch(n=17, seed=1, output="return value", name="return", expected="42.5", got="41.5")
        v = StageVerdict(stage="test", passed=False, mismatch=mm, summary=mm.describe(), feedback=mm.describe())
        rec.stages.append(v)
        rec.rejected_stage, rec.reason = "test", v.summary
        return rec
    rec.stages.append(StageVerdict(stage="test", passed=True, summary="outputs equal on 4 inputs"))
    if "RACY" in text:
        ln = line_of("RACY")
        rep = RaceReport(kind="data race", location="Location is global 's' of size 8",
                         accesses=[RaceAccess(op="write", thread="T2", size=8),
                                   RaceAccess(op="read", thread="T1", previous=True, size=8)],
                         user_frames=[Frame(function="lambda", file=site.path, line=ln),
                                      Frame(function="lambda", file=site.path, line=ln)], attributable=True)
        v = StageVerdict(stage="race", passed=False, races=[rep], runs=1, summary=f"data race: write at line {ln}")
        rec.stages.append(v)
        rec.rejected_stage, rec.reason = "race", v.summary
        return rec
    rec.stages.append(StageVerdict(stage="race", passed=True, runs=2, summary="ThreadSanitizer clean"))
    rec.verified = True
    s = _speedup(text, cand.id)
    tr = decide(TimingResult.from_samples(n=FAKE_BASELINE.n, threads=2, rounds=3, repeats=2, input_bytes=8 << 20,
                                          original=[0.010] * 6, candidate=[0.010 / s] * 6), 1.05, 0.05)
    if "BUSY" in text:  # timed while other processes held the cores: inconclusive, whatever the figure
        tr.busy, tr.outcome, tr.why = True, "inconclusive", "machine busy (load 9.7 on 2 cores); will re-time " \
                                                           "when the machine is quieter"
    passed = tr.outcome == "faster"
    v = StageVerdict(stage="time", passed=passed, timing=tr, summary=tr.verdict_text())
    rec.stages.append(v)
    rec.speedup = tr.speedup  # as the runner does: the ratio the timing measured (1.97 reads 1.9699999999999998)
    if not passed:
        rec.rejected_stage, rec.reason = "time", v.summary
        return rec
    rec.faster = True
    return rec
