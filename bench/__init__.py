"""parevo's benchmark suite: serial kernels against GCC auto-parallelization, hand-written
OpenMP, expert ParlayLib and parevo's verified rewrites, side by side (``python -m bench``).

Modules: :mod:`bench.suite` (kernels and their loop replacements), :mod:`bench.build`
(variant builds), :mod:`bench.measure` (interleaved timing), :mod:`bench.parevo_run`
(the search and its cost), :mod:`bench.runner` (one kernel end to end),
:mod:`bench.report` and :mod:`bench.plot` (outputs), :mod:`bench.cli` (the command).
``bench/examples.py`` and ``bench/lsp_latency.py`` are standalone scripts.
"""
