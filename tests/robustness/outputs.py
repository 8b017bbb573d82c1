"""Checks that every file a tool left behind is complete: what the crash-safety tests assert.

Each checker opens a file the way its consumer does (HDF5 weights into the model, the training
state through ``--resume``'s loader, CSV, PNG, JSON, TensorBoard's record framing) and fails
on anything torn. Temporaries (``utils.files.is_temporary``) are listed, not checked. Also the
file-size limit that stands in for a full disk.
"""

import csv
import json
import os
import resource
import struct

import h5py
import numpy as np
from PIL import Image

from utils import files
from utils.config import load_anchors
from utils.training.state import STATE_JSON, load_training_state


def read_all_datasets(path):
    """Read every array of an HDF5 file (fails on a torn file); returns how many there were."""
    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda _, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None
        )
    return len(arrays)


def check_png(path):
    with Image.open(path) as image:
        image.verify()


def check_event_file(path):
    """TensorBoard appends records (length, CRC, data, CRC) to its event file as training goes;
    a killed writer may leave the last one partial, which TensorBoard's reader skips. Every
    record before it must be whole and parse as an Event."""
    from tensorboard.compat.proto import event_pb2

    data = open(path, "rb").read()
    offset, records = 0, 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        end = offset + 12 + length + 4
        if end > len(data):
            break  # the partial record a kill can leave at the end
        event_pb2.Event().ParseFromString(data[offset + 12 : offset + 12 + length])
        offset, records = end, records + 1
    assert records > 0 or len(data) < 12 + 8, path
    return records


def check_training_dir(save_dir, weights_count):
    """Assert every file of a train.py save dir is complete and consistent; returns
    ``(epoch of the training state, temporaries found)``."""
    temporaries = []
    state_epoch = None
    if os.path.exists(os.path.join(save_dir, "train_state.npz")):
        state, arrays = load_training_state(save_dir)
        state_epoch = int(state["epoch"])
        assert len([k for k in arrays if k.startswith("w")]) == weights_count
        assert all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f")
    for name in sorted(os.listdir(save_dir)):
        path = os.path.join(save_dir, name)
        if files.is_temporary(name):
            temporaries.append(name)
        elif name.endswith(".h5"):
            assert read_all_datasets(path) >= weights_count, path
        elif name == STATE_JSON:
            # Written just after the npz: the same epoch, or the one before if killed between.
            epoch = json.load(open(path))["epoch"]
            assert state_epoch is not None and epoch in (state_epoch, state_epoch - 1), path
        elif name == "history.csv":
            epochs = [int(row["epoch"]) for row in csv.DictReader(open(path))]
            assert epochs == list(range(1, len(epochs) + 1)), (path, epochs)
        elif name.endswith(".png"):
            check_png(path)
        elif name == "classes.txt":
            assert open(path).read() == "raccoon\n"
        elif name == "anchors.txt":  # the anchors the run trains with, whole
            assert load_anchors(path).shape == (9, 2)
        elif name == "tensorboard":
            for root, _, names in os.walk(path):
                for event_file in names:
                    check_event_file(os.path.join(root, event_file))
        else:
            assert name == "train_state.npz", f"unexpected file {path}"
    return state_epoch, temporaries


def limit_file_size(limit_bytes):
    """A ``preexec_fn`` for subprocess: writing past ``limit_bytes`` in any file fails with EFBIG,
    as a full disk fails with ENOSPC (Python ignores SIGXFSZ, so the write returns the error
    instead of killing the process)."""

    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply
