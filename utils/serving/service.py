"""One detector behind the HTTP API: request thresholds and class filters checked against the
model, admission (the bounded queue), decoding, batching and the JSON answer.

The app (:mod:`utils.serving.app`) only routes; everything a request goes through is here, so it
can be read (and tested) without HTTP.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
from starlette.requests import Request

from utils.cli import MAX_BOXES_LIMIT
from utils.inference.base import Detections, DetectorBase
from utils.inference.records import image_record
from utils.serving.batcher import BatchResult, DynamicBatcher, Thresholds
from utils.serving.errors import RequestError, bad_request, unavailable
from utils.serving.metrics import ServiceMetrics
from utils.serving.settings import ServeSettings
from utils.serving.uploads import Upload, decode_upload, read_upload


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


class Service:
    """A detector served with ``settings``: call :meth:`start` before and :meth:`stop` after."""

    def __init__(self, detector: DetectorBase, settings: ServeSettings) -> None:
        self.detector = detector
        self.settings = settings
        self.metrics = ServiceMetrics(settings.max_batch)
        self.defaults = Thresholds(settings.conf, settings.nms_iou, settings.max_boxes)
        detector.conf, detector.nms_iou, detector.max_boxes = (
            self.defaults.conf,
            self.defaults.nms_iou,
            self.defaults.max_boxes,
        )
        self.built_in = built_in_nms(detector)
        if self.built_in is not None:
            problem = self._built_in_problem(self.defaults)
            if problem:
                from utils.cli import UsageError

                raise UsageError(f"the service's defaults do not fit this model: {problem}")
        self.batcher = DynamicBatcher(
            detector,
            settings.max_batch,
            settings.max_wait_ms / 1000.0,
            self.defaults,
            on_batch=self.metrics.observe_batch,
        )
        self.in_flight = 0
        # Decoding on as many threads as cores: more would only share them, and a wide pool
        # starves the model's thread when a crowd of uploads arrives at once.
        self._decoders = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="decode")
        self.description = detector.describe()  # with the defaults (requests change them)

    # -- life --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker: it warms up every batch size, then :attr:`ready` turns true."""
        self.batcher.start()

    def stop(self) -> None:
        """Finish what is queued and stop the worker."""
        self.batcher.stop()
        self._decoders.shutdown(wait=False)

    @property
    def ready(self) -> bool:
        return self.batcher.ready.is_set()

    # -- what a request asks for -------------------------------------------------------------
    def thresholds(
        self, conf: float | None, nms_iou: float | None, max_boxes: int | None
    ) -> Thresholds:
        """The request's thresholds (its query, else the service's defaults); 400 when this
        model cannot apply them."""
        wanted = Thresholds(
            self.defaults.conf if conf is None else float(conf),
            self.defaults.nms_iou if nms_iou is None else float(nms_iou),
            self.defaults.max_boxes if max_boxes is None else int(max_boxes),
        )
        if not 0.0 <= wanted.conf <= 1.0:
            raise bad_request(f"conf must be in [0, 1], got {wanted.conf}")
        if not 0.0 < wanted.nms_iou <= 1.0:
            raise bad_request(f"nms_iou must be in (0, 1], got {wanted.nms_iou}")
        if not 1 <= wanted.max_boxes <= MAX_BOXES_LIMIT:
            raise bad_request(
                f"max_boxes must be in [1, {MAX_BOXES_LIMIT}], got {wanted.max_boxes}"
            )
        if self.built_in is not None:
            problem = self._built_in_problem(wanted)
            if problem:
                raise bad_request(problem)
        return wanted

    def _built_in_problem(self, wanted: Thresholds) -> str | None:
        """Why an export with NMS in its graph cannot answer ``wanted`` (None: it can: a
        higher conf and a lower max_boxes filter its output)."""
        built = self.built_in
        assert built is not None
        if (
            wanted.conf >= built.conf - 1e-9
            and abs(wanted.nms_iou - built.nms_iou) < 1e-9
            and wanted.max_boxes <= built.max_boxes
        ):
            return None
        return (
            f"this model has NMS built into its graph (conf {built.conf:g}, nms_iou "
            f"{built.nms_iou:g}, max_boxes {built.max_boxes}): it answers conf >= "
            f"{built.conf:g}, nms_iou {built.nms_iou:g} and max_boxes <= {built.max_boxes} only "
            "(export with --no-nms for any thresholds)"
        )

    def class_filter(self, classes: str | None) -> np.ndarray | None:
        """Class ids from ``classes`` ('person,car' or '0,6'), None for all; 400 for a name or
        id the model does not have."""
        if classes is None or not classes.strip():
            return None
        names = self.detector.class_names
        ids = []
        for item in (part.strip() for part in classes.split(",")):
            if item in names:
                ids.append(names.index(item))
            elif item.isdigit() and int(item) < len(names):
                ids.append(int(item))
            else:
                raise bad_request(
                    f"classes: the model has no class '{item}' (it has {len(names)}: "
                    f"{', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
                )
        return np.asarray(sorted(set(ids)), np.int32)

    # -- a detection request -----------------------------------------------------------------
    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Count the request while it is served; 503 when ``max_queue`` are already in."""
        if self.in_flight >= self.settings.max_queue:
            raise unavailable(
                f"the service is full ({self.settings.max_queue} requests in progress, "
                "--max-queue); retry shortly"
            )
        if not self.ready:
            raise unavailable("the model is warming up; retry shortly")
        self.in_flight += 1
        self.metrics.in_flight.set(self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.set(self.in_flight)

    async def detect(
        self, request: Request, thresholds: Thresholds, class_ids: np.ndarray | None
    ) -> dict:
        """Read, decode, batch and answer one upload, within the request timeout (504)."""
        try:
            return await asyncio.wait_for(
                self._detect(request, thresholds, class_ids), self.settings.request_timeout
            )
        except asyncio.TimeoutError:
            raise RequestError(
                504, f"no result within {self.settings.request_timeout:g} s (--request-timeout)"
            ) from None

    async def _detect(self, request, thresholds, class_ids):
        arrived = time.perf_counter()
        self.batcher.expect()
        submitted = False
        try:
            upload = await read_upload(request, self.settings.max_upload_bytes)
            loop = asyncio.get_running_loop()
            canvas, transform, size = await loop.run_in_executor(
                self._decoders, self._prepare, upload
            )
            decoded = time.perf_counter()
            future = self.batcher.submit(canvas, transform, thresholds, expected=True)
            submitted = True
        finally:
            if not submitted:
                self.batcher.not_coming()
        self.metrics.queue_depth.set(self.batcher.waiting)
        result: BatchResult = await asyncio.wrap_future(future)
        self.metrics.queue_depth.set(self.batcher.waiting)
        detections = result.detections
        if class_ids is not None:
            detections = _only_classes(detections, class_ids)
        record = image_record(upload.name, size, detections, self.detector.class_names)
        record["timing"] = {
            "decode_ms": _ms(decoded - arrived),
            "queue_ms": _ms(result.queue_s),
            "model_ms": _ms(result.model_s),
            "total_ms": _ms(time.perf_counter() - arrived),
            "batch_size": result.batch_size,
        }
        return record

    def _prepare(self, upload: Upload):
        image = decode_upload(upload, self.detector.reduce_for)
        # One thread per image: requests decode in parallel already.
        return self.detector.preprocess(image, threads=1)

    # -- what is served ----------------------------------------------------------------------
    def model_info(self) -> dict[str, Any]:
        """GET /v1/model: what the model is and what a request gets by default."""
        info = describe_model(self.detector)
        info.update(
            description=self.description,
            defaults={
                "conf": self.defaults.conf,
                "nms_iou": self.defaults.nms_iou,
                "max_boxes": self.defaults.max_boxes,
            },
            nms_in_graph=self.built_in is not None,
            max_batch=self.settings.max_batch,
            max_wait_ms=self.settings.max_wait_ms,
        )
        return info

    def readiness(self) -> dict[str, Any]:
        """GET /readyz: loaded and warmed up (every batch size traced), or why not."""
        error = self.batcher.warm_up_error
        return {
            "ready": self.ready,
            "warmed_batch_sizes": self.batcher.batch_sizes if self.ready else [],
            "warm_up_s": None
            if self.batcher.warm_up_seconds is None
            else round(self.batcher.warm_up_seconds, 2),
            **({"error": f"warm-up failed: {error}"} if error is not None else {}),
        }


def _only_classes(detections: Detections, class_ids: np.ndarray) -> Detections:
    keep = np.isin(detections.class_ids, class_ids)
    return Detections(detections.boxes[keep], detections.scores[keep], detections.class_ids[keep])


def built_in_nms(detector: Any) -> Thresholds | None:
    """The thresholds an end-to-end export has in its graph (None: NMS runs on the host)."""
    runtime = getattr(detector, "runtime", None)
    if runtime is None or not runtime.metadata.get("nms"):
        return None
    built = runtime.metadata.get("nms_settings") or {}
    return Thresholds(
        float(built.get("conf", 0.0)),
        float(built.get("nms_iou", detector.nms_iou)),
        int(built.get("max_boxes", detector.max_boxes)),
    )


def describe_model(detector: Any) -> dict[str, Any]:
    """Backbone, alpha, classes, input size, format and quantisation of a detector."""
    runtime = getattr(detector, "runtime", None)
    if runtime is not None:
        meta = runtime.metadata
        backbone, alpha = meta.get("backbone"), meta.get("alpha")
        fmt, quantization = runtime.format, meta.get("quantization") or "float32"
    else:
        model = detector.model
        backbone = getattr(model, "backbone_name", model.name)
        alpha = getattr(model, "alpha", None)
        fmt, quantization = "keras", "float32"
    return {
        "backbone": backbone,
        "alpha": alpha,
        "classes": list(detector.class_names),
        "num_classes": detector.num_classes,
        "input_size": list(detector.input_size),
        "letterbox": detector.letterbox,
        "format": fmt,
        "quantization": quantization,
    }
