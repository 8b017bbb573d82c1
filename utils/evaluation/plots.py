"""Evaluation plots: per-class precision-recall curves and an AP-per-class bar chart.

Figures are drawn with matplotlib's object API on an Agg canvas, so nothing here touches pyplot's
global state or needs a display.
"""

import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from utils.files import write_figure


def safe_file_name(name):
    """A class name usable as a file name on every platform."""
    cleaned = re.sub(r"[^\w.+-]+", "_", str(name)).strip("._")
    return cleaned or "class"


def _save(fig, path):
    FigureCanvasAgg(fig)
    write_figure(path, fig, dpi=100)


def plot_pr_curve(curves, class_name, path, score_threshold=None):
    """One class's precision-recall curves, one line per IoU threshold.

    Args:
        curves: list of ``(iou_label, recall, precision, ap, point)`` where ``point`` is the
            (recall, precision) read at the score threshold, or None.
        class_name: shown in the title.
        path: PNG file to write.
        score_threshold: named in the legend of the marked points.
    """
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot(1, 1, 1)
    for iou_label, recall, precision, ap, point in curves:
        recall = np.asarray(recall, np.float64)
        precision = np.asarray(precision, np.float64)
        # Draw the interpolated (monotone) curve that AP integrates, from recall 0.
        envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
        xs = np.concatenate(([0.0], recall))
        ys = np.concatenate(([envelope[0] if len(envelope) else 0.0], envelope))
        (line,) = ax.step(xs, ys, where="pre", label=f"IoU {iou_label}: AP {ap * 100:.2f}%")
        ax.plot(recall, precision, color=line.get_color(), alpha=0.3, linewidth=0.8)
        if point is not None:
            ax.plot([point[0]], [point[1]], "o", color=line.get_color())
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    title = f"{class_name}: precision-recall"
    if score_threshold is not None:
        title += f" (dots: score >= {score_threshold:g})"
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    _save(fig, path)


def plot_ap_bars(ap_by_class, map_value, path, title="AP per class"):
    """Horizontal bar chart of AP per class (sorted), with the mAP in the title and as a line.

    Args:
        ap_by_class: {class name: AP in [0, 1]}.
        map_value: the mAP in [0, 1].
        path: PNG file to write.
    """
    items = sorted(ap_by_class.items(), key=lambda item: item[1])
    names = [name for name, _ in items]
    values = np.array([value for _, value in items], np.float64) * 100
    fig = Figure(figsize=(7, max(2.5, 0.32 * len(items) + 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    positions = np.arange(len(items))
    bars = ax.barh(positions, values, color="royalblue")
    for bar, value in zip(bars, values):
        ax.text(
            bar.get_width() + 0.5,
            bar.get_y() + bar.get_height() / 2,
            f"{value:.2f}",
            va="center",
            fontsize="small",
        )
    ax.axvline(
        map_value * 100,
        color="crimson",
        linestyle="--",
        linewidth=1,
        label=f"mAP {map_value * 100:.2f}%",
    )
    ax.set_yticks(positions)
    ax.set_yticklabels(names)
    ax.set_xlim(0, 105)
    ax.set_xlabel("AP (%)")
    ax.set_title(f"{title}: mAP {map_value * 100:.2f}%")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    _save(fig, path)
