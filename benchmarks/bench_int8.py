"""Why int8 loses accuracy, and what wins it back: quantisation variants measured on a test split.

    python benchmarks/bench_int8.py                       # raccoon (fine-tuned model), ~15 min
    python benchmarks/bench_int8.py --variants tflite onnx_percentile --calib-images 20
    python benchmarks/bench_int8.py --weights benchmarks/results/bench_small/a/last.h5 \\
        --classes ../shared/datasets/helmet/classes.txt --data ../shared/datasets/helmet/VOC2007

Each variant is an int8 file of the same model calibrated on the same training images, evaluated
on ``--split`` with get_map.py's settings (mAP@0.5, VOC all-point AP). Also prints the layers
whose int8 outputs differ most from float (TFLite's quantisation debugger: RMSE over the
quantisation step), which says where the error comes from. Variants:

    float32           the float TFLite file (the reference the int8 files are measured against)
    tflite            full int8, uint8 input and outputs (export.py's --int8 before this study)
    tflite_float_out  full int8 inside, float32 outputs (the heads' last quantise step removed)
    tflite_float_heads  int8 except the three head convolutions, which run in float
    tflite_float_worst4, tflite_float_worst8  also the 4 or 8 layers with the largest int8
                      error (RMSE in quantisation steps, TFLite's debugger) left float
    onnx              ONNX Runtime QDQ, MinMax ranges
    onnx_percentile   ONNX Runtime QDQ, ranges at the 99.999th percentile
    onnx_entropy      ONNX Runtime QDQ, ranges minimising KL divergence
    onnx_float_heads  MinMax, the three head convolutions left float
    onnx_float_heads_percentile  both
    onnx_float_worst4, onnx_float_worst8  float heads and the 4 or 8 layers TFLite's debugger
                      ranks worst left float in ONNX Runtime too
    onnx_float_heads_average  float heads, MinMax ranges averaged over the images

export.py --int8 writes tflite_float_worst8 and onnx_float_worst8.
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
RESULTS = os.path.join(ROOT, "benchmarks", "results", "raccoon")
# variant: (format table entry, the writer's quantize_options)
VARIANT_FORMATS = {
    "float32": "tflite",
    "tflite": "tflite_int8",
    "tflite_float_out": "tflite_int8",
    "tflite_float_heads": "tflite_int8",
    "onnx": "onnx_int8",
    "onnx_percentile": "onnx_int8",
    "onnx_entropy": "onnx_int8",
    "onnx_float_heads": "onnx_int8",
    "onnx_float_heads_percentile": "onnx_int8",
    "tflite_float_worst4": "tflite_int8",
    "tflite_float_worst8": "tflite_int8",
    "onnx_float_worst4": "onnx_int8",
    "onnx_float_worst8": "onnx_int8",
    "onnx_float_heads_average": "onnx_int8",
}
VARIANT_OPTIONS = {
    "tflite": {"float_heads": False},
    "tflite_float_out": {"float_heads": False, "float_outputs": True},
    "onnx": {"float_heads": False, "float_worst": 0},
    "onnx_percentile": {"float_heads": False, "float_worst": 0, "method": "percentile"},
    "onnx_entropy": {"float_heads": False, "float_worst": 0, "method": "entropy"},
    "onnx_float_heads": {"float_worst": 0},
    "onnx_float_heads_percentile": {"float_worst": 0, "method": "percentile"},
    "tflite_float_heads": {"float_worst": 0},
    "tflite_float_worst4": {"float_worst": 4},
    "onnx_float_worst4": {"float_worst": 4},
    "onnx_float_heads_average": {"float_worst": 0, "moving_average": True},
}
VARIANTS = tuple(VARIANT_FORMATS)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--weights", default=os.path.join(RESULTS, "last.h5"))
    parser.add_argument("--classes", default=os.path.join(RESULTS, "classes.txt"))
    parser.add_argument("--anchors", default=None)
    parser.add_argument("--backbone", default="mobilenetv1")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--input-size", default="416")
    parser.add_argument("--data", default=os.path.join(SHARED, "datasets", "raccoon", "VOC2007"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--calib-split", default="train")
    parser.add_argument("--calib-images", type=int, default=100)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--layers", type=int, default=8, help="worst layers to list (0: none)")
    parser.add_argument("--out", default=None, help="keep the files here (default: a temp dir)")
    return parser.parse_args()


class Study:
    """The model, its calibration images and test samples, and a writer per variant."""

    def __init__(self, args):
        from nets.anchors import ANCHORS_MASK
        from utils.benchmarking.measure import ModelSpec
        from utils.config import anchors_path_for, load_anchors, load_class_names, parse_input_size
        from utils.data.datasets import dataset_for_args
        from utils.export.calibration import calibration_canvases
        from utils.export.graphs import ExportGraphs
        from utils.inference.detector import load_model
        from utils.options import detection_defaults

        args.data_format = None
        self.args = args
        self.input_size = parse_input_size(args.input_size)
        self.class_names = load_class_names(args.classes)
        dataset = dataset_for_args(args)
        self.samples = dataset.load(args.split, self.class_names).samples
        canvases = calibration_canvases(
            dataset, args.calib_split, self.class_names, args.calib_images, self.input_size
        )
        self.calibration = [c[None].astype("float32") / 255.0 for c in canvases]
        model = load_model(
            args.backbone,
            args.alpha,
            args.weights,
            len(self.class_names),
            self.input_size,
            ANCHORS_MASK,
        )
        settings = {k: v for k, v in detection_defaults("eval").items() if k != "letterbox"}
        self.graphs = ExportGraphs(
            model,
            self.class_names,
            load_anchors(anchors_path_for(args.anchors, args.weights)),
            ANCHORS_MASK,
            self.input_size,
            True,
            args.backbone,
            args.alpha,
            settings,
        )
        self.spec = ModelSpec(
            args.backbone, args.alpha, args.classes, args.anchors, self.input_size
        )

    def write(self, name, stem):
        """The variant's file, written by export's own writers with its options."""
        from utils.export import writers
        from utils.formats import get_format

        fmt = get_format(VARIANT_FORMATS[name])
        path = stem + (".onnx" if fmt.family == "onnx" else ".tflite")
        writer = writers.write_onnx if fmt.family == "onnx" else writers.write_tflite
        writer(
            self.graphs,
            path,
            fmt,
            calibration=self.calibration,
            quantize_options=VARIANT_OPTIONS.get(name),
        )
        return path

    def worst_layers(self, count):
        """(tensor, RMSE in quantisation steps) of the ``count`` worst layers, every op int8."""
        import csv
        import io

        import tensorflow as tf

        from utils.export.writers import _archive

        with tempfile.TemporaryDirectory(prefix="bench_int8_") as work:
            _archive(self.graphs, work, {"raw": (self.graphs.raw, self.graphs.float_spec)})
            converter = tf.lite.TFLiteConverter.from_saved_model(work, signature_keys=["raw"])
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([b] for b in self.calibration)
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=lambda: ([b] for b in self.calibration[:20])
            )
            debugger.run()
        buffer = io.StringIO()
        debugger.layer_statistics_dump(buffer)
        buffer.seek(0)
        rows = []
        for row in csv.DictReader(buffer):
            scale = float(row["scale"])
            rmse = float(row["mean_squared_error"]) ** 0.5
            rows.append((row["tensor_name"].split(";")[0], rmse / scale if scale else 0.0))
        return sorted(rows, key=lambda r: -r[1])[:count]

    def head_errors(self, float_path, int8_path, images=8):
        """RMS error of an int8 file's raw head outputs against the float file's, by quantity
        (box centre and size offsets, objectness and class logits), over the cells where the
        float model sees an object (objectness above 0.1) on ``images`` test images."""
        from nets.anchors import BOX_AND_OBJECTNESS
        from utils.formats import open_runtime

        runtimes = open_runtime(float_path), open_runtime(int8_path)
        per_anchor = BOX_AND_OBJECTNESS + len(self.class_names)
        parts = {"xy": slice(0, 2), "wh": slice(2, 4), "objectness": slice(4, 5)}
        parts["classes"] = slice(5, per_anchor)
        squares = {name: [] for name in parts}
        detector = self._detector(float_path)
        for sample in self.samples[:images]:
            canvas, _, _ = detector.preprocess(detector.load(sample.image_path, False))
            ref, got = (r.outputs(canvas[None]) for r in runtimes)
            for a, b in zip(ref, got):
                a = a.reshape(-1, per_anchor)
                b = b.reshape(-1, per_anchor)
                seen = 1 / (1 + np.exp(-a[:, 4])) > 0.1
                for name, part in parts.items():
                    squares[name].append(((a[seen, part] - b[seen, part]) ** 2).ravel())
        return {name: float(np.sqrt(np.concatenate(v).mean())) for name, v in squares.items()}

    def _detector(self, path):
        from utils.benchmarking.measure import open_detector

        return open_detector(path, self.spec, "eval")

    def map50(self, path):
        from utils.benchmarking.measure import accuracy

        return accuracy(self._detector(path), self.samples, self.class_names, progress=False)[0]


def main():
    args = parse_args()
    study = Study(args)
    with tempfile.TemporaryDirectory(prefix="bench_int8_") as work:
        out = args.out or work
        os.makedirs(out, exist_ok=True)
        rows, paths = [], {}
        for name in args.variants:
            start = time.perf_counter()
            path = study.write(name, os.path.join(out, name))
            seconds = time.perf_counter() - start
            map50 = study.map50(path)
            rows.append((name, os.path.getsize(path) / 2**20, map50, seconds))
            paths[name] = path
            print(f"{name}: mAP@0.5 {map50 * 100:.1f} ({seconds:.0f} s to write)", flush=True)
        if "float32" in paths:
            print("\nhead outputs against float32, RMS error in logits where objects are seen:")
            for name, path in paths.items():
                if name != "float32":
                    errors = study.head_errors(paths["float32"], path)
                    print(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in errors.items()))
        if args.layers:
            print("\nlayers with the largest int8 error (TFLite debugger, RMSE / scale):")
            for layer, ratio in study.worst_layers(args.layers):
                print(f"  {ratio:7.3f}  {layer}")
    print(
        f"\n{len(study.calibration)} calibration images from {args.calib_split}, "
        f"mAP on {len(study.samples)} images of {args.split}"
    )
    print("| variant | MB | mAP@0.5 | vs float32 |")
    print("|---|---|---|---|")
    base = next((m for n, _, m, _ in rows if n == "float32"), None)
    for name, size, map50, _ in rows:
        delta = "" if base is None else f"{(map50 - base) * 100:+.1f}"
        print(f"| {name} | {size:.2f} | {map50 * 100:.1f} | {delta} |")


if __name__ == "__main__":
    main()
