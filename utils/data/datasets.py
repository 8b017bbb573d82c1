"""One dataset interface for every annotation format: ``open_dataset(path)`` and ``load(split)``.

Each format is a :class:`Dataset` subclass registered with :func:`register_dataset_format`; the
built-in ones are VOC (``utils.data.voc``), COCO (``utils.data.coco``) and YOLO txt
(``utils.data.yolo_dataset``). :func:`open_dataset` asks each registered format in turn whether
the path is its own (``claims``), unless the format is named, and every format's ``load``
returns the same :class:`DatasetSplit`: validated samples and the per-file problem report.

Splits: a dataset has named splits (VOC's ``ImageSets/Main/<split>.txt``, a data.yaml's keys,
the subfolders of a YOLO ``images/``, the instances files of a COCO ``annotations/``), or is one
piece that serves every split asked for (a single COCO instances file, a YOLO ``images/`` folder
that holds the images directly). ``load(None)`` reads the whole dataset.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from utils.data.samples import DatasetError, DatasetReport, Sample

_FORMATS: dict[str, type[Dataset]] = {}


@dataclasses.dataclass
class DatasetSplit:
    """What reading one split gives, whatever the format."""

    samples: list[Sample]
    report: DatasetReport
    class_names: list[str]  # what the samples' class ids index
    where: str  # the split and the dataset, for messages: "split 'train' of data/VOC2007"


class Dataset:
    """A dataset on disk in one format. Subclasses set ``format`` and ``description`` and
    implement ``claims``, ``split_names``, ``class_names`` and ``load``."""

    format: ClassVar[str]
    description: ClassVar[str]  # what it looks like on disk, for help texts
    # write(out, {split or None: samples}, class_names, copy) -> notes: the format's writer
    # (utils.data.writers), what convert_dataset.py writes this format with.
    write: ClassVar[Callable[..., list[str]]]
    root: str

    @classmethod
    def claims(cls, path: str) -> bool:
        """Whether ``path`` looks like a dataset of this format (cheap: no file is parsed)."""
        raise NotImplementedError

    def split_names(self) -> list[str]:
        """The named splits present, in their natural order; [] for a one-piece dataset."""
        raise NotImplementedError

    @property
    def one_piece(self) -> bool:
        """True when one file or folder is the whole dataset and serves any split asked for."""
        return False

    def resolve_split(self, split: str) -> str | None:
        """The name of the split that ``split`` asks for (a format may accept other spellings:
        COCO's 'val' finds 'val2017'), or None when there is none; a one-piece dataset serves
        every name."""
        return split if self.one_piece or split in self.split_names() else None

    def has_split(self, split: str) -> bool:
        return self.resolve_split(split) is not None

    def unlisted_images(self) -> int:
        """Annotated images that no named split lists (a VOC annotation in no split file)."""
        return 0

    def class_names(self, split: str | None = None) -> list[str]:
        """The class names the dataset declares, or finds in the annotations of ``split``."""
        raise NotImplementedError

    def load(
        self,
        split: str | None,
        class_names: Sequence[str] | None = None,
        *,
        check_images: bool = True,
        progress: bool = False,
    ) -> DatasetSplit:
        """The validated samples of ``split`` (None: every image), with ``class_names`` (default:
        :meth:`class_names`) the list their class ids index."""
        raise NotImplementedError

    def describe(self, split: str | None) -> str:
        if split is None or self.one_piece:
            return self.root
        return f"split '{split}' of {self.root}"

    def missing_split(self, split: str) -> DatasetError:
        names = self.split_names()
        known = f"splits: {', '.join(names)}" if names else "it has no named splits"
        return DatasetError(f"{self.format} dataset {self.root} has no split '{split}' ({known})")


def register_dataset_format(cls: type[Dataset]) -> type[Dataset]:
    """Add a format (a decorator); formats registered first are asked first by
    :func:`open_dataset`."""
    _FORMATS[cls.format] = cls
    return cls


def dataset_formats() -> dict[str, type[Dataset]]:
    """{format name: Dataset class}, built-ins included, in the order they are asked."""
    _builtin_formats()
    return dict(_FORMATS)


def _builtin_formats() -> None:
    # Importing the modules registers their formats. Each claims only what holds its own files
    # (COCO's one-json folder rule steps aside for a folder with YOLO or VOC files), and a path
    # that two formats claim is refused, so the order they are asked in does not decide.
    from utils.data import coco, voc, yolo_dataset  # noqa: F401


def detect_format(path: str) -> str:
    """The name of the registered format that ``path`` is, or :class:`DatasetError` (also when
    several formats claim it: Ultralytics' COCO download holds both COCO json and YOLO labels)."""
    if not os.path.exists(path):
        raise DatasetError(f"dataset not found: {path}")
    claims = [name for name, cls in dataset_formats().items() if cls.claims(path)]
    if len(claims) == 1:
        return claims[0]
    if claims:
        raise DatasetError(
            f"{path} holds a {' and a '.join(claims)} dataset: name one with --data-format"
        )
    raise DatasetError(
        f"{path} is not a dataset this tool reads: expected a VOC folder (Annotations/, "
        "JPEGImages/), a COCO instances .json (or a folder with annotations/*.json), or a YOLO "
        "data.yaml (or a folder with images/ and labels/); --data-format names one"
    )


def open_dataset(
    path: str, data_format: str | None = None, *, coco_images: str | None = None
) -> Dataset:
    """The dataset at ``path``, of ``data_format`` (default: detected from what ``path`` holds);
    ``coco_images`` is the image folder of a COCO instances file. Raises :class:`DatasetError`.
    """
    formats = dataset_formats()
    if data_format is None:
        data_format = detect_format(path)
    elif data_format not in formats:
        raise DatasetError(f"unknown --data-format {data_format!r} (formats: {', '.join(formats)})")
    elif not os.path.exists(path):
        raise DatasetError(f"dataset not found: {path}")
    # The constructors differ (COCO's takes its image folder), so the class is not typed here.
    cls: Any = formats[data_format]
    if data_format == "coco":
        return cls(path, images=coco_images)
    if coco_images:
        raise DatasetError(f"--coco-images is for COCO data; {path} is a {data_format} dataset")
    return cls(path)


def dataset_for_args(args) -> Dataset:
    """The dataset that a tool's ``--data``, ``--data-format`` and ``--coco-images`` name."""
    return open_dataset(
        args.data,
        getattr(args, "data_format", None),
        coco_images=getattr(args, "coco_images", None),
    )


def default_val_split(dataset: Dataset, train_split: str) -> str | None:
    """The split to validate on when none is named: ``val``, else ``test``, when present and not
    the training split; None for a one-piece dataset."""
    if dataset.one_piece:
        return None
    train = dataset.resolve_split(train_split)
    return next((s for s in ("val", "test") if dataset.resolve_split(s) not in (None, train)), None)


def merge_reports(reports: Sequence[DatasetReport]) -> DatasetReport:
    """One report of several splits' reports: their problems in order, each once (a file in
    two splits has its problem reported by both), and their counts added."""
    merged = DatasetReport()
    seen = set()
    for report in reports:
        for (file, message), kind in zip(report.problems, report._kinds):
            if (file, message) not in seen:
                seen.add((file, message))
                merged.add_problem(file, message, kind)
        for name, count in report.class_counts.items():
            merged.class_counts[name] = merged.class_counts.get(name, 0) + count
        for name, count in report.difficult_counts.items():
            merged.difficult_counts[name] = merged.difficult_counts.get(name, 0) + count
        merged.unknown_classes.update(report.unknown_classes)
        for name, file in report.unknown_examples.items():
            merged.unknown_examples.setdefault(name, file)
        merged.num_images += report.num_images
        merged.num_skipped += report.num_skipped
    return merged
