"""Dynamic batching: concurrent requests gathered into one run of the model.

Requests arrive already letterboxed (a canvas at the input size and its transform back to the
image), so one run is ``detector.run_canvases`` over stacked canvases, which is what
``detector.detect`` does for one image: each request's result equals ``detect`` on its image
alone. The compiled graph takes one set of thresholds per run, so a batch holds only requests
that ask for the same :class:`Thresholds`; the oldest waiting request decides which, so none
waits behind a stream of others.

A run waits for more requests only while some are on their way (admitted, still being read or
decoded: :meth:`DynamicBatcher.expect`): a lone request runs at once instead of paying
``max_wait_s`` for company that is not coming.

One worker thread owns the detector (TFLite interpreters and the Keras graph are then never
entered by two threads); it first warms up every batch size it will use, then serves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from utils.inference.base import Detections


@dataclass(frozen=True)
class Thresholds:
    """What the compiled graph takes per run: the batching key."""

    conf: float
    nms_iou: float
    max_boxes: int


@dataclass
class Job:
    canvas: np.ndarray
    transform: np.ndarray
    thresholds: Thresholds
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class BatchResult:
    """One request's share of a run: its detections, the run's size and timings."""

    detections: Detections
    batch_size: int
    queue_s: float
    model_s: float


def run_with_thresholds(
    detector: Any, canvases: np.ndarray, transforms: np.ndarray, thresholds: Thresholds
) -> list[Detections]:
    """``detector.run_canvases`` with these thresholds (called from one thread only)."""
    detector.conf = thresholds.conf
    detector.nms_iou = thresholds.nms_iou
    detector.max_boxes = thresholds.max_boxes
    return detector.run_canvases(canvases, transforms)


class DynamicBatcher:
    """Gathers jobs for up to ``max_wait_s`` into runs of up to ``max_batch`` canvases.

    Args:
        detector: a :class:`utils.inference.base.DetectorBase`.
        max_batch: canvases per run (1: every request runs alone).
        max_wait_s: how long the oldest waiting job waits for others to join its run.
        warm_up_thresholds: the thresholds warm-up runs with (the service's defaults).
        on_batch: called after each run with (batch size, seconds in the model).
    """

    def __init__(
        self,
        detector: Any,
        max_batch: int,
        max_wait_s: float,
        warm_up_thresholds: Thresholds,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.detector = detector
        self.max_batch = max(int(max_batch), 1)
        self.max_wait_s = max(float(max_wait_s), 0.0)
        self.warm_up_thresholds = warm_up_thresholds
        self.on_batch = on_batch
        self.ready = threading.Event()
        self.warm_up_seconds: float | None = None
        self.warm_up_error: BaseException | None = None
        self._pending: list[Job] = []
        self._incoming = 0  # requests admitted and not yet submitted
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="batcher", daemon=True)

    # -- the request side --------------------------------------------------------------------
    def expect(self) -> None:
        """A request is on its way: runs may wait (up to ``max_wait_s``) for it."""
        with self._condition:
            self._incoming += 1

    def not_coming(self) -> None:
        """An expected request will not be submitted (it failed or timed out first)."""
        with self._condition:
            self._incoming = max(self._incoming - 1, 0)
            self._condition.notify_all()

    def submit(
        self,
        canvas: np.ndarray,
        transform: np.ndarray,
        thresholds: Thresholds,
        expected: bool = False,
    ) -> Future:
        """Queue one letterboxed canvas (``expected``: announced by :meth:`expect`); the future
        resolves to its :class:`BatchResult`."""
        job = Job(canvas, transform, thresholds)
        with self._condition:
            if expected:
                self._incoming = max(self._incoming - 1, 0)
            if self._stopping:
                raise RuntimeError("the batcher is stopping")
            self._pending.append(job)
            self._condition.notify_all()
        return job.future

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet in a run."""
        return len(self._pending)

    @property
    def batch_sizes(self) -> list[int]:
        """Every batch size a run can have: each is warmed up before the service is ready."""
        return list(range(1, self.max_batch + 1))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish the queued jobs, then end the worker thread."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- the worker ----------------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            self._warm_up()
        except BaseException as exc:  # reported by /readyz and the start-up message
            self.warm_up_error = exc
            return
        self.ready.set()
        while (batch := self._next_batch()) is not None:
            self._run(batch)

    def _warm_up(self) -> None:
        """Run every batch size once, so no request pays for tracing or allocating one."""
        start = time.perf_counter()
        height, width = self.detector.input_size
        for size in self.batch_sizes:
            canvases = np.full((size, height, width, 3), 128, np.uint8)
            identity = np.array([0.0, 0.0, 1.0, 1.0], np.float32)  # [top, left, scale_y, scale_x]
            transforms = np.tile(identity, (size, 1))
            run_with_thresholds(self.detector, canvases, transforms, self.warm_up_thresholds)
        self.warm_up_seconds = time.perf_counter() - start

    def _next_batch(self) -> list[Job] | None:
        with self._condition:
            while not self._pending and not self._stopping:
                self._condition.wait()
            if not self._pending:
                return None  # stopping, nothing left
            first = self._pending[0]
            deadline = first.enqueued + self.max_wait_s
            while True:
                batch = [job for job in self._pending if job.thresholds == first.thresholds]
                remaining = deadline - time.perf_counter()
                full = len(batch) >= self.max_batch
                if full or remaining <= 0 or self._stopping or not self._incoming:
                    break
                self._condition.wait(remaining)
            batch = batch[: self.max_batch]
            taken = {id(job) for job in batch}
            self._pending = [job for job in self._pending if id(job) not in taken]
            return batch

    def _run(self, batch: Sequence[Job]) -> None:
        # A job whose request timed out was cancelled: it is dropped, not run.
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not batch:
            return
        start = time.perf_counter()
        try:
            results = run_with_thresholds(
                self.detector,
                np.stack([job.canvas for job in batch]),
                np.stack([job.transform for job in batch]),
                batch[0].thresholds,
            )
        except Exception as exc:  # every request of the run gets the error (a 500)
            for job in batch:
                job.future.set_exception(exc)
            return
        seconds = time.perf_counter() - start
        for job, detections in zip(batch, results):
            job.future.set_result(
                BatchResult(detections, len(batch), start - job.enqueued, seconds)
            )
        if self.on_batch is not None:
            self.on_batch(len(batch), seconds)
