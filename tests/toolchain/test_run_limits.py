"""The limits of an optimized run follow the inputs it may generate, not the sandbox's defaults."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from parevo.toolchain.evaluate import EvalConfig, Evaluator
from parevo.toolchain.sandbox import RunLimits

pytestmark = pytest.mark.fast


def test_a_check_run_may_write_the_text_of_a_large_2d_output():
    # a 2-D stencil at the check size n = 4,099: a 4,099 x 4,099 grid of doubles in and out (134 MB each);
    # the check run writes the output as text, ~25 characters per value, for two seeds
    grid = 4099 * 4099 * 8
    ev = SimpleNamespace(config=EvalConfig(max_input_bytes=2 * grid))
    text = 2 * 4099 * 4099 * 25
    assert RunLimits().file_bytes < text  # the sandbox's default: the original was killed by SIGXFSZ
    assert Evaluator.file_bytes.fget(ev) > text
    assert Evaluator.file_bytes.fget(SimpleNamespace(config=EvalConfig(max_input_bytes=4 * grid))) \
        > Evaluator.file_bytes.fget(ev)  # it grows with the inputs
