"""A detector over an exported model (TFLite, ONNX, SavedModel), and :func:`load_detector`, which
picks the Keras or the runtime detector from the weights path.

The runtime detector preprocesses like the Keras one (:class:`DetectorBase`) and decodes and
suppresses on the host (:mod:`utils.inference.host`), so detections and mAP of an export are
directly comparable with the Keras model's. For a TFLite or ONNX file, nothing imports
TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from utils import options
from utils.config import ConfigError, load_class_names
from utils.formats import KERAS, family_of, open_runtime
from utils.inference.base import Detections, DetectorBase
from utils.inference.host import (
    class_aware_nms,
    decode_raw,
    objectness_levels,
    to_image_coordinates,
)


class RuntimeDetector(DetectorBase):
    """Runs an exported model; settings (classes, input size, anchors, letterbox) come from the
    model's metadata.

    Args:
        runtime: from :func:`utils.formats.open_runtime` (a ``utils.inference.runtimes`` class).
        class_names: names to show instead of the stored ones (same count).
        conf, nms_iou, max_boxes: as :class:`utils.inference.detector.Detector`. An end-to-end
            export applied its own NMS settings inside the graph; these then filter its output.
    """

    def __init__(
        self,
        runtime: Any,
        class_names: Sequence[str] | None = None,
        conf: float = options.default("conf", "predict"),
        nms_iou: float = options.default("nms_iou", "predict"),
        max_boxes: int = options.default("max_boxes", "predict"),
    ) -> None:
        meta = runtime.metadata
        self.runtime = runtime
        self.num_classes = len(meta["class_names"])
        self.class_names = list(meta["class_names"] if class_names is None else class_names)
        if len(self.class_names) != self.num_classes:
            raise ConfigError(
                f"{len(self.class_names)} class names given for an exported model "
                f"with {self.num_classes} classes ({', '.join(meta['class_names'][:5])}"
                f"{', ...' if self.num_classes > 5 else ''})"
            )
        self.anchors = np.asarray(meta["anchors"], np.float32).reshape(-1, 2)
        self.anchors_mask = tuple(tuple(m) for m in meta["anchors_mask"])
        height, width = (int(v) for v in meta["input_size"])
        self.input_size = (height, width)
        self.letterbox = bool(meta["letterbox"])
        self.conf, self.nms_iou, self.max_boxes = conf, nms_iou, max_boxes
        self.model = None  # no Keras model (no load report)

    def run_canvases(self, canvases: np.ndarray, transforms: np.ndarray) -> list[Detections]:
        outputs = self.runtime.outputs(np.asarray(canvases, np.uint8))
        if self.runtime.metadata["nms"]:
            return self._from_end_to_end(outputs, transforms)
        results = []
        for i, transform in enumerate(transforms):
            boxes, scores = decode_raw(
                [output[i] for output in outputs],
                self.anchors,
                self.anchors_mask,
                self.num_classes,
                self.input_size,
            )
            # Suppressed in image pixels, as the Keras graph does (the two scales of a plain
            # resize differ, and IoU with them).
            boxes = to_image_coordinates(boxes, transform)
            results.append(
                Detections(*class_aware_nms(boxes, scores, self.conf, self.nms_iou, self.max_boxes))
            )
        return results

    def _from_end_to_end(self, outputs, transforms):
        boxes, scores, classes, valid = outputs
        results = []
        for i, transform in enumerate(transforms):
            n = int(np.asarray(valid).reshape(-1)[i])
            keep = np.nonzero(scores[i, :n] >= self.conf)[0][: self.max_boxes]
            results.append(
                Detections(
                    to_image_coordinates(boxes[i, keep].astype(np.float32), transform),
                    scores[i, keep].astype(np.float32),
                    classes[i, keep].astype(np.int32),
                )
            )
        return results

    def objectness_map(self, image: Any) -> np.ndarray:
        """As :meth:`utils.inference.detector.Detector.objectness_map` (raw exports only)."""
        if self.runtime.metadata["nms"]:
            raise ConfigError(
                "the objectness heat map needs an export with raw outputs (export.py --no-nms)"
            )
        import cv2  # local: only heat-map mode needs it (0.06 s to import)

        canvas, _, size = self.preprocess(image)
        levels = objectness_levels(
            [o[0] for o in self.runtime.outputs(canvas[None])], self.anchors_mask, self.num_classes
        )
        h, w = self.input_size
        heat = np.max(
            [cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in levels], axis=0
        )
        return self.heat_to_image(heat, size)

    def model_description(self) -> str:
        return self.runtime.describe()


def load_detector_for_args(args: Any, single_image: bool = False) -> DetectorBase:
    """:func:`load_detector` with the model and detection flags every model-running script
    shares (``--backbone``, ``--alpha``, ``--weights``, ``--classes``, ``--anchors``,
    ``--input-size``, ``--letterbox``, ``--conf``, ``--nms-iou``, ``--max-boxes``), sliced
    when ``--slice`` is given (``--slice-overlap``, ``--slice-merge``)."""
    detector = load_detector(
        args.backbone,
        args.alpha,
        args.weights,
        classes_path=args.classes,
        anchors_path=args.anchors,
        input_size=args.input_size,
        letterbox=args.letterbox,
        preprocess=getattr(args, "preprocess", options.default("preprocess")),
        conf=args.conf,
        nms_iou=args.nms_iou,
        max_boxes=args.max_boxes,
        single_image=single_image,
    )
    if getattr(args, "slice", None):
        from utils.inference.slicing import SlicedDetector, SliceSettings

        settings = SliceSettings(args.slice, args.slice_overlap, args.slice_merge)
        return SlicedDetector(detector, settings)
    return detector


def load_detector(
    backbone: str | None,
    alpha: float | None,
    weights: str | None,
    classes_path: str | None = None,
    anchors_path: str | None = None,
    input_size: Any = options.default("input_size"),
    single_image: bool = False,
    preprocess: str = options.default("preprocess"),
    **kwargs: Any,
) -> DetectorBase:
    """The detector for ``weights``: an exported model (``.tflite``, ``.onnx``, a SavedModel
    folder) runs on its runtime with the settings stored in it; anything else is Keras weights
    for (backbone, alpha), as :meth:`utils.inference.detector.Detector.from_options`.

    ``single_image`` runs the Keras model eagerly and unfolded: the first result comes sooner.
    ``preprocess``: "fast" or "exact" (:mod:`utils.inference.preprocess`).
    ``kwargs``: ``letterbox`` (Keras only), ``conf``, ``nms_iou``, ``max_boxes``.
    """
    detector = _load_detector(
        backbone, alpha, weights, classes_path, anchors_path, input_size, single_image, kwargs
    )
    detector.preprocess_mode = preprocess
    return detector


def _load_detector(
    backbone, alpha, weights, classes_path, anchors_path, input_size, single_image, kwargs
):
    if weights and family_of(weights) != KERAS:
        kwargs.pop("letterbox", None)  # the export's own preprocessing
        names = load_class_names(classes_path) if classes_path else None
        return RuntimeDetector(open_runtime(weights), class_names=names, **kwargs)
    if backbone is None or alpha is None:
        raise ConfigError(
            f"{weights or 'the published weights'}: a Keras model needs a backbone and alpha"
        )
    from utils.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from utils.inference.detector import Detector

    return Detector.from_options(
        backbone,
        alpha,
        weights,
        classes_path=classes_path,
        anchors_path=anchors_path,
        input_size=input_size,
        fuse=not single_image,
        traced=not single_image,
        **kwargs,
    )
