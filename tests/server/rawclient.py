"""A raw JSON-RPC client for ``parevo serve``: sends any bytes a hostile client could send.

pytest-lsp's client only sends well-typed messages; these tests also need
params of the wrong shape, lone surrogates, ``exit`` in the middle of a search
and the server's stderr. :class:`RawClient` starts the server as a subprocess
(stderr to a file), reads its frames on a thread, answers the server's own
requests (configuration: none; progress tokens: accepted; ``workspace/applyEdit``:
refused and recorded, so no file ever changes) and keeps every response and
notification.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "parevo.server.lsp"]


class NoAnswer(AssertionError):
    """The server did not answer a request in time."""


class RawClient:
    """One ``parevo serve`` process and what it sent back."""

    def __init__(self, cwd: Path, env: dict[str, str], stderr_path: Path):
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     cwd=str(cwd), env=env)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.responses: dict[Any, dict] = {}
        self.notifications: list[dict] = []
        self.server_requests: list[dict] = []
        self.apply_edits: list[dict] = []
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # ------------------------------------------------------------------ wire
    def send_raw(self, body: bytes) -> None:
        """Send one frame holding ``body`` (any bytes)."""
        with self._lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def send(self, message: dict) -> None:
        """Send one JSON-RPC message (lone surrogates are sent as JSON escapes, as a client would)."""
        self.send_raw(json.dumps(message).encode("utf-8"))

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                if line in (b"\r\n", b"\n"):
                    break
            body = out.read(length or 0)
            msg = json.loads(body)
            if "method" in msg and "id" in msg:
                self._answer(msg)
            with self._arrived:
                if "id" in msg and "method" not in msg:
                    self.responses[msg["id"]] = msg
                elif "method" in msg and "id" not in msg:
                    self.notifications.append(msg)
                self._arrived.notify_all()

    def _answer(self, msg: dict) -> None:
        self.server_requests.append(msg)
        method = msg["method"]
        result: Any = None
        if method == "workspace/configuration":
            result = [None for _ in msg.get("params", {}).get("items", [])]
        elif method == "workspace/applyEdit":
            self.apply_edits.append(msg)
            result = {"applied": False, "failureReason": "the test client applies nothing"}
        try:
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
        except (BrokenPipeError, ValueError, OSError):
            pass

    # ------------------------------------------------------------------ requests
    def request(self, method: str, params: Any, timeout: float = 30) -> dict:
        """Send a request and wait for its response (the whole JSON object).

        Raises:
            NoAnswer: nothing came back within ``timeout`` seconds.
        """
        msg_id = next(self._ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.wait_response(msg_id, timeout, method)

    def wait_response(self, msg_id: Any, timeout: float, what: str = "") -> dict:
        """The response to request ``msg_id`` (waiting up to ``timeout`` seconds)."""
        end = time.monotonic() + timeout
        with self._arrived:
            while msg_id not in self.responses:
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise NoAnswer(f"no answer to {what or msg_id} within {timeout} s")
                self._arrived.wait(min(left, 0.2))
            return self.responses[msg_id]

    def notify(self, method: str, params: Any) -> None:
        """Send a notification."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def initialize(self, root: Path, options: dict | None = None, *, progress: bool = True) -> dict:
        """``initialize`` + ``initialized`` for workspace ``root``."""
        caps = {"window": {"workDoneProgress": progress},
                "textDocument": {"codeAction": {"resolveSupport": {"properties": ["edit"]},
                                                "disabledSupport": True,
                                                "codeActionLiteralSupport": {"codeActionKind": {
                                                    "valueSet": ["", "refactor", "refactor.rewrite"]}}}}}
        res = self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": caps,
                                          "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                                          "initializationOptions": options or {}}, timeout=60)
        self.notify("initialized", {})
        return res

    def open(self, path: Path, text: str | None = None, version: int = 1) -> str:
        """``didOpen`` of ``path`` (its file text unless ``text``); returns its URI."""
        uri = path.resolve().as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "cpp", "version": version, "text": path.read_text() if text is None else text}})
        return uri

    def progress_values(self) -> list[dict]:
        """Every ``$/progress`` value received, in order."""
        return [n["params"]["value"] for n in list(self.notifications) if n["method"] == "$/progress"]

    def stderr(self) -> str:
        """What the server wrote to stderr so far."""
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code once the process ended, or None after ``timeout`` seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """End the server (kill it when it does not go) and release the pipes."""
        if self.proc.poll() is None:
            try:
                self.request("shutdown", None, timeout=10)
                self.notify("exit", None)
            except (NoAnswer, OSError, ValueError):
                pass
            if self.wait_exit(10) is None:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._stderr.close()


def no_traceback(message: dict) -> bool:
    """True when a response carries no Python traceback anywhere."""
    text = json.dumps(message)
    return "Traceback" not in text and "traceback" not in text and 'File \\"' not in text
