"""Fixtures of the language-server tests (helpers live in ``lsp_session``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_session import EXAMPLES, workspace_with


@pytest.fixture
def example_ws(tmp_path) -> Path:
    """A workspace with a few examples copied in."""
    return workspace_with(tmp_path / "ws", EXAMPLES / "sum_squares.cpp", EXAMPLES / "recurrence.cpp",
                          EXAMPLES / "dot_product.cpp")
