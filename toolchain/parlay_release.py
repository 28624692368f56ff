"""What parevo knows about ParlayLib releases, and where ``parevo setup`` keeps its copy.

* :data:`PINNED`: the release ``parevo setup`` installs (2.3.3), with the
  SHA-256 of its archive and of its headers.
* :data:`KNOWN_HEADERS`: SHA-256 of the headers (as
  :func:`parlay_headers_sha256` computes it) of every release from 2.0.1 to 2.3.3,
  so a copied installation still gets a version.
* The per-user data folder (:func:`data_dir`), the prefix ``parevo setup``
  installed into (:func:`setup_prefix`) and the record it writes beside the
  headers (:class:`InstallRecord`).

How the figures were obtained (upstream git history of cmuparlay/parlaylib, no
network): for every commit on master's first-parent line, the version its
``CMakeLists.txt`` declares (``project(PARLAY VERSION x.y.z)``) and the tree of
``include/parlay``. Each version from 2.0.1 to 2.3.3 has one headers tree over
its whole life on master, so the tree of a release tagged with that version is
that one; 2.0.0 had two (skipped), 1.0 many. 2.3.2 (e1f1dc0) and 2.3.3
(5101769) have identical headers; 2.3.1 (36459f4) differs only in comments.
``python -m parevo.toolchain.parlay_release GITDIR`` prints the table again
from a clone.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class ParlayRelease:
    """A ParlayLib release parevo can install.

    ``url`` is GitHub's archive of ``commit`` (a ``.tar.gz`` whose single top
    folder is ``parlaylib-<commit>/``); ``archive_sha256`` the SHA-256 of that
    file; ``headers_sha256`` the SHA-256 of its ``include/parlay`` as
    :func:`parlay_headers_sha256` computes it.
    """

    version: str
    commit: str
    url: str
    archive_sha256: str
    headers_sha256: str


_COMMIT_233 = "51017699dcc421f80479cdb238d3092233ad0d26"

#: The release ``parevo setup`` installs.
#:
#: ``headers_sha256`` is exact: computed from the git objects of commit 5101769
#: (CMakeLists.txt: ``VERSION 2.3.3``; the shared toolchain notes measured it as
#: 2.3.3) and equal to the hash of the headers installed on the development
#: machine. ``archive_sha256`` is the SHA-256 of ``git -c tar.tar.gz.command="gzip -cn"
#: archive --format=tar.gz --prefix=parlaylib-<commit>/ <commit>`` (git 2.39.5,
#: gzip 1.12), which is how GitHub says it builds source archives; it could not be
#: checked against GitHub's own bytes (no network where it was pinned), and GitHub
#: does not promise those bytes forever. Hence the rule in
#: :func:`parevo.toolchain.parlay_setup.install`: an archive whose SHA-256 differs is
#: still accepted when the headers it holds hash to ``headers_sha256``, i.e. are
#: byte for byte the pinned release's, and refused otherwise.
PINNED = ParlayRelease(
    version="2.3.3",
    commit=_COMMIT_233,
    url=f"https://github.com/cmuparlay/parlaylib/archive/{_COMMIT_233}.tar.gz",
    archive_sha256="4f2fc759c1ca474db2f45585ee2300997a128d48fba79bf47aaa579aa8858ee8",
    headers_sha256="5a4dee930ec7bb9ae5e1d9c17d2f3b664d328fc681c4dbd58e27c374c8475b48",
)

#: SHA-256 of a release's headers → (version, where it comes from). See the module docstring for how it was made.
KNOWN_HEADERS: dict[str, tuple[str, str]] = {
    "a1028af6411f7b4d6e1fa00656490ad350519ef6d9d23f6b9913288c2ab222ad": ("2.0.1", "commit 99474c0"),
    "d923d11fc78362006181d6bef8dd51d5035ba00fb0ee3cbfd952723aaefd863d": ("2.0.2", "commit 2ab8659"),
    "a3fdcfb115ced76cc963c573ce25de77fef725ea9f5cd39e8d34706f609509de": ("2.0.3", "commit 281cc09"),
    "021e2ac556f817396f3aa6a40652810683463df1778df439b33eeb0ffb5cefa5": ("2.1.0", "commit bf2a7e2"),
    "5a66087816c59d33fb8b9983ec7cd840566aad5c38788a9fc0e8b95739621dd5": ("2.1.1", "commit f53b6e3"),
    "f0a53a4b1abbcfa5e8fd214812293b51a3625894c54a6f5c27ab837ded97f808": ("2.1.2", "commit 6302233"),
    "29c7e53b05a5a73ad75e2b6f887bce7ea12f3a7bc59af97f4691ac6d9bf60d91": ("2.1.3", "commit 6e12b06"),
    "896653ff781738398dbc3711265cab96412b30788efc49dea07e123291e3143d": ("2.1.4", "commit 7ea5e58"),
    "72b135c3c4b93a2f7d516630a720c8c7fc6989a37050b3c851439c06e020d243": ("2.1.5", "commit 137076b"),
    "667cbf4d5b7b447d2b7e60c46514a1173805b9aa35f69f21d7be25dfca879f73": ("2.1.6", "commit def7a7e"),
    "a457d574b49a83fdad4a02e3fd5694121073babbfc00c2cca018596ba15a0e61": ("2.1.7", "commit 7cdb4ca"),
    "35097cd5ee6a2d0edfcef956c59a3050bf296cae7fd6080eaa25bf0ec9e32431": ("2.1.8", "commit 5af0694"),
    "3000bea9b3720e19001bad0d56f211612d686f092c143372492d03bc4acc7577": ("2.1.9", "commit 2e55a03"),
    "13f39d2b63f41a283f9f330f3a2d74b0c46a19fa46db7b32499fa790d681ca08": ("2.1.10", "commit fd85f95"),
    "da3207028e5e2bf8f2b638ed8f4e8655855854a72ef2c63754fdfc83f7fd844d": ("2.2.0", "commit 4579f39"),
    "1253938d199f00da1ba83c7a433b7acddab3816e556efb098fc6f51562f31a6c": ("2.2.1", "commit 9e60787"),
    "3ad005a5d4bb5bac92a0cd2a93820b42c7a2e698d8ce9129be6459cfa973a851": ("2.2.2", "commit ea671f6"),
    "5808b250405b84f0b0cd75d8b3507d39feb5977c1e586258c50b7ca6dd188968": ("2.2.3", "commit f8e38c7"),
    "16a0f1efcb57bd13d8a87b94666a94e2efb6ba9130cec5f7ee3e6edb24db902d": ("2.2.4", "commit c655b8f"),
    "932bc2a861b3a36c4585af231cc38f5bde73712686de1205793f3b7d08fcda28": ("2.3.1", "commit 36459f4"),
    "5a4dee930ec7bb9ae5e1d9c17d2f3b664d328fc681c4dbd58e27c374c8475b48": (
        "2.3.3", "commit 5101769; 2.3.2 (e1f1dc0) has identical headers"),
}

#: What a user can do by hand; printed wherever ParlayLib is missing and repeated verbatim in README.md.
MANUAL_WAYS = f"""\
ParlayLib (header-only) can be installed any of these ways:
  parevo setup                                 download the pinned release ({PINNED.version}) into parevo's data folder
  parevo setup --from ARCHIVE|DIRECTORY|URL    the same from a downloaded archive, a checkout or a mirror
  git clone https://github.com/cmuparlay/parlaylib && sudo cp -r parlaylib/include/parlay /usr/local/include/
  cmake -S parlaylib -B parlaylib/build -DCMAKE_INSTALL_PREFIX=$HOME/.local && cmake --install parlaylib/build
      then export CMAKE_PREFIX_PATH=$HOME/.local (parevo reads the version from the CMake package)
  export PARLAYLIB_INCLUDE=/path/to/parlaylib/include   (or --parlay PATH, or a -I in compile_commands.json)"""


def known_version(headers_sha256: str) -> tuple[str, str] | None:
    """``(version, note)`` of the release whose headers hash to ``headers_sha256``, else None."""
    return KNOWN_HEADERS.get(headers_sha256)


def parlay_headers_sha256(include_dir: str | os.PathLike) -> str:
    """SHA-256 (hex) over the relative paths and contents of every ``.h`` under ``include_dir/parlay``."""
    root = Path(include_dir) / "parlay"
    return _digest((p.relative_to(root).as_posix(), p.read_bytes) for p in root.rglob("*.h") if p.is_file())


def _digest(files: Iterable[tuple[str, Callable[[], bytes]]]) -> str:
    """SHA-256 over ``(relative path, content)`` pairs in path order (path component by component)."""
    h = hashlib.sha256()
    for name, read in sorted(files, key=lambda f: PurePosixPath(f[0]).parts):
        h.update(name.encode() + b"\0")
        h.update(read())
        h.update(b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------- where parevo setup installs


def data_dir() -> Path:
    """parevo's per-user data folder: env ``PAREVO_DATA_DIR``, else ``$XDG_DATA_HOME/parevo``,
    else ``~/.local/share/parevo`` (not created here)."""
    if os.environ.get("PAREVO_DATA_DIR"):
        return Path(os.environ["PAREVO_DATA_DIR"])
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]) / "parevo"
    return Path.home() / ".local" / "share" / "parevo"


def default_prefix() -> Path:
    """Where ``parevo setup`` installs without ``--prefix``: ``<data dir>/parlaylib``."""
    return data_dir() / "parlaylib"


def pointer_path() -> Path:
    """The file naming the prefix of the last ``parevo setup`` (``<data dir>/parlaylib.json``)."""
    return data_dir() / "parlaylib.json"


class Pointer(BaseModel):
    """``<data dir>/parlaylib.json``: the prefix ``parevo setup`` last installed into."""

    prefix: str


def setup_prefix() -> Path:
    """The prefix of parevo's own copy: the one the pointer names, else :func:`default_prefix`."""
    try:
        return Path(Pointer.model_validate_json(pointer_path().read_text()).prefix)
    except (OSError, ValueError, ValidationError):
        return default_prefix()


class InstallRecord(BaseModel):
    """What ``parevo setup`` installed: ``<prefix>/share/parevo/parlaylib.json``.

    ``version`` is the release (or ``unknown`` for a checkout matching no
    release); ``headers_sha256`` the hash of the headers as installed (a later
    mismatch means they were modified); ``source`` the URL, archive or folder;
    ``verified`` how the content was checked; ``installed_at`` an ISO 8601 UTC time.
    """

    version: str
    headers_sha256: str
    source: str
    verified: str
    installed_at: str
    commit: str | None = None


def record_path(prefix: str | os.PathLike) -> Path:
    """Where the install record of ``prefix`` lives."""
    return Path(prefix) / "share" / "parevo" / "parlaylib.json"


def read_record(include_dir: str | os.PathLike) -> InstallRecord | None:
    """The record ``parevo setup`` wrote for the headers in ``include_dir`` (prefix = its parent), else None."""
    try:
        return InstallRecord.model_validate_json(record_path(Path(include_dir).parent).read_text())
    except (OSError, ValueError, ValidationError):
        return None


# ---------------------------------------------------------------- maintainers: the table again


def _git(repo: str, *args: str) -> bytes:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, check=True).stdout


def _tree_sha256(repo: str, tree: str) -> str:
    """:func:`parlay_headers_sha256` of a git tree holding ParlayLib's ``include/parlay``."""
    with tarfile.open(fileobj=io.BytesIO(_git(repo, "archive", "--format=tar", tree))) as tf:
        files = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile() and m.name.endswith(".h")}
    return _digest((name, lambda data=data: data) for name, data in files.items())


def headers_table(repo: str, ref: str = "HEAD") -> dict[str, list[tuple[str, str]]]:
    """For a clone of cmuparlay/parlaylib: version → [(headers SHA-256, first commit)], one
    entry per distinct ``include/parlay`` tree among ``ref``'s first-parent commits."""
    out: dict[str, dict[str, str]] = {}
    for commit in _git(repo, "rev-list", "--first-parent", "--reverse", ref).decode().split():
        try:
            cmake = _git(repo, "show", f"{commit}:CMakeLists.txt").decode(errors="replace")
            tree = _git(repo, "rev-parse", f"{commit}:include/parlay").decode().strip()
        except subprocess.CalledProcessError:
            continue
        m = re.search(r"project\s*\(\s*PARLAY\s+VERSION\s+([0-9.]+)", cmake)
        if m:
            out.setdefault(m.group(1), {}).setdefault(tree, commit[:7])
    return {v: [(_tree_sha256(repo, t), c) for t, c in trees.items()] for v, trees in out.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m parevo.toolchain.parlay_release GITDIR``: print the headers table of a clone."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m parevo.toolchain.parlay_release GITDIR", file=sys.stderr)
        return 2
    for version, entries in headers_table(argv[0]).items():
        flag = "" if len(entries) == 1 else "   # ambiguous: several header trees"
        for sha, commit in entries:
            print(f"{version:8} {sha} {commit}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
