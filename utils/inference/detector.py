"""The inference core shared by predict.py, evaluation and training-time evaluation.

``Detector.detect(image)`` and ``Detector.detect_batch(images)`` letterbox the images (on the host,
exactly like the reference), then run model + decode + letterbox correction + class-aware NMS as
one ``tf.function`` over the whole batch, whose input signature is fixed by the network input
size: it is traced once and reused for every batch size and image, whatever the images' sizes
(each image's transform travels as a tensor), and whatever ``conf``, ``nms_iou`` and
``max_boxes`` are set to (they are tensors too). For fixed weights (predict),
the graph runs a copy of the model with batch norms folded into the convolutions (nets.fuse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nets.anchors import ANCHORS_MASK
from nets.fuse import fold_batchnorm
from nets.postprocess import detect_from_outputs, objectness_maps
from utils import options
from utils.config import (
    ConfigError,
    anchors_path_for,
    load_anchors,
    load_class_names,
    parse_input_size,
)
from utils.data.images import as_pil_rgb
from utils.inference.base import Detections, DetectorBase, detect_in_batches, detections_to_dicts

# Detections and the batching helpers live in utils.inference.base (TensorFlow-free); they are
# importable from here too.
__all__ = ["Detections", "Detector", "detect_in_batches", "detections_to_dicts", "load_model"]


class Detector(DetectorBase):
    """Runs a ``yolo_body`` model on images and returns :class:`Detections`.

    Args:
        model: any ``yolo_body`` model (fixed input size or (None, None)).
        class_names: list of class names, as many as the model's classes.
        anchors: (9, 2) anchors (w, h) in input pixels; default ``model_data/yolo_anchors.txt``.
        anchors_mask: anchor indices per output [P5, P4, P3].
        input_size: (height, width) of the network input, multiples of 32.
        letterbox: letterbox (keep aspect ratio) or plain resize.
        conf: score threshold (objectness x class probability).
        nms_iou: IoU above which a same-class box is suppressed.
        max_boxes: cap per class and in total.
        fuse: run a copy of the model with batch norms folded into the convolutions (faster).
            A snapshot of the weights: leave it off for a model that is still training.
        traced: run model, decoding and NMS as one traced graph (fast from the second image on);
            False runs them eagerly, which gives the first result sooner (a single image).

    The defaults are predict.py's (``utils.options``); evaluation passes
    ``options.detection_defaults("eval")`` instead.
    """

    def __init__(
        self,
        model: keras.Model,
        class_names: Sequence[str],
        anchors: Any = None,
        anchors_mask: Sequence[Sequence[int]] = ANCHORS_MASK,
        input_size: Any = options.default("input_size"),
        letterbox: bool = options.default("letterbox", "predict"),
        conf: float = options.default("conf", "predict"),
        nms_iou: float = options.default("nms_iou", "predict"),
        max_boxes: int = options.default("max_boxes", "predict"),
        fuse: bool = False,
        traced: bool = True,
    ) -> None:
        self.model = model
        self.class_names = list(class_names)
        self.anchors = np.asarray(
            load_anchors() if anchors is None else anchors, np.float32
        ).reshape(-1, 2)
        self.anchors_mask = tuple(tuple(int(i) for i in m) for m in anchors_mask)
        self.input_size = parse_input_size(input_size)
        fixed = tuple(model.inputs[0].shape[1:3]) if getattr(model, "inputs", None) else ()
        if len(fixed) == 2 and None not in fixed and tuple(fixed) != self.input_size:
            raise ConfigError(
                f"the model takes {fixed[0]}x{fixed[1]} inputs but input_size is "
                f"{self.input_size[0]}x{self.input_size[1]}"
            )
        self.letterbox = bool(letterbox)
        self.conf = conf
        self.nms_iou = nms_iou
        self.max_boxes = max_boxes
        num_classes = getattr(model, "num_classes", None)
        if num_classes is None:
            channels = model.outputs[0].shape[-1]
            num_classes = channels // len(self.anchors_mask[0]) - 5
        self.num_classes = int(num_classes)
        if len(self.class_names) != self.num_classes:
            raise ConfigError(
                f"{len(self.class_names)} class names given for a model with "
                f"{self.num_classes} classes"
            )
        self._detect_fns: dict[tuple[int, int], Any] = {}
        self._objectness_fns: dict[tuple[int, int], Any] = {}
        self.inference_model = fold_batchnorm(model) if fuse else model
        self.traced = bool(traced)

    @classmethod
    def from_options(
        cls,
        backbone: str,
        alpha: float,
        weights: str | None,
        classes_path: str | None = None,
        anchors_path: str | None = None,
        input_size: Any = options.default("input_size"),
        **kwargs: Any,
    ) -> Detector:
        """Build ``yolo_body`` for the options and load ``weights``.

        ``weights=None`` fetches the pretrained VOC file for (backbone, alpha) through
        :func:`utils.hub.resolve_weights`. Batch norms are folded (``fuse=True``) unless
        ``fuse=False`` is passed. Raises the loader's errors (``FileNotFoundError``,
        ``nets.WeightsMismatchError``) and ``ConfigError`` for bad class/anchor files.
        """
        class_names = load_class_names(classes_path or options.DEFAULT_CLASSES_PATH)
        anchors = load_anchors(anchors_path_for(anchors_path, weights))
        input_size = parse_input_size(input_size)
        anchors_mask = kwargs.pop("anchors_mask", ANCHORS_MASK)
        kwargs.setdefault("fuse", True)
        model = load_model(backbone, alpha, weights, len(class_names), input_size, anchors_mask)
        return cls(
            model,
            class_names,
            anchors=anchors,
            anchors_mask=anchors_mask,
            input_size=input_size,
            **kwargs,
        )

    # -- compiled graphs -------------------------------------------------------------------
    def _forward(self, canvases):
        x = tf.cast(canvases, tf.float32) / 255.0
        return self.inference_model(x, training=False)

    def _compiled(self, function, signature):
        """``function`` as a traced ``tf.function`` (``traced``), or as it is: run eagerly, one
        image costs about a quarter of tracing the graph (worth it only for a single image)."""
        if not self.traced:
            return function
        return tf.function(function, input_signature=signature, reduce_retracing=True)

    def _detect_fn(self):
        key = self.input_size
        if key not in self._detect_fns:
            h, w = self.input_size

            def detect_graph(canvases, transforms, conf, nms_iou, max_boxes):
                return detect_from_outputs(
                    self._forward(canvases),
                    self.anchors,
                    self.anchors_mask,
                    self.num_classes,
                    (h, w),
                    conf,
                    nms_iou,
                    max_boxes,
                    transforms=transforms,
                )

            self._detect_fns[key] = self._compiled(
                detect_graph,
                [
                    tf.TensorSpec((None, h, w, 3), tf.uint8),
                    tf.TensorSpec((None, 4), tf.float32),
                    tf.TensorSpec((), tf.float32),
                    tf.TensorSpec((), tf.float32),
                    tf.TensorSpec((), tf.int32),
                ],
            )
        return self._detect_fns[key]

    def run_canvases(self, canvases: np.ndarray, transforms: np.ndarray) -> list[Detections]:
        """Run the compiled graph on preprocessed canvases (N, H, W, 3) with their transforms
        (N, 4); returns one :class:`Detections` per canvas."""
        boxes, scores, classes, valid = self._detect_fn()(
            tf.convert_to_tensor(canvases, tf.uint8),
            tf.convert_to_tensor(transforms, tf.float32),
            tf.constant(float(self.conf), tf.float32),
            tf.constant(float(self.nms_iou), tf.float32),
            tf.constant(int(self.max_boxes), tf.int32),
        )
        boxes, scores, classes = (
            boxes.numpy().astype(np.float32),
            scores.numpy().astype(np.float32),
            classes.numpy().astype(np.int32),
        )
        return [
            Detections(boxes[i, :n], scores[i, :n], classes[i, :n])
            for i, n in enumerate(valid.numpy().tolist())
        ]

    def objectness_map(self, image: Any) -> np.ndarray:
        """Heat map (H, W) float32 in [0, 1] over the original image: per pixel, the highest
        sigmoid(objectness) of any anchor at any of the three scales.

        Unlike the reference, the letterbox padding is cropped off before resizing, so the map
        lines up with the image.
        """
        image = as_pil_rgb(image)
        canvas, _, _ = self.preprocess(image)
        key = self.input_size
        if key not in self._objectness_fns:
            h, w = self.input_size

            def objectness_graph(canvas):
                maps = objectness_maps(
                    self._forward(canvas[None]), self.anchors_mask, self.num_classes
                )
                # Bring every level to the input size, then take the max over levels.
                resized = [
                    tf.image.resize(m[..., None], (h, w), method="bilinear")[..., 0] for m in maps
                ]
                return tf.reduce_max(tf.stack(resized), axis=0)

            self._objectness_fns[key] = self._compiled(
                objectness_graph, [tf.TensorSpec((h, w, 3), tf.uint8)]
            )
        heat = self._objectness_fns[key](tf.convert_to_tensor(canvas)).numpy()
        return self.heat_to_image(heat, image.size)

    def model_description(self) -> str:
        name = getattr(self.model, "backbone_name", self.model.name)
        alpha = getattr(self.model, "alpha", None)
        return name + (f" alpha {alpha:g}" if alpha is not None else "")


def load_model(
    backbone: str,
    alpha: float,
    weights: str | None,
    num_classes: int,
    input_size: Any,
    anchors_mask: Sequence[Sequence[int]] = ANCHORS_MASK,
) -> keras.Model:
    """``yolo_body`` for (backbone, alpha, classes, input size) with ``weights`` loaded (None: the
    published VOC weights, fetched by :func:`utils.hub.resolve_weights`); the model carries the
    loader's report as ``model.load_report``. Raises the loader's errors (``FileNotFoundError``,
    ``nets.WeightsMismatchError``) and ``UnknownBackboneError``."""
    from nets import get_backbone, load_weights, yolo_body
    from utils.hub import resolve_weights

    get_backbone(backbone, alpha)  # a clear message before any file is touched
    path = resolve_weights(backbone, alpha, weights)
    model = yolo_body(
        parse_input_size(input_size),
        anchors_mask,
        num_classes=num_classes,
        backbone=backbone,
        alpha=alpha,
    )
    model.load_report = load_weights(model, path)
    return model
