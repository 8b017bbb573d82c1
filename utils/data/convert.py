"""Converting a dataset from any registered format to any other (convert_dataset.py's work).

Every split of the source is read with its problem report, and written with the target
format's writer into a folder beside ``out`` that is renamed into place at the end, so a
failed conversion leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Sequence

from utils.data.datasets import Dataset, dataset_formats, merge_reports
from utils.data.samples import DatasetError, DatasetReport


@dataclasses.dataclass
class ConversionResult:
    out: str
    data_format: str
    split_counts: dict  # {split name or None: samples written}
    report: DatasetReport  # what reading the source found, every split together
    notes: list  # what the target format could not hold

    def lines(self) -> list[str]:
        splits = ", ".join(f"{name or 'all'} {count}" for name, count in self.split_counts.items())
        lines = [f"wrote a {self.data_format} dataset to {self.out} (images per split: {splits})"]
        return lines + [f"note: {note}" for note in self.notes]


def read_all_splits(
    dataset: Dataset,
    class_names: Sequence[str] | None = None,
    *,
    check_images: bool = True,
    progress: bool = False,
) -> tuple[dict, DatasetReport, list[str]]:
    """({split or None: samples}, the merged report, class names) of every split of a dataset;
    a dataset without named splits gives ``{None: samples}``."""
    if class_names is None:
        class_names = dataset.class_names()
    class_names = list(class_names)
    splits: list[str | None] = [*dataset.split_names()] or [None]
    parts, reports = {}, []
    for split in splits:
        read = dataset.load(split, class_names, check_images=check_images, progress=progress)
        parts[split] = read.samples
        reports.append(read.report)
    report = reports[0] if len(reports) == 1 else merge_reports(reports)
    return parts, report, class_names


def convert_dataset(
    dataset: Dataset,
    to: str,
    out: str,
    *,
    copy: bool = False,
    class_names: Sequence[str] | None = None,
    check_images: bool = True,
    progress: bool = False,
) -> ConversionResult:
    """Write ``dataset`` as a ``to`` dataset in the folder ``out`` (which must not exist or be
    empty); the images are linked unless ``copy``. Raises :class:`DatasetError`."""
    formats = dataset_formats()
    if to not in formats:
        raise DatasetError(f"unknown dataset format {to!r} (formats: {', '.join(formats)})")
    if os.path.isdir(out) and os.listdir(out):
        raise DatasetError(f"--out {out} exists and is not empty")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise DatasetError(f"--out {out} exists and is not a folder")
    parts, report, class_names = read_all_splits(
        dataset, class_names, check_images=check_images, progress=progress
    )
    if not any(parts.values()):
        raise DatasetError(f"no usable image in {dataset.root}: nothing to convert")
    parent, name = os.path.split(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    # Not tempfile.mkdtemp: its folder is private (0700), and the output must get the usual
    # permissions.
    staging = os.path.join(parent, f".converting-{name}-{uuid.uuid4().hex[:8]}")
    os.mkdir(staging)
    try:
        notes = formats[to].write(staging, parts, class_names, copy)
        if os.path.isdir(out):
            os.rmdir(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    unlisted = dataset.unlisted_images()
    if unlisted:
        notes.append(f"{unlisted} annotated images that no split lists were not converted")
    counts = {split: len(samples) for split, samples in parts.items()}
    return ConversionResult(out, to, counts, report, notes)
