"""Fine-tuning benchmark: train.py's default settings on the raccoon dataset.

    python benchmarks/bench_finetune.py                      # the full benchmark (~15 min, 2 cores)
    python benchmarks/bench_finetune.py --input-size 320 --epochs 10     # a quick trial
    python benchmarks/bench_finetune.py --backbone squeezenet --alpha 1 \
        --weights ../shared/weights/squeezenet_v1_1_imagenet_notop.h5   # from ImageNet weights
    python benchmarks/bench_finetune.py --backbone shufflenetv2 --alpha 0.5 --weights none

Runs ``train.py`` in a subprocess exactly as a user would, giving only backbone, alpha, data,
classes, initial weights and save dir (by default mobilenetv1-0.25 from the VOC weights, raccoon
train, 416),
plus any extra flags after ``--``. Then evaluates ``last.h5`` on raccoon ``test`` the way get_map
does (confidence 0.001, NMS IoU 0.5, VOC all-point AP; COCO AP from pycocotools) and prints wall
time, time per epoch, training images/s, peak memory (the training process's max RSS) and mAP.

The original implementation on the same machine: 93.2% mAP@0.5 in 36 min 22 s (50 frozen + 250
unfrozen epochs, SGD, batch 8), 26-39 training images/s, 2.3 GiB peak memory.
"""

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
DEFAULT_DATA = os.path.join(SHARED, "datasets", "raccoon", "VOC2007")
DEFAULT_WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--data", default=DEFAULT_DATA, help="raccoon VOC folder")
    parser.add_argument("--backbone", default="mobilenetv1")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument(
        "--weights",
        default=DEFAULT_WEIGHTS,
        help="initial weights: VOC-trained, an ImageNet backbone file, or none",
    )
    parser.add_argument("--save-dir", default=None, help="run folder (default: a temp folder)")
    parser.add_argument(
        "--input-size", default=None, help="override the training size (quick trials only)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override (quick trials only)")
    parser.add_argument("extra", nargs="*", help="more train.py flags, after --")
    return parser.parse_args()


def read_history(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def evaluate(weights, data, input_size, backbone="mobilenetv1", alpha=0.25):
    """(VOC mAP@0.5, COCO AP, seconds) of ``weights`` on the test split, get_map's settings."""
    from nets import load_weights, yolo_body
    from utils.data import load_voc_split
    from utils.evaluation.evaluate import evaluate_detector
    from utils.inference.detector import Detector
    from utils.options import detection_defaults

    samples, _ = load_voc_split(data, "test", ["raccoon"])
    model = yolo_body(input_size, num_classes=1, backbone=backbone, alpha=alpha)
    load_weights(model, weights)
    start = time.perf_counter()
    detector = Detector(model, ["raccoon"], input_size=input_size, **detection_defaults("eval"))
    result = evaluate_detector(detector, samples, ["raccoon"], metric="both", progress=False)
    return (result["voc"]["0.5"]["mAP"], result["coco"]["stats"][0], time.perf_counter() - start)


def main():
    args = parse_args()
    for path in (args.data, args.weights):
        if path != "none" and not os.path.exists(path):
            sys.exit(f"bench_finetune: {path} is missing (needs ../shared)")
    save_dir = args.save_dir or tempfile.mkdtemp(prefix="bench_finetune_")
    command = [
        sys.executable,
        os.path.join(ROOT, "train.py"),
        "--backbone",
        args.backbone,
        "--alpha",
        str(args.alpha),
        "--data",
        args.data,
        "--classes",
        os.path.join(ROOT, "model_data", "raccoon_classes.txt"),
        "--weights",
        args.weights,
        "--save-dir",
        save_dir,
        "--quiet",
    ]
    if args.input_size:
        command += ["--input-size", args.input_size]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    command += args.extra
    print("running:", " ".join(command), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT)
    wall = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    if proc.returncode != 0:
        sys.exit(f"bench_finetune: train.py exited with {proc.returncode}")

    from utils.config import parse_input_size

    input_size = parse_input_size(args.input_size or "416")
    history = read_history(os.path.join(save_dir, "history.csv"))
    epochs = len(history)
    epoch_times = [float(r["time_s"]) for r in history]
    train_s = sum(float(r["train_s"]) for r in history)
    images = sum(float(r["images_per_s"]) * float(r["train_s"]) for r in history)
    # Steady state: leave out each phase's first epoch (graph tracing, image cache fill).
    steady = [
        r
        for i, r in enumerate(history)
        if i > 0 and r["lr"] and float(r["images_per_s"]) > 0 and i != _unfreeze_index(save_dir)
    ]
    steady_ips = (sum(float(r["images_per_s"]) for r in steady) / len(steady)) if steady else 0
    map50, coco_ap, eval_s = evaluate(
        os.path.join(save_dir, "last.h5"), args.data, input_size, args.backbone, args.alpha
    )
    best_map = None
    if os.path.isfile(os.path.join(save_dir, "best.h5")):
        best_map = evaluate(
            os.path.join(save_dir, "best.h5"), args.data, input_size, args.backbone, args.alpha
        )[0]

    start_from = (
        "random initialisation" if args.weights == "none" else os.path.basename(args.weights)
    )
    print(
        f"\n=== fine-tuning benchmark: {args.backbone}-{args.alpha:g}, {start_from} -> raccoon, "
        f"{input_size[0]}x{input_size[1]}, train.py defaults ==="
    )
    print(f"save dir               {save_dir}")
    print(f"epochs                 {epochs}")
    print(
        f"wall time (train.py)   {wall / 60:.1f} min ({wall:.0f} s, start-up and evaluations "
        f"included)"
    )
    print(
        f"time per epoch         {sum(epoch_times) / epochs:.1f} s mean "
        f"(median {sorted(epoch_times)[epochs // 2]:.1f} s)"
    )
    print(f"training images/s      {images / train_s:.1f} overall, {steady_ips:.1f} steady state")
    print(f"peak memory (max RSS)  {peak_gib:.2f} GiB")
    print(
        f"mAP@0.5 last.h5        {map50 * 100:.1f}%  (COCO AP {coco_ap:.3f}; get_map settings "
        f"conf 0.001, NMS 0.5; {eval_s:.1f} s)"
    )
    if best_map is not None:
        print(
            f"mAP@0.5 best.h5        {best_map * 100:.1f}%  (chosen on the same test split "
            f"during training: optimistic)"
        )


def _unfreeze_index(save_dir):
    import json

    try:
        with open(os.path.join(save_dir, "train_state.json")) as f:
            return int(json.load(f)["settings"]["freeze_epochs"])
    except (OSError, ValueError, KeyError):
        return -1


if __name__ == "__main__":
    main()
