"""Sliced inference two ways on the same images and the same detector: SAHI's own
``get_sliced_prediction`` through a ``DetectionModel`` adapter, and this project's
``SlicedDetector`` (SAHI's tiles and merging, our batching). Prints ms per image for each and
how many of SAHI's boxes ours gives too (same class, IoU >= 0.95 once ours are clipped to the
image: SAHI also clips each tile's boxes to the tile, ours keep what reaches past it).

    python benchmarks/bench_slicing.py --images 20 --slice 416
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sahi.models.base import DetectionModel
from sahi.predict import get_sliced_prediction
from sahi.prediction import ObjectPrediction

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")


class YoloLiteSahiModel(DetectionModel):
    """Our detector as a SAHI model: batches go to ``detect_batch``."""

    def __init__(self, detector):
        self.detector = detector
        names = {str(i): name for i, name in enumerate(detector.class_names)}
        super().__init__(model=detector, confidence_threshold=detector.conf, category_mapping=names)

    def load_model(self):
        self.set_model(self.detector)

    def set_model(self, model, **kwargs):
        self.model = model

    def perform_inference(self, image):
        self._original_predictions = self.detector.detect_batch([image])

    def perform_batch_inference(self, images):
        self._original_predictions = self.detector.detect_batch(images)

    @property
    def num_categories(self):
        return len(self.detector.class_names)

    @property
    def has_mask(self):
        return False

    @property
    def category_names(self):
        return list(self.detector.class_names)

    def _create_object_prediction_list_from_original_predictions(
        self, shift_amount_list=None, full_shape_list=None
    ):
        from sahi.utils.compatibility import fix_full_shape_list, fix_shift_amount_list

        count = len(self._original_predictions)
        shifts = fix_shift_amount_list(shift_amount_list) if shift_amount_list else [[0, 0]] * count
        shapes = fix_full_shape_list(full_shape_list) if full_shape_list else [None] * count
        per_image = []
        for found, shift, shape in zip(self._original_predictions, shifts, shapes):
            per_image.append(
                [
                    ObjectPrediction(
                        bbox=[float(v) for v in box],
                        category_id=int(c),
                        category_name=self.detector.class_names[int(c)],
                        score=float(s),
                        shift_amount=list(shift),
                        full_shape=list(shape) if shape is not None else None,
                    )
                    for box, s, c in zip(found.boxes, found.scores, found.class_ids)
                ]
            )
        self._object_prediction_list_per_image = per_image
        self._object_prediction_list = per_image[0] if per_image else []


def _iou(a, b):
    inter = np.maximum(0, np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2])).prod()
    return inter / ((a[2:] - a[:2]).prod() + (b[2:] - b[:2]).prod() - inter)


def main():
    from PIL import Image

    from utils.inference.runtime_detector import load_detector
    from utils.inference.slicing import SlicedDetector, SliceSettings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--slice", type=int, default=416)
    parser.add_argument("--conf", type=float, default=0.25)
    args = parser.parse_args()

    folder = os.path.join(SHARED, "datasets", "helmet", "VOC2007")
    ids = open(os.path.join(folder, "ImageSets", "Main", "test.txt")).read().split()[: args.images]
    images = [
        np.asarray(Image.open(os.path.join(folder, "JPEGImages", i + ".jpg")).convert("RGB"))
        for i in ids
    ]
    weights = os.path.join(SHARED, "weights", "yolov4_mobilenet_v1_025_voc.h5")
    detector = load_detector("mobilenetv1", 0.25, weights, conf=args.conf)
    settings = SliceSettings((args.slice, args.slice), merge="greedynmm")  # SAHI's default
    ours = SlicedDetector(detector, settings)
    sahi_model = YoloLiteSahiModel(detector)
    ours.detect_batch(images[:1])  # warm-up: graph traced for both
    runs = {}
    start = time.perf_counter()
    runs["sahi"] = [
        get_sliced_prediction(
            image, sahi_model, args.slice, args.slice, 0.2, 0.2, verbose=0, batch_size=16
        ).object_prediction_list
        for image in images
    ]
    sahi_ms = (time.perf_counter() - start) / len(images) * 1000
    start = time.perf_counter()
    runs["ours"] = ours.detect_batch(images)
    ours_ms = (time.perf_counter() - start) / len(images) * 1000
    matched = total = 0
    for sahi_boxes, mine, image in zip(runs["sahi"], runs["ours"], images):
        clipped = mine.clipped_boxes(image.shape[1], image.shape[0])
        for p in sahi_boxes:
            total += 1
            box = np.asarray(p.bbox.to_xyxy(), np.float64)
            matched += any(
                c == p.category.id and _iou(box, b.astype(np.float64)) >= 0.95
                for b, c in zip(clipped, mine.class_ids)
            )
    print(
        f"{len(images)} helmet test images, {args.slice}x{args.slice} tiles, overlap 0.2, "
        "greedy NMM"
    )
    print(f"SAHI get_sliced_prediction (adapter, batch 16): {sahi_ms:.1f} ms/image, {total} boxes")
    print(
        f"SlicedDetector (one batch for all tiles):       {ours_ms:.1f} ms/image, "
        f"{sum(len(d) for d in runs['ours'])} boxes"
    )
    print(f"SAHI's boxes that ours gives too: {matched}/{total}")


if __name__ == "__main__":
    main()
