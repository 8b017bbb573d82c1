"""The dataset options (every tool that reads one, check_dataset.py, convert_dataset.py) and
get_map.py's evaluation options."""

from utils.options.base import Option, PerMode, Writes

_DATA_HELP = (
    "dataset: a VOC folder, a COCO instances .json (or a folder with annotations/), or a YOLO "
    "data.yaml (or a folder with images/ and labels/)"
)

DATA_TABLE = {
    # ---------------------------------------------------------------- datasets
    "data": Option(
        None,
        PerMode(
            eval=_DATA_HELP + " to evaluate on",
            train=_DATA_HELP + " to train on",
            anchors=_DATA_HELP + " whose boxes are clustered (every split)",
            annotate="VOC folder holding Annotations/, JPEGImages/ and ImageSets/Main/ (or a "
            "folder with exactly one such subfolder, e.g. a VOCdevkit holding only "
            "VOC2007); check_dataset.py reads the other formats",
            export=_DATA_HELP + " whose images calibrate --int8 (and check the exports)",
            benchmark=_DATA_HELP + ": mAP on --split, int8 calibration on --calib-split",
            check=_DATA_HELP + " to check",
            convert_data=_DATA_HELP + " to convert (every split)",
        ),
        metavar="DATA",
    ),
    # The names are the registered formats' (utils.data.datasets), checked when a dataset opens:
    # the options table stays free of the readers' imports.
    "data_format": Option(
        None,
        "read --data as this format: voc, coco or yolo (default: detected from what it is)",
    ),
    "split": Option(
        PerMode(eval="test", benchmark="test", export="train", check=None),
        PerMode(
            benchmark="split to measure mAP on (named as for get_map.py)",
            eval="split to evaluate (VOC: ImageSets/Main/<split>.txt; YOLO: a data.yaml key or "
            "a folder of images/; COCO: annotations/instances_<split>.json); a single COCO "
            "file is its own split",
            export="split to take calibration images from (named as for get_map.py)",
            check="check only this split (default: every split)",
        ),
    ),
    "train_split": Option(
        "train", "split to train on (VOC: ImageSets/Main/<split>.txt; YOLO: a data.yaml key)"
    ),
    "val_split": Option(
        None,
        "split for validation loss and mAP (default: val, else test, when "
        "present); 'none' to skip validation; or the path of another dataset to validate on",
    ),
    "coco_images": Option(
        None,
        "image folder of a COCO instances file given as --data (default: found beside it: "
        "images/<split>/, <split>/, images/)",
    ),
    # Replaced by --data FILE (utils.cli.apply_deprecated_flags says so when given).
    "coco_json": Option(None, "deprecated: use --data FILE.json"),
    "val_coco_json": Option(None, "deprecated: use --val-split FILE.json"),
    "val_coco_images": Option(
        None,
        "deprecated: the images of --val-split FILE.json are found beside it, or in --coco-images",
    ),
    # ---------------------------------------------------------------- datasets (check, convert)
    "to": Option(None, "format to write: voc, coco or yolo"),
    "copy": Option(
        False, "copy the images into the output (default: symbolic links)", action="store_true"
    ),
    "write_splits": Option(
        False,
        "VOC: write ImageSets/Main/{trainval,train,val,test}.txt when there are none "
        "(--trainval-percent, --train-percent, --seed)",
        action="store_true",
    ),
    # ---------------------------------------------------------------- evaluation (get_map.py)
    "map_out": Option(
        None, "folder with ground-truth/<id>.txt and detection-results/<id>.txt", metavar="DIR"
    ),
    "iou": Option(
        ["0.5"],
        "VOC IoU threshold(s): 0.5, several values, or a range 0.5:0.95 "
        "(step 0.05) / start:stop:step",
        nargs="+",
    ),
    "metric": Option("voc", "which mAP to compute", choices=("voc", "coco", "both")),
    "score_threshold": Option(
        0.5, "score at which per-class precision, recall and F1 are read", type=float
    ),
    "voc07": Option(False, "11-point AP (VOC2007) instead of all-point", action="store_true"),
    "coco_compat": Option(
        False,
        "build the COCO ground truth exactly as the original does "
        "(annotation ids from 0 in directory order, area w*h-10), to "
        "reproduce its numbers; its annotation id 0 is then never "
        "counted as found",
        action="store_true",
    ),
    "out": Option(
        PerMode(
            eval="map_out",
            anchors="yolo_anchors.txt",
            export="exports",
            convert_data=None,
            benchmark="benchmark_out",
        ),
        PerMode(
            eval="output folder",
            benchmark="folder for the exported files and benchmark.csv / benchmark.json",
            anchors="anchors file to write",
            export="folder for the exported models",
            convert_data="folder to write the dataset into (new or empty)",
        ),
        writes=PerMode(
            eval=Writes("folder"),
            anchors=Writes("file"),
            export=Writes("folder"),
            convert_data=Writes("folder"),
            benchmark=Writes("folder"),
        ),
    ),
    "no_progress": Option(False, "no progress bar", action="store_true"),
    # Drawing is slower than the evaluation itself (about 0.1 s per figure), so it is asked for.
    "plots": Option(
        False,
        "also draw a precision-recall curve per class (pr_curves/<class>.png) "
        "and an AP bar chart per IoU (ap_per_class_iou<IoU>.png)",
        action="store_true",
    ),
}
