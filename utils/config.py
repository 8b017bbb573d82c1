"""Reading the model's data files (class lists, anchors) and input sizes, with clear errors."""

import os

import numpy as np

from nets.anchors import check_input_sides
from nets.errors import UserError
from utils.options import DEFAULT_ANCHORS_PATH, DEFAULT_CLASSES_PATH


class ConfigError(UserError, ValueError):
    """A configuration value or file (classes, anchors, input size, a flag) is wrong."""


def load_class_names(path=DEFAULT_CLASSES_PATH):
    """Class names, one per non-empty line."""
    if not os.path.isfile(path):
        raise ConfigError(f"classes file not found: {path}")
    with open(path, encoding="utf8") as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ConfigError(f"classes file is empty: {path}")
    if len(set(names)) != len(names):
        raise ConfigError(f"classes file lists a class twice: {path}")
    return names


# What train.py writes beside its checkpoints: the anchors the model was trained with.
ANCHORS_FILE = "anchors.txt"


def anchors_path_for(anchors_path, weights):
    """The anchors a model uses: ``--anchors`` when given, else the anchors.txt that train.py
    saved beside a ``.h5`` checkpoint, else model_data/yolo_anchors.txt."""
    if anchors_path:
        return anchors_path
    if weights and os.path.isfile(weights):
        saved = os.path.join(os.path.dirname(os.path.abspath(weights)), ANCHORS_FILE)
        if os.path.isfile(saved):
            return saved
    return DEFAULT_ANCHORS_PATH


def load_anchors(path=DEFAULT_ANCHORS_PATH):
    """Anchors as a (9, 2) float32 array of (width, height) in input pixels."""
    if not os.path.isfile(path):
        raise ConfigError(f"anchors file not found: {path}")
    with open(path, encoding="utf8") as f:
        text = f.read().replace("\n", ",")
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"anchors file {path} is not a list of numbers: {exc}") from exc
    if len(values) != 18:
        raise ConfigError(
            f"anchors file {path} must hold 9 'w,h' pairs, found {len(values)} values"
        )
    return np.asarray(values, np.float32).reshape(9, 2)


# A lite detector's input side; larger sizes exhaust memory before they help.
MAX_INPUT_SIDE = 4096


def parse_input_size(value):
    """'416' -> (416, 416); '320x416' or '320,416' -> (320, 416) as (height, width)."""
    if isinstance(value, (tuple, list)):
        height, width = int(value[0]), int(value[1])
    else:
        text = str(value).lower().replace(",", "x")
        parts = [p for p in text.split("x") if p]
        try:
            sizes = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"input size must be N or HxW, got {value!r}") from None
        if len(sizes) == 1:
            sizes = sizes * 2
        if len(sizes) != 2:
            raise ConfigError(f"input size must be N or HxW, got {value!r}")
        height, width = sizes
    check_input_sides(height, width, error=ConfigError)
    if max(height, width) > MAX_INPUT_SIDE:
        raise ConfigError(
            f"input size {height}x{width} is above {MAX_INPUT_SIDE} pixels a side "
            f"(the model's activations would not fit in memory)"
        )
    return height, width
