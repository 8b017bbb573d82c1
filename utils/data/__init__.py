"""Datasets: validated samples from VOC folders and COCO files, images, augmentation, targets and
the ``tf.data`` training pipeline (``utils.data.pipeline``, which imports TensorFlow)."""

from utils.data.coco import load_coco_json
from utils.data.samples import (
    DatasetError,
    DatasetReport,
    ImageProblem,
    Sample,
    image_size,
    training_boxes,
)
from utils.data.voc import (
    SPLIT_NAMES,
    annotation_line,
    existing_splits,
    list_annotation_ids,
    list_voc_class_names,
    load_voc_folder,
    load_voc_split,
    make_voc_splits,
    parse_voc_xml,
    read_split_ids,
    report_duplicates,
    resolve_voc_root,
    split_path,
    unique_ids,
    write_voc_splits,
)

__all__ = [
    "SPLIT_NAMES",
    "DatasetError",
    "DatasetReport",
    "ImageProblem",
    "Sample",
    "annotation_line",
    "existing_splits",
    "image_size",
    "list_annotation_ids",
    "list_voc_class_names",
    "load_coco_json",
    "load_voc_folder",
    "load_voc_split",
    "make_voc_splits",
    "parse_voc_xml",
    "read_split_ids",
    "report_duplicates",
    "resolve_voc_root",
    "split_path",
    "training_boxes",
    "unique_ids",
    "write_voc_splits",
]
