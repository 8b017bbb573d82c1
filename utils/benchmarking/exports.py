"""The model in every format of the table, one export at a time: a format that fails to export
is a row that says why, and the others are still written."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from utils import formats
from utils.benchmarking.measure import Row


def export_each(
    model: Any,
    class_names: Sequence[str],
    anchors: Any,
    anchors_mask: Any,
    input_size: Sequence[int],
    out_dir: str,
    names: Sequence[str],
    canvases: np.ndarray | None,
    backbone: str | None,
    alpha: float | None,
    progress: bool = True,
    log: Callable[[str], Any] | None = None,
) -> list[Row]:
    """A row per table entry in ``names`` with the written file, or the reason it is not.

    ``canvases``: uint8 letterboxed training images (N, H, W, 3) that calibrate the int8
    models and check every export; None: int8 rows fail for want of them.
    """
    from utils.export.exporter import export_model

    calibration = None
    if canvases is not None and len(canvases):
        calibration = [c[None].astype(np.float32) / 255.0 for c in canvases]
    rows = []
    for fmt in formats.model_formats():
        if fmt.name not in names:
            continue
        row = Row(fmt.name, fmt.quantization)
        try:
            if fmt.switch == "int8" and calibration is None:
                raise ValueError("int8 needs calibration images (--data with a --calib-split)")
            (result,) = export_model(
                model,
                class_names,
                anchors,
                anchors_mask,
                input_size,
                out_dir,
                [fmt.family],
                backbone=backbone,
                alpha=alpha,
                half=fmt.switch == "half",
                calibration=calibration if fmt.switch == "int8" else None,
                check_images=None if canvases is None else canvases[:2],
                progress=progress,
                log=log,
                only=[fmt.name],
            )
            row.file = result.path
        except Exception as exc:  # the reason goes in the table; the next format is tried
            row.error = f"export failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        rows.append(row)
    return rows
