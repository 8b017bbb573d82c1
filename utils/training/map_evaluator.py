"""The mAP measured during training: get_map.py's measurement on the validation split with the
current weights."""

from __future__ import annotations

import functools

from utils import options


class MapEvaluator:
    """Called with an epoch, returns the VOC mAP@0.5 (0-1) on ``samples`` with the current
    weights, measured with get_map.py's default settings (``options.detection_defaults('eval')``).

    The detector is built at the first evaluation and reused: it shares ``body``'s weights.
    """

    def __init__(self, body, samples, class_names, anchors, settings, evaluate=None):
        from utils.inference.detector import Detector

        if evaluate is None:
            from utils.evaluation import evaluate
        self.evaluate = evaluate
        self.samples = samples
        self.class_names = class_names
        self.build_detector = functools.partial(
            Detector,
            body,
            class_names,
            anchors=anchors,
            input_size=settings.input_size,
            **options.detection_defaults("eval"),
        )
        self.detector = None

    def __call__(self, epoch):
        if self.detector is None:
            self.detector = self.build_detector()
        result = self.evaluate.evaluate_detector(
            self.detector,
            self.samples,
            self.class_names,
            progress=False,
            batch_size=options.default("batch_size", "eval"),
        )
        return float(result["voc"]["0.5"]["mAP"])
