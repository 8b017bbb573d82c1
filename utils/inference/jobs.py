"""What predict.py does with a detector: predict on any source, time it, heat maps.

Each job takes a :class:`utils.inference.detector.Detector` and plain arguments, writes its files,
reports through ``log`` (``print`` by default) and returns what it found, so it can be used
from Python as well as from the command line.
"""

from __future__ import annotations

import os
import time
from typing import Any

from utils.inference.pipeline import RunSummary
from utils.inference.settings import PredictSettings
from utils.inference.sources import FrameSource
from utils.options import default


def predict_source(
    detector: Any,
    source: FrameSource,
    settings: PredictSettings | None = None,
    log: Any = print,
) -> RunSummary:
    """Detect on every frame of an opened source (:func:`utils.inference.sources.open_source`)
    with the hooks and sinks ``settings`` ask for (tracking, counting, drawings, video, JSON,
    MOT file, labels, crops, window); returns the run's summary."""
    from utils.inference.hooks import make_hooks
    from utils.inference.pipeline import RunContext, run_pipeline
    from utils.inference.render import Renderer
    from utils.inference.sinks import make_sinks

    settings = settings or PredictSettings()
    frame_size = getattr(source, "frame_size", None)
    if source.live and frame_size:
        # Trace the model before the first frame is read: a camera's frames should not queue
        # up (and be dropped) while the graph is built.
        import numpy as np

        width, height = frame_size
        if width > 0 and height > 0:
            detector.detect(np.zeros((height, width, 3), np.uint8))
    context = RunContext(source, detector.class_names, detector.describe(), log)
    hooks = make_hooks(settings, context)
    context.hooks = hooks
    return run_pipeline(
        detector,
        source,
        hooks,
        make_sinks(settings, source),
        batch_size=settings.batch_size,
        log=log,
        render_factory=Renderer,
    )


def time_detector(detector, image, runs=default("runs", "predict"), warmup=3):
    """Latency of ``detector`` on one PIL image over ``runs`` calls after ``warmup`` calls.

    Returns mean and median ms end to end (preprocess + model + decode + NMS) and for the
    compiled graph alone (model + decode + NMS, what the reference's fps mode times).
    """
    import numpy as np

    for _ in range(warmup):
        detector.detect(image)
    canvas, transform, _ = detector.preprocess(image)
    end_to_end_s, graph_s = [], []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(image)
        end_to_end_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        detector.run_canvas(canvas, transform)
        graph_s.append(time.perf_counter() - start)
    e2e, graph = np.asarray(end_to_end_s) * 1000.0, np.asarray(graph_s) * 1000.0
    return {
        "runs": runs,
        "end_to_end_ms_mean": float(e2e.mean()),
        "end_to_end_ms_median": float(np.median(e2e)),
        "graph_ms_mean": float(graph.mean()),
        "graph_ms_median": float(np.median(graph)),
    }


def save_heatmaps(detector, source, save_dir, log=print):
    """Save ``<stem>_heatmap.png`` (objectness over the image) for each image of an image
    source; returns the names of the images that could not be read."""
    import sys

    from PIL import Image

    from utils.inference.draw import save_heatmap
    from utils.inference.sinks import output_path

    failures: list[str] = []
    for frame in source.frames():
        if frame.image is None:
            failures.append(frame.name)
            print(f"skipped {frame.error}", file=sys.stderr)
            continue
        image = Image.fromarray(frame.image)
        heat = detector.objectness_map(image)
        os.makedirs(save_dir, exist_ok=True)
        saved = save_heatmap(image, heat, output_path(save_dir, frame.name, "_heatmap", ".png"))
        log(f"{frame.name}: objectness heat map -> {saved}")
    return failures
