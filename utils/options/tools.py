"""The options of export.py, convert_weights.py, summary.py, kmeans_for_anchors.py and
voc_annotation.py."""

from utils import formats as model_formats
from utils.options.base import Option, Writes

TOOLS_TABLE = {
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
