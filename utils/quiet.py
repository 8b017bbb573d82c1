"""Muting the start-up logs native libraries (TensorFlow, LiteRT) write straight to stderr.

They bypass Python's logging and TF_CPP_MIN_LOG_LEVEL and would bury the tools' own one-line
messages. ``YOLO_LITE_VERBOSE=1`` keeps them.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_muted():
    """File descriptor 2 goes to /dev/null inside the block (Python's own stderr included)."""
    if os.environ.get("YOLO_LITE_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly(before_devices=None):
    """Import TensorFlow (and initialise its devices, which log too) with stderr muted.

    ``before_devices()``, when given, runs after the import and before the devices are
    initialised (device configuration, distribution strategies); its result is returned.
    """
    with native_stderr_muted():
        import tensorflow as tf

        result = before_devices() if before_devices is not None else None
        tf.constant(0.0) + 1.0
    return result
