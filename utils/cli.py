"""What every command-line tool shares: quiet TensorFlow start-up and one-line errors."""
import argparse
import os
import sys


def import_tensorflow_quietly():
    """Import TensorFlow with native stderr muted: its start-up log lines bypass
    TF_CPP_MIN_LOG_LEVEL and would bury our own one-line messages. YOLO_LITE_VERBOSE=1 keeps them."""
    if "tensorflow" in sys.modules or os.environ.get("YOLO_LITE_VERBOSE"):
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        tf.constant(0.0) + 1.0  # device initialisation logs too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# (module, exception class) pairs meaning "the user's input is wrong", not "a bug".
_USER_ERRORS = (("utils.config", "ConfigError"), ("utils.data.datasets", "DatasetError"),
                ("utils.data.images", "ImageLoadError"), ("utils.evaluation.map_io", "MapOutError"),
                ("utils.inference.sources", "SourceError"), ("nets.weights", "WeightsMismatchError"),
                ("utils.hub", "WeightsUnavailableError"))


def user_error_types():
    """Exceptions caused by the user's input (reported in one line) rather than by a bug.

    Only modules already imported are consulted: an error class never loaded cannot have
    been raised, and importing it here could pull in TensorFlow for nothing.
    """
    found = [getattr(sys.modules.get(module), name, None) for module, name in _USER_ERRORS]
    return tuple(cls for cls in found if cls is not None) + (
        FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def run_cli(run, args, quiet_tensorflow=True):
    """Call ``run(args)`` (muting TensorFlow's start-up logs first, unless told not to); turn user errors into one 'error: ...' line and exit code 1.

    Ctrl-C exits 130, a closed output pipe (``| head``) exits 0, and anything else is a bug
    and keeps its traceback.
    """
    try:
        if quiet_tensorflow:
            import_tensorflow_quietly()
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is the user's input
        if not isinstance(exc, user_error_types()):
            raise
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' only where a default says something (not None or a False switch)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)
