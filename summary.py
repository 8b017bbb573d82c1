"""Print the size and cost of a YOLOv4-lite model: parameters and GFLOPs.

Example:
    python summary.py --backbone ghostnet --num-classes 20 --input-size 416
    python summary.py --backbone mobilenetv1 --alpha 0.25 --json
"""

import json
import os
import sys

from nets.defaults import MAX_NUM_CLASSES
from utils.cli import ArgumentParser, check_range, run_cli
from utils.options import add_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
MODE = "summary"


def build_parser():
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    model = parser.add_argument_group("model")
    add_options(model, ("backbone", "alpha", "num_classes", "input_size"), MODE)
    add_options(parser.add_argument_group("output"), ("json_summary", "layers"), MODE)
    return parser


def run(args):
    from nets import yolo_body
    from nets.profile import model_profile
    from utils.config import parse_input_size

    check_range(args.num_classes, "--num-classes", 1, MAX_NUM_CLASSES)
    height, width = parse_input_size(args.input_size)
    model = yolo_body(
        (height, width), num_classes=args.num_classes, backbone=args.backbone, alpha=args.alpha
    )
    profile = model_profile(model)
    if args.json_summary:
        print(json.dumps(profile))
        return 0
    if args.layers:
        model.summary()
    print(
        f"model:            YOLOv4-lite {args.backbone} alpha {args.alpha:g}, "
        f"{args.num_classes} classes, input {height}x{width}"
    )
    print(f"total params:     {profile['params']:,}")
    print(f"trainable params: {profile['trainable_params']:,}")
    print(f"GFLOPs:           {profile['gflops']:.3f}")
    return 0


def main(argv=None):
    return run_cli(run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
