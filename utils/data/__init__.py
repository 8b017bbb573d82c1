"""Datasets: validated samples from VOC folders, COCO files and YOLO txt behind one interface
(``utils.data.datasets``: ``open_dataset(path).load(split)``), conversion between them, images,
augmentation, targets and the ``tf.data`` training pipeline (``utils.data.pipeline``, which imports
TensorFlow)."""

from utils.data.coco import load_coco_json
from utils.data.datasets import (
    Dataset,
    DatasetSplit,
    dataset_formats,
    open_dataset,
    register_dataset_format,
)
from utils.data.samples import (
    DatasetError,
    DatasetReport,
    ImageProblem,
    Sample,
    image_size,
    training_boxes,
)
from utils.data.voc import (
    annotation_line,
    list_voc_class_names,
    load_voc_folder,
    load_voc_split,
    parse_voc_xml,
    resolve_voc_root,
)
from utils.data.voc_layout import (
    SPLIT_NAMES,
    existing_splits,
    list_annotation_ids,
    make_voc_splits,
    read_split_ids,
    report_duplicates,
    split_path,
    unique_ids,
    write_voc_splits,
)

__all__ = [
    "SPLIT_NAMES",
    "Dataset",
    "DatasetError",
    "DatasetReport",
    "DatasetSplit",
    "ImageProblem",
    "Sample",
    "annotation_line",
    "dataset_formats",
    "existing_splits",
    "image_size",
    "list_annotation_ids",
    "list_voc_class_names",
    "load_coco_json",
    "load_voc_folder",
    "load_voc_split",
    "make_voc_splits",
    "open_dataset",
    "parse_voc_xml",
    "read_split_ids",
    "register_dataset_format",
    "report_duplicates",
    "resolve_voc_root",
    "split_path",
    "training_boxes",
    "unique_ids",
    "write_voc_splits",
]
