"""``parevo setup``'s installer: download over a loopback server, SHA-256 pins, safe extraction,
and discovery finding the install with its version. No test reaches the internet."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from parlay_fakes import (
    FAKE_HEADERS,
    TOP,
    Loopback,
    closed_port_url,
    github_members,
    installed_headers,
    regular,
    release_for,
    tar_gz,
    tree,
)

from parevo.toolchain import parlay_setup
from parevo.toolchain.discovery import DiscoverySettings, discover, find_parlay, parlay_version
from parevo.toolchain.parlay_release import (
    KNOWN_HEADERS,
    MANUAL_WAYS,
    PINNED,
    data_dir,
    parlay_headers_sha256,
    read_record,
    setup_prefix,
)
from parevo.toolchain.parlay_setup import NetworkUnavailable, SetupFailed, install, status
from parevo.toolchain.safe_archive import Limits

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh data folder (``PAREVO_DATA_DIR``) and no ParlayLib from the environment."""
    for var in ("PARLAYLIB_INCLUDE", "CMAKE_PREFIX_PATH", "XDG_DATA_HOME", "PAREVO_PARLAYLIB_FROM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PAREVO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _away() -> DiscoverySettings:
    """Discovery pointed away from the machine's own ParlayLib (its default include paths)."""
    return DiscoverySettings(system_parlay=False, cmake_prefixes=[])


GOOD = tar_gz(github_members(FAKE_HEADERS))


def _expect_nothing_written(home: Path, before: set[str]) -> None:
    assert tree(home) == before, sorted(tree(home) - before)
    assert not (home / "data").exists()


# ------------------------------------------------------------------ the download path


def test_a_good_archive_is_installed_and_discovery_finds_it_with_its_version(home):
    with Loopback({"/p.tar.gz": GOOD}) as srv:
        rel = release_for(GOOD, FAKE_HEADERS, url=srv.url("/p.tar.gz"))
        lines: list[str] = []
        done = install(release=rel, log=lines.append)
    assert done.changed and done.record.version == "9.9.9" and done.record.commit == rel.commit
    assert "matches the pinned value" in done.record.verified
    assert any("downloading http://127.0.0.1" in line for line in lines)
    prefix = home / "data" / "parlaylib"
    # only include/parlay and the record were written, all inside the data folder
    assert tree(home) == {
        "data", "data/parlaylib", "data/parlaylib/include", "data/parlaylib/include/parlay",
        "data/parlaylib/include/parlay/primitives.h", "data/parlaylib/include/parlay/parallel.h",
        "data/parlaylib/include/parlay/internal", "data/parlaylib/include/parlay/internal/work_stealing_job.h",
        "data/parlaylib/share", "data/parlaylib/share/parevo", "data/parlaylib/share/parevo/parlaylib.json"}
    assert (prefix / "include" / "parlay" / "primitives.h").read_bytes() == FAKE_HEADERS["primitives.h"]
    tc = discover(_away(), probe=False)
    assert tc.parlay_include == str(prefix / "include") and tc.parlay_found_via == "parevo setup"
    assert (tc.parlay_version, tc.parlay_version_from) == ("9.9.9", "installed by parevo setup")
    # the same again: nothing changes; a modified header makes the version unknown, setup restores it
    with Loopback({"/p.tar.gz": GOOD}) as srv:
        assert install(srv.url("/p.tar.gz"), release=rel).changed is False
        (prefix / "include" / "parlay" / "parallel.h").write_text("// edited\n")
        assert discover(_away(), probe=False).parlay_version == \
            "unknown (modified since parevo setup installed 9.9.9)"
        assert install(srv.url("/p.tar.gz"), release=rel).changed is True
    assert discover(_away(), probe=False).parlay_version == "9.9.9"
    assert "headers unchanged since" in status()[0]


def test_a_wrong_sha256_is_refused_and_nothing_is_written(home):
    other = tar_gz(github_members({**FAKE_HEADERS, "primitives.h": b"// tampered\n"}))
    rel = release_for(GOOD, FAKE_HEADERS)
    before = tree(home)
    with Loopback({"/p.tar.gz": other}) as srv:
        with pytest.raises(SetupFailed) as err:
            install(srv.url("/p.tar.gz"), release=rel)
    msg = str(err.value)
    assert "SHA-256 mismatch" in msg and rel.archive_sha256 in msg and hashlib.sha256(other).hexdigest() in msg
    assert "Nothing was installed" in msg
    _expect_nothing_written(home, before)


def test_other_bytes_holding_the_pinned_headers_are_accepted_by_their_headers(home):
    """GitHub may re-compress its archives: a zip (or another gzip) of the same headers is the same release."""
    rel = release_for(GOOD, FAKE_HEADERS)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in FAKE_HEADERS.items():
            zf.writestr(f"{TOP}/include/parlay/{name}", data)
    with Loopback({"/p.zip": buf.getvalue()}) as srv:
        done = install(srv.url("/p.zip"), release=rel)
    assert "differs from the pinned" in done.record.verified and "headers match release 9.9.9" in done.record.verified
    assert discover(_away(), probe=False).parlay_version == "9.9.9"


def test_a_truncated_archive_is_refused_and_nothing_is_written(home):
    rel = release_for(GOOD, FAKE_HEADERS)
    before = tree(home)
    with Loopback({"/short.tar.gz": GOOD[: len(GOOD) // 2]}) as srv:
        with pytest.raises(SetupFailed) as err:
            install(srv.url("/short.tar.gz"), release=rel)
    assert "truncated or corrupt" in str(err.value) and "is not the pinned" in str(err.value)
    _expect_nothing_written(home, before)


def test_a_download_cut_off_is_refused_and_nothing_is_written(home):
    rel = release_for(GOOD, FAKE_HEADERS)
    before = tree(home)
    with Loopback({"/cut.tar.gz": (GOOD[:100], len(GOOD))}) as srv:
        with pytest.raises(SetupFailed) as err:
            install(srv.url("/cut.tar.gz"), release=rel)
    assert f"cut off after 100 of {len(GOOD):,} bytes" in str(err.value)
    _expect_nothing_written(home, before)


@pytest.mark.parametrize("evil", [
    regular(f"{TOP}/../../../escaped.h", b"evil"),
    regular(f"{TOP}/include/parlay/../../../../escaped.h", b"evil"),
])
def test_an_archive_with_dotdot_paths_is_refused_and_nothing_is_written(home, evil):
    archive = tar_gz(github_members(FAKE_HEADERS) + [evil])
    rel = release_for(GOOD, FAKE_HEADERS)
    before = tree(home)
    with Loopback({"/evil.tar.gz": archive}) as srv:
        with pytest.raises(SetupFailed) as err:
            install(srv.url("/evil.tar.gz"), release=rel)
    assert "would be written outside the target folder" in str(err.value)
    _expect_nothing_written(home, before)
    assert not list(home.parent.rglob("escaped.h"))


def test_links_and_devices_escaping_are_refused(home):
    rel = release_for(GOOD, FAKE_HEADERS)
    link = tarfile.TarInfo(f"{TOP}/include/parlay/passwd.h")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../../../../etc/passwd"
    dev = tarfile.TarInfo(f"{TOP}/include/parlay/zero.h")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 5
    for extra, why in ((link, "link pointing outside"), (dev, "device")):
        archive = home / "local.tar.gz"
        archive.write_bytes(tar_gz(github_members(FAKE_HEADERS) + [(extra, None)]))
        before = tree(home)
        with pytest.raises(SetupFailed, match=why):
            install(str(archive), release=rel)
        assert tree(home) == before and not (home / "data").exists()


def test_size_limits_stop_a_decompression_bomb(home):
    bomb = tar_gz(github_members(FAKE_HEADERS) + [regular(f"{TOP}/include/parlay/big.h", bytes(3 * 1024 * 1024))])
    rel = release_for(GOOD, FAKE_HEADERS)
    (home / "bomb.tar.gz").write_bytes(bomb)
    with pytest.raises(SetupFailed, match="exceeds 1 MiB"):
        install(str(home / "bomb.tar.gz"), release=rel,
                limits=Limits(extracted_bytes=1024 * 1024))
    assert not (home / "data").exists()


def test_http_errors_and_no_network_are_clear(home):
    rel = release_for(GOOD, FAKE_HEADERS)
    with Loopback({}) as srv:
        with pytest.raises(SetupFailed, match="HTTP 404"):
            install(srv.url("/missing.tar.gz"), release=rel)
    with pytest.raises(NetworkUnavailable, match="cannot reach 127.0.0.1: Connection refused"):
        install(closed_port_url(), release=rel)
    assert not (home / "data").exists()


# ------------------------------------------------------------------ --from ARCHIVE / DIRECTORY, --prefix


def test_from_an_archive_a_checkout_and_into_a_prefix(home):
    rel = release_for(GOOD, FAKE_HEADERS)
    archive = home / "downloads" / "parlaylib.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(GOOD)
    assert install(str(archive), release=rel).record.source == str(archive)
    # a checkout of another (unknown) version: copied, recorded as unverified, version unknown
    checkout = home / "checkout"
    for name, data in {**FAKE_HEADERS, "extra.h": b"// newer\n"}.items():
        (checkout / "include" / "parlay" / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / "include" / "parlay" / name).write_bytes(data)
    prefix = home / "opt"
    done = install(str(checkout), prefix, release=rel)
    assert done.record.version == "unknown" and "not verified" in done.record.verified
    assert (prefix / "include" / "parlay" / "extra.h").is_file()
    # the pointer makes discovery find the prefix; its version stays unknown (no known release)
    assert setup_prefix() == prefix
    tc = discover(_away(), probe=False)
    assert tc.parlay_include == str(prefix / "include") and tc.parlay_found_via == "parevo setup"
    assert tc.parlay_version.startswith("unknown (headers sha256:")
    with pytest.raises(SetupFailed, match="not a ParlayLib checkout"):
        install(str(home / "downloads"), release=rel)
    with pytest.raises(SetupFailed, match="no such file or folder"):
        install(str(home / "nowhere.tar.gz"), release=rel)


def test_two_installs_at_once_leave_one_good_copy(home):
    """The server and the CLI may install at the same moment: one waits for the other."""
    rel = release_for(GOOD, FAKE_HEADERS)
    (home / "p.tar.gz").write_bytes(GOOD)
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda _: install(str(home / "p.tar.gz"), release=rel), range(2)))
    assert sorted(d.changed for d in done) == [False, True]
    include = home / "data" / "parlaylib" / "include"
    assert sorted(p.name for p in include.iterdir()) == ["parlay"]  # no staging left behind
    assert discover(_away(), probe=False).parlay_version == "9.9.9"


def test_a_copy_parevo_did_not_install_is_left_alone(home):
    prefix = home / "usr"
    own = prefix / "include" / "parlay"
    own.mkdir(parents=True)
    (own / "primitives.h").write_text("// the user's own\n")
    rel = release_for(GOOD, FAKE_HEADERS)
    (home / "p.tar.gz").write_bytes(GOOD)
    with pytest.raises(SetupFailed, match="was not installed by parevo setup: leaving it alone"):
        install(str(home / "p.tar.gz"), prefix, release=rel)
    assert (own / "primitives.h").read_text() == "// the user's own\n"
    assert sorted(p.name for p in (prefix / "include").iterdir()) == ["parlay"]


def test_users_own_installations_come_first(home):
    """A configured path, PARLAYLIB_INCLUDE and CMake prefixes win over parevo's copy."""
    (home / "p.tar.gz").write_bytes(GOOD)
    install(str(home / "p.tar.gz"), release=release_for(GOOD, FAKE_HEADERS))
    mine = home / "mine"
    (mine / "parlay").mkdir(parents=True)
    (mine / "parlay" / "primitives.h").write_text("//\n")
    problems: list[str] = []
    assert find_parlay(DiscoverySettings(parlay_include=str(mine), system_parlay=False), None, problems) == (
        str(mine), "setting")
    assert find_parlay(DiscoverySettings(cmake_prefixes=[str(home / "cm")], system_parlay=False), None,
                       problems)[1] == "parevo setup"
    (home / "cm" / "include" / "parlay").mkdir(parents=True)
    (home / "cm" / "include" / "parlay" / "primitives.h").write_text("//\n")
    assert find_parlay(DiscoverySettings(cmake_prefixes=[str(home / "cm")], system_parlay=False), None,
                       problems) == (str(home / "cm" / "include"), "cmake prefix")


# ------------------------------------------------------------------ versions


def test_the_pin_and_the_table_agree():
    assert KNOWN_HEADERS[PINNED.headers_sha256][0] == PINNED.version == "2.3.3"
    assert PINNED.commit in PINNED.url and PINNED.url.startswith("https://github.com/cmuparlay/parlaylib/")
    versions = [v for v, _ in KNOWN_HEADERS.values()]
    assert len(versions) == len(set(versions)) and "2.3.1" in versions


def test_versions_come_from_cmake_then_the_record_then_the_table(home, monkeypatch):
    inc = home / "prefix" / "include"
    (inc / "parlay").mkdir(parents=True)
    (inc / "parlay" / "primitives.h").write_text("// some release\n")
    sha = parlay_headers_sha256(inc)
    assert parlay_version(str(inc), sha) == (f"unknown (headers sha256:{sha[:12]})",
                                              "the headers match no known release")
    monkeypatch.setitem(KNOWN_HEADERS, sha, ("2.9.0", "commit abcdef0"))
    assert parlay_version(str(inc), sha) == ("2.9.0", "headers of release 2.9.0, commit abcdef0")
    cfg = home / "prefix" / "lib" / "cmake" / "Parlay"
    cfg.mkdir(parents=True)
    (cfg / "ParlayConfigVersion.cmake").write_text('set(PACKAGE_VERSION "2.9.1")\n')
    assert parlay_version(str(inc), sha) == ("2.9.1", "CMake package")


def test_the_manual_ways_are_the_readmes():
    readme = (ROOT / "README.md").read_text()
    assert MANUAL_WAYS in readme


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("PAREVO_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert data_dir() == tmp_path / ".local" / "share" / "parevo"
    monkeypatch.setenv("XDG_DATA_HOME", "/x/data")
    assert data_dir() == Path("/x/data/parevo")
    monkeypatch.setenv("PAREVO_DATA_DIR", "/p/data")
    assert data_dir() == Path("/p/data")


# ------------------------------------------------------------------ the real release (headers on this machine)


@pytest.mark.parlay
def test_the_installed_parlaylib_is_recognized_as_233(toolchain, tmp_path):
    """The machine's headers (2.3.3, copied without CMake) get their version from the table."""
    if toolchain.parlay_headers_sha256 != PINNED.headers_sha256:
        pytest.skip(f"!!! the ParlayLib installed here ({toolchain.parlay_version}) is not 2.3.3 !!!")
    assert toolchain.parlay_version == "2.3.3" and "headers of release 2.3.3" in toolchain.parlay_version_from
    copy = tmp_path / "inc"
    shutil.copytree(Path(toolchain.parlay_include) / "parlay", copy / "parlay")
    (copy / "parlay" / "primitives.h").write_bytes((copy / "parlay" / "primitives.h").read_bytes() + b"// x\n")
    assert parlay_version(str(copy), parlay_headers_sha256(copy))[0].startswith("unknown (headers sha256:")


@pytest.mark.parlay
def test_the_real_pin_accepts_233_headers_in_githubs_layout(toolchain, home):
    """An archive of the 2.3.3 headers (not byte-identical to GitHub's) passes the real pin by its headers."""
    if toolchain.parlay_headers_sha256 != PINNED.headers_sha256:
        pytest.skip(f"!!! the ParlayLib installed here ({toolchain.parlay_version}) is not 2.3.3 !!!")
    archive = tar_gz(github_members(installed_headers(toolchain.parlay_include), top=f"parlaylib-{PINNED.commit}"))
    with Loopback({"/mirror/parlaylib.tar.gz": archive}) as srv:
        done = install(srv.url("/mirror/parlaylib.tar.gz"))
    assert done.record.version == "2.3.3" and done.record.commit == PINNED.commit
    rec = read_record(done.include_dir)
    assert rec is not None and rec.headers_sha256 == PINNED.headers_sha256
    tc = discover(_away(), probe=False)
    assert (tc.parlay_found_via, tc.parlay_version) == ("parevo setup", "2.3.3")
    assert json.loads((home / "data" / "parlaylib" / "share" / "parevo" / "parlaylib.json").read_text())["version"] \
        == "2.3.3"
    assert parlay_setup.FROM_ENV == "PAREVO_PARLAYLIB_FROM"
