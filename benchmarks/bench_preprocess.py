"""Pre-processing, fast against exact: the mAP rule, and where an image's time goes.

    python benchmarks/bench_preprocess.py                  # both parts (~6 min on 2 cores)
    python benchmarks/bench_preprocess.py --part map
    python benchmarks/bench_preprocess.py --part budget --formats keras tflite onnx_int8

``map``: mAP@0.5 with ``--preprocess exact`` and ``fast`` on raccoon's test split (the model
fine-tuned by bench_finetune.py, kept in benchmarks/results/raccoon), voc_mini's VOC2007 and
VOC2012 folders (the VOC weights; one 2012 image is truncated) and helmet's test split
(bench_small row a's model, where a third of the images are large JPEGs). The fast mode is the
default because it moves raccoon and voc_mini by under 0.2 points; OpenCV's area, bilinear and
bicubic resizes (faster still) are measured beside it and do not.

``budget``: milliseconds per stage (median of ``--runs``) for the VOC weights (mobilenetv1-0.25
at 416) in each format, on street.jpg (1330x1330 JPEG) and on a 1080p video frame (the shared
car video's frames enlarged to 1920x1080 and written as an mp4 clip first):

    decode       the file or frame to RGB pixels (fast: a JPEG at reduced scale; video: the
                 capture's read and BGR->RGB, as predict.py does)
    letterbox    pixels -> the 416x416 canvas (fast: an image over 4x the input box-reduced
                 first)
    model        the runtime on the canvas (Keras: model, decoding and NMS in one graph)
    decode+NMS   the raw outputs to boxes on the host (in the Keras graph: 0 here)
    drawing      labelled boxes on the full-size image, as predict.py saves it

with predict.py's detection settings (conf 0.5: the few boxes a user sees).
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
VOC_WEIGHTS = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")
RACCOON = os.path.join(ROOT, "benchmarks", "results", "raccoon")
HELMET = os.path.join(ROOT, "benchmarks", "results", "bench_small", "a")
DATASETS = os.path.join(SHARED, "datasets")
# (name, data root, split, model folder (None: the VOC weights), held to the rule)
MAP_CASES = (
    ("raccoon test", "raccoon/VOC2007", "test", RACCOON, True),
    ("voc_mini test", "voc_mini/VOCdevkit/VOC2007", "test", None, True),
    ("voc_mini 2012", "voc_mini/VOCdevkit/VOC2012", "test", None, True),
    ("helmet test", "helmet/VOC2007", "test", HELMET, False),
)
FORMATS = ("keras", "tflite", "tflite_int8", "onnx", "onnx_int8")
STAGES = ("decode", "letterbox", "model", "decode+NMS", "drawing")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--part", choices=("map", "budget", "both"), default="both")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--input-size", default="416")
    return parser.parse_args()


def open_detector(weights, classes=None, anchors=None, input_size="416", settings="eval"):
    from utils.inference.runtime_detector import load_detector
    from utils.options import detection_defaults

    return load_detector(
        "mobilenetv1",
        0.25,
        weights,
        classes_path=classes,
        anchors_path=anchors,
        input_size=input_size,
        **detection_defaults(settings),
    )


# Rejected candidates for the fast mode, measured beside it: OpenCV resizes of the full image.
CANDIDATES = {
    "cv2 area": "INTER_AREA",
    "cv2 bilinear": "INTER_LINEAR",
    "cv2 bicubic": "INTER_CUBIC",
}


def opencv_letterbox(detector, interpolation):
    """A ``preprocess`` for ``detector`` that resizes with OpenCV (``interpolation``)."""
    import cv2

    from utils.data.images import letterbox_geometry
    from utils.inference.host import image_transform
    from utils.options import LETTERBOX_FILL

    def preprocess(image, threads=None):
        pixels = np.asarray(image)
        size = (pixels.shape[1], pixels.shape[0])
        nw, nh, left, top = letterbox_geometry(size, detector.input_size)
        h, w = detector.input_size
        canvas = np.full((h, w, 3), LETTERBOX_FILL, np.uint8)
        flag = getattr(cv2, interpolation)
        canvas[top : top + nh, left : left + nw] = cv2.resize(pixels, (nw, nh), interpolation=flag)
        return canvas, image_transform(size, detector.input_size, True), size

    return preprocess


def map_part(args):
    from utils.data.datasets import open_dataset
    from utils.evaluation.evaluate import evaluate_detector

    modes = ["exact", "fast", *CANDIDATES]
    print("| data | images | " + " | ".join(f"{m} mAP@0.5" for m in modes) + " | fast - exact |")
    print("|---" * (len(modes) + 3) + "|")
    for name, root, split, folder, ruled in MAP_CASES:
        weights, classes, anchors = VOC_WEIGHTS, None, None
        if folder:
            weights = os.path.join(folder, "last.h5")
            classes = os.path.join(folder, "classes.txt")
            anchors = os.path.join(folder, "anchors.txt")
        detector = open_detector(weights, classes, anchors, args.input_size)
        samples = (
            open_dataset(os.path.join(DATASETS, root), None)
            .load(split, detector.class_names, progress=False)
            .samples
        )
        scores = {}
        for mode in modes:
            if mode in CANDIDATES:  # full decode, OpenCV resize
                detector.preprocess_mode = "exact"
                detector.preprocess = opencv_letterbox(detector, CANDIDATES[mode])
            else:
                detector.preprocess_mode = mode
            results = evaluate_detector(
                detector, samples, detector.class_names, progress=False, plots=False
            )
            scores[mode] = results["voc"]["0.5"]["mAP"] * 100
        delta = scores["fast"] - scores["exact"]
        verdict = ("passes" if abs(delta) < 0.2 else "FAILS") if ruled else "not ruled"
        cells = " | ".join(f"{scores[m]:.2f}" for m in modes)
        print(f"| {name} | {len(samples)} | {cells} | {delta:+.2f} ({verdict}) |", flush=True)


def median_ms(function, runs):
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def write_1080p_clip(path, frames=30):
    import cv2

    capture = cv2.VideoCapture(os.path.join(SHARED, "tracking", "videos", "car-detection.mp4"))
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25, (1920, 1080))
    for _ in range(frames):
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_CUBIC))
    writer.release()
    capture.release()


def frame_reader(path):
    """A callable giving the clip's next frame as RGB (rewinding at the end), as predict.py's
    video source reads one."""
    import cv2

    state = {"capture": cv2.VideoCapture(path)}

    def read():
        ok, bgr = state["capture"].read()
        if not ok:
            state["capture"].release()
            state["capture"] = cv2.VideoCapture(path)
            ok, bgr = state["capture"].read()
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    return read


def exports(work, input_size):
    """{format: file} of the VOC weights, int8 calibrated on voc_mini's images."""
    from nets.anchors import ANCHORS_MASK
    from utils.benchmarking.exports import export_each
    from utils.config import load_anchors, load_class_names, parse_input_size
    from utils.data.datasets import open_dataset
    from utils.export.calibration import calibration_canvases
    from utils.inference.detector import load_model
    from utils.options import DEFAULT_ANCHORS_PATH, DEFAULT_CLASSES_PATH

    size = parse_input_size(input_size)
    names = load_class_names(DEFAULT_CLASSES_PATH)
    dataset = open_dataset(os.path.join(DATASETS, "voc_mini", "VOCdevkit", "VOC2007"), None)
    canvases = calibration_canvases(dataset, "trainval", names, 100, size, progress=False)
    model = load_model("mobilenetv1", 0.25, VOC_WEIGHTS, len(names), size, ANCHORS_MASK)
    rows = export_each(
        model,
        names,
        load_anchors(DEFAULT_ANCHORS_PATH),
        ANCHORS_MASK,
        size,
        work,
        ["tflite", "tflite_int8", "onnx", "onnx_int8"],
        canvases,
        "mobilenetv1",
        0.25,
        progress=False,
    )
    return {row.format: row.file for row in rows if row.file}


def budget(detector, image_source, decode, runs):
    """{stage: ms} for one detector, input and decode."""
    from PIL import Image

    from utils.inference.draw import draw_detections

    image = decode()
    canvas, transform, _ = detector.preprocess(image)
    found = detector.run_canvas(canvas, transform)
    full = image_source()
    times = {
        "decode": median_ms(decode, runs),
        "letterbox": median_ms(lambda: detector.preprocess(image), runs),
    }
    whole = median_ms(lambda: detector.run_canvas(canvas, transform), runs)
    runtime = getattr(detector, "runtime", None)
    if runtime is None:
        times["model"], times["decode+NMS"] = whole, 0.0
    else:
        times["model"] = median_ms(lambda: runtime.outputs(canvas[None]), runs)
        times["decode+NMS"] = max(whole - times["model"], 0.0)
    names = detector.class_names
    # As predict.py's renderer does: the frame's pixels copied once, drawn on in place.
    times["drawing"] = median_ms(
        lambda: np.asarray(draw_detections(Image.fromarray(full), found, names, copy=False)), runs
    )
    return times


def _street_decode(detector, path, mode):
    from utils.data.images import load_image

    if mode == "fast":
        return lambda: detector.load(path)
    return lambda: load_image(path)


def _constant(value):
    return lambda: value


def budget_part(args):
    from utils.data.images import load_image

    street = os.path.join(SHARED, "reference", "street.jpg")
    with tempfile.TemporaryDirectory(prefix="bench_preprocess_") as work:
        clip = os.path.join(work, "1080p.mp4")
        write_1080p_clip(clip)
        files = {"keras": VOC_WEIGHTS}
        if set(args.formats) - {"keras"}:
            files.update(exports(work, args.input_size))
        street_pixels = np.asarray(load_image(street))
        frame = frame_reader(clip)()
        print(f"\nend-to-end budget, ms (median of {args.runs}), 2 CPU cores")
        print("| format | input | mode | " + " | ".join(STAGES) + " | total |")
        print("|---" * (len(STAGES) + 4) + "|")
        for name in args.formats:
            detector = open_detector(files[name], input_size=args.input_size, settings="predict")
            for label, source in (("street.jpg", "street"), ("1080p frame", "frame")):
                for mode in ("exact", "fast"):
                    detector.preprocess_mode = mode
                    if source == "street":
                        decode = _street_decode(detector, street, mode)
                        full = _constant(street_pixels)
                    else:
                        decode, full = frame_reader(clip), _constant(frame)
                    times = budget(detector, full, decode, args.runs)
                    cells = " | ".join(f"{times[s]:.1f}" for s in STAGES)
                    total = sum(times.values())
                    print(f"| {name} | {label} | {mode} | {cells} | {total:.1f} |", flush=True)


def main():
    args = parse_args()
    if args.part in ("map", "both"):
        map_part(args)
    if args.part in ("budget", "both"):
        budget_part(args)


if __name__ == "__main__":
    main()
