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
from utils.config import load_class_names, parse_input_size
from utils.data.anchors import format_anchors, kmeans_iou, mean_best_iou, normalized_box_sizes
from utils.data.datasets import dataset_for_args
from utils.options import add_options

MODE = "anchors"


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
