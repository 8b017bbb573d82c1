"""What every detector shares, whichever runtime runs the network: the :class:`Detections`
record, letterbox preprocessing on the host, batching, and the JSON form of results.

TensorFlow-free: :class:`utils.inference.detector.Detector` (Keras) and
:class:`utils.inference.runtime_detector.RuntimeDetector` (TFLite, ONNX Runtime, SavedModel)
subclass :class:`DetectorBase` and implement ``run_canvases``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from utils import options
from utils.data.images import letterbox_geometry, load_image, thread_pool
from utils.inference.host import image_transform
from utils.inference.preprocess import to_canvas


@dataclass
class Detections:
    """Detections of one image, sorted by descending score."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))
    track_ids: np.ndarray | None = None  # set by a tracker: one id per box, stable over frames

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def clipped_boxes(self, width: float, height: float) -> np.ndarray:
        """Boxes clipped to the image (the raw boxes may reach past its border)."""
        boxes = self.boxes.copy()
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return boxes


class DetectorBase:
    """Preprocessing and the detect API over ``run_canvases(canvases, transforms)``.

    Subclasses set ``class_names``, ``num_classes``, ``anchors``, ``anchors_mask``,
    ``input_size`` (height, width), ``letterbox``, ``conf``, ``nms_iou``, ``max_boxes`` and
    implement :meth:`run_canvases` and :meth:`model_description`.
    """

    class_names: list[str]
    num_classes: int
    anchors: np.ndarray
    anchors_mask: tuple[tuple[int, ...], ...]
    input_size: tuple[int, int]
    letterbox: bool
    conf: float
    nms_iou: float
    max_boxes: int

    # -- preprocessing ---------------------------------------------------------------------
    # "fast" or "exact" (utils.inference.preprocess); set by load_detector from --preprocess.
    preprocess_mode: str = options.default("preprocess")

    @property
    def reduce_for(self) -> tuple | None:
        """What a decode for this detector alone may reduce a large JPEG to (``reduce_for`` of
        :func:`utils.data.images.load_image`): only in the fast mode."""
        if self.preprocess_mode != "fast":
            return None
        return tuple(self.input_size), bool(self.letterbox)

    def load(self, path: str, apply_exif: bool = True) -> Any:
        """An image file read for this detector alone (nothing drawn on it at full size)."""
        return load_image(path, apply_exif=apply_exif, reduce_for=self.reduce_for)

    def preprocess(
        self, image: Any, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Image -> (uint8 canvas HxWx3 at the input size, transform back to the image, size).

        ``image``: a PIL image, an RGB array or a :class:`utils.data.images.ReducedImage`. In
        the exact mode a large image is resized on ``threads`` threads (default: one per CPU),
        to the same pixels as on one.
        """
        threads = (os.cpu_count() or 1) if threads is None else threads
        canvas, size = to_canvas(
            image, self.input_size, self.letterbox, self.preprocess_mode, threads
        )
        return canvas, image_transform(size, self.input_size, self.letterbox), size

    def heat_to_image(self, heat: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """A heat map over the network input (H, W) -> over the original image, the letterbox
        padding cropped off first so the map lines up with the image."""
        import cv2  # local: only heat-map mode needs it

        iw, ih = image_size
        if self.letterbox:
            nw, nh, left, top = letterbox_geometry(image_size, self.input_size)
            heat = heat[top : top + nh, left : left + nw]
        return np.clip(cv2.resize(heat, (iw, ih), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)

    def run_canvases(self, canvases: np.ndarray, transforms: np.ndarray) -> list[Detections]:
        """Detections of preprocessed canvases (N, H, W, 3) uint8 with their transforms (N, 4)."""
        raise NotImplementedError

    def run_canvas(self, canvas: np.ndarray, transform: np.ndarray) -> Detections:
        """Run the compiled graph on one preprocessed canvas (used by timing code)."""
        return self.run_canvases(np.asarray(canvas)[None], np.asarray(transform)[None])[0]

    def detect(self, image: Any) -> Detections:
        """Detect objects in one image.

        Args:
            image: ``PIL.Image`` (any mode; RGB expected) or HxWx3 uint8 RGB array.

        Returns:
            :class:`Detections` with boxes [x1, y1, x2, y2] in original-image pixels (not clipped,
            like the reference), sorted by descending score.
        """
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[Any]) -> list[Detections]:
        """Detect objects in several images with one run of the compiled graph (model, decoding
        and NMS all batched); returns a list of :class:`Detections`, one per image, equal to
        what :meth:`detect` gives for each (up to float rounding in the batched convolutions).
        """
        if not len(images):
            return []
        if len(images) == 1:
            prepared = [self.preprocess(images[0])]
        else:  # one image per thread (Pillow releases the GIL while it resizes)
            prepared = list(
                thread_pool("preprocess", os.cpu_count() or 1).map(
                    lambda image: self.preprocess(image, threads=1), images
                )
            )
        canvases = np.stack([canvas for canvas, _, _ in prepared])
        transforms = np.stack([transform for _, transform, _ in prepared])
        return self.run_canvases(canvases, transforms)

    def describe(self) -> str:
        """One line describing the detector's settings."""
        size = "x".join(str(s) for s in self.input_size)
        return (
            f"{self.model_description()}, {self.num_classes} classes, input {size}, "
            f"{'letterbox' if self.letterbox else 'plain resize'}, conf {self.conf}, "
            f"nms_iou {self.nms_iou}, max_boxes {self.max_boxes}"
        )

    def model_description(self) -> str:
        """What runs the network, e.g. 'mobilenetv1 alpha 0.25'."""
        raise NotImplementedError


def detect_in_batches(
    detector: DetectorBase, items: Iterable[tuple[Any, Any]], batch_size: int
) -> Iterator[tuple[Any, Any, Detections]]:
    """Run ``detector.detect_batch`` over ``(key, image)`` pairs, ``batch_size`` images per run;
    yields ``(key, image, detections)`` in order. Shared by predict.py's folder job and the
    evaluation, so both batch the same way."""
    batch_size = max(int(batch_size), 1)
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == batch_size:
            yield from _detected(detector, batch)
            batch = []
    if batch:
        yield from _detected(detector, batch)


def _detected(detector, batch):
    results = detector.detect_batch([image for _, image in batch])
    return [(key, image, detections) for (key, image), detections in zip(batch, results)]


def detections_to_dicts(
    detections: Detections,
    class_names: Sequence[str],
    width: float | None = None,
    height: float | None = None,
    decimals: int = 2,
) -> list[dict]:
    """Detections -> JSON-ready list of {"class", "class_id", "score", "box"} dicts.

    With ``width`` and ``height`` given, boxes are clipped to the image.
    """
    if width is not None and height is not None:
        boxes = detections.clipped_boxes(width, height)
    else:
        boxes = detections.boxes
    records = [
        {
            "class": class_names[int(c)],
            "class_id": int(c),
            "score": round(float(s), 6),
            "box": [round(float(v), decimals) for v in box],
        }
        for box, s, c in zip(boxes, detections.scores, detections.class_ids)
    ]
    if detections.track_ids is not None:
        for record, track_id in zip(records, detections.track_ids):
            record["track_id"] = int(track_id)
    return records
