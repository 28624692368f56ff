"""Plot speedup per kernel and method (PNG, matplotlib: ``pip install -e '.[bench]'``)."""

from __future__ import annotations

from pathlib import Path

from .report import method_speedup, parevo_effective, parevo_offered, speedup_range

PLOT_METHODS = (("gcc-autopar", "GCC autopar"), ("omp", "OpenMP"), ("parlay", "expert ParlayLib"),
                ("parevo", "parevo"))


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def plot_speedups(report: dict, path: Path) -> Path:
    """Grouped bars (log scale) of each method's speedup over serial -O3, per kernel; whiskers = quartile range.

    parevo's bar is its effective speedup: hatched at 1x where it offered no
    rewrite. Raises :class:`PlotUnavailable` without matplotlib.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotUnavailable("matplotlib is not installed: pip install -e '.[bench]'") from e

    kernels = [k for k in report["kernels"] if "timing" in k]
    P = report["meta"]["threads"]
    width = 0.8 / len(PLOT_METHODS)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.9 * len(kernels) + 2), 5.5))
    for j, (m, label) in enumerate(PLOT_METHODS):
        xs, ys, lo, hi, hatch = [], [], [], [], []
        for i, k in enumerate(kernels):
            v = parevo_effective(k) if m == "parevo" else method_speedup(k, m)
            if v is None:
                continue
            r = speedup_range(k, m) if (m != "parevo" or parevo_offered(k)) else None
            xs.append(i - 0.4 + (j + 0.5) * width)
            ys.append(v)
            lo.append(v - r[0] if r else 0.0)
            hi.append(r[1] - v if r else 0.0)
            hatch.append(m == "parevo" and not parevo_offered(k))
        bars = ax.bar(xs, ys, width, label=label, yerr=[lo, hi], capsize=2, error_kw={"elinewidth": 0.8})
        for b, h in zip(bars, hatch):
            if h:
                b.set_hatch("//")
                b.set_alpha(0.5)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(kernels)))
    ax.set_xticklabels([f"{k['kernel']}\nn={k.get('n', 0):,}" for k in kernels], rotation=60, ha="right",
                       fontsize=7)
    ax.set_ylabel(f"speedup over serial -O3 ({P} threads, log scale)")
    ax.set_title(f"Speedup per kernel and method, {P} threads (median; whiskers: quartile range; "
                 "hatched parevo: no rewrite offered, serial kept)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
