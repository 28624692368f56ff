"""Signed result store: the per-user key, signatures, and what an untrusted record keeps."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from parevo.server import signing
from parevo.server.store import LoopRecord, ResultStore, anchor_of, file_digest
from parevo.toolchain.parsing import find_loop

pytestmark = pytest.mark.fast

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A user whose configuration folder is fresh (no key yet)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "parevo"


def _record() -> LoopRecord:
    text = (EXAMPLES / "sum_squares.cpp").read_text()
    site = find_loop(text, "/w/sum_squares.cpp", 7)
    return LoopRecord(kind="error", anchor=anchor_of(site), error="x").model_copy(update={"kind": "races"})


def test_the_key_is_made_on_first_use_private_and_reused(user):
    assert not user.exists()
    first = signing.signing_key()
    assert len(first) == 32
    path = signing.key_path()
    assert path == user / "signing.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(user.stat().st_mode) == 0o700
    signing._cache.clear()
    assert signing.signing_key() == first


def test_a_key_others_can_read_is_refused(user):
    signing.signing_key()
    signing._cache.clear()
    os.chmod(signing.key_path(), 0o644)
    with pytest.raises(signing.SigningKeyError, match="readable or writable by others"):
        signing.signing_key()
    assert signing.verify({"a": 1, "signature": "00"}).startswith("its signature cannot be checked")


def test_canonical_json_ignores_key_order_whitespace_and_the_signature():
    a = {"b": [1, 2.5, None], "a": "é", "signature": "x"}
    b = json.loads('{ "a" : "é", "b": [1, 2.5, null] }')
    assert signing.canonical(a) == signing.canonical(b) == '{"a":"é","b":[1,2.5,null]}'.encode()


def test_store_signs_what_it_writes_and_distrusts_edits_and_unsigned_files(user, tmp_path):
    rec = _record()
    store = ResultStore(tmp_path / "results")
    store.put(rec)
    [f] = list((tmp_path / "results").glob("*.json"))
    data = json.loads(f.read_text())
    assert len(data["signature"]) == 64 and "untrusted" not in data
    assert ResultStore(tmp_path / "results").get(rec.key).untrusted is None

    data["saved_at"] = time.time() + 1  # any edit
    f.write_text(json.dumps(data))
    again = ResultStore(tmp_path / "results").get(rec.key)
    assert again.untrusted == "its signature does not match this user's key (made elsewhere, or edited)"
    del data["signature"]
    f.write_text(json.dumps(data))
    got = ResultStore(tmp_path / "results")
    bad = got.get(rec.key)
    assert bad.untrusted == "it is not signed"
    assert bad.deps == {} and bad.race_check is None  # its claims are dropped
    assert got.mark_stale(rec.key, "x changed") is None
    with pytest.raises(ValueError, match="refusing to sign"):
        got.put(bad)


def test_a_trusted_record_is_never_hidden_by_a_forged_one_of_the_same_loop(user, tmp_path):
    rec = _record()
    store = ResultStore(tmp_path / "results")
    store.put(rec)
    forged = json.loads(rec.model_dump_json())
    (tmp_path / "results" / "zzz.json").write_text(json.dumps(forged))  # read after the genuine one
    assert ResultStore(tmp_path / "results").get(rec.key).untrusted is None


def test_a_result_file_that_is_a_fifo_is_skipped_at_once(user, tmp_path):
    (tmp_path / "results").mkdir()
    os.mkfifo(tmp_path / "results" / "a.json")
    os.mkfifo(tmp_path / "dep.h")
    t0 = time.monotonic()
    assert ResultStore(tmp_path / "results").load() == {}
    assert file_digest(str(tmp_path / "dep.h")) is None
    assert time.monotonic() - t0 < 1.0
