"""The benchmark table: printed, and written as CSV and JSON."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence

from utils import files
from utils.benchmarking.measure import Row

COLUMNS = (
    ("format", "format", "{}"),
    ("quantization", "quant", "{}"),
    ("size_mb", "MB", "{:.2f}"),
    ("map50", "mAP@0.5", "{:.4f}"),
    ("coco_ap", "COCO AP", "{:.4f}"),
    ("model_ms", "model ms", "{:.1f}"),
    ("end_to_end_ms", "end-to-end ms", "{:.1f}"),
    ("end_to_end_exact_ms", "exact ms", "{:.1f}"),
    ("first_result_s", "first result s", "{:.2f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
)


def _cell(row: Row, key: str, form: str) -> str:
    value = getattr(row, key)
    return "-" if value is None else form.format(value)


def table(rows: Sequence[Row]) -> str:
    """Aligned text: one line per format, its error after the figures it has."""
    lines = [[title for _, title, _ in COLUMNS]]
    for row in rows:
        lines.append([_cell(row, key, form) for key, _, form in COLUMNS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    errors = [None] + [row.error for row in rows]
    text = []
    for line, error in zip(lines, errors):
        cells = "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
        text.append(cells + (f"  FAILED: {error}" if error else ""))
    return "\n".join(text)


def write(rows: Sequence[Row], out_dir: str) -> tuple[str, str]:
    """benchmark.csv and benchmark.json in ``out_dir``; returns their paths."""
    records = [row.as_dict() for row in rows]
    csv_path = os.path.join(out_dir, "benchmark.csv")
    json_path = os.path.join(out_dir, "benchmark.json")
    with files.atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]) if records else ["format"])
        writer.writeheader()
        writer.writerows(records)
    with files.atomic_path(json_path) as tmp, open(tmp, "w") as f:
        json.dump(records, f, indent=1)
    return csv_path, json_path
