"""Print the size and cost of a YOLOv4-lite model: parameters and GFLOPs.

Example:
    python summary.py --backbone ghostnet --num-classes 20 --input-size 416
    python summary.py --backbone mobilenetv1 --alpha 0.25 --json
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenetv1", help="backbone name (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=1.0, help="width multiplier (default: %(default)s)")
    parser.add_argument("--num-classes", type=int, default=20, help="number of classes (default: %(default)s)")
    parser.add_argument("--input-size", default="416", help="N or HxW, multiples of 32 (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--layers", action="store_true", help="also print Keras' layer-by-layer summary")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from nets import yolo_body
    from nets.profile import model_profile
    from utils.config import ConfigError, parse_input_size

    try:
        height, width = parse_input_size(args.input_size)
        model = yolo_body((height, width), num_classes=args.num_classes, backbone=args.backbone,
                          alpha=args.alpha)
    except (ValueError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    profile = model_profile(model)
    if args.json:
        print(json.dumps(profile))
        return 0
    if args.layers:
        model.summary()
    print(f"model:            YOLOv4-lite {args.backbone} alpha {args.alpha:g}, "
          f"{args.num_classes} classes, input {height}x{width}")
    print(f"total params:     {profile['params']:,}")
    print(f"trainable params: {profile['trainable_params']:,}")
    print(f"GFLOPs:           {profile['gflops']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
