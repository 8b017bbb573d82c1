"""Training at scale on one machine: images/s of one process against two local workers
(``MultiWorkerMirroredStrategy`` over ``TF_CONFIG``), and what EMA and mixed precision do to the
raccoon mAP.

    python benchmarks/bench_distribute.py --part throughput     # ~3 min on 2 cores
    python benchmarks/bench_distribute.py --part quality        # 3 fine-tunes (~45 min)

Throughput: train.py on raccoon from the VOC weights (mobilenetv1-0.25, 320, global batch 8,
mosaic/mixup on, evaluation off), 3 epochs; the figure is the chief's steady images/s
(history.csv, epochs after the first). Both workers share this machine's cores, so on a
2-core CPU two workers cannot be faster: the row shows what the synchronisation costs.

Quality: ``bench_finetune.py`` with train.py's defaults, as is, with ``--ema`` and with
``--mixed-precision`` (bfloat16 on a CPU); mAP@0.5 of last.h5 on raccoon test. Runs are not
seeded: expect a couple of points between repeats.
"""

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, ROOT)
DATA = os.path.join(SHARED, "datasets", "raccoon", "VOC2007")
WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")


def train_command(save_dir, extra=()):
    return [
        sys.executable,
        os.path.join(ROOT, "train.py"),
        "--backbone",
        "mobilenetv1",
        "--alpha",
        "0.25",
        "--data",
        DATA,
        "--classes",
        os.path.join(ROOT, "model_data", "raccoon_classes.txt"),
        "--weights",
        WEIGHTS,
        "--input-size",
        "320",
        "--batch-size",
        "8",
        "--freeze-epochs",
        "0",
        "--epochs",
        "3",
        "--eval-period",
        "0",
        "--seed",
        "0",
        "--save-dir",
        save_dir,
        "--quiet",
        *extra,
    ]


def steady_images_per_s(save_dir):
    with open(os.path.join(save_dir, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    steady = [float(r["images_per_s"]) for r in rows[1:]]
    return sum(steady) / len(steady), float(rows[0]["time_s"])


def run_throughput(workdir):
    rows = []
    single = os.path.join(workdir, "single")
    start = time.perf_counter()
    subprocess.run(
        train_command(single, ["--distribute", "none"]),
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ips, first = steady_images_per_s(single)
    rows.append(("1 process", ips, first, time.perf_counter() - start))

    from utils.training.distribute import local_tf_configs

    procs = []
    start = time.perf_counter()
    for index, tf_config in enumerate(local_tf_configs(2)):
        env = dict(os.environ, TF_CONFIG=tf_config)
        procs.append(
            subprocess.Popen(
                train_command(os.path.join(workdir, f"worker{index}"), ["--sync-bn"]),
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
        )
    for proc in procs:
        if proc.wait(timeout=1800) != 0:
            sys.exit("bench_distribute: a worker failed")
    ips, first = steady_images_per_s(os.path.join(workdir, "worker0"))
    rows.append(("2 local workers (sync BN)", ips, first, time.perf_counter() - start))
    print("\n=== throughput: mobilenetv1-0.25, raccoon, 320, global batch 8, 3 epochs ===")
    print(f"{'setup':<28} {'images/s (steady)':>18} {'first epoch s':>14} {'wall s':>8}")
    for name, ips, first, wall in rows:
        print(f"{name:<28} {ips:>18.1f} {first:>14.1f} {wall:>8.1f}")


def run_quality(workdir):
    variants = [
        ("defaults", []),
        ("--ema", ["--ema"]),
        ("--mixed-precision (bfloat16)", ["--mixed-precision"]),
    ]
    print("\n=== raccoon fine-tune, train.py defaults (bench_finetune.py) ===")
    results = []
    for name, flags in variants:
        save_dir = os.path.join(workdir, re.sub(r"\W+", "_", name))
        command = [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "bench_finetune.py"),
            "--save-dir",
            save_dir,
            "--",
            *flags,
        ]
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True).stdout
        found = {
            key: re.search(pattern, out)
            for key, pattern in (
                ("map", r"mAP@0.5 last.h5\s+([\d.]+)%"),
                ("wall", r"wall time \(train.py\)\s+([\d.]+) min"),
                ("ips", r"training images/s\s+[\d.]+ overall, ([\d.]+) steady"),
            )
        }
        results.append((name, *(m.group(1) if m else "?" for m in found.values())))
        print(
            f"{name:<30} mAP@0.5 {results[-1][1]}%  wall {results[-1][2]} min  "
            f"{results[-1][3]} images/s",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("throughput", "quality", "all"), default="all")
    parser.add_argument("--workdir", default=None, help="run folders (default: a temp folder)")
    args = parser.parse_args()
    for path in (DATA, WEIGHTS):
        if not os.path.exists(path):
            sys.exit(f"bench_distribute: {path} is missing (needs ../shared)")
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_distribute_")
    if args.part in ("throughput", "all"):
        run_throughput(workdir)
    if args.part in ("quality", "all"):
        run_quality(workdir)


if __name__ == "__main__":
    main()
