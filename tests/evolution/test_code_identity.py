"""Cached verdicts belong to the verifier that reached them: its code is part of their key."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from parevo.evolution.engine import code_identity

pytestmark = pytest.mark.fast


def test_a_one_byte_change_in_the_verifier_changes_the_identity(tmp_path):
    root = tmp_path / "toolchain"
    shutil.copytree(Path(str(resources.files("parevo.toolchain"))), root,
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = code_identity(root)
    assert code_identity(root) == before  # deterministic
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "splice.cpython-311.pyc").write_bytes(b"\0")
    (root / "NOTES.md").write_text("not code")
    assert code_identity(root) == before  # only code counts
    splice = root / "splice.py"
    splice.write_text(splice.read_text() + "\n")
    assert code_identity(root) != before  # the splice changed: earlier verdicts are not reused
    splice.write_text(splice.read_text()[:-1])
    assert code_identity(root) == before
    (root / "cpp" / "parevo_harness.h").write_text((root / "cpp" / "parevo_harness.h").read_text() + "//\n")
    assert code_identity(root) != before
