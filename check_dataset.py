"""Check a dataset in any format (VOC, COCO, YOLO): images and boxes per class and split, box sizes,
and every problem with the file it is in.

Examples:
    python check_dataset.py --data VOCdevkit/VOC2007
    python check_dataset.py --data my-project/data.yaml --split val
    python check_dataset.py --data raccoon/VOC2007 --write-splits   # VOC without ImageSets/

Each split is read once; a problem in one file (an unreadable image, a bad label line, a box
outside its image, ...) is reported with the file's name and the reading goes on.
"""

import sys

from utils.cli import ArgumentParser, UsageError, check_split_flags, run_cli
from utils.options import add_options

MODE = "check"


def build_parser():
    parser = ArgumentParser(
        description=__doc__,
        epilog="Exit status: 0 when the dataset could be read (per-file problems are only "
        "reported), 1 when no usable image was found, 2 when the dataset, the class list or a "
        "flag is wrong.",
    )
    add_options(
        parser,
        (
            "data",
            "data_format",
            "coco_images",
            "split",
            "classes",
            "write_splits",
            "trainval_percent",
            "train_percent",
            "seed",
            "no_check_images",
            "max_problems",
            "max_pixels",
        ),
        MODE,
        required=("data",),
    )
    return parser


def _write_voc_splits(args, dataset):
    """--write-splits: a VOC folder's split files, drawn when it has none."""
    from utils.cli import check_output_path
    from utils.data.voc_layout import split_path, write_voc_splits

    if dataset.format != "voc":
        raise UsageError(f"--write-splits is for VOC folders; {args.data} is {dataset.format}")
    if dataset.split_names():
        print(f"kept the existing split files: {', '.join(dataset.split_names())}")
        return
    check_output_path("--data", split_path(dataset.root, "train"), "file")
    splits = write_voc_splits(dataset.root, args.trainval_percent, args.train_percent, args.seed)
    print(
        f"wrote split files (seed {args.seed}): "
        + ", ".join(f"{s} ({len(ids)})" for s, ids in splits.items())
    )


def run(args):
    """Everything check_dataset.py does, given parsed arguments; returns the exit status."""
    from utils.config import load_class_names
    from utils.data.datasets import dataset_for_args, merge_reports
    from utils.data.stats import box_size_summary, class_table

    check_split_flags(args)
    class_names = load_class_names(args.classes) if args.classes else None
    dataset = dataset_for_args(args)
    if args.write_splits:
        _write_voc_splits(args, dataset)
    if args.split is not None and not dataset.has_split(args.split):
        raise dataset.missing_split(args.split)
    splits = [args.split] if args.split else (dataset.split_names() or [None])
    if class_names is None:
        class_names = dataset.class_names()
    reads = {
        split: dataset.load(split, class_names, check_images=not args.no_check_images)
        for split in splits
    }
    samples = {split or "all": read.samples for split, read in reads.items()}
    unique = list({s.image_path: s for part in samples.values() for s in part}.values())
    print(f"{dataset.root}: a {dataset.format} dataset, {len(unique)} usable images")
    print("images / boxes per class and split (difficult boxes in brackets):")
    print(class_table(samples, class_names))
    print()
    print(box_size_summary(unique))
    print()
    report = merge_reports([read.report for read in reads.values()])
    limit = None if args.max_problems == 0 else args.max_problems
    print(report.format(max_problems=limit, counts=False).split("\n", 1)[-1])
    if not unique:
        print(f"error: no usable image in {dataset.root}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
