"""Fakes for the ParlayLib install tests: archives built in the test and a loopback HTTP server.

Nothing here reaches the internet: :class:`Loopback` serves bytes from
127.0.0.1, and every archive is built from headers the test writes (or, for
the end-to-end tests, from the ParlayLib 2.3.3 headers installed on the
machine, copied into an archive of GitHub's layout).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from parevo.toolchain.parlay_release import ParlayRelease, parlay_headers_sha256

COMMIT = "c0ffee" + "0" * 34
TOP = f"parlaylib-{COMMIT}"

#: A small stand-in for ParlayLib's headers (only the layout matters to the installer).
FAKE_HEADERS = {
    "primitives.h": b"#pragma once\n// fake primitives\n",
    "parallel.h": b"#pragma once\n// fake parallel\n",
    "internal/work_stealing_job.h": b"#pragma once\n// fake internal\n",
}


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A .tar.gz of ``members`` (data None for links, folders and devices)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    """A regular-file member."""
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def github_members(headers: dict[str, bytes], top: str = TOP) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Members laid out like GitHub's archive of a commit: ``<top>/include/parlay/...`` plus other files."""
    members = [regular(f"{top}/README.md", b"# ParlayLib\n"), regular(f"{top}/CMakeLists.txt",
                                                                     b"project(PARLAY VERSION 9.9.9)\n")]
    members += [regular(f"{top}/include/parlay/{name}", data) for name, data in headers.items()]
    members.append(regular(f"{top}/examples/bfs.cpp", b"int main() {}\n"))
    return members


def headers_sha256(headers: dict[str, bytes]) -> str:
    """What discovery computes for ``headers`` once installed."""
    with tempfile.TemporaryDirectory(prefix="parevo-test-headers-") as tmp:
        for name, data in headers.items():
            (Path(tmp) / "parlay" / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / "parlay" / name).write_bytes(data)
        return parlay_headers_sha256(tmp)


def release_for(archive: bytes, headers: dict[str, bytes], url: str = "http://127.0.0.1:9/x.tar.gz",
                version: str = "9.9.9") -> ParlayRelease:
    """A release pinned to ``archive`` and ``headers`` (what the tests install)."""
    return ParlayRelease(version=version, commit=COMMIT, url=url,
                         archive_sha256=hashlib.sha256(archive).hexdigest(), headers_sha256=headers_sha256(headers))


def installed_headers(include: str | os.PathLike) -> dict[str, bytes]:
    """Every file under ``include/parlay`` by relative path (e.g. the machine's ParlayLib)."""
    root = Path(include) / "parlay"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def tree(root: Path) -> set[str]:
    """Every path below ``root`` (files, folders, links), relative."""
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


class Loopback:
    """An HTTP server on 127.0.0.1 serving ``routes``: path → bytes, or (bytes, announced length)
    to cut the connection short, or an int HTTP status. ``url(path)`` gives the address."""

    def __init__(self, routes: dict[str, bytes | tuple[bytes, int] | int]):
        self.routes = routes
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.requests.append(self.path)
                route = outer.routes.get(self.path, 404)
                if isinstance(route, int):
                    self.send_error(route)
                    return
                data, announced = route if isinstance(route, tuple) else (route, len(route))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-gzip")
                self.send_header("Content-Length", str(announced))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Loopback:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused: as without network)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/parlaylib.tar.gz"
