"""Anchor boxes for a dataset (VOC, COCO or YOLO) by k-means on box sizes with 1 - IoU as distance.

Box widths and heights are normalised by their image's real size (every object of the listed
classes, difficult ones included, as the reference does), clustered with median updates from a
seeded start, scaled to the input size and written sorted by area in model_data's format.
"""

import os
import sys

import numpy as np

from utils import files
from utils.cli import ArgumentParser, check_range, check_seed, run_cli
from utils.config import ConfigError, load_class_names, parse_input_size
from utils.data.datasets import dataset_for_args
from utils.options import add_options, default

MODE = "anchors"


def normalized_box_sizes(samples):
    """(N, 2) float64 (width, height) of every box as a fraction of its image's size."""
    sizes = [
        np.stack(
            [(s.boxes[:, 2] - s.boxes[:, 0]) / s.width, (s.boxes[:, 3] - s.boxes[:, 1]) / s.height],
            1,
        )
        for s in samples
        if len(s.boxes)
    ]
    return np.concatenate(sizes).astype(np.float64) if sizes else np.zeros((0, 2))


def wh_iou(sizes, centers):
    """IoU of boxes and centres aligned at a common corner: (N, 2) x (K, 2) -> (N, K)."""
    inter = np.minimum(sizes[:, None, 0], centers[None, :, 0]) * np.minimum(
        sizes[:, None, 1], centers[None, :, 1]
    )
    union = (sizes[:, 0] * sizes[:, 1])[:, None] + (centers[:, 0] * centers[:, 1])[None, :] - inter
    return inter / union


def kmeans_iou(sizes, k=default("num_anchors"), seed=default("seed", MODE), max_iter=1000):
    """Cluster (N, 2) sizes into k centres sorted by area; returns (centres, assignment)."""
    if k < 1:
        raise ConfigError(f"the number of anchors must be at least 1, got {k}")
    if len(sizes) < k:
        raise ConfigError(f"need at least {k} boxes for {k} anchors, found {len(sizes)}")
    rng = np.random.default_rng(seed)
    centers = sizes[rng.choice(len(sizes), k, replace=False)]
    assignment = None
    for _ in range(max_iter):
        nearest = np.argmax(wh_iou(sizes, centers), axis=1)
        if assignment is not None and np.array_equal(nearest, assignment):
            break
        assignment = nearest
        for j in range(k):
            members = sizes[assignment == j]
            if len(members):  # an empty cluster keeps its centre
                centers[j] = np.median(members, axis=0)
    order = np.argsort(centers[:, 0] * centers[:, 1])
    remap = np.empty(k, int)
    remap[order] = np.arange(k)
    return centers[order], remap[assignment]


def mean_best_iou(sizes, centers):
    """Average over boxes of the IoU with their best-fitting anchor."""
    return float(np.mean(np.max(wh_iou(sizes, centers), axis=1)))


def format_anchors(anchors):
    """'w,h, w,h, ...' with whole pixels, as in model_data/yolo_anchors.txt."""
    return ", ".join(f"{int(round(w))},{int(round(h))}" for w, h in anchors)


def save_plot(sizes, centers, assignment, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(sizes[:, 0], sizes[:, 1], c=assignment, s=4, cmap="tab10", alpha=0.5)
    ax.scatter(centers[:, 0], centers[:, 1], c="black", marker="x", s=60, label="anchors")
    ax.set_xlabel("box width / image width")
    ax.set_ylabel("box height / image height")
    ax.set_title(f"k-means anchors (k={len(centers)}, {len(sizes)} boxes)")
    ax.legend()
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)


def build_parser():
    parser = ArgumentParser(description=__doc__)
    add_options(
        parser,
        (
            "data",
            "data_format",
            "coco_images",
            "classes",
            "num_anchors",
            "input_size",
            "seed",
            "out",
            "plot",
        ),
        MODE,
        required=("data",),
    )
    return parser


def run(args):
    check_range(args.num_anchors, "--num-anchors", 1)
    check_seed(args)
    height, width = parse_input_size(args.input_size)
    dataset = dataset_for_args(args)
    class_names = load_class_names(args.classes) if args.classes else None
    read = dataset.load(None, class_names, check_images=False)
    samples, report = read.samples, read.report
    sizes = normalized_box_sizes(samples)
    centers, assignment = kmeans_iou(sizes, args.num_anchors, args.seed)
    if report.problems:
        print(report.format(max_problems=10, counts=False))
    anchors = centers * np.array([width, height])
    text = format_anchors(anchors)
    plot = args.plot or os.path.splitext(args.out)[0] + ".png"
    files.write_text(args.out, text + "\n")
    save_plot(sizes, centers, assignment, plot)
    print(f"{len(sizes)} boxes from {len(samples)} images; anchors at {width}x{height}: {text}")
    print(f"mean IoU of each box with its best anchor: {mean_best_iou(sizes, centers):.4f}")
    print(f"wrote {args.out} and {plot}")
    return 0


def main(argv=None):
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
