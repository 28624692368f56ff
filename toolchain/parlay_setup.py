"""``parevo setup``: download, verify and install ParlayLib's headers for this user.

:func:`install` gets the pinned release (:data:`~parevo.toolchain.parlay_release.PINNED`)
from GitHub over HTTPS, or from ``source`` (a mirror URL, a downloaded archive,
a checkout), checks it, and puts only its ``include/parlay`` into
``<prefix>/include/parlay`` (default prefix: ``<data dir>/parlaylib``), with a
record of what was installed (:class:`~parevo.toolchain.parlay_release.InstallRecord`)
and a pointer in the data folder so discovery finds it. :func:`status` says what
is installed and where.

What is accepted:

* an archive (downloaded or local) whose SHA-256 is the pinned one, or whose
  ``include/parlay`` hashes to the pinned release's headers (GitHub does not promise
  its archives' bytes; the headers are what gets installed);
* a folder (a checkout) as it is: its version comes from the table of known
  releases, else ``unknown``, and the record says it was not verified.

Anything else is refused with a sentence saying why, and nothing is left
behind: work happens in a staging folder inside the prefix's ``include``
folder, which is removed on every path, and folders created for a failed
install are removed again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .models import ParevoError
from .parlay_release import (
    PINNED,
    InstallRecord,
    ParlayRelease,
    Pointer,
    default_prefix,
    known_version,
    parlay_headers_sha256,
    pointer_path,
    read_record,
    record_path,
    setup_prefix,
)
from .safe_archive import MiB, BadArchive, Limits, extract_subtree

#: Environment variable naming where ``parevo setup`` (and first-use installs) fetch from by default.
FROM_ENV = "PAREVO_PARLAYLIB_FROM"

#: Seconds to wait for a connection or between two reads of a download.
DOWNLOAD_TIMEOUT_S = 30.0


class SetupFailed(ParevoError):
    """ParlayLib could not be installed; the message says why. Nothing was left behind."""


class NetworkUnavailable(SetupFailed):
    """The download could not reach its server (no network, DNS, proxy, timeout)."""


@dataclass
class Installed:
    """The outcome of :func:`install`: where the headers are (``include_dir`` holds
    ``parlay/``), the record written, and whether anything changed (False when the
    same release was already there, untouched)."""

    include_dir: Path
    record: InstallRecord
    changed: bool


Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def describe_source(source: str | None) -> str:
    """Where an install with ``source`` fetches from, for messages (env :data:`FROM_ENV`, else GitHub)."""
    return source or os.environ.get(FROM_ENV) or PINNED.url


def install(source: str | None = None, prefix: str | os.PathLike | None = None, *,
            release: ParlayRelease | None = None, log: Log = _quiet, limits: Limits = Limits()) -> Installed:
    """Install ParlayLib's headers into ``<prefix>/include/parlay`` and record it.

    ``source``: ``None`` (env :data:`FROM_ENV`, else ``release.url``), an
    ``http(s)://`` URL, an archive file (``.tar.gz``, ``.tar``, ``.zip``, ...), or a
    folder holding ``include/parlay`` (or ``parlay/``). ``prefix``: default
    :func:`~parevo.toolchain.parlay_release.setup_prefix` (the last one used, else
    ``<data dir>/parlaylib``). ``release``: default :data:`PINNED`. ``log``
    receives one line per step (downloading, checked, installed).

    Raises:
        NetworkUnavailable: the download could not reach its server.
        SetupFailed: anything else (HTTP error, SHA-256 mismatch, truncated or
            unsafe archive, not ParlayLib, the target holds a copy parevo did not
            install, unwritable prefix); nothing is left behind.
    """
    release = release or PINNED
    source = source or os.environ.get(FROM_ENV) or release.url
    if urllib.parse.urlsplit(source).scheme not in ("http", "https", "file"):
        source = os.path.abspath(os.path.expanduser(source))
    prefix = Path(os.path.abspath(os.path.expanduser(prefix or setup_prefix())))
    include = prefix / "include"
    target = include / "parlay"
    if target.exists() and read_record(include) is None:
        raise SetupFailed(f"{target} exists and was not installed by parevo setup: leaving it alone "
                          "(choose another --prefix, or remove it)")
    with _made_dirs(include), _locked(include), _staging(include) as staging:
        got, verified, commit = _fetch(source, staging, release, log, limits)
        headers = parlay_headers_sha256(got)
        version = release.version if commit else _checkout_version(headers)
        old = read_record(include)
        if old is not None and target.is_dir() and old.headers_sha256 == headers == parlay_headers_sha256(include):
            log(f"ParlayLib {old.version} is already installed in {target}, unchanged")
            _write_pointer(prefix)
            return Installed(include_dir=include, record=old, changed=False)
        record = InstallRecord(version=version, headers_sha256=headers, source=source, verified=verified,
                               commit=commit, installed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        if target.exists():
            os.replace(target, staging / "previous")
        os.replace(got / "parlay", target)
        _write_json(record_path(prefix), record.model_dump_json(indent=2))
    _write_pointer(prefix)
    log(f"installed ParlayLib {version} in {target}")
    return Installed(include_dir=include, record=record, changed=True)


def _checkout_version(headers_sha256: str) -> str:
    known = known_version(headers_sha256)
    return known[0] if known else "unknown"


def _fetch(source: str, staging: Path, release: ParlayRelease, log: Log,
           limits: Limits) -> tuple[Path, str, str | None]:
    """Bring ``source``'s headers into ``staging/got/parlay``; returns (that include folder,
    how it was verified, the release commit or None for an unverified checkout)."""
    got = staging / "got"
    got.mkdir()
    scheme = urllib.parse.urlsplit(source).scheme
    if scheme in ("http", "https"):
        archive = staging / "download"
        digest = download(source, archive, log=log, limits=limits)
    elif scheme == "file":
        archive = Path(urllib.request.url2pathname(urllib.parse.urlsplit(source).path))
        digest = _sha256_file(archive, limits)
    else:
        path = Path(os.path.expanduser(source))
        if path.is_dir():
            return _from_folder(path, got, release, log, limits)
        if not path.exists():
            raise SetupFailed(f"--from {source}: no such file or folder, and not an http(s) URL")
        archive = path
        digest = _sha256_file(archive, limits)
    return got, _verify_archive(source, archive, digest, got, release, log, limits), release.commit


def _verify_archive(source: str, archive: Path, digest: str, got: Path, release: ParlayRelease, log: Log,
                    limits: Limits) -> str:
    """Extract ``include/parlay`` and decide: the pinned archive, or the pinned release's headers; else refuse."""
    pinned = digest == release.archive_sha256
    try:
        extract_subtree(archive, "include/parlay", got, limits)
    except BadArchive as e:
        mismatch = "" if pinned else f"; its SHA-256 {digest} is not the pinned {release.archive_sha256}"
        raise SetupFailed(f"ParlayLib from {source}: {e}{mismatch}. Nothing was installed.") from None
    headers = parlay_headers_sha256(got)
    if pinned and headers == release.headers_sha256:
        log(f"SHA-256 {digest[:16]}… matches the pinned value")
        return f"archive SHA-256 {digest} matches the pinned value"
    if headers == release.headers_sha256:
        log(f"the archive's SHA-256 {digest[:16]}… is not the pinned {release.archive_sha256[:16]}…, but the "
            f"headers it holds are ParlayLib {release.version}'s byte for byte (SHA-256 {headers[:16]}…)")
        return (f"archive SHA-256 {digest} differs from the pinned {release.archive_sha256}; its headers match "
                f"release {release.version}'s (SHA-256 {headers})")
    known = known_version(headers)
    what = f"ParlayLib {known[0]}'s" if known else "those of no known ParlayLib release"
    raise SetupFailed(
        f"SHA-256 mismatch for {source}: expected {release.archive_sha256}, got {digest}; the headers inside are "
        f"{what}, not {release.version}'s. Nothing was installed. (To install another version on purpose, "
        "unpack it and run `parevo setup --from FOLDER`.)")


def _from_folder(path: Path, got: Path, release: ParlayRelease, log: Log,
                 limits: Limits) -> tuple[Path, str, str | None]:
    """A checkout: ``path/include/parlay`` or ``path/parlay`` copied as it is (links followed)."""
    for include in (path / "include", path):
        if (include / "parlay" / "primitives.h").is_file():
            break
    else:
        raise SetupFailed(f"--from {path}: no include/parlay/primitives.h (or parlay/primitives.h) there: "
                          "not a ParlayLib checkout")
    size = sum(p.stat().st_size for p in (include / "parlay").rglob("*") if p.is_file())
    if size > limits.extracted_bytes:
        raise SetupFailed(f"--from {path}: {include / 'parlay'} holds {size / MiB:.1f} MiB, more than "
                          f"{limits.extracted_bytes // MiB} MiB: refused")
    try:
        shutil.copytree(include / "parlay", got / "parlay", symlinks=False, ignore=_not_regular)
    except (OSError, shutil.Error) as e:
        raise SetupFailed(f"cannot copy {include / 'parlay'}: {e}") from None
    headers = parlay_headers_sha256(got)
    if headers == release.headers_sha256:
        log(f"the headers in {include / 'parlay'} are ParlayLib {release.version}'s byte for byte")
        return got, f"headers match release {release.version}'s (SHA-256 {headers})", release.commit
    known = known_version(headers)
    log(f"note: {include / 'parlay'} is " + (f"ParlayLib {known[0]}, not the pinned {release.version}" if known
                                              else "no known ParlayLib release (modified headers?)"))
    return got, f"copied from a folder, not verified (headers SHA-256 {headers})", None


def _not_regular(folder: str, names: list[str]) -> set[str]:
    """``copytree`` ignore: everything but regular files and folders (links followed)."""
    return {n for n in names if not (os.path.isfile(os.path.join(folder, n)) or os.path.isdir(os.path.join(folder, n)))}


# ---------------------------------------------------------------- download


def download(url: str, dest: Path, *, log: Log = _quiet, limits: Limits = Limits(),
             timeout: float = DOWNLOAD_TIMEOUT_S) -> str:
    """Download ``url`` into ``dest``; returns its SHA-256 (hex).

    Follows redirects; honours ``https_proxy``/``http_proxy``; stops past
    ``limits.archive_bytes``.

    Raises:
        NetworkUnavailable: the server cannot be reached (no network, DNS, refused, timeout).
        SetupFailed: an HTTP error, a download cut off before its announced length, or too large.
    """
    host = urllib.parse.urlsplit(url).hostname or url
    log(f"downloading {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "parevo-setup"})
    h = hashlib.sha256()
    total = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp, open(dest, "wb") as out:
            announced = resp.headers.get("Content-Length")
            expected = int(announced) if announced and announced.isdigit() else None
            if expected is not None and expected > limits.archive_bytes:
                raise SetupFailed(f"{url} is {expected / MiB:.1f} MiB, more than {limits.archive_bytes // MiB} MiB: "
                                  "refused")
            while chunk := resp.read(1 << 16):
                total += len(chunk)
                if total > limits.archive_bytes:
                    raise SetupFailed(f"{url} is more than {limits.archive_bytes // MiB} MiB: refused")
                h.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as e:
        raise SetupFailed(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise NetworkUnavailable(f"cannot reach {host}: {_reason(e.reason)}") from None
    except http.client.IncompleteRead as e:
        raise SetupFailed(f"the download of {url} was cut off after {total + len(e.partial):,} bytes: "
                          "try again") from None
    except (TimeoutError, socket.timeout):
        raise NetworkUnavailable(f"{host} did not answer within {timeout:.0f} s") from None
    except (http.client.HTTPException, ConnectionError) as e:
        raise NetworkUnavailable(f"the connection to {host} failed: {_reason(e)}") from None
    if expected is not None and total != expected:
        raise SetupFailed(f"the download of {url} was cut off after {total:,} of {expected:,} bytes: try again")
    log(f"downloaded {total / 1000:.1f} kB, SHA-256 {h.hexdigest()}")
    return h.hexdigest()


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _sha256_file(path: Path, limits: Limits) -> str:
    try:
        size = path.stat().st_size
        if size > limits.archive_bytes:
            raise SetupFailed(f"{path} is {size / MiB:.1f} MiB, more than {limits.archive_bytes // MiB} MiB: "
                              "not a ParlayLib archive")
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 16):
                h.update(chunk)
        return h.hexdigest()
    except OSError as e:
        raise SetupFailed(f"cannot read {path}: {e.strerror or e}") from None


# ---------------------------------------------------------------- files


@contextlib.contextmanager
def _made_dirs(folder: Path) -> Iterator[None]:
    """Create ``folder`` (and missing parents); on an error remove the ones created, if still empty."""
    created = []
    for p in reversed([folder, *folder.parents]):
        if not p.exists():
            created.append(p)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SetupFailed(f"cannot create {folder}: {e.strerror or e}") from None
    try:
        yield
    except BaseException:
        for p in reversed(created):
            with contextlib.suppress(OSError):
                p.rmdir()
        raise


@contextlib.contextmanager
def _locked(include: Path) -> Iterator[None]:
    """One ``parevo setup`` at a time per prefix: an flock on the ``include`` folder itself
    (no lock file to leave behind, or to unlink under a waiting process)."""
    try:
        fd = os.open(include, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise SetupFailed(f"cannot open {include}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _staging(include: Path) -> Iterator[Path]:
    """A fresh folder inside ``include`` for downloads and extraction, always removed afterwards."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=".parevo-setup-", dir=include))
    except OSError as e:
        raise SetupFailed(f"cannot write in {include}: {e.strerror or e}") from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_json(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_pointer(prefix: Path) -> None:
    """Let discovery find ``prefix`` (skipped for the default prefix, which it always looks at)."""
    try:
        if prefix == default_prefix().absolute():
            pointer_path().unlink(missing_ok=True)
        else:
            _write_json(pointer_path(), Pointer(prefix=str(prefix)).model_dump_json())
    except OSError as e:
        raise SetupFailed(f"installed in {prefix}, but cannot record it in {pointer_path()}: {e.strerror or e}; "
                          f"set PARLAYLIB_INCLUDE={prefix / 'include'}") from None


# ---------------------------------------------------------------- status


def status() -> tuple[str, InstallRecord | None, Path]:
    """What parevo's own copy is: (one paragraph for a user, its record or None, its include folder)."""
    prefix = setup_prefix()
    include = prefix / "include"
    record = read_record(include)
    if record is None or not (include / "parlay" / "primitives.h").is_file():
        return (f"parevo's own copy: not installed (`parevo setup` installs ParlayLib {PINNED.version} in "
                f"{include / 'parlay'})"), None, include
    now = parlay_headers_sha256(include)
    state = "headers unchanged since" if now == record.headers_sha256 else "headers MODIFIED since (SHA-256 differs)"
    return (f"parevo's own copy: ParlayLib {record.version} in {include / 'parlay'}\n"
            f"  installed {record.installed_at} from {record.source}\n"
            f"  verified: {record.verified}\n  {state}"), record, include
