"""`bench --chart out.png`: the comparison drawn with matplotlib (the `charts` extra).

Left, each backend's p50 latency on a log scale (its p99 as a thin mark where measured), with
the speed-up over the AgentDB-style baseline written beside the bar; right, recall@k.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from .bench import BenchReport

INSTALL = "pip install 'vecmigrate[charts]'"


def check_chart_support(path: Path) -> None:
    """Refuse --chart before measuring anything: no matplotlib, or a file that cannot be written."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"--chart needs matplotlib, which is not installed: {INSTALL}") from None
    if path.suffix.lower() != ".png":
        raise UsageError(f"--chart {path}: name a .png file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UsageError(f"--chart {path}: the folder {folder} does not exist or cannot be written")


def draw(report: BenchReport, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    rows = list(reversed(report.rows))  # top to bottom as in the table
    names = [r.backend for r in rows]
    figure, (latency, recall) = plt.subplots(1, 2, figsize=(12, 0.55 * len(rows) + 1.8),
                                             gridspec_kw={"width_ratios": [3, 1]}, sharey=True)
    bars = latency.barh(names, [r.p50_ms for r in rows], color="#4878a8")
    for bar, r in zip(bars, rows):
        if r.p99_ms is not None:
            latency.plot([r.p99_ms, r.p99_ms], [bar.get_y(), bar.get_y() + bar.get_height()], color="#222222", lw=1)
        label = f"{r.p50_ms:.3g} ms" + (f"  ({r.speedup:,.0f}x)" if r.speedup and r.speedup >= 1.5 else "")
        latency.text(r.p50_ms * 1.08, bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=8)
    latency.set_xscale("log")
    latency.set_xlabel("single-query latency, ms (bar: p50; mark: p99; log scale)")
    recall.barh(names, [r.recall_at_k for r in rows], color="#6a9f58")
    recall.set_xlim(0, 1.05)
    recall.set_xlabel(f"recall@{report.k}")
    figure.suptitle(f"vecmigrate bench: {report.count:,} patterns, {report.dimension}-d, k={report.k}")
    figure.tight_layout()
    temp = path.with_name(f".{path.name}.partial")
    try:
        figure.savefig(temp, format="png", dpi=120)
        os.replace(temp, path)  # the chart appears whole or not at all
    finally:
        plt.close(figure)
        temp.unlink(missing_ok=True)
