"""Export a ``yolo_body`` model to the formats of the format table (:mod:`utils.formats`):
SavedModel, TFLite (float32, float16, int8) and ONNX.

Every file takes letterboxed images (N, H, W, 3), carries its metadata
(:mod:`utils.formats.metadata`), is written atomically by its writer
(:mod:`utils.export.writers`) and is checked right after it is written by its own runtime
against the graph it came from (``parity``): raw outputs against the Keras model's, end-to-end
detections against the same graph run by TensorFlow, on a real photo so that there is
something to compare.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from utils import files, formats
from utils.export.graphs import ExportError, ExportGraphs
from utils.formats import ModelFormat

__all__ = ["ExportError", "ExportResult", "artifact_name", "export_model"]


@dataclasses.dataclass
class ExportResult:
    format: str  # the family: "saved_model", "tflite", "onnx"
    variant: str  # the quantisation: "float32", "float16", "int8"
    path: str
    size_mb: float
    parity: str = ""  # how the file's outputs compare with the graph it came from
    max_abs_diff: float = float("nan")


def artifact_name(backbone: str, alpha: float, input_size: Sequence[int]) -> str:
    height, width = input_size[0], input_size[1]
    size = f"{height}" if height == width else f"{height}x{width}"
    return f"yolov4_lite_{backbone}_{alpha:g}_{size}"


def export_model(
    model: Any,
    class_names: Sequence[str],
    anchors: Any,
    anchors_mask: Sequence[Sequence[int]],
    input_size: Sequence[int],
    out_dir: str,
    formats_asked: Sequence[str],
    letterbox: bool = True,
    backbone: str | None = None,
    alpha: float | None = None,
    half: bool = False,
    calibration: Sequence | None = None,
    nms: bool = False,
    nms_settings: dict | None = None,
    check_images: np.ndarray | None = None,
    stem: str | None = None,
    progress: bool = False,
    log: Callable[[str], Any] | None = None,
    only: Sequence[str] | None = None,
) -> list[ExportResult]:
    """Write ``model`` in every asked format; returns a list of :class:`ExportResult`.

    Args:
        formats_asked: ``--format`` families (:func:`utils.formats.families`).
        half: also a float16 TFLite model.
        calibration: float32 (1, H, W, 3) batches in [0, 1] for an int8 TFLite model (None: no
            int8 model).
        nms: TFLite and ONNX models with decoding and NMS inside (batch 1); SavedModels always
            have both the ``raw`` and the end-to-end ``serve`` signature.
        nms_settings: {"conf", "nms_iou", "max_boxes"} built into end-to-end graphs.
        check_images: uint8 canvases (N, H, W, 3) the parity check runs; default: the first
            calibration images, else the sample photo.
        progress: a progress bar while int8 calibration runs.
        log: callable for progress lines.
        only: table entries (``"tflite_int8"``) to write of those the families and switches
            choose (None: all of them).
    """
    switches = {"half"} if half else set()
    if calibration is not None:
        switches.add("int8")
    try:
        chosen = formats.formats_for(formats_asked, switches)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if only is not None:
        chosen = [fmt for fmt in chosen if fmt.name in only]
    graphs = ExportGraphs(
        model,
        class_names,
        anchors,
        anchors_mask,
        input_size,
        letterbox,
        backbone,
        alpha,
        nms_settings or _predict_nms_settings(),
    )
    stem = stem or artifact_name(backbone or "model", alpha or 1.0, graphs.input_size)
    if check_images is None:
        check_images = default_check_images(calibration, graphs.input_size, letterbox)
    reference = [o.numpy() for o in model(check_images.astype(np.float32) / 255.0, training=False)]
    results = []
    for fmt in chosen:
        path = os.path.join(out_dir, fmt.file_name(stem, nms))
        if log:
            end_to_end = " with NMS" if fmt.writes_end_to_end(nms) else ""
            log(f"exporting {fmt.family} {fmt.quantization}{end_to_end} -> {path}")
        # TensorFlow's writers (in temporary folders too) say "No space left" only in words.
        with files.no_space_as_disk_full(path):
            fmt.load_writer()(graphs, path, fmt, nms, calibration, progress)
        result = ExportResult(fmt.family, fmt.quantization, path, files.size_mb(path))
        check_parity(result, fmt, graphs, reference, check_images)
        results.append(result)
    return results


def _predict_nms_settings() -> dict:
    from utils import options

    return {k: options.default(k, "predict") for k in ("conf", "nms_iou", "max_boxes")}


def default_check_images(
    calibration: Sequence | None, input_size: Sequence[int], letterbox: bool = True
) -> np.ndarray:
    """Canvases to check files on: two calibration images, else the letterboxed sample photo
    (a real photo, so end-to-end graphs have detections to compare), else a fixed noise image."""
    if calibration:
        first = [np.asarray(b)[0] for b in list(calibration)[:2]]
        return np.round(np.stack(first) * 255.0).astype(np.uint8)
    from utils.data.images import letterbox_image, load_image, resize_image
    from utils.data.sample_photo import sample_photo_path

    path = sample_photo_path()
    if path is not None:
        image = load_image(path, apply_exif=False)
        canvas = (
            letterbox_image(image, input_size) if letterbox else resize_image(image, input_size)
        )
        return np.asarray(canvas, np.uint8)[None]
    h, w = input_size
    return np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8)


def check_parity(
    result: ExportResult,
    fmt: ModelFormat,
    graphs: ExportGraphs,
    reference: list,
    check_images: np.ndarray,
) -> None:
    """Run the file on ``check_images`` with its own runtime and compare with its source."""
    runtime = formats.open_runtime(result.path)
    if runtime.metadata["nms"]:
        _check_end_to_end(result, runtime, graphs, check_images)
        return
    outputs = runtime.outputs(check_images)
    diff = max(
        float(np.max(np.abs(np.asarray(o, np.float32) - r))) for o, r in zip(outputs, reference)
    )
    scale = max(float(np.max(np.abs(r))) for r in reference)
    result.max_abs_diff = diff
    result.parity = f"raw max |diff| {diff:.2g} (outputs up to {scale:.3g})"


def _check_end_to_end(result, runtime, graphs, check_images) -> None:
    """The file's detections against the same end-to-end graph run by TensorFlow."""
    got_boxes, got_scores, _, got_valid = runtime.outputs(check_images)
    want = graphs.end_to_end_single
    expected = [want(check_images[i : i + 1]) for i in range(len(check_images))]
    counts = [int(np.asarray(v).reshape(-1)[0]) for v in got_valid]
    want_counts = [int(e["valid"].numpy()[0]) for e in expected]
    if counts != want_counts:
        result.parity = f"MISMATCH: {sum(counts)} detections, TensorFlow {sum(want_counts)}"
        return
    diff = 0.0
    for i, (count, e) in enumerate(zip(counts, expected)):
        if count:
            box_diff = np.abs(got_boxes[i, :count] - e["boxes"].numpy()[0, :count])
            score_diff = np.abs(got_scores[i, :count] - e["scores"].numpy()[0, :count])
            diff = max(diff, float(box_diff.max()), float(score_diff.max()))
    result.max_abs_diff = diff
    result.parity = f"{sum(counts)} detections as TensorFlow's, max |diff| {diff:.2g}"
