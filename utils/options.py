"""Every default of the project, once: the options table.

Each command-line flag of every script, and each default of the Python API that has a flag
(``TrainSettings``, ``Detector``, the evaluation functions), reads its value here. Where two tools
must differ, an option holds one value per *mode*:

* ``predict``  - predict.py, ``Detector`` used directly;
* ``eval``     - get_map.py and the mAP measured during training (the same measurement);
* ``train``    - train.py and ``TrainSettings``;
* ``serve``    - serve.py and ``ServeSettings`` (a request's defaults: predict's values);
* ``benchmark`` - benchmark.py;
* ``summary``, ``anchors``, ``annotate`` - summary.py, kmeans_for_anchors.py, voc_annotation.py;
* ``track_eval`` - track_eval.py;
* ``check``, ``convert_data`` - check_dataset.py, convert_dataset.py.

Plain Python, no TensorFlow: building a parser or reading a default costs nothing.
"""

import argparse
import os
from dataclasses import dataclass
from typing import Any

from nets.backbones import available_backbones, describe_choices
from nets.defaults import DEFAULT_ALPHA, DEFAULT_BACKBONE, DEFAULT_NUM_CLASSES
from utils import formats as model_formats

PREPROCESS_MODES = ("fast", "exact")  # utils.inference.preprocess

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DATA_DIR = os.path.join(PROJECT_ROOT, "model_data")
DEFAULT_CLASSES_PATH = os.path.join(MODEL_DATA_DIR, "voc_classes.txt")
DEFAULT_ANCHORS_PATH = os.path.join(MODEL_DATA_DIR, "yolo_anchors.txt")
# Letterbox padding grey, as the reference implementation uses.
LETTERBOX_FILL = 128
# Learning rate for a batch of 64 images when --lr is not given, per optimiser; it is scaled to
# the batch size and clamped (utils.training.schedules), giving 1e-3 at batch 8 for Adam.
LR_PER_64 = {"adam": 8e-3, "sgd": 1e-2}


class PerMode(dict):
    """Option values that differ between modes: ``PerMode(predict=0.5, eval=0.001)``."""

    def __init__(self, **values):
        super().__init__(values)


@dataclass(frozen=True)
class Writes:
    """What an option's path receives: a ``"folder"`` or a ``"file"``. Every tool checks these
    paths right after parsing, before any model or data is loaded
    (``utils.cli.check_output_paths``).

    ``when``: {flag destination: values}; the path is written (and checked) only while each of
    those flags has one of its values (predict.py's ``--mode fps`` writes nothing).
    ``ANY_VALUE`` among a flag's values: whenever that flag is given.
    ``under``: for a switch that writes below another option's folder (``--crop``), that
    option's name; the path checked is then ``<its value>/<subfolder>``.
    """

    kind: str  # "folder" or "file"
    when: dict | None = None
    under: str | None = None
    subfolder: str = ""


@dataclass(frozen=True)
class Option:
    """One flag: its default (or a :class:`PerMode` of defaults), help, and argparse details."""

    default: Any
    help: Any  # a string, or a PerMode of strings
    type: Any = None
    choices: tuple | None = None
    action: str | None = None  # "store_true" or "bool" (--x / --no-x)
    nargs: Any = None
    metavar: str | None = None
    flags: tuple[str, ...] = ()  # extra spellings, e.g. ("-k",)
    const: Any = None  # the value of a flag given with no value (nargs="?")
    # A Writes (or a PerMode of them) for an option naming a path the tool writes.
    writes: Any = None

    def value(self, mode):
        return _for_mode(self.default, mode)

    def writes_in(self, mode):
        """The :class:`Writes` of this option in ``mode``, or None where it writes nothing."""
        if isinstance(self.writes, PerMode):
            return self.writes.get(mode)
        return self.writes


def _for_mode(value, mode):
    if isinstance(value, PerMode):
        if mode not in value:
            raise KeyError(f"no value for mode {mode!r} (modes: {', '.join(value)})")
        return value[mode]
    return value


_MODEL_WEIGHTS_HELP = PerMode(
    predict="weights: a .h5 file, or a model exported by export.py (.tflite, .onnx, a "
    "SavedModel folder), which brings its own classes, anchors and input size "
    "(default: the published VOC weights of the backbone, downloaded once into "
    "$YOLO_LITE_CACHE_DIR)",
    eval="weights: a .h5 file or an exported model (.tflite, .onnx, SavedModel folder) "
    "(default: the published VOC weights of the backbone, downloaded once)",
    export="weights to export: a .h5 file (default: the published VOC weights of the "
    "backbone, downloaded once)",
    benchmark="model to benchmark: a .h5 file (exported to every format), or 'none' for "
    "random weights (size and speed only: mAP is not measured) (default: the published VOC "
    "weights of the backbone, downloaded once)",
    serve="model to serve: a .h5 file, or a model exported by export.py (.tflite, .onnx, a "
    "SavedModel folder; a .tflite or .onnx service never imports TensorFlow) (default: the "
    "published VOC weights of the backbone, downloaded once)",
    train="initial weights: a .h5 file (a detector checkpoint or an ImageNet backbone file), "
    "'none' for random initialisation; default: the published VOC weights of the "
    "backbone (downloaded once)",
)

_DATA_HELP = (
    "dataset: a VOC folder, a COCO instances .json (or a folder with annotations/), or a YOLO "
    "data.yaml (or a folder with images/ and labels/)"
)

# In a Writes' ``when``: the path is written whenever that flag is given, whatever its value.
ANY_VALUE = "<any value>"
# predict.py's modes that write results (--mode fps only measures).
_WRITING_MODES = {"mode": ("predict", "heatmap")}

OPTIONS = {
    # ---------------------------------------------------------------- model
    # The model's defaults (nets.defaults): the reference's backbone at width 1.0 (pass
    # --alpha 0.25 for the smallest model).
    "backbone": Option(
        DEFAULT_BACKBONE, f"backbone: {describe_choices()}", choices=tuple(available_backbones())
    ),
    "alpha": Option(DEFAULT_ALPHA, "width multiplier of the backbone and the neck", type=float),
    "weights": Option(None, _MODEL_WEIGHTS_HELP),
    # VOC's 20 classes where a model is run; training reads the names from the data instead.
    "classes": Option(
        PerMode(
            predict=None,
            serve=None,
            benchmark=None,
            eval=None,
            train=None,
            anchors=None,
            annotate=DEFAULT_CLASSES_PATH,
            export=None,
            check=None,
            convert_data=None,
        ),
        PerMode(
            predict="class names file, one per line (default "
            "model_data/voc_classes.txt; an exported model's own)",
            serve="class names file, one per line (default "
            "model_data/voc_classes.txt; an exported model's own)",
            benchmark="class names file, one per line (default model_data/voc_classes.txt)",
            export="class names file, one per line, stored in the exported "
            "model (default model_data/voc_classes.txt)",
            eval="class names file (default with --data: model_data/"
            "voc_classes.txt; with --map-out: the classes found in the "
            "ground truth)",
            train="class list, one name per line (default: the dataset's own: a YOLO data.yaml's "
            "names, a COCO file's categories, the classes in the VOC annotations, sorted)",
            anchors="class names file (default: the dataset's own, as for train.py)",
            check="class names file (default: the dataset's own, as for train.py)",
            convert_data="class names file: the classes to keep, in this order (default: the "
            "dataset's own, as for train.py)",
            annotate="class names file, one per line",
        ),
    ),
    "anchors": Option(
        None,
        PerMode(
            **dict.fromkeys(
                ("predict", "serve", "benchmark", "eval", "export"),
                "anchors file, 9 'w,h' pairs (default: the anchors.txt train.py saved beside a "
                ".h5 checkpoint, else model_data/yolo_anchors.txt)",
            ),
            train="anchors file, 9 'w,h' pairs, or 'auto': fitted to the training boxes by "
            "k-means (default model_data/yolo_anchors.txt); saved as --save-dir/anchors.txt, "
            "which the other tools read beside the checkpoints",
            summary="anchors file (default model_data/yolo_anchors.txt)",
        ),
    ),
    # The reference's input size; any multiple of 32 works, as N or HxW.
    "input_size": Option("416", "network input size N or HxW, multiples of 32"),
    "num_classes": Option(DEFAULT_NUM_CLASSES, "number of classes", type=int),
    # ---------------------------------------------------------------- detection
    # predict shows confident boxes; evaluation keeps nearly all of them, since AP integrates
    # precision over every recall level.
    "conf": Option(
        PerMode(predict=0.5, serve=0.5, eval=0.001, export=0.5),
        PerMode(
            predict="score threshold (objectness x class)",
            serve="score threshold of a request that gives no conf",
            eval="score threshold (objectness x class)",
            export="score threshold built into --nms graphs",
        ),
        type=float,
    ),
    # The reference's values: 0.3 for drawn results, 0.5 for mAP.
    "nms_iou": Option(
        PerMode(predict=0.3, serve=0.3, eval=0.5, export=0.3),
        PerMode(
            predict="NMS IoU threshold (per class)",
            serve="NMS IoU threshold (per class) of a request that gives no nms_iou",
            eval="NMS IoU threshold (per class)",
            export="NMS IoU threshold (per class)",
        ),
        type=float,
    ),
    "max_boxes": Option(100, "detections kept per class and per image", type=int),
    "letterbox": Option(
        True, "keep the aspect ratio (grey padding) instead of a plain resize", action="bool"
    ),
    "preprocess": Option(
        "fast",
        "how an image becomes the network input: fast (a JPEG larger than the input decoded "
        "at 1/2-1/8 scale, an image over 4x the input box-reduced first, then the same "
        "bicubic resize; mAP within 0.2 points of exact) or exact (the original "
        "implementation's pre-processing, for its outputs bit for bit)",
        choices=PREPROCESS_MODES,
    ),
    # ---------------------------------------------------------------- sliced inference
    "slice": Option(
        None,
        "also detect on overlapping HxW tiles of each image (N or HxW, like --input-size) and "
        "merge them with the whole image's detections: for objects too small at the input size",
        metavar="HxW",
    ),
    "slice_overlap": Option(0.2, "overlap of neighbouring tiles, a fraction of a tile", type=float),
    "slice_merge": Option(
        "nms",
        "how boxes found twice (in two tiles, or a tile and the whole image) become one: nms "
        "keeps the best; greedynmm and nmm the box around them with their best score (can "
        "swallow small objects in low-scored large boxes)",
        choices=("nms", "greedynmm", "nmm"),
    ),
    "multi_scale": Option(
        False,
        "train each batch at a random multiple-of-32 size from 0.7 to 1.3 times --input-size "
        "(416: 320 to 512), so objects are seen at more scales",
        action="store_true",
    ),
    "train_slice": Option(
        None,
        "also train on HxW tiles (N or HxW) of the training images larger than that, each box "
        "mostly inside a tile cut to it (the rest dropped); cached in --save-dir/train_tiles",
        metavar="HxW",
    ),
    # ---------------------------------------------------------------- predict.py
    "source": Option(
        None,
        "image file, folder, glob pattern ('photos/*.jpg'), text file listing images, video "
        "file, camera index such as 0, or rtsp:// or http(s):// stream "
        "(default: a sample photo shipped with matplotlib)",
    ),
    "mode": Option(
        "predict",
        "predict: draw and save detections; fps: time end-to-end latency; "
        "heatmap: save an objectness heat map",
        choices=("predict", "fps", "heatmap"),
    ),
    "save_dir": Option(
        PerMode(predict="img_out", train="logs"),
        PerMode(predict="where drawn results are saved", train="where checkpoints and logs go"),
        writes=PerMode(predict=Writes("folder", when=_WRITING_MODES), train=Writes("folder")),
    ),
    "json": Option(
        None,
        PerMode(
            predict="also write machine-readable results to FILE",
            track_eval="also write the metrics and settings as JSON to FILE",
        ),
        metavar="FILE",
        writes=PerMode(predict=Writes("file", when=_WRITING_MODES), track_eval=Writes("file")),
    ),
    "crop": Option(
        False,
        "save each detected object as an image in SAVE_DIR/crops/",
        action="store_true",
        writes=Writes("folder", when={"mode": ("predict",)}, under="save_dir", subfolder="crops"),
    ),
    "count": Option(False, "print the number of objects per class", action="store_true"),
    "save_txt": Option(
        False,
        "save YOLO-format labels (class cx cy w h, fractions of the image) per image or "
        "video frame in SAVE_DIR/labels/",
        action="store_true",
        writes=Writes("folder", when={"mode": ("predict",)}, under="save_dir", subfolder="labels"),
    ),
    "vid_stride": Option(1, "detect on every Nth frame of a video or stream", type=int),
    "stream_mode": Option(
        None,
        "latest: a reader thread keeps only the newest frame, so a slow model never falls "
        "behind real time (dropped frames are counted); all: every frame (default: latest "
        "for cameras and streams, all for files)",
        choices=("latest", "all"),
    ),
    "reconnect": Option(
        5, "times a dropped camera or stream is reopened (with back-off) before giving up", type=int
    ),
    # ---------------------------------------------------------------- tracking
    "track": Option(
        None,
        "follow objects across video frames with a tracker (bytetrack when given alone): "
        "track ids in the JSON, on the drawing and in --save-mot",
        nargs="?",
        const="bytetrack",
        metavar="TRACKER",
    ),
    "tracker": Option("bytetrack", "the tracker run on --det", metavar="TRACKER"),
    # Seconds, not frames: a lost object is waited for the same time at any frame rate.
    "track_buffer": Option(
        1.0, "seconds a lost track is kept to be found again", type=float, metavar="SECONDS"
    ),
    "track_high": Option(
        None,
        "detections scoring at least this are matched to tracks first, the rest in a second "
        "pass (default: the tracker's, 0.5 for bytetrack)",
        type=float,
    ),
    "track_new": Option(
        None,
        "the lowest score that starts a new track (default: the tracker's, 0.6 for bytetrack)",
        type=float,
    ),
    "track_match": Option(
        None,
        "the lowest IoU between a detection and a track's predicted box to match them "
        "(default: the tracker's, 0.2 for bytetrack)",
        type=float,
    ),
    "track_min_frames": Option(
        None,
        "frames in a row a new object must be seen before it gets a track id (default: the "
        "tracker's, 2 for bytetrack)",
        type=int,
    ),
    "save_mot": Option(
        None,
        "write the tracks as MOT Challenge results (frame, id, left, top, width, height, "
        "score, -1, -1, -1; frames from 1); a {class} in FILE writes one file per class",
        metavar="FILE",
        writes=Writes("file", when={"mode": ("predict",)}),
    ),
    "line": Option(
        None,
        "count tracked objects crossing the line x1,y1,x2,y2 in each direction, per class "
        "(integers are pixels, numbers with a point fractions of the frame; repeatable)",
        action="append",
        metavar="X1,Y1,X2,Y2",
    ),
    "zone": Option(
        None,
        "count tracked objects inside the polygon x1,y1,x2,y2,x3,y3,... per frame and in "
        "total (pixels or fractions as for --line; repeatable)",
        action="append",
        metavar="X1,Y1,...",
    ),
    # ---------------------------------------------------------------- track_eval.py
    "gt": Option(
        None,
        "MOT ground truth (gt.txt: MOT15, or MOT16/17 with class and consider columns)",
        metavar="FILE",
    ),
    "pred": Option(
        None,
        "MOT tracker results to score; with --det, where the tracks are written",
        metavar="FILE",
        writes=Writes("file", when={"det": (ANY_VALUE,)}),
    ),
    "det": Option(
        None,
        "MOT detections (det.txt) to run --tracker on, as tracking benchmarks compare trackers",
        metavar="FILE",
    ),
    "frame_rate": Option(
        None,
        "frames per second of the sequence (default: seqinfo.ini beside the file, else 30)",
        type=float,
    ),
    "iou_threshold": Option(
        0.5, "IoU at which a track box matches a ground-truth box (CLEAR and identity)", type=float
    ),
    "show": Option(False, "show results in a window", action="store_true"),
    "runs": Option(
        PerMode(predict=100, benchmark=20),
        PerMode(
            predict="timed runs in --mode fps",
            benchmark="timed runs per format (the median is reported)",
        ),
        type=int,
    ),
    # PIL's own guard is 89 megapixels; 100 admits every camera sensor sold today.
    "max_pixels": Option(
        100_000_000,
        "refuse images with more pixels than this (a guard "
        "against decompression bombs and out-of-memory)",
        type=int,
        metavar="N",
    ),
    "quiet": Option(
        False,
        PerMode(
            predict="print less",
            train="one line per epoch, no progress bar",
            serve="no access log",
        ),
        action="store_true",
    ),
    # ---------------------------------------------------------------- benchmark.py
    "files": Option(
        None,
        "measure these exported files (and --weights' .h5, if given) instead of exporting",
        nargs="+",
        metavar="FILE",
    ),
    "bench_formats": Option(
        ["keras", *(f.name for f in model_formats.model_formats())],
        "formats to export and measure (keras: the .h5 itself)",
        nargs="+",
        choices=("keras", *(f.name for f in model_formats.model_formats())),
    ),
    "calib_split": Option(
        "train", "split the int8 models are calibrated on (export.py's default: the training one)"
    ),
    # ---------------------------------------------------------------- serve.py
    "host": Option(
        "127.0.0.1",
        "address to listen on; any other than loopback needs --api-key (or $YOLO_LITE_API_KEY) "
        "or --no-auth",
    ),
    "port": Option(8000, "port to listen on (0: any free port, printed at start)", type=int),
    # Measured by benchmarks/bench_serve.py on 2 cores: see the README's Serve section.
    "max_batch": Option(
        8,
        "images per run of the model, gathered from concurrent requests (1: no batching)",
        type=int,
    ),
    "max_wait_ms": Option(
        5.0,
        "how long the first request of a batch waits for others to join it (milliseconds)",
        type=float,
    ),
    "max_queue": Option(
        64,
        "requests admitted at once (being read, waiting or in the model); one more is "
        "answered 503 with Retry-After",
        type=int,
    ),
    "max_upload_mb": Option(
        20.0, "largest upload accepted (MB); a larger one is answered 413", type=float
    ),
    "request_timeout": Option(
        30.0, "seconds a request may wait for its result; then it is answered 504", type=float
    ),
    "api_key": Option(
        None,
        "key every /v1 and /metrics request must send (header 'Authorization: Bearer KEY' or "
        "'X-API-Key: KEY'); default $YOLO_LITE_API_KEY",
        metavar="KEY",
    ),
    "no_auth": Option(
        False,
        "serve a non-loopback address without an API key (anyone who reaches it may use it)",
        action="store_true",
    ),
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
    # ---------------------------------------------------------------- export.py
    "format": Option(
        ["tflite"],
        "formats to write, one or more of: " + model_formats.describe_families(),
        nargs="+",
        choices=model_formats.families(),
    ),
    "half": Option(False, "also a float16 TFLite model (half the size)", action="store_true"),
    "int8": Option(
        False,
        "also int8 TFLite and ONNX (QDQ) models, calibrated on --data images: float input and "
        "output, the heads and the 8 layers furthest from float kept float",
        action="store_true",
    ),
    "calib_images": Option(100, "calibration images for --int8", type=int),
    "nms": Option(
        False,
        "TFLite float and ONNX graphs that decode and suppress inside (batch "
        "1, boxes keep their best class) instead of raw head outputs; int8 "
        "stays raw; SavedModels always have both (signatures 'serve', also "
        "'serving_default', and 'raw')",
        action="bool",
    ),
    "name": Option(None, "file name stem (default yolov4_lite_<backbone>_<alpha>_<size>)"),
    # ---------------------------------------------------------------- convert_weights.py
    "checkpoint": Option(
        None,
        "timm checkpoint (.safetensors) of the backbone: "
        "mnasnet_100 for mnasnet_b1, semnasnet_100 for mnasnet_a1",
        metavar="FILE",
    ),
    "convert_out": Option(
        None,
        "HDF5 file to write (give it to train.py --weights)",
        metavar="FILE",
        writes=Writes("file"),
    ),
    # ---------------------------------------------------------------- training schedule
    # Few epochs suffice when fine-tuning from the VOC weights (the figures in the README).
    "epochs": Option(60, "total epochs, frozen ones included", type=int),
    "freeze_epochs": Option(5, "first epochs with the backbone frozen (0: never)", type=int),
    # A backbone without pretrained weights learns everything: a longer run, never frozen.
    "random_init_epochs": Option(
        200,
        "total epochs when the backbone starts from random "
        "initialisation (no published weights, or --weights none) "
        "and --epochs is not given; such a run has no frozen phase "
        "unless --freeze-epochs is given",
        type=int,
    ),
    # Inference runs this many images per graph call (folders, evaluation); results are the
    # same for any batch size.
    "batch_size": Option(
        PerMode(predict=8, eval=8, train=8),
        PerMode(
            predict="images or video frames per run of the model (folders, lists, video "
            "files; live sources are detected a frame at a time)",
            eval="images per run of the model",
            train="batch size after unfreezing",
        ),
        type=int,
    ),
    # A frozen backbone needs no gradients, so a larger batch fits in the same memory.
    "freeze_batch_size": Option(16, "batch size while the backbone is frozen", type=int),
    "optimizer": Option(
        "adam", "adam (decoupled weight decay) or sgd (Nesterov)", choices=("adam", "sgd")
    ),
    # None: LR_PER_64 of the optimiser.
    "lr": Option(
        None,
        "initial LR for a batch of 64, scaled linearly to the batch size and "
        "clamped as the reference does (adam [3e-4, 1e-3], sgd [5e-4, 5e-2]); "
        f"default: adam {LR_PER_64['adam']:g} (= 1e-3 at batch 8 and 16), sgd "
        f"{LR_PER_64['sgd']:g}; the final LR is 1%% of it",
        type=float,
    ),
    "lr_schedule": Option(
        "cos", "cosine with warm-up, or ten equal steps", choices=("cos", "step")
    ),
    # None: 5% of the epochs, between 1 and 3.
    "warmup_epochs": Option(
        None, "warm-up length (default: 5%% of the epochs, between 1 and 3)", type=float
    ),
    "momentum": Option(0.937, "SGD momentum / Adam beta_1", type=float),
    "weight_decay": Option(5e-4, "decoupled weight decay (not on BatchNorm or biases)", type=float),
    "mosaic": Option(0.5, "mosaic probability", type=float),
    "mixup": Option(0.5, "probability of mixing a mosaic with another image", type=float),
    # The last 30% of the epochs see undistorted images, as in YOLOX.
    "aug_off_ratio": Option(
        0.7, "mosaic and mixup stop after this fraction of the epochs", type=float
    ),
    "label_smoothing": Option(0.0, "class targets y * (1 - ls) + ls / C", type=float),
    "focal_loss": Option(False, "focal objectness loss", action="store_true"),
    "save_period": Option(
        0, "also keep epNNN.h5 every N epochs (0: only last.h5 and best.h5)", type=int
    ),
    "eval_period": Option(
        10, "mAP@0.5 on the validation split every N epochs and at the end (0: off)", type=int
    ),
    "resume": Option(
        False,
        "continue the run saved in --save-dir (its settings are reused; "
        "flags given now override them)",
        action="store_true",
    ),
    # Training is random unless seeded; splits and k-means are seeded so reruns agree.
    "seed": Option(
        PerMode(train=None, anchors=0, annotate=0, check=0),
        PerMode(
            train="random seed (reproducible runs)",
            anchors="seed of the initial centres",
            annotate="seed of the random split",
            check="seed of the random split (--write-splits)",
        ),
        type=int,
    ),
    "workers": Option(None, "parallel data-loading workers (default: CPU count)", type=int),
    "mixed_precision": Option(
        False, "float16 (GPU) or bfloat16 (CPU) compute", action="store_true"
    ),
    "distribute": Option(
        "auto",
        "tf.distribute strategy: auto (several local GPUs: mirrored; "
        "TF_CONFIG naming a cluster: multiworker; else none)",
        choices=("auto", "none", "mirrored", "multiworker"),
    ),
    "cpu_replicas": Option(
        1,
        "with --distribute mirrored on a machine without GPUs, split the "
        "CPU into N replicas (to try replication; not faster)",
        type=int,
    ),
    "sync_bn": Option(
        False,
        "BatchNorm statistics over all replicas (synchronised BatchNorm)",
        action="store_true",
    ),
    # Measured on the raccoon fine-tune: no gain (94.3 / 97.4% with, 96.7% without) and a 4%
    # slower step, so off by default; long runs from scratch are where averaging pays.
    "ema": Option(
        False, "evaluate and save an exponential moving average of the weights", action="bool"
    ),
    # XLA is 4-7x slower on CPUs; try it on a GPU.
    "jit_compile": Option(
        False, "compile the train step with XLA (slower on CPU, try on GPU)", action="store_true"
    ),
    # ---------------------------------------------------------------- summary.py
    "json_summary": Option(False, "print the figures as JSON", action="store_true"),
    "layers": Option(False, "also print Keras' layer-by-layer summary", action="store_true"),
    # ---------------------------------------------------------------- kmeans_for_anchors.py
    "num_anchors": Option(9, "number of anchors", type=int, flags=("-k",)),
    "plot": Option(None, "scatter plot PNG (default: --out with .png)", writes=Writes("file")),
    # ---------------------------------------------------------------- voc_annotation.py
    "trainval_percent": Option(
        0.9, "share of the images in trainval (the rest is test) when writing splits", type=float
    ),
    "train_percent": Option(
        0.9, "share of trainval in train (the rest is val) when writing splits", type=float
    ),
    "overwrite_splits": Option(
        False,
        "write new ImageSets/Main/{trainval,train,val,test}.txt "
        "even when split files exist (by default existing split "
        "files are kept and none is written)",
        action="store_true",
    ),
    "write_lines": Option(
        None,
        "also write the reference's annotation lists "
        "<YEAR>_<split>.txt ('image_path x1,y1,x2,y2,class ...', "
        "difficult objects left out) into DIR",
        metavar="DIR",
        writes=Writes("folder"),
    ),
    "no_check_images": Option(
        False, "read image sizes only; skip the truncation check", action="store_true"
    ),
    "max_problems": Option(
        30, "problems listed one per line, 0 for all; the rest are summarised by kind", type=int
    ),
}

# Flags whose command-line spelling differs from their option name.
_FLAG_NAMES = {"json_summary": "--json", "convert_out": "--out", "bench_formats": "--formats"}

# The flags of each tool's shared groups.
MODEL_OPTIONS = ("backbone", "alpha", "weights", "classes", "anchors", "input_size")
DETECTION_OPTIONS = ("conf", "nms_iou", "max_boxes", "letterbox")
SLICE_OPTIONS = ("slice", "slice_overlap", "slice_merge")


def default(name, mode=None):
    """The default of option ``name`` in ``mode`` (a mode is needed only where values differ)."""
    return OPTIONS[name].value(mode)


def detection_defaults(mode):
    """{conf, nms_iou, max_boxes, letterbox} of ``mode`` ('predict' or 'eval'), as keyword
    arguments of ``Detector``."""
    return {name: default(name, mode) for name in DETECTION_OPTIONS}


def default_lr(optimizer):
    """The learning rate for a batch of 64 that ``--lr`` defaults to for ``optimizer``."""
    return LR_PER_64[optimizer]


def flag_name(name):
    return _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def add_options(parser, names, mode, required=(), **help_overrides):
    """Add the flags ``names`` to ``parser`` (a parser or an argument group) with ``mode``'s
    defaults and help; ``required`` flags have no default."""
    for name in names:
        option = OPTIONS[name]
        kwargs = {"help": help_overrides.get(name) or _for_mode(option.help, mode), "dest": name}
        if name in required:
            kwargs["required"] = True
        else:
            kwargs["default"] = option.value(mode)
        if option.action == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif option.action and option.action != "append":
            kwargs["action"] = option.action
        else:
            if option.action:
                kwargs["action"] = option.action
            if option.const is not None:
                kwargs["const"] = option.const
            for key in ("type", "choices", "nargs", "metavar"):
                if getattr(option, key) is not None:
                    kwargs[key] = getattr(option, key)
        action = parser.add_argument(*option.flags, flag_name(name), **kwargs)
        # What the flag's path receives in this mode, for utils.cli.check_output_paths.
        action.writes = option.writes_in(mode)
    return parser
