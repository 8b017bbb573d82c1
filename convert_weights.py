"""Convert a timm ImageNet checkpoint of MnasNet into a backbone weights file.

Example:
    python convert_weights.py --backbone mnasnet_b1 --alpha 1.0 \\
        --checkpoint mnasnet_100.safetensors --out mnasnet_b1_imagenet.h5
    python train.py --backbone mnasnet_b1 --weights mnasnet_b1_imagenet.h5 --data VOC2007

timm publishes ``model.safetensors`` for ``mnasnet_100`` (MnasNet-B1) and ``semnasnet_100``
(MnasNet-A1) on the Hugging Face hub (``timm/mnasnet_100.rmsp_in1k``,
``timm/semnasnet_100.rmsp_in1k``); no PyTorch is needed to read them.
"""

import os
import sys

from utils.cli import ArgumentParser, UsageError, run_cli
from utils.options import add_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MODE = "convert"
CONVERTIBLE = ("mnasnet_b1", "mnasnet_a1")


def build_parser():
    parser = ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="The written file holds the backbone's layers only; "
        "train.py --weights loads them by name.",
    )
    add_options(parser, ("backbone", "alpha"), MODE)
    add_options(parser, ("checkpoint", "convert_out"), MODE, required=("checkpoint", "convert_out"))
    return parser


def run(args):
    from nets import get_backbone
    from utils.timm_weights import convert_checkpoint

    if args.backbone not in CONVERTIBLE:
        raise UsageError(
            f"--backbone: timm checkpoints convert for {', '.join(CONVERTIBLE)}, "
            f"not {args.backbone}"
        )
    get_backbone(args.backbone, args.alpha)
    if not os.path.isfile(args.checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    converted, unused = convert_checkpoint(
        args.checkpoint, args.backbone, args.alpha, args.convert_out
    )
    print(
        f"{len(converted)} layers of {args.backbone} alpha {args.alpha:g} -> "
        f"{args.convert_out}"
        + (f" (not used by the detector: {', '.join(unused)})" if unused else "")
    )
    return 0


def main(argv=None):
    return run_cli(run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
