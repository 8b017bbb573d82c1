"""The functions an export traces, and the metadata its files carry.

* ``raw``: float32 images in [0, 1] -> the three head outputs ``p5``, ``p4``, ``p3``; our
  tools decode and suppress on the host. TFLite int8 quantises this one (uint8 in and out).
* ``serve`` (SavedModel, also its ``serving_default``): uint8 images -> ``boxes`` (N, K, 4)
  [x1, y1, x2, y2] in input pixels, ``scores``, ``classes``, ``valid``: decoding and
  class-aware NMS inside the graph (:func:`nets.postprocess.detect_from_outputs`, the Keras
  detector's own).
* ``end_to_end_single`` (``--nms`` TFLite float32/float16 and ONNX): the same outputs for one
  image, using only the single-class NMS each runtime has built in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nets.errors import UserError
from utils.formats import metadata as md

RAW_NAMES = ("p5", "p4", "p3")
E2E_NAMES = ("boxes", "scores", "classes", "valid")


class ExportError(UserError, RuntimeError):
    """An export that cannot be done as asked (a converter failure, an unwritable folder)."""


class ExportGraphs:
    """The traced functions and the metadata of one model's exports.

    Args:
        model: a ``yolo_body`` model (its batch norms are folded into a copy for export).
        class_names, anchors, anchors_mask, input_size, letterbox, backbone, alpha: what the
            files record (:mod:`utils.formats.metadata`).
        nms_settings: ``{"conf", "nms_iou", "max_boxes"}`` built into end-to-end graphs.
    """

    def __init__(
        self,
        model: Any,
        class_names: Sequence[str],
        anchors: Any,
        anchors_mask: Sequence[Sequence[int]],
        input_size: Sequence[int],
        letterbox: bool,
        backbone: str | None,
        alpha: float | None,
        nms_settings: dict,
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
        # TFLite's int8 layer ranking per calibration set (id of the list): measured once, kept
        # float in both the TFLite and the ONNX int8 file (utils.export.writers).
        self.int8_rankings: dict[int, tuple[list, list]] = {}

    def end_to_end_spec(self, batch: int | None) -> Any:
        """uint8 images for :meth:`end_to_end_single`, in the batch the format table gives."""
        h, w = self.input_size
        return self.tf.TensorSpec((batch or 1, h, w, 3), self.tf.uint8, name="images")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _outputs(self, uint8_images: Any) -> Any:
        tf = self.tf
        return self.inference_model(tf.cast(uint8_images, tf.float32) / 255.0, training=False)

    def raw(self, images: Any) -> dict:
        outputs = self.inference_model(images, training=False)
        return dict(zip(RAW_NAMES, outputs))

    def serve(self, images: Any) -> dict:
        """uint8 images -> end-to-end detections, the Keras detector's decoding and NMS."""
        from nets.postprocess import detect_from_outputs

        s = self.nms_settings
        boxes, scores, classes, valid = detect_from_outputs(
            self._outputs(images),
            self.anchors,
            self.anchors_mask,
            self.num_classes,
            self.input_size,
            s["conf"],
            s["nms_iou"],
            s["max_boxes"],
        )
        return dict(zip(E2E_NAMES, (boxes, scores, classes, valid)))

    def end_to_end_single(self, images: Any) -> dict:
        """uint8 images (batch 1) -> end-to-end detections with a single-class NMS op that
        TFLite and ONNX have built in: each box keeps its best class, and boxes of different
        classes are moved apart by a per-class offset so they never suppress each other."""
        from nets.postprocess import scored_boxes

        tf = self.tf
        boxes, scores_all = scored_boxes(
            self._outputs(images),
            self.anchors,
            self.anchors_mask,
            self.num_classes,
            self.input_size,
        )
        boxes, scores_all = boxes[0], scores_all[0]
        scores = tf.reduce_max(scores_all, axis=-1)
        classes = tf.argmax(scores_all, axis=-1, output_type=tf.int32)
        s = self.nms_settings
        offset = tf.cast(classes, tf.float32)[:, None] * float(4 * max(self.input_size))
        max_boxes = int(s["max_boxes"])
        threshold = float(s["conf"]) - 1e-6
        selected, _ = tf.image.non_max_suppression_padded(
            boxes + offset,
            scores,
            max_output_size=max_boxes,
            iou_threshold=float(s["nms_iou"]),
            score_threshold=threshold,
            pad_to_max_output_size=True,
        )
        valid = tf.reduce_sum(tf.cast(tf.gather(scores, selected) >= threshold, tf.int32))
        keep = tf.range(max_boxes) < valid
        return {
            "boxes": tf.where(keep[:, None], tf.gather(boxes, selected), 0.0)[None],
            "scores": tf.where(keep, tf.gather(scores, selected), 0.0)[None],
            "classes": tf.where(keep, tf.gather(classes, selected), 0)[None],
            "valid": tf.reshape(valid, [1]),
        }

    def metadata(self, nms: bool, quantization: str, signature: str) -> dict:
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
