"""Convert a dataset between VOC, COCO and YOLO txt, every split, reporting the problems found.

Examples:
    python convert_dataset.py --data VOCdevkit/VOC2007 --to yolo --out voc-yolo
    python convert_dataset.py --data my-project/data.yaml --to coco --out my-coco --copy
    python convert_dataset.py --data instances_val2017.json --coco-images val2017/ --to yolo --out y

The images are linked into the output (copied with --copy); the output is a valid --data for
every tool. Boxes come back the same through a round trip to the pixel rounding of the format
(VOC: whole pixels). VOC's difficult objects become an attribute in COCO and are dropped (and
counted) in YOLO, which cannot mark them. Images that cannot be read are reported and left out.
"""

import sys

from utils.cli import ArgumentParser, apply_max_pixels, check_range, run_cli
from utils.options import add_options

MODE = "convert_data"


def build_parser():
    parser = ArgumentParser(
        description=__doc__,
        epilog="Exit status: 0 when the dataset was written (per-file problems are only "
        "reported), 2 when the dataset, the output folder or a flag is wrong.",
    )
    add_options(
        parser,
        (
            "data",
            "data_format",
            "coco_images",
            "to",
            "out",
            "copy",
            "classes",
            "no_check_images",
            "max_problems",
            "max_pixels",
        ),
        MODE,
        required=("data", "to", "out"),
    )
    return parser


def run(args):
    """Everything convert_dataset.py does, given parsed arguments; returns the exit status."""
    from utils.config import load_class_names
    from utils.data.convert import convert_dataset
    from utils.data.datasets import dataset_for_args

    check_range(args.max_problems, "--max-problems", 0)
    apply_max_pixels(args)
    class_names = load_class_names(args.classes) if args.classes else None
    dataset = dataset_for_args(args)
    result = convert_dataset(
        dataset,
        args.to,
        args.out,
        copy=args.copy,
        class_names=class_names,
        check_images=not args.no_check_images,
    )
    limit = None if args.max_problems == 0 else args.max_problems
    print(f"read {dataset.root} ({dataset.format}): " + result.report.format(max_problems=limit))
    print("\n".join(result.lines()))
    return 0


def main(argv=None):
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
