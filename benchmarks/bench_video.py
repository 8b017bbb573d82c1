"""Video throughput: frames per second on the shared car video, detection alone, with tracking,
and with drawing and writing the annotated mp4, for mobilenetv1-0.25 (Keras and its int8 TFLite
export) and ghostnet.

    python benchmarks/bench_video.py                          # this checkout
    python benchmarks/bench_video.py --baseline /tmp/old-main  # and an older checkout beside it

Each measurement runs in its own process: the model is built and warmed up on the video's first
frame, then the clock runs over the whole video (377 frames, 768x432) from opening it to the
last output written. fps = frames / seconds. With --baseline, the older checkout's video loop
(``utils.inference.jobs.predict_video``, which always draws and writes) is timed the same way,
in the same run, on the same models, as the "draw + write" row's "before".

ghostnet has random weights (the shared data holds no ghostnet file): its speed is its speed
whatever the weights, but it finds nothing to track, so its tracking rows time an idle tracker.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
VIDEO = os.path.join(SHARED, "tracking", "videos", "car-detection.mp4")
WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")
CONFIGS = ("detect", "track", "draw + write")


def build_detector(model, int8_path):
    from utils.inference.detector import Detector
    from utils.inference.runtime_detector import load_detector

    if model == "mobilenetv1-0.25":
        return Detector.from_options("mobilenetv1", 0.25, WEIGHTS)
    if model == "mobilenetv1-0.25 int8 tflite":
        return load_detector(None, None, int8_path)
    from nets import yolo_body
    from utils.config import load_class_names

    names = load_class_names()
    return Detector(
        yolo_body((416, 416), num_classes=len(names), backbone="ghostnet", alpha=1.0),
        names,
        fuse=True,
    )


def first_frame():
    import cv2

    capture = cv2.VideoCapture(VIDEO)
    _, bgr = capture.read()
    capture.release()
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def worker(args):
    """One measurement: print {"frames", "seconds"} as JSON."""
    sys.path.insert(0, args.repo)
    detector = build_detector(args.model, args.int8)
    for _ in range(3):
        detector.detect(first_frame())
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        if args.old:
            from utils.inference import jobs

            frames = len(
                jobs.predict_video(
                    detector,
                    "video",
                    VIDEO,
                    out,
                    collect_records=True,
                    progress=False,
                    log=lambda m: None,
                )
            )
        else:
            frames = run_new(detector, args.config, out)
        seconds = time.perf_counter() - start
    print(json.dumps({"frames": frames, "seconds": seconds}))


def run_new(detector, config, out):
    from utils.inference import jobs
    from utils.inference.pipeline import run_pipeline
    from utils.inference.settings import PredictSettings
    from utils.inference.sources import open_source

    settings = PredictSettings(save_dir=out, track="bytetrack", quiet=True)
    if config == "detect":
        return run_pipeline(detector, open_source(VIDEO), batch_size=settings.batch_size).frames
    if config == "track":
        from utils.inference.hooks import TrackerHook
        from utils.inference.pipeline import RunContext

        source = open_source(VIDEO)
        context = RunContext(source, detector.class_names, detector.describe())
        hooks = [TrackerHook(settings, context)]
        return run_pipeline(detector, source, hooks, batch_size=settings.batch_size).frames
    return jobs.predict_source(detector, open_source(VIDEO), settings, log=lambda m: None).frames


def measure(repo, model, config, int8, old=False):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--repo",
        repo,
        "--model",
        model,
        "--config",
        config,
        "--int8",
        int8 or "",
    ]
    if old:
        command.append("--old")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=repo)
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=repo, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{model} / {config} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["frames"] / result["seconds"], result["frames"]


def export_int8(folder):
    voc = os.path.join(SHARED, "datasets", "voc_mini", "VOCdevkit", "VOC2007")
    subprocess.run(
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
            "--int8",
            "--data",
            voc,
            "--split",
            "test",
            "--out",
            folder,
        ],
        check=True,
        capture_output=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    return os.path.join(folder, "yolov4_lite_mobilenetv1_0.25_416_int8.tflite")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="an older checkout to time beside this one")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["mobilenetv1-0.25", "mobilenetv1-0.25 int8 tflite", "ghostnet"],
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--int8", help=argparse.SUPPRESS)
    parser.add_argument("--old", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if not os.path.isfile(VIDEO):
        parser.error(f"{VIDEO} is missing (../shared/tracking)")
    with tempfile.TemporaryDirectory() as folder:
        int8 = export_int8(folder) if any("int8" in m for m in args.models) else None
        rows = []
        for model in args.models:
            for config in CONFIGS:
                fps, frames = measure(ROOT, model, config, int8)
                before = ""
                if args.baseline and config == "draw + write":
                    old_fps, _ = measure(
                        os.path.abspath(args.baseline), model, config, int8, old=True
                    )
                    before = f"{old_fps:.1f}"
                rows.append((model, config, frames, f"{fps:.1f}", before))
                print(*rows[-1], sep=" | ", file=sys.stderr, flush=True)
    print(f"{os.path.basename(VIDEO)}: 768x432, 12.5 fps; fps over the whole video after warm-up")
    header = ("model", "run", "frames", "fps", "before" if args.baseline else "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
