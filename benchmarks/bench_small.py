"""Small objects on the helmet set: what each way of training and detecting buys.

    python benchmarks/bench_small.py --epochs 25                 # every row (hours on 2 cores)
    python benchmarks/bench_small.py --rows a c --epochs 25      # row a, then c reusing its model
    python benchmarks/bench_small.py --rows a --epochs 1 --train-images 16 --test-images 8 \\
        --input-size 128 --out /tmp/small                          # a smoke run

mobilenetv1-0.25 from the VOC weights, helmet train (800) / test (199), the same epochs for every
row. Each row runs train.py and get_map.py as a user would (subprocesses) and keeps its model in
``--out/<row>/`` (row a's is what the deployment benchmark reuses):

    a  train.py's defaults at 416          d  --train-slice 416, detected with --slice 416
    b  the same at 608                     e  a's model, detected at 832 (the best found)
    c  a's model, detected with --slice 416  f  d with --anchors auto

A row reports mAP@0.5 (VOC), APs (COCO AP@[.5:.95] of small boxes), AP50 of small boxes (VOC
mAP@0.5 of the small band), the training wall time and the milliseconds per test image at
inference (the median of --time-images images, one at a time, after a warm-up). The table is
printed and written to ``--out/bench_small.md``, the figures to ``--out/bench_small.json``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
HELMET = os.path.join(SHARED, "datasets", "helmet", "VOC2007")
WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")

# row: (what it is, train.py flags or the row whose model it reuses, get_map.py flags)
ROWS = {
    "a": ("defaults at {size}", [], []),
    "b": ("defaults at 608", ["--input-size", "608"], ["--input-size", "608"]),
    "c": ("a, detected with --slice {size}", "a", ["--slice", "{size}"]),
    "d": (
        "--train-slice {size}, --slice {size}",
        ["--train-slice", "{size}"],
        ["--slice", "{size}"],
    ),
    "e": ("a, detected at 832", "a", ["--input-size", "832"]),
    "f": (
        "d with --anchors auto",
        ["--train-slice", "{size}", "--anchors", "auto"],
        ["--slice", "{size}"],
    ),
}


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--epochs", type=int, default=25, help="for every trained row")
    parser.add_argument("--input-size", default="416", help="rows a, c, d, e (b is 608)")
    parser.add_argument("--out", default=None, help="models and tables (default: a temp folder)")
    parser.add_argument("--train-images", type=int, default=None, help="first N (smoke runs)")
    parser.add_argument("--test-images", type=int, default=None, help="first N (smoke runs)")
    parser.add_argument("--time-images", type=int, default=30)
    return parser.parse_args()


def subset(folder, train, test):
    """The helmet folder, or a folder whose split files hold its first train/test images."""
    if train is None and test is None:
        return HELMET
    root = os.path.join(folder, "helmet_subset")
    os.makedirs(os.path.join(root, "ImageSets", "Main"), exist_ok=True)
    for sub in ("Annotations", "JPEGImages"):
        if not os.path.exists(os.path.join(root, sub)):
            os.symlink(os.path.join(HELMET, sub), os.path.join(root, sub))
    for split, count in (("train", train), ("test", test)):
        ids = open(os.path.join(HELMET, "ImageSets", "Main", f"{split}.txt")).read().split()
        with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.write("".join(i + "\n" for i in ids[:count]))
    return root


def flag_value(flags, flag, default):
    """The last value given to ``flag`` in ``flags`` (as argparse takes it), else ``default``."""
    given = [flags[i + 1] for i, f in enumerate(flags[:-1]) if f == flag]
    return given[-1] if given else default


def run(command):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def train_row(row, flags, data, args, size):
    save_dir = os.path.join(args.out, row)
    command = ["train.py", "--backbone", "mobilenetv1", "--alpha", "0.25", "--data", data]
    command += ["--weights", WEIGHTS, "--epochs", str(args.epochs), "--input-size", size]
    command += ["--val-split", "test", "--save-dir", save_dir, "--quiet", *flags]
    return run(command), save_dir


def evaluate_row(save_dir, flags, data, out, size):
    command = ["get_map.py", "--backbone", "mobilenetv1", "--alpha", "0.25", "--data", data]
    command += ["--weights", os.path.join(save_dir, "last.h5"), "--input-size", size]
    command += ["--classes", os.path.join(save_dir, "classes.txt"), "--metric", "both"]
    command += ["--no-progress", "--out", out, *flags]
    run(command)
    results = json.load(open(os.path.join(out, "results.json")))
    stats = dict(zip(results["coco"]["stat_names"], results["coco"]["stats"]))
    return {
        "map50": results["voc"]["0.5"]["mAP"],
        "aps": stats["AP_small"],
        "ap50_small": results["voc_sizes"]["small"]["mAP"],
    }


def time_row(save_dir, flags, data, size, count):
    """Median ms per test image, one image at a time, after one warm-up image."""
    import numpy as np

    from utils.config import parse_input_size
    from utils.data.datasets import open_dataset
    from utils.data.images import load_image
    from utils.inference.runtime_detector import load_detector
    from utils.inference.slicing import SlicedDetector, SliceSettings

    detector = load_detector(
        "mobilenetv1",
        0.25,
        os.path.join(save_dir, "last.h5"),
        classes_path=os.path.join(save_dir, "classes.txt"),
        input_size=size,
        conf=0.001,
        nms_iou=0.5,
    )
    if "--slice" in flags:
        tile = parse_input_size(flags[flags.index("--slice") + 1])
        detector = SlicedDetector(detector, SliceSettings(tile))
    samples = open_dataset(data).load("test", detector.class_names).samples[: count + 1]
    images = [load_image(s.image_path) for s in samples]
    detector.detect(images[0])
    times = []
    for image in images[1:]:
        start = time.perf_counter()
        detector.detect(image)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def table(rows):
    lines = [
        "| row | what | mAP@0.5 | APs | AP50 small | training | ms/image |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, r in rows.items():
        small = "-" if r["ap50_small"] is None else f"{r['ap50_small'] * 100:.1f}"
        lines.append(
            f"| {row} | {r['what']} | {r['map50'] * 100:.1f} | {r['aps'] * 100:.1f} | {small} | "
            f"{r['train_minutes']:.1f} min | {r['ms']:.1f} |"
        )
    return "\n".join(lines)


def main():
    args = parse_args()
    args.out = args.out or tempfile.mkdtemp(prefix="bench_small_")
    os.makedirs(args.out, exist_ok=True)
    data = subset(args.out, args.train_images, args.test_images)
    results_path = os.path.join(args.out, "bench_small.json")
    results = json.load(open(results_path)) if os.path.isfile(results_path) else {}
    for row in args.rows:
        what, train_flags, eval_flags = ROWS[row]
        size = args.input_size
        fill = [f.replace("{size}", size) for f in eval_flags]
        if isinstance(train_flags, str):  # another row's model
            if train_flags not in results:
                sys.exit(f"row {row} needs row {train_flags} first")
            save_dir = os.path.join(args.out, train_flags)
            minutes = results[train_flags]["train_minutes"]
        else:
            flags = [f.replace("{size}", size) for f in train_flags]
            seconds, save_dir = train_row(row, flags, data, args, size)
            minutes = seconds / 60
        trained_with = [] if isinstance(train_flags, str) else list(train_flags)
        row_size = flag_value(trained_with + fill, "--input-size", size)
        figures = evaluate_row(save_dir, fill, data, os.path.join(args.out, f"map_{row}"), row_size)
        ms = time_row(save_dir, fill, data, row_size, args.time_images)
        results[row] = dict(
            figures, what=what.replace("{size}", size), train_minutes=minutes, ms=ms
        )
        with open(results_path, "w") as f:
            json.dump(results, f, indent=1)
        print(f"row {row}: {results[row]}", flush=True)
    text = table({row: results[row] for row in ROWS if row in results})
    with open(os.path.join(args.out, "bench_small.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
