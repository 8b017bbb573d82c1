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

from utils.options.base import (
    ANY_VALUE,
    DEFAULT_ANCHORS_PATH,
    DEFAULT_CLASSES_PATH,
    LETTERBOX_FILL,
    LR_PER_64,
    MODEL_DATA_DIR,
    PREPROCESS_MODES,
    PROJECT_ROOT,
    Option,
    PerMode,
    Writes,
    _for_mode,
)
from utils.options.data import DATA_TABLE
from utils.options.inference import INFERENCE_TABLE
from utils.options.model import MODEL_TABLE
from utils.options.tools import TOOLS_TABLE
from utils.options.training import TRAINING_TABLE

__all__ = [
    "ANY_VALUE",
    "DEFAULT_ANCHORS_PATH",
    "DEFAULT_CLASSES_PATH",
    "DETECTION_OPTIONS",
    "LETTERBOX_FILL",
    "LR_PER_64",
    "MODEL_DATA_DIR",
    "MODEL_OPTIONS",
    "OPTIONS",
    "PREPROCESS_MODES",
    "PROJECT_ROOT",
    "SLICE_OPTIONS",
    "Option",
    "PerMode",
    "Writes",
    "add_options",
    "default",
    "default_lr",
    "detection_defaults",
    "flag_name",
]

# The one table, kept in one file per group of tools; an option's name is unique across them.
OPTIONS: dict[str, Option] = {}
for _group in (MODEL_TABLE, INFERENCE_TABLE, DATA_TABLE, TOOLS_TABLE, TRAINING_TABLE):
    if OPTIONS.keys() & _group.keys():
        raise ValueError(f"options defined twice: {sorted(OPTIONS.keys() & _group.keys())}")
    OPTIONS.update(_group)

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
