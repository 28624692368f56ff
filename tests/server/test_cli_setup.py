"""``parevo setup`` and the first-use install of ``parevo evolve`` (loopback server, no internet).

"No ParlayLib" is made by pointing discovery away from the machine's headers
(``--no-system-parlay``, an empty ``PAREVO_DATA_DIR``), never by removing them.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from parlay_fakes import FAKE_HEADERS, Loopback, closed_port_url, github_members, installed_headers, release_for, tar_gz

from parevo.server.cli import main
from parevo.server.cli_setup import first_use
from parevo.toolchain import parlay_setup
from parevo.toolchain.discovery import ParlayLibMissing
from parevo.toolchain.parlay_release import MANUAL_WAYS, PINNED

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
AWAY = ["--no-system-parlay"]


@pytest.fixture
def fresh(tmp_path, monkeypatch, parevo_cache_dir) -> Path:
    """A machine without ParlayLib as far as discovery is concerned: an empty data folder, no
    ParlayLib from the environment (the system's copy is ignored with ``--no-system-parlay``).
    Probes and compiles use the session's cache (``PAREVO_CACHE_DIR``)."""
    for var in ("PARLAYLIB_INCLUDE", "CMAKE_PREFIX_PATH", "XDG_DATA_HOME", "PAREVO_PARLAYLIB_FROM",
                "PAREVO_AUTO_SETUP", "PAREVO_LLM_MODEL", "PAREVO_LLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PAREVO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAREVO_CACHE_DIR", str(parevo_cache_dir))
    return tmp_path


@pytest.mark.fast
def test_setup_installs_from_a_mirror_and_check_reports_it(fresh, monkeypatch, capsys):
    archive = tar_gz(github_members(FAKE_HEADERS))
    with Loopback({"/parlaylib.tar.gz": archive}) as srv:
        monkeypatch.setattr(parlay_setup, "PINNED", release_for(archive, FAKE_HEADERS, url=srv.url("/none")))
        assert main(["setup", "--check", *AWAY]) == 1
        out = capsys.readouterr().out
        assert "parevo's own copy: not installed" in out and "parevo finds no ParlayLib." in out and MANUAL_WAYS in out
        assert main(["setup", "--from", srv.url("/parlaylib.tar.gz"), *AWAY]) == 0
        out = capsys.readouterr().out
        assert "matches the pinned value" in out and "installed ParlayLib 9.9.9 in " in out
        assert srv.requests == ["/parlaylib.tar.gz"]
    assert main(["setup", "--check", *AWAY]) == 0
    out = capsys.readouterr().out
    assert f"parevo's own copy: ParlayLib 9.9.9 in {fresh / 'data' / 'parlaylib' / 'include' / 'parlay'}" in out
    assert f"parevo uses: {fresh / 'data' / 'parlaylib' / 'include'}/parlay (found via parevo setup), version 9.9.9" \
        in out


@pytest.mark.fast
def test_setup_failures_are_one_clear_message_and_exit_2(fresh, monkeypatch, capsys):
    archive = tar_gz(github_members(FAKE_HEADERS))
    monkeypatch.setattr(parlay_setup, "PINNED", release_for(archive, FAKE_HEADERS))
    tampered = fresh / "tampered.tar.gz"
    tampered.write_bytes(tar_gz(github_members({**FAKE_HEADERS, "parallel.h": b"// not it\n"})))
    assert main(["setup", "--from", str(tampered)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parevo: SHA-256 mismatch for ") and "Nothing was installed" in err
    monkeypatch.setenv("PAREVO_PARLAYLIB_FROM", closed_port_url())
    assert main(["setup"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parevo: cannot download ParlayLib: ") and "no network access" in err
    assert err.rstrip().endswith(MANUAL_WAYS)
    assert not (fresh / "data").exists()


@pytest.mark.fast
def test_evolve_without_parlaylib_says_so_in_one_line_first(fresh, capsys):
    """No terminal, no --yes: one line saying ParlayLib is missing and how to get it; nothing printed before it."""
    code = main(["evolve", f"{EXAMPLES / 'sum_squares.cpp'}:8", *AWAY])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    first, rest = captured.err.split("\n", 1)
    assert first.startswith("parevo: ParlayLib not found: run `parevo setup` (or add --yes) to download ParlayLib "
                            f"{PINNED.version} from github.com (SHA-256 pinned)")
    assert rest.rstrip() == MANUAL_WAYS  # and not the LLM note: the search never started
    assert not (fresh / "data").exists()


@pytest.mark.fast
def test_evolve_yes_without_network_says_so_and_prints_the_manual_ways(fresh, monkeypatch, capsys):
    monkeypatch.setenv("PAREVO_PARLAYLIB_FROM", closed_port_url())
    code = main(["evolve", f"{EXAMPLES / 'sum_squares.cpp'}:8", "--yes", *AWAY])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("parevo: ParlayLib not found; installing ParlayLib 2.3.3 from 127.0.0.1 (SHA-256 pinned)")
    assert "parevo: cannot download ParlayLib: no network access (cannot reach 127.0.0.1: Connection refused)" in err
    assert err.rstrip().endswith(MANUAL_WAYS)
    assert not (fresh / "data").exists()


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.fast
@pytest.mark.parametrize("answer, installs", [("n\n", False), ("", False), ("\n", True), ("yes\n", True)])
def test_on_a_terminal_first_use_asks_first(fresh, monkeypatch, answer, installs):
    archive = tar_gz(github_members(FAKE_HEADERS))
    err = ParlayLibMissing("ParlayLib headers not found.", ["PARLAYLIB_INCLUDE = '/x' has no parlay/primitives.h"])
    out = _Terminal()
    with Loopback({"/p.tar.gz": archive}) as srv:
        monkeypatch.setattr(parlay_setup, "PINNED", release_for(archive, FAKE_HEADERS, url=srv.url("/p.tar.gz")))
        assert first_use(err, yes=False, stream=out, stdin=_Terminal(answer)) is installs
    first, rest = out.getvalue().split("\n", 1)
    assert first == "parevo: ParlayLib not found (PARLAYLIB_INCLUDE = '/x' has no parlay/primitives.h)."
    assert rest.startswith(f"Download ParlayLib {PINNED.version} from 127.0.0.1 (SHA-256 pinned) into "
                           f"{fresh / 'data' / 'parlaylib' / 'include' / 'parlay'}? [Y/n] ")
    assert (MANUAL_WAYS in rest) is not installs
    assert (fresh / "data" / "parlaylib" / "include" / "parlay" / "primitives.h").is_file() is installs


@pytest.mark.fast
def test_not_parallelizable_needs_no_parlaylib(fresh, capsys):
    code = main(["evolve", f"{EXAMPLES / 'recurrence.cpp'}:8", *AWAY, "--quiet"])
    captured = capsys.readouterr()
    assert code == 1 and "not parallelizable as it stands: loop-carried dependence" in captured.out
    assert "ParlayLib not found" not in captured.err


@pytest.mark.parlay
def test_first_use_installs_parlaylib_and_searches(fresh, toolchain, parevo_cache_dir, monkeypatch, capsys):
    """`parevo evolve --yes` on a machine without ParlayLib: installs the pinned 2.3.3 (served from a loopback
    mirror in GitHub's layout, accepted by its headers) and runs the search with it."""
    if toolchain.parlay_headers_sha256 != PINNED.headers_sha256:
        pytest.skip(f"!!! the ParlayLib installed here ({toolchain.parlay_version}) is not 2.3.3 !!!")
    work = fresh / "sum_squares.cpp"
    shutil.copy(EXAMPLES / "sum_squares.cpp", work)
    archive = tar_gz(github_members(installed_headers(toolchain.parlay_include), top=f"parlaylib-{PINNED.commit}"))
    with Loopback({"/mirror.tar.gz": archive}) as srv:
        monkeypatch.setenv("PAREVO_PARLAYLIB_FROM", srv.url("/mirror.tar.gz"))
        code = main(["evolve", f"{work}:8", "--yes", *AWAY, "--max-candidates", "1", "--json",
                     str(fresh / "r.json")])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err  # verified, or correctly not offered on a busy machine
    include = fresh / "data" / "parlaylib" / "include"
    assert captured.err.startswith("parevo: ParlayLib not found; installing ParlayLib 2.3.3")
    assert f"installed ParlayLib 2.3.3 in {include / 'parlay'}" in captured.err
    assert "no LLM endpoint configured" in captured.err  # printed once the search starts
    tc = json.loads((fresh / "r.json").read_text())["toolchain"]
    assert (tc["parlay_include"], tc["parlay_version"]) == (str(include), "2.3.3")
