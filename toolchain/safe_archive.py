"""Extract one folder of an untrusted tar or zip archive, safely and within limits.

:func:`extract_subtree` takes a ``.tar``, ``.tar.gz``, ``.tar.bz2``, ``.tar.xz``
or ``.zip`` file and writes only the members under ``<top>/<subtree>/`` (or
``<subtree>/``) into a destination folder. Path safety is the standard
library's: every tar member, and every zip member as a tar header, goes through
:func:`tarfile.data_filter` (PEP 706), which refuses members that would land
outside the destination (``../``), links that point outside it, device files
and the like, and strips leading ``/``. On top of it: limits on the archive's
size, its expanded size, the number of members and the bytes written, so a
decompression bomb stops early.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .models import ParevoError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on an archive (bytes, members). ParlayLib 2.3.3's archive is 0.3 MB,
    1.6 MB expanded, 270 members; its ``include/parlay`` 0.6 MB."""

    archive_bytes: int = 64 * MiB
    expanded_bytes: int = 256 * MiB
    extracted_bytes: int = 32 * MiB
    members: int = 20_000


class BadArchive(ParevoError):
    """Not a readable archive (truncated, corrupt, too large), or without the folder asked for."""


class UnsafeArchive(BadArchive):
    """A member would be written outside the destination (``../``, a link escaping it, a device)."""


class _Capped(io.RawIOBase):
    """A read-only stream that raises :class:`BadArchive` past ``limit`` bytes."""

    def __init__(self, inner: BinaryIO, limit: int, what: str):
        self.inner, self.limit, self.what, self.seen = inner, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.inner.read(len(buffer))
        self.seen += len(data)
        if self.seen > self.limit:
            raise BadArchive(f"{self.what} expands to more than {self.limit // MiB} MiB: refused")
        buffer[: len(data)] = data
        return len(data)


def _decompressed(raw: BinaryIO) -> BinaryIO:
    """``raw`` itself or a decompressing reader of it, by its magic bytes."""
    magic = raw.read(6)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)
    if magic[:3] == b"BZh":
        return bz2.BZ2File(raw)
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    return raw


class _Selector:
    """Maps an archive path to its path below ``subtree`` (``parlay/x.h`` for
    ``parlaylib-…/include/parlay/x.h``), the same top folder for every member."""

    def __init__(self, subtree: str):
        self.parts = PurePosixPath(subtree).parts
        self.root: tuple[str, ...] | None = None

    def __call__(self, name: str) -> str | None:
        parts = PurePosixPath(name).parts
        n = len(self.parts)
        for k in (0, 1):  # the subtree at the top, or inside one top folder (GitHub's archives)
            if parts[k:k + n] == self.parts and len(parts) >= k + n:
                if self.root is None:
                    self.root = parts[:k]
                elif self.root != parts[:k]:
                    raise BadArchive(f"the archive holds two {'/'.join(self.parts)} folders "
                                     f"({'/'.join(self.root) or '.'} and {'/'.join(parts[:k]) or '.'}): refused")
                return "/".join(parts[k + n - 1:])
        return None


def extract_subtree(archive: str | os.PathLike, subtree: str, dest: str | os.PathLike,
                    limits: Limits = Limits()) -> Path:
    """Extract the members of ``archive`` under ``subtree`` into ``dest``; returns ``dest/<last part>``.

    ``subtree`` is a relative POSIX path (``include/parlay``); it may sit at the
    archive's top or inside one top folder. ``dest`` must exist; what is written
    goes below it and nowhere else, also when an error stops the extraction
    half-way (the caller removes ``dest``).

    Raises:
        UnsafeArchive: a member would be written outside ``dest``.
        BadArchive: not a tar or zip file, truncated or corrupt, over a limit,
            or no ``subtree`` inside.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        size = archive.stat().st_size
    except OSError as e:
        raise BadArchive(f"cannot read {archive}: {e.strerror or e}") from None
    if size > limits.archive_bytes:
        raise BadArchive(f"{archive.name} is {size / MiB:.1f} MiB, more than {limits.archive_bytes // MiB} MiB: "
                         "refused")
    select = _Selector(subtree)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, select, dest, limits)
        else:
            _extract_tar(archive, select, dest, limits)
    except BadArchive:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError) as e:
        raise BadArchive(f"{archive.name} is not a complete tar or zip archive: truncated or corrupt ({e})") from None
    top = PurePosixPath(subtree).name
    if select.root is None or not (dest / top).is_dir():
        raise BadArchive(f"{archive.name} holds no {subtree}/ folder")
    return dest / top


def _checked(member: tarfile.TarInfo, dest: Path) -> tarfile.TarInfo:
    """``tarfile.data_filter``, its refusals turned into :class:`UnsafeArchive`."""
    try:
        return tarfile.data_filter(member, str(dest))
    except tarfile.FilterError as e:
        raise UnsafeArchive(f"refused: archive member {member.name!r} {_why(e)}") from None


def _why(e: tarfile.FilterError) -> str:
    if isinstance(e, (tarfile.OutsideDestinationError, tarfile.AbsolutePathError)):
        return "would be written outside the target folder"
    if isinstance(e, (tarfile.LinkOutsideDestinationError, tarfile.AbsoluteLinkError)):
        return "is a link pointing outside the target folder"
    if isinstance(e, tarfile.SpecialFileError):
        return "is a device or other special file"
    return f"is unsafe ({e})"


def _extract_tar(archive: Path, select: _Selector, dest: Path, limits: Limits) -> None:
    count = 0
    written = 0

    def keep(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        nonlocal count, written
        count += 1
        if count > limits.members:
            raise BadArchive(f"{archive.name} has more than {limits.members} members: refused")
        member = _checked(member, dest)  # every member, also those not extracted
        rel = select(member.name)
        if rel is None:
            return None
        changes: dict = {"name": rel}
        if member.islnk():
            target = select(member.linkname)
            if target is None:
                raise UnsafeArchive(f"refused: archive member {member.name!r} is a hard link to "
                                    f"{member.linkname!r}, outside the folder extracted")
            changes["linkname"] = target
        written += member.size
        if written > limits.extracted_bytes:
            raise BadArchive(f"{archive.name}: the folder extracted exceeds {limits.extracted_bytes // MiB} MiB: "
                             "refused")
        return _checked(member.replace(**changes, deep=False), dest)

    with open(archive, "rb") as raw:
        stream = _Capped(_decompressed(raw), limits.expanded_bytes, archive.name)
        with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as tar:
            tar.extractall(dest, filter=keep)


def _extract_zip(archive: Path, select: _Selector, dest: Path, limits: Limits) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > limits.members:
            raise BadArchive(f"{archive.name} has more than {limits.members} members: refused")
        if sum(i.file_size for i in infos) > limits.expanded_bytes:
            raise BadArchive(f"{archive.name} expands to more than {limits.expanded_bytes // MiB} MiB: refused")
        written = 0
        for info in infos:
            header = tarfile.TarInfo(info.filename)  # the tar data filter judges zip paths too
            header.type = tarfile.DIRTYPE if info.is_dir() else tarfile.REGTYPE
            header.mode = 0o755 if info.is_dir() else 0o644
            rel = select(_checked(header, dest).name)
            if rel is None:
                continue
            target = dest / rel
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise BadArchive(f"{archive.name}: {info.filename} is a symbolic link; links in zip archives "
                                 "are not supported")
            written += info.file_size
            if written > limits.extracted_bytes:
                raise BadArchive(f"{archive.name}: the folder extracted exceeds {limits.extracted_bytes // MiB} "
                                 "MiB: refused")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:  # reads stop at file_size; CRC checked
                while chunk := src.read(1 << 16):
                    out.write(chunk)
            target.chmod(0o644)
