"""The speed table of the project, measured as whole processes on this machine.

Rows (each a fresh process, so start-up costs count where a user pays them):

* training, mobilenetv1-0.25 at 416, raccoon, mosaic/mixup 0.5, evaluation off: the first epoch
  (tracing included) and the steady ms/step and images/s of the later epochs, unfrozen and
  frozen (``train.py``'s own ``history.csv``);
* ``get_map.py --map-out`` on a generated VOC07-test-sized case (2,151 images, about 105,000
  detections; benchmarks/bench_map.py's generator), whole process, with its plots;
* ``predict.py`` on one image, cold process to saved result, with the .h5 weights and with a
  TFLite export of them (``export.py``, not timed);
* end-to-end latency per backbone (benchmarks/bench_predict.py), unless ``--no-latency``.

    python benchmarks/bench_speed.py [--epochs 3] [--no-latency] [--skip-train]
    python benchmarks/bench_speed.py --baseline ../old-checkout [--repeats 2]   # before/after
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
RACCOON = os.path.join(SHARED, "datasets", "raccoon", "VOC2007")
WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")
STREET = os.path.join(SHARED, "reference", "street.jpg")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")


def run(command, cwd):
    """Seconds a command takes as a whole process; exits with its output if it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench_speed: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def train_rows(work, epochs, frozen, root=ROOT):
    """(first epoch s, steady ms/step, steady images/s) of a short train.py run of the
    checkout at ``root``."""
    save_dir = tempfile.mkdtemp(prefix="frozen_" if frozen else "unfrozen_", dir=work)
    command = [
        sys.executable,
        os.path.join(root, "train.py"),
        "--backbone",
        "mobilenetv1",
        "--alpha",
        "0.25",
        "--data",
        RACCOON,
        "--classes",
        os.path.join(root, "model_data", "raccoon_classes.txt"),
        "--weights",
        WEIGHTS,
        "--epochs",
        str(epochs),
        "--freeze-epochs",
        str(epochs if frozen else 0),
        "--batch-size",
        "8",
        "--freeze-batch-size",
        "8",
        "--eval-period",
        "0",
        "--val-split",
        "none",
        "--save-dir",
        save_dir,
        "--quiet",
        "--seed",
        "0",
    ]
    run(command, work)
    with open(os.path.join(save_dir, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    steps = 160 // 8
    steady = rows[1:]
    train_s = sum(float(r["train_s"]) for r in steady) / len(steady)
    return float(rows[0]["time_s"]), 1000 * train_s / steps, 8 * steps / train_s


def compare_training(work, baseline, epochs, repeats):
    """Training rows of this checkout and of ``baseline`` (another checkout of the project),
    run alternately ``repeats`` times each, so both see the same machine; medians."""
    lines = []
    for frozen in (False, True):
        runs = {"this checkout": [], "baseline": []}
        for _ in range(repeats):
            runs["this checkout"].append(train_rows(work, epochs, frozen))
            runs["baseline"].append(train_rows(work, epochs, frozen, root=baseline))
        medians = {
            name: [statistics.median(values) for values in zip(*rows)]
            for name, rows in runs.items()
        }
        name = "frozen" if frozen else "unfrozen"
        for who, (first, ms, ips) in medians.items():
            lines.append(
                f"training {name:<8} {who:<14} {ms:5.0f} ms/step ({ips:4.1f} images/s); "
                f"first epoch {first:4.1f} s"
            )
        ratio = medians["this checkout"][2] / medians["baseline"][2]
        lines.append(f"training {name:<8} images/s ratio, this checkout / baseline: {ratio:.2f}x")
    return lines


def map_out_seconds(work):
    sys.path.insert(0, HERE)
    sys.path.insert(0, ROOT)
    from bench_map import make_case

    from utils.evaluation.map_io import write_map_out

    case = os.path.join(work, "map_case")
    write_map_out(case, make_case(2151, 104_673))
    seconds, _ = run(
        [
            sys.executable,
            os.path.join(ROOT, "get_map.py"),
            "--map-out",
            case,
            "--out",
            os.path.join(work, "map_result"),
            "--no-progress",
        ],
        work,
    )
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per training run (>= 2)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="another checkout of this project (e.g. a git worktree of an older "
        "commit): only the training rows, of both, run alternately",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="runs of each side with --baseline (medians are printed)",
    )
    args = parser.parse_args()
    for path in (RACCOON, WEIGHTS, STREET):
        if not os.path.exists(path):
            sys.exit(f"bench_speed: {path} is missing (needs ../shared)")
    if args.baseline:
        if not os.path.isfile(os.path.join(args.baseline, "train.py")):
            sys.exit(f"bench_speed: {args.baseline} is not a checkout of this project")
        with tempfile.TemporaryDirectory(prefix="bench_speed_") as work:
            print(
                "\n".join(
                    compare_training(
                        work,
                        os.path.abspath(args.baseline),
                        max(args.epochs, 2),
                        max(args.repeats, 1),
                    )
                )
            )
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as work:
        if not args.skip_train:
            for frozen in (False, True):
                first, ms, ips = train_rows(work, max(args.epochs, 2), frozen)
                name = "frozen" if frozen else "unfrozen"
                rows.append(
                    (
                        f"training {name}, v1-0.25, 416, batch 8, mosaic/mixup 0.5",
                        f"{ms:.0f} ms/step ({ips:.1f} images/s); first epoch {first:.1f} s",
                    )
                )
        rows.append(
            ("get_map.py --map-out, 2,151 images, whole process", f"{map_out_seconds(work):.2f} s")
        )
        seconds, _ = run(
            [
                sys.executable,
                os.path.join(ROOT, "predict.py"),
                "--backbone",
                "mobilenetv1",
                "--alpha",
                "0.25",
                "--weights",
                WEIGHTS,
                "--source",
                STREET,
                "--save-dir",
                os.path.join(work, "predict"),
                "--quiet",
            ],
            work,
        )
        rows.append(("predict.py, one image, cold process (.h5)", f"{seconds:.2f} s"))
        exports = os.path.join(work, "exports")
        run(
            [
                sys.executable,
                os.path.join(ROOT, "export.py"),
                "--backbone",
                "mobilenetv1",
                "--alpha",
                "0.25",
                "--weights",
                WEIGHTS,
                "--format",
                "tflite",
                "--out",
                exports,
                "--no-progress",
            ],
            work,
        )
        tflite = os.path.join(exports, "yolov4_lite_mobilenetv1_0.25_416.tflite")
        seconds, _ = run(
            [
                sys.executable,
                os.path.join(ROOT, "predict.py"),
                "--weights",
                tflite,
                "--source",
                STREET,
                "--save-dir",
                os.path.join(work, "predict_tflite"),
                "--quiet",
            ],
            work,
        )
        rows.append(("predict.py, one image, cold process (.tflite export)", f"{seconds:.2f} s"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if not args.no_latency:
        print("\nend-to-end latency per backbone (benchmarks/bench_predict.py):", flush=True)
        subprocess.run(
            [sys.executable, os.path.join(HERE, "bench_predict.py"), "--runs", "20"],
            env=ENV,
            check=False,
        )


if __name__ == "__main__":
    main()
