"""Reading files a user (or a cloned repository) points parevo at: regular files only, bounded.

``parevo evolve /dev/zero:1`` must not read until memory runs out, a FIFO must
not block forever, and a 2 GB file must not be parsed. :func:`read_text`
opens without blocking, checks the opened file itself (no race between a check
and the read), refuses anything but a regular file and anything over the size
cap, and answers within milliseconds.
"""

from __future__ import annotations

import os
import stat

from .models import ParevoError

#: Largest file parevo reads by default (bytes): 8 MiB.
DEFAULT_MAX_FILE_BYTES = 8 << 20

#: Environment variable overriding :data:`DEFAULT_MAX_FILE_BYTES` (bytes).
MAX_FILE_ENV = "PAREVO_MAX_FILE_BYTES"


class UnreadableFile(ParevoError):
    """The file is not a regular file, is over the size cap, cannot be opened, or is not UTF-8 text."""


def max_file_bytes() -> int:
    """The size cap in bytes: :data:`MAX_FILE_ENV` when it holds a positive integer, else 8 MiB."""
    try:
        value = int(os.environ.get(MAX_FILE_ENV, ""))
    except ValueError:
        return DEFAULT_MAX_FILE_BYTES
    return value if value > 0 else DEFAULT_MAX_FILE_BYTES


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def read_bytes(path: str | os.PathLike, *, max_bytes: int | None = None) -> bytes:
    """The bytes of regular file ``path``, at most ``max_bytes`` (default :func:`max_file_bytes`).

    Raises:
        UnreadableFile: ``path`` does not exist, cannot be opened, is a directory, device, FIFO or
            socket, or is larger than the cap (checked on the opened file, and again while reading).
    """
    cap = max_file_bytes() if max_bytes is None else max_bytes
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UnreadableFile(f"{name} does not exist") from None
    except OSError as e:
        raise UnreadableFile(f"cannot open {name}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile(f"{name} is {_kind(st.st_mode)}, not a regular file: parevo reads source files, "
                                 "input specs and transcripts only")
        if st.st_size > cap:
            raise UnreadableFile(f"{name} is {_size(st.st_size)}, over parevo's limit of {_size(cap)} "
                                 f"(raise it with --max-file-bytes or {MAX_FILE_ENV})")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise UnreadableFile(f"{name} grew over parevo's limit of {_size(cap)} while being read")
        return b"".join(chunks)
    except OSError as e:
        raise UnreadableFile(f"cannot read {name}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike, *, max_bytes: int | None = None) -> str:
    """The UTF-8 text of regular file ``path`` (see :func:`read_bytes`).

    Raises:
        UnreadableFile: as :func:`read_bytes`, or the bytes are not UTF-8.
    """
    data = read_bytes(path, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnreadableFile(f"{os.fspath(path)} is not UTF-8 text (byte {e.start}): parevo reads C++ sources "
                             "as UTF-8") from None
