"""The report's figures, as PNG bytes, drawn with matplotlib's Agg renderer.

Figures are made with `matplotlib.figure.Figure` directly, never pyplot: no global state, no
display, no backend to pick (saving a Figure to PNG uses Agg). Each function takes the plain
JSON sections of a report (adanas.evaluate, adanas.diagnostics) or image arrays.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure

DPI = 110
CHOSEN, OTHER, MEMBER = "#d62728", "#1f77b4", "#2ca02c"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _percent(ax, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))


def errors_per_iteration(iterations: list[dict[str, Any]]) -> bytes:
    """Ensemble validation and test error, and the best single candidate's test error, per
    AdaNet iteration."""
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    t = [it["iteration"] for it in iterations]
    ax.plot(t, [it["validation_error"] for it in iterations], "o-", label="ensemble, validation")
    ax.plot(t, [it["test_error"] for it in iterations], "s-", label="ensemble, test")
    ax.plot(t, [it["best_single_test_error"] for it in iterations], "^--", color="grey",
            label="best single candidate, test")
    ax.set_xticks(t)
    ax.set_xlabel("AdaNet iteration")
    ax.set_ylabel("error")
    _percent(ax)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Error per iteration")
    return _png(fig)


def error_vs_params(candidates: list[dict[str, Any]]) -> bytes:
    """Every trained candidate's validation error against its parameter count; the ones each
    iteration chose in red (stars for the exported model's members), annotated by name."""
    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    trained = [c for c in candidates if not c["failed"]]
    others = [c for c in trained if not c["chosen"]]
    chosen = [c for c in trained if c["chosen"]]
    ax.scatter([c["params"] for c in others], [c["validation_error"] for c in others],
               color=OTHER, label="candidate", zorder=2)
    ax.scatter([c["params"] for c in chosen], [c["validation_error"] for c in chosen],
               color=CHOSEN, marker="*", s=180, label="chosen by its iteration", zorder=3)
    for c in trained:
        ax.annotate(c["name"], (c["params"], c["validation_error"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    if len({c["params"] for c in trained}) > 1:
        from matplotlib.ticker import NullFormatter
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())   # minor labels overlap on short ranges
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("validation error (alone)")
    _percent(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    failed = len(candidates) - len(trained)
    ax.set_title("Candidates: error vs size" + (f" ({failed} failed, not shown)" if failed else ""))
    return _png(fig)


def member_weights(members: list[dict[str, Any]]) -> bytes:
    """The exported model's members and their mixture weight (one number per member)."""
    fig = Figure(figsize=(max(3.5, 0.9 * len(members) + 2), 3.2))
    ax = fig.subplots()
    names = [f"{m['name']}\n{m['arch']}" for m in members]
    ax.bar(range(len(members)), [m["weight"] for m in members], color=MEMBER)
    ax.set_xticks(range(len(members)), names, fontsize=8)
    ax.set_ylabel("mixture weight")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Member weights")
    return _png(fig)


def confusion(cm: list[list[int]], class_names: list[str]) -> bytes:
    """The test split's confusion matrix (rows: true class, columns: predicted), counts written
    in the cells when there are at most 20 classes."""
    cm = np.asarray(cm)
    c = len(class_names)
    side = min(9.0, 2.5 + 0.4 * c)
    fig = Figure(figsize=(side, side * 0.85))
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if c <= 40:
        ax.set_xticks(range(c), class_names, rotation=90 if c > 10 else 0, fontsize=8)
        ax.set_yticks(range(c), class_names, fontsize=8)
    if c <= 20:
        threshold = cm.max() / 2 if cm.size else 0
        for i in range(c):
            for j in range(c):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] > threshold else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix (test)")
    return _png(fig)


def reliability(before: list[dict[str, Any]], after: list[dict[str, Any]], temperature: float,
                ece_before: float, ece_after: float) -> bytes:
    """Reliability diagram: accuracy against mean confidence per confidence bin, before and after
    temperature scaling, with the diagonal of perfect calibration; bin counts below."""
    fig = Figure(figsize=(6, 5))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    for bins, style, label in ((before, "o-", f"raw (ECE {100 * ece_before:.2f}%)"),
                               (after, "s-", f"T = {temperature:.3g} (ECE {100 * ece_after:.2f}%)")):
        used = [b for b in bins if b["count"]]
        top.plot([b["confidence"] for b in used], [b["accuracy"] for b in used], style, label=label)
    top.set_ylabel("accuracy")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    top.set_title("Reliability diagram (test)")
    width = before[0]["high"] - before[0]["low"] if before else 0.1
    centres = [(b["low"] + b["high"]) / 2 for b in before]
    bottom.bar([x - width / 4 for x in centres], [b["count"] for b in before], width / 2, label="raw")
    bottom.bar([x + width / 4 for x in centres], [b["count"] for b in after], width / 2,
               label="scaled")
    bottom.set_xlabel("confidence (top-class probability)")
    bottom.set_ylabel("examples")
    bottom.set_yscale("symlog")
    return _png(fig)


def image_grid(rows: list[list[np.ndarray]], row_labels: list[str], column_labels: list[str],
               title: str = "") -> bytes:
    """A grid of uint8 images [H, W, C] (one row per example), nearest-neighbour upscaled so
    tiny images (8x8 digits) stay legible."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig = Figure(figsize=(1.15 * n_cols + 1.2, 1.15 * n_rows + 0.4))
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(row):
                ax.set_axis_off()
                continue
            image = np.asarray(row[j])
            gray = image.shape[-1] == 1
            ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None,
                      vmin=0, vmax=255, interpolation="nearest")
            if i == 0 and j < len(column_labels):
                ax.set_title(column_labels[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    return _png(fig)
