"""Export a ``yolo_body`` model to SavedModel, TFLite (float32, float16, int8) and ONNX.

Every artifact takes letterboxed images (N, H, W, 3), carries its metadata
(:mod:`utils.export.metadata`), is checked against the Keras model right after it is written
(``parity``), and is written atomically (a temporary name, renamed when complete).

Signatures:

* ``raw``: float32 images in [0, 1] -> the three head outputs ``p5``, ``p4``, ``p3``; our
  tools decode and suppress on the host. TFLite int8 quantises this one (uint8 in and out).
* ``serve`` (SavedModel, also its ``serving_default``): uint8 images -> ``boxes`` (N, K, 4) [x1,
y1, x2, y2] in input pixels,
  ``scores``, ``classes``, ``valid``: decoding and class-aware NMS inside the graph.
* with ``nms`` (TFLite float32/float16, ONNX; int8 stays raw): the same end-to-end outputs, using
only the NMS each runtime
  has built in (batch 1 for TFLite); see :func:`_end_to_end_single`.
"""

import dataclasses
import os
import tempfile

import numpy as np

from nets.errors import UserError
from utils import files
from utils.export import metadata as md

FORMATS = ("saved_model", "tflite", "onnx")
RAW_NAMES = ("p5", "p4", "p3")
E2E_NAMES = ("boxes", "scores", "classes", "valid")
ONNX_OPSET = 17


class ExportError(UserError, RuntimeError):
    """An export that cannot be done as asked (a converter failure, an unwritable folder)."""


@dataclasses.dataclass
class ExportResult:
    format: str  # "saved_model", "tflite", "onnx"
    variant: str  # "float32", "float16", "int8"
    path: str
    size_mb: float
    parity: str = ""  # how the artifact's outputs compare with the Keras model's
    max_abs_diff: float = float("nan")


def artifact_name(backbone, alpha, input_size):
    size = (
        f"{input_size[0]}" if input_size[0] == input_size[1] else f"{input_size[0]}x{input_size[1]}"
    )
    return f"yolov4_lite_{backbone}_{alpha:g}_{size}"


def _folder_size_mb(path):
    if os.path.isfile(path):
        return os.path.getsize(path) / 2**20
    return (
        sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(path)
            for name in names
        )
        / 2**20
    )


class Exporter:
    """Exports one model; see :func:`export_model` for the arguments."""

    def __init__(
        self,
        model,
        class_names,
        anchors,
        anchors_mask,
        input_size,
        letterbox,
        backbone,
        alpha,
        nms_settings,
    ):
        import tensorflow as tf

        from nets.fuse import fold_batchnorm

        self.tf = tf
        self.model = model
        self.inference_model = fold_batchnorm(model)
        self.class_names = list(class_names)
        self.anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
        self.anchors_mask = [list(m) for m in anchors_mask]
        self.input_size = tuple(int(v) for v in input_size)
        self.letterbox = bool(letterbox)
        self.backbone, self.alpha = backbone, alpha
        self.nms_settings = dict(nms_settings)
        h, w = self.input_size
        self.float_spec = tf.TensorSpec((None, h, w, 3), tf.float32, name="images")
        self.uint8_spec = tf.TensorSpec((None, h, w, 3), tf.uint8, name="images")
        # The builtin-NMS graphs (TFLite, ONNX) take one image.
        self.single_uint8_spec = tf.TensorSpec((1, h, w, 3), tf.uint8, name="images")

    # -- graphs ------------------------------------------------------------------------------
    def raw(self, images):
        outputs = self.inference_model(images, training=False)
        return dict(zip(RAW_NAMES, outputs))

    def serve(self, images):
        """uint8 images -> end-to-end detections, NMS by combined_non_max_suppression."""
        tf = self.tf
        from utils.inference.postprocess import batched_class_aware_nms, decode_batch

        outputs = self.inference_model(tf.cast(images, tf.float32) / 255.0, training=False)
        boxes, objectness, class_probs = decode_batch(
            outputs, self.anchors, self.anchors_mask, len(self.class_names), self.input_size
        )
        s = self.nms_settings
        boxes, scores, classes, valid = batched_class_aware_nms(
            boxes, objectness[..., None] * class_probs, s["conf"], s["nms_iou"], s["max_boxes"]
        )
        return {
            "boxes": tf.gather(boxes, [1, 0, 3, 2], axis=-1),
            "scores": scores,
            "classes": classes,
            "valid": valid,
        }

    def end_to_end_single(self, images):
        """uint8 images (batch 1) -> end-to-end detections with a single-class NMS op that
        TFLite and ONNX have built in: each box keeps its best class, and boxes of different
        classes are moved apart by a per-class offset so they never suppress each other."""
        tf = self.tf
        from utils.inference.postprocess import decode_batch

        outputs = self.inference_model(tf.cast(images, tf.float32) / 255.0, training=False)
        boxes, objectness, class_probs = decode_batch(
            outputs, self.anchors, self.anchors_mask, len(self.class_names), self.input_size
        )
        scores_all = objectness[0][:, None] * class_probs[0]
        scores = tf.reduce_max(scores_all, axis=-1)
        classes = tf.argmax(scores_all, axis=-1, output_type=tf.int32)
        s = self.nms_settings
        offset = tf.cast(classes, tf.float32)[:, None] * float(4 * max(self.input_size))
        max_boxes = int(s["max_boxes"])
        selected, _ = tf.image.non_max_suppression_padded(
            boxes[0] + offset,
            scores,
            max_output_size=max_boxes,
            iou_threshold=float(s["nms_iou"]),
            score_threshold=float(s["conf"]) - 1e-6,
            pad_to_max_output_size=True,
        )
        valid = tf.reduce_sum(
            tf.cast(tf.gather(scores, selected) >= float(s["conf"]) - 1e-6, tf.int32)
        )
        keep = tf.range(max_boxes) < valid
        picked = tf.gather(boxes[0], selected)
        picked = tf.where(keep[:, None], tf.gather(picked, [1, 0, 3, 2], axis=-1), 0.0)
        return {
            "boxes": picked[None],
            "scores": tf.where(keep, tf.gather(scores, selected), 0.0)[None],
            "classes": tf.where(keep, tf.gather(classes, selected), 0)[None],
            "valid": tf.reshape(valid, [1]),
        }

    # -- artifacts ---------------------------------------------------------------------------
    def metadata(self, nms, quantization, signature):
        meta = md.build_metadata(
            self.class_names,
            self.input_size,
            self.anchors,
            self.anchors_mask,
            self.letterbox,
            self.backbone,
            self.alpha,
            nms=nms,
            quantization=quantization,
            outputs=E2E_NAMES if nms else RAW_NAMES,
            nms_settings=self.nms_settings if nms else None,
        )
        meta["signature"] = signature
        return meta

    def write_saved_model(self, path, endpoints):
        """A SavedModel with the given endpoints {name: (function, spec)} at ``path``."""
        import keras

        archive = keras.export.ExportArchive()
        archive.track(self.inference_model)
        for name, (function, spec) in endpoints.items():
            archive.add_endpoint(name, function, input_signature=[spec])
        archive.write_out(path, verbose=False)

    def saved_model(self, path):
        with files.atomic_folder(path) as tmp:
            # The first endpoint also becomes 'serving_default', what TF Serving calls.
            self.write_saved_model(
                tmp, {"serve": (self.serve, self.uint8_spec), "raw": (self.raw, self.float_spec)}
            )
            md.write_saved_model_metadata(tmp, self.metadata(False, "float32", "raw"))
        return path

    def tflite(self, path, variant="float32", nms=False, calibration=None, progress=False):
        """``variant`` float32 / float16 / int8 (``calibration``: an iterable of float32
        (1, H, W, 3) batches in [0, 1])."""
        tf = self.tf
        signature = "detect" if nms else "raw"
        with tempfile.TemporaryDirectory(prefix="yolo_export_") as work:
            if nms:
                self.write_saved_model(
                    work, {signature: (self.end_to_end_single, self.single_uint8_spec)}
                )
            else:
                self.write_saved_model(work, {signature: (self.raw, self.float_spec)})
            converter = tf.lite.TFLiteConverter.from_saved_model(work, signature_keys=[signature])
            # Builtin ops only: a model needing TensorFlow (Flex) ops cannot run in LiteRT's
            # Python or mobile runtimes, so such a conversion must fail here.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            if variant == "float16":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.target_spec.supported_types = [tf.float16]
            elif variant == "int8":
                batches = list(calibration or [])
                if not batches:
                    raise ExportError("int8 quantisation needs calibration images (--data)")
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.representative_dataset = lambda: _calibration_feed(batches, progress)
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = tf.uint8
                converter.inference_output_type = tf.uint8
            try:
                flatbuffer = converter.convert()
            except Exception as exc:  # the converter raises ConverterError and others
                first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
                raise ExportError(
                    f"TFLite conversion ({variant}) failed: {exc.__class__.__name__}: {first}"
                ) from None
        meta = self.metadata(nms, variant, signature)
        files.write_bytes(path, md.add_tflite_metadata(flatbuffer, meta))
        return path

    def onnx(self, path, nms=False):
        import logging

        import tf2onnx

        tf = self.tf
        # tf2onnx logs tracebacks of optimiser passes it skips; the conversion still succeeds.
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
        if nms:
            spec = self.single_uint8_spec
            function = tf.function(self.end_to_end_single, input_signature=[spec])
        else:
            spec = self.float_spec
            function = tf.function(self.raw, input_signature=[spec])
        try:
            proto, _ = tf2onnx.convert.from_function(
                function, input_signature=[spec], opset=ONNX_OPSET
            )
        except Exception as exc:
            raise ExportError(
                f"ONNX conversion failed: {exc.__class__.__name__}: {str(exc).strip()[:300]}"
            ) from None
        names = E2E_NAMES if nms else RAW_NAMES
        _rename_onnx_outputs(proto, names)
        md.add_onnx_metadata(proto, self.metadata(nms, "float32", "detect" if nms else "raw"))
        files.write_bytes(path, proto.SerializeToString())
        return path


def _calibration_feed(batches, progress):
    from tqdm import tqdm

    for batch in tqdm(
        batches, desc="calibrating int8", unit="img", disable=not progress, dynamic_ncols=True
    ):
        yield [batch]


def _rename_onnx_outputs(proto, names):
    """tf2onnx names outputs after graph tensors (``Identity:0``); give them ours, in order of
    the function's dict keys (tf2onnx sorts them by name)."""
    outputs = list(proto.graph.output)
    by_key = sorted(names)
    renames = {}
    for output, name in zip(outputs, by_key):
        renames[output.name] = name
        output.name = name
    for node in proto.graph.node:
        for i, value in enumerate(node.output):
            if value in renames:
                node.output[i] = renames[value]
        for i, value in enumerate(node.input):
            if value in renames:
                node.input[i] = renames[value]


def _variants(formats, half, int8):
    """(format, variant) pairs to write: float32 always, plus float16 / int8 TFLite."""
    pairs = []
    for fmt in formats:
        pairs.append((fmt, "float32"))
        if fmt == "tflite" and half:
            pairs.append((fmt, "float16"))
        if fmt == "tflite" and int8:
            pairs.append((fmt, "int8"))
    return pairs


def _file_name(stem, fmt, variant, nms):
    suffix = "" if variant == "float32" else f"_{'fp16' if variant == 'float16' else 'int8'}"
    suffix += "_nms" if nms and fmt != "saved_model" else ""
    return {
        "saved_model": f"{stem}_saved_model",
        "tflite": f"{stem}{suffix}.tflite",
        "onnx": f"{stem}{suffix}.onnx",
    }[fmt]


def export_model(
    model,
    class_names,
    anchors,
    anchors_mask,
    input_size,
    out_dir,
    formats,
    letterbox=True,
    backbone=None,
    alpha=None,
    half=False,
    calibration=None,
    nms=False,
    nms_settings=None,
    check_images=None,
    stem=None,
    progress=False,
    log=None,
):
    """Write ``model`` in every asked format; returns a list of :class:`ExportResult`.

    Args:
        formats: names from :data:`FORMATS`.
        half: also a float16 TFLite model.
        calibration: float32 (1, H, W, 3) batches in [0, 1] for an int8 TFLite model (None: no
            int8 model).
        nms: TFLite and ONNX models with decoding and NMS inside (batch 1); SavedModels always
            have both the ``raw`` and the end-to-end ``serve`` signature.
        nms_settings: {"conf", "nms_iou", "max_boxes"} built into end-to-end graphs.
        check_images: uint8 canvases (N, H, W, 3) the parity check runs; default: the first
            calibration images, else a fixed random image.
        progress: a progress bar while int8 calibration runs.
        log: callable for progress lines.
    """
    from utils import options

    for fmt in formats:
        if fmt not in FORMATS:
            raise ExportError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    nms_settings = nms_settings or {
        k: options.default(k, "predict") for k in ("conf", "nms_iou", "max_boxes")
    }
    exporter = Exporter(
        model,
        class_names,
        anchors,
        anchors_mask,
        input_size,
        letterbox,
        backbone,
        alpha,
        nms_settings,
    )
    stem = stem or artifact_name(backbone or "model", alpha or 1.0, exporter.input_size)
    if check_images is None:
        check_images = _default_check_images(calibration, exporter.input_size)
    reference = [o.numpy() for o in model(check_images.astype(np.float32) / 255.0, training=False)]
    results = []
    for fmt, variant in _variants(formats, half, calibration is not None):
        in_graph_nms = nms and fmt != "saved_model" and variant != "int8"
        path = os.path.join(out_dir, _file_name(stem, fmt, variant, in_graph_nms))
        if log:
            log(f"exporting {fmt} {variant}{' with NMS' if in_graph_nms else ''} -> {path}")
        # TensorFlow's writers (in temporary folders too) say "No space left" only in words.
        with files.no_space_as_disk_full(path):
            if fmt == "saved_model":
                exporter.saved_model(path)
            elif fmt == "tflite":
                # int8 keeps raw outputs: NMS is done on the host (a quantised NMS graph would
                # round its boxes and scores to 8 bits).
                exporter.tflite(
                    path, variant, nms=in_graph_nms, calibration=calibration, progress=progress
                )
            else:
                exporter.onnx(path, nms=nms)
        result = ExportResult(fmt, variant, path, _folder_size_mb(path))
        _check_parity(result, reference, check_images)
        results.append(result)
    return results


def _default_check_images(calibration, input_size):
    if calibration:
        first = [np.asarray(b)[0] for b in list(calibration)[:2]]
        return np.round(np.stack(first) * 255.0).astype(np.uint8)
    h, w = input_size
    return np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8)


def _check_parity(result, reference, check_images):
    """Run the artifact on ``check_images`` with its own runtime and compare with Keras."""
    from utils.inference.runtimes import open_runtime

    runtime = open_runtime(result.path)
    if runtime.metadata["nms"]:
        # End-to-end graphs: compare the detections' count; raw agreement is checked on the
        # raw exports of the same model.
        outputs = runtime.outputs(check_images[:1])
        result.parity = f"runs ({int(np.asarray(outputs[3]).reshape(-1)[0])} detections)"
        return
    outputs = runtime.outputs(check_images)
    diff = max(
        float(np.max(np.abs(np.asarray(o, np.float32) - r))) for o, r in zip(outputs, reference)
    )
    scale = max(float(np.max(np.abs(r))) for r in reference)
    result.max_abs_diff = diff
    result.parity = f"raw max |diff| {diff:.2g} (outputs up to {scale:.3g})"
