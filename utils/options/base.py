"""The option types of the options table (:class:`Option`, :class:`PerMode`, :class:`Writes`)
and the constants its defaults are built from."""

import os
from dataclasses import dataclass
from typing import Any

PREPROCESS_MODES = ("fast", "exact")  # utils.inference.preprocess

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


# In a Writes' ``when``: the path is written whenever that flag is given, whatever its value.
ANY_VALUE = "<any value>"
