"""Everyday faults as one sentence: an unwritable cache, a full disk, a read-only workspace.

Pure (no LSP, no printing): the CLI prints these sentences and exits 2, the
language server shows them once (``window/showMessage``) and on the loop.
Each sentence names the path, what is wrong with it, and how to fix it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

#: What an errno means for a folder or file parevo writes.
REASONS = {
    errno.EACCES: "is not writable (permission denied)",
    errno.EPERM: "is not writable (operation not permitted)",
    errno.EROFS: "is on a read-only file system",
    errno.ENOSPC: "is on a device with no space left",
    errno.EDQUOT: "is on a device over its disk quota",
    errno.ENOTDIR: "cannot be a folder: a file is in the way",
    errno.EISDIR: "is a folder, not a file",
    errno.ENAMETOOLONG: "has a name that is too long",
    errno.ELOOP: "has too many symbolic links",
}

CACHE_FIX = "choose another folder with --cache-dir DIR or the PAREVO_CACHE_DIR environment variable"
CACHE_FIX_SERVER = "set parevo.cacheDir (or PAREVO_CACHE_DIR) to a writable folder"
STORE_FIX = "make the folder writable, or set parevo.resultStore to \"user\" or another folder"


def reason(e: OSError) -> str:
    """What is wrong, in words (``is on a read-only file system``), from ``e``'s errno."""
    if e.errno in REASONS:
        return REASONS[e.errno]
    return f"cannot be written ({e.strerror or e})"


def sentence(e: OSError, role: str, fix: str, path: str | os.PathLike | None = None) -> str:
    """``the compile cache /x/runs is on a read-only file system; choose another ...``.

    ``role`` names what the path is for the user (``the compile cache``);
    ``path`` defaults to the error's own file name.
    """
    where = str(path if path is not None else (e.filename or "?"))
    return f"{role} {where} {reason(e)}; {fix}"


def writable(directory: str | os.PathLike, *, create: bool = True) -> OSError | None:
    """Whether parevo can write in ``directory``: the error that stops it, or None.

    With ``create`` the folder is made if needed and a file is written in it
    (then removed). Without, nothing is created: an existing folder gets the
    same write test, a missing one is judged by its nearest existing ancestor
    (a folder parevo could create it in: writable, on a writable file system).
    """
    d = Path(directory)
    if not create and not d.exists():
        return _creatable(d)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".parevo-write-check-", dir=d)
        try:
            os.write(fd, b"parevo")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        if e.filename is None:
            e.filename = str(d)
        return e
    return None


def inside(path: str | os.PathLike | None, directory: str | os.PathLike) -> bool:
    """True when ``path`` is ``directory`` or lies below it."""
    if not path:
        return False
    p, d = os.path.abspath(path), os.path.abspath(directory)
    return p == d or p.startswith(d.rstrip(os.sep) + os.sep)


def _creatable(d: Path) -> OSError | None:
    """Why folder ``d`` (missing) could not be created, or None."""
    parent = d
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(parent))
    try:
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            return OSError(errno.EROFS, os.strerror(errno.EROFS), str(d))
    except OSError as e:
        return e
    if not os.access(parent, os.W_OK | os.X_OK):
        return OSError(errno.EACCES, os.strerror(errno.EACCES), str(parent))
    return None
