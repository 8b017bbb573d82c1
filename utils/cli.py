"""The one command-line regime of every script.

* A wrong input (a bad flag value, a missing file, a dataset or weights file that does not fit)
  is a :class:`nets.errors.UserError`: the script prints one ``error: ...`` line and exits with
  :data:`EXIT_USER_ERROR` (2, argparse's own code for a bad flag, so all of them agree).
* Any other exception is a bug and keeps its traceback.
* Ctrl-C exits with :data:`EXIT_INTERRUPTED` (130) after the script's own clean-up; a closed
  output pipe (``| head``) exits 0.
* Every path a tool will write (the options the table marks with ``writes``) is checked right
  after parsing, before any model or data is loaded (:func:`check_output_paths`).
"""

import argparse
import errno
import math
import os
import sys

from nets.errors import UserError
from utils.files import NO_SPACE_ERRNOS, output_path_problem
from utils.options import ANY_VALUE, MODEL_OPTIONS, add_options, flag_name
from utils.quiet import import_tensorflow_quietly

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# The largest --max-boxes (detections kept per class and image): NMS sizes its output from it.
MAX_BOXES_LIMIT = 10_000
# Operating-system errors that concern the user's paths or disk, not the program.
_USER_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
_USER_ERRNOS = (errno.EROFS,) + NO_SPACE_ERRNOS


class UsageError(UserError, ValueError):
    """A flag value that cannot work."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' only where a default says something (not None or a False switch)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with this project's error line: ``error: <what>`` and exit status 2."""

    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def add_model_options(parser, mode, title="model"):
    """The model group every model-running script shares: backbone, alpha, weights, classes,
    anchors, input size."""
    return add_options(parser.add_argument_group(title), MODEL_OPTIONS, mode)


def check_range(value, flag, low=None, high=None, low_open=False, high_open=False):
    """Raise :class:`UsageError` unless ``low <= value <= high`` (bounds optional, open on
    request); NaN and infinities are never in range."""
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        span = (
            f"in {left}{low:g}, {high:g}{right}"
            if low is not None and high is not None
            else f"{'above' if low_open else 'at least'} {low:g}"
            if low is not None
            else f"{'below' if high_open else 'at most'} {high:g}"
        )
        raise UsageError(f"{flag} must be {span}, got {value}")
    return value


def check_detection_ranges(args):
    """The detection flags every model-running script has: --conf, --nms-iou, --max-boxes."""
    check_range(args.conf, "--conf", 0.0, 1.0)
    check_range(args.nms_iou, "--nms-iou", 0.0, 1.0, low_open=True)
    check_range(args.max_boxes, "--max-boxes", 1, MAX_BOXES_LIMIT)


def check_seed(args):
    """NumPy and TensorFlow take seeds from 0 to 2**32 - 1."""
    if args.seed is not None:
        check_range(args.seed, "--seed", 0, 2**32 - 1)


def check_split_flags(args):
    """The flags that check_dataset.py and voc_annotation.py share: drawing splits, listing
    problems, the pixel limit."""
    check_range(args.trainval_percent, "--trainval-percent", 0.0, 1.0)
    check_range(args.train_percent, "--train-percent", 0.0, 1.0)
    check_range(args.max_problems, "--max-problems", 0)
    check_seed(args)
    apply_max_pixels(args)


def check_slice_options(args):
    """--slice as (height, width), --slice-overlap in [0, 1)."""
    from utils.config import ConfigError, parse_input_size

    if args.slice is not None:
        try:
            args.slice = parse_input_size(args.slice)
        except ConfigError as exc:
            raise UsageError(f"--slice: {exc}") from None
    check_range(args.slice_overlap, "--slice-overlap", 0.0, 1.0, high_open=True)


def check_model_options(args):
    """--alpha must be one of the backbone's widths (checked before anything slow)."""
    from nets import get_backbone

    get_backbone(args.backbone, args.alpha)


def apply_max_pixels(args):
    """Check ``--max-pixels`` and make it the image readers' limit."""
    check_range(args.max_pixels, "--max-pixels", 1)
    from utils.data.images import set_max_pixels

    set_max_pixels(args.max_pixels)


def check_output_path(flag, path, kind, label=None):
    """Raise :class:`UsageError` unless ``path`` can receive a ``kind`` ("folder" or "file"):
    ``error: --save-dir logs/x: is a file, not a folder``. ``label`` replaces the ``flag path``
    that starts the message."""
    problem = output_path_problem(path, kind)
    if problem:
        raise UsageError(f"{label or f'{flag} {path}'}: {problem}")


def output_paths(parser, args):
    """``(flag, path, kind, label)`` of every path ``args`` will write, as the options table's
    ``writes`` marks them (through the flags ``parser`` has)."""
    for action in parser._actions:
        writes = getattr(action, "writes", None)
        value = getattr(args, action.dest, None)
        if writes is None or value is None or value is False:
            continue
        if writes.when and not all(
            _flag_matches(getattr(args, dest, None), values) for dest, values in writes.when.items()
        ):
            continue
        flag = flag_name(action.dest)
        if writes.under:
            base = getattr(args, writes.under, None)
            if base is None:
                continue
            path = os.path.join(os.fspath(base), writes.subfolder)
            yield flag, path, writes.kind, f"{flag} (writes {path})"
        else:
            yield flag, os.fspath(value), writes.kind, None


def _flag_matches(value, values):
    """Whether a flag's value is one of ``values``; ``ANY_VALUE`` among them: any value given."""
    return value in values or (ANY_VALUE in values and value is not None)


def check_output_paths(parser, args):
    """Check every path the tool will write (save folders, JSON files, ``--out``) before it
    starts: one that is a file where a folder is needed (or the reverse), lies under a file, or
    is in a read-only or unwritable place raises :class:`UsageError` naming the flag and path.
    Nothing is created."""
    for flag, path, kind, label in output_paths(parser, args):
        check_output_path(flag, path, kind, label)


def is_user_error(exc):
    """Whether ``exc`` was caused by the user's input or environment rather than by a bug."""
    if isinstance(exc, (UserError,) + _USER_OS_ERRORS):
        return True
    return isinstance(exc, OSError) and exc.errno in _USER_ERRNOS


def _coco_json_as_data(args):
    if getattr(args, "data", None):
        raise UsageError("give either --data or --coco-json, not both")
    args.data, args.data_format = args.coco_json, "coco"
    args.coco_json = None  # replaced: a resumed run reads --data alone


def _val_coco_json_as_val_split(args):
    args.val_split, args.val_coco_json = args.val_coco_json, None


# Flags replaced by others: {destination: (what to write now, how the arguments change)}.
DEPRECATED_FLAGS = {
    "coco_json": ("--data FILE.json", _coco_json_as_data),
    "val_coco_json": ("--val-split FILE.json", _val_coco_json_as_val_split),
    "val_coco_images": ("--coco-images, or the images beside the file", lambda args: None),
}


def apply_deprecated_flags(args):
    """Each replaced flag that was given still works: one notice line, then its replacement."""
    for dest, (instead, apply) in DEPRECATED_FLAGS.items():
        if getattr(args, dest, None) is not None:
            print(f"warning: {flag_name(dest)} is deprecated; use {instead}", file=sys.stderr)
            apply(args)


def run_cli(run, parser, argv=None, quiet_tensorflow=True):
    """Parse ``argv`` with ``parser`` and call ``run(args)`` under the project's error regime.

    The paths it will write are checked first (:func:`check_output_paths`). TensorFlow's
    start-up logs are muted next unless ``quiet_tensorflow`` is False (for a script that may
    not need TensorFlow at all). Returns the exit status.
    """
    args = parser.parse_args(argv)
    try:
        apply_deprecated_flags(args)
        check_output_paths(parser, args)
        if quiet_tensorflow:
            import_tensorflow_quietly()
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
