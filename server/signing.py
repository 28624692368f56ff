"""Signatures of stored results: HMAC-SHA256 with a per-user key.

A result in ``.parevo/`` can arrive with a ``git clone`` or be edited by hand,
so the store trusts a record only when this user's parevo signed it. The key
is 32 random bytes, created on first use in parevo's configuration directory
(:func:`parevo.toolchain.isolation.config_dir`, ``~/.config/parevo/signing.key``,
mode 0600, folder 0700) and hidden from every sandboxed program. The signature
covers the record's canonical JSON (:func:`canonical`): keys sorted, no
whitespace, UTF-8, the ``signature`` field left out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
from pathlib import Path

from parevo.toolchain.isolation import config_dir

KEY_FILE = "signing.key"
SIGNATURE_FIELD = "signature"

_KEY_HEX_CHARS = 64
_lock = threading.Lock()
_cache: dict[str, bytes] = {}


class SigningKeyError(OSError):
    """The signing key cannot be created or read safely (the message says why)."""


def key_path() -> Path:
    """Where this user's signing key lives."""
    return config_dir() / KEY_FILE


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SigningKeyError(f"{path} is not a regular file")
        if st.st_uid != os.getuid():
            raise SigningKeyError(f"{path} belongs to another user (uid {st.st_uid})")
        if st.st_mode & 0o077:
            raise SigningKeyError(f"{path} is readable or writable by others (mode {stat.S_IMODE(st.st_mode):o}); "
                                  f"run `chmod 600 {path}`, or delete it to make a new key (stored results "
                                  "then need a new search)")
        text = os.read(fd, 4 * _KEY_HEX_CHARS).decode("ascii", errors="replace").strip()
    finally:
        os.close(fd)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) * 2 != _KEY_HEX_CHARS:
        raise SigningKeyError(f"{path} does not hold a parevo signing key")
    return key


def _create_key(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (secrets.token_hex(_KEY_HEX_CHARS // 2) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def signing_key() -> bytes:
    """This user's key (32 bytes), created on first use.

    Raises:
        SigningKeyError: the key file is not a regular file of this user with mode 0600, holds
            something else, or cannot be created (the message names the file and the fix).
    """
    path = key_path()
    with _lock:
        cached = _cache.get(str(path))
        if cached is not None:
            return cached
        try:
            try:
                key = _read_key(path)
            except FileNotFoundError:
                try:
                    _create_key(path)
                except FileExistsError:  # another parevo made it meanwhile
                    pass
                key = _read_key(path)
        except SigningKeyError:
            raise
        except OSError as e:
            raise SigningKeyError(f"cannot create or read the result-signing key {path}: {e.strerror or e}") from e
        _cache[str(path)] = key
        return key


def canonical(data: dict) -> bytes:
    """The canonical JSON of a record (without its signature): sorted keys, no spaces, UTF-8."""
    body = {k: v for k, v in data.items() if k != SIGNATURE_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(data: dict) -> str:
    """The hex HMAC-SHA256 of ``data``'s canonical JSON with this user's key.

    Raises:
        SigningKeyError: see :func:`signing_key`.
    """
    return hmac.new(signing_key(), canonical(data), hashlib.sha256).hexdigest()


def verify(data: dict) -> str | None:
    """Why ``data`` (a record as read from disk) is not trusted, or ``None`` when this user's key signed it."""
    given = data.get(SIGNATURE_FIELD)
    if not isinstance(given, str) or not given:
        return "it is not signed"
    try:
        expected = sign(data)
    except SigningKeyError as e:
        return f"its signature cannot be checked: {e}"
    if not hmac.compare_digest(given, expected):
        return "its signature does not match this user's key (made elsewhere, or edited)"
    return None
