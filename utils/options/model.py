"""The model, detection and sliced-inference options: what every tool that builds or runs a
model shares."""

from nets.backbones import available_backbones, describe_choices
from nets.defaults import DEFAULT_ALPHA, DEFAULT_BACKBONE, DEFAULT_NUM_CLASSES
from utils.options.base import DEFAULT_CLASSES_PATH, PREPROCESS_MODES, Option, PerMode

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

MODEL_TABLE = {
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
}
