"""A training run's resumable state and its checkpoints, written atomically.

``train_state.npz`` holds the model's and the optimiser's variables and the progress (epoch,
phase, best metric, history, settings); ``train_state.json`` is a readable copy of the progress.
Each is replaced only when complete, and the npz alone is what ``--resume`` loads: a run killed
between the two writes resumes from the npz's epoch, whose arrays and progress always agree.
"""

import io
import json
import os
import zipfile

import numpy as np

from nets.weights import save_weights
from utils import files
from utils.config import ConfigError

STATE_JSON = "train_state.json"
STATE_NPZ = "train_state.npz"
PROGRESS_KEY = "progress"  # the progress JSON, stored in the npz as a string array


def save_checkpoint(model, path):
    """Write ``model``'s weights to ``path`` (reference HDF5 layout) atomically."""
    with files.atomic_path(path) as tmp:
        save_weights(model, tmp)
    return path


def save_training_state(context, optimizer, epoch, phase):
    """Atomically store weights, optimiser variables, weight average and progress (npz), then
    the readable copy of the progress (json)."""
    arrays = _numbered("w", context.body.get_weights())
    if optimizer is not None and optimizer.built:
        arrays.update(_numbered("o", optimizer.variables))
    if context.ema is not None:
        arrays.update(_numbered("e", context.ema.state()))
    state = {
        "epoch": int(epoch),
        "phase": phase,
        "best_metric": context.best_metric,
        "best_mode": context.best_mode,
        "settings": context.settings,
        "history": context.history,
        "num_weights": len(context.body.get_weights()),
        "optimizer_built": bool(optimizer is not None and optimizer.built),
    }
    arrays[PROGRESS_KEY] = np.array(json.dumps(state))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    files.write_bytes(context.path(STATE_NPZ), buffer.getvalue())
    files.write_json(context.path(STATE_JSON), state)


def saved_flags(save_dir):
    """The train.py flags stored in the training state of ``save_dir`` (for ``--resume``)."""
    try:
        state, _ = load_training_state(save_dir)
    except FileNotFoundError:
        raise ConfigError(
            f"--resume: no training state in {save_dir} ({STATE_NPZ} missing)"
        ) from None
    try:
        saved = state["settings"]["args"]
        return {k: v for k, v in saved.items() if k not in ("resume", "save_dir")}
    except (KeyError, TypeError, AttributeError):
        raise ConfigError(
            f"--resume: {os.path.join(save_dir, STATE_NPZ)} is not a training "
            f"state written by train.py"
        ) from None


def load_training_state(save_dir):
    """The saved progress dict and the arrays of a run, from ``train_state.npz``.

    Raises FileNotFoundError when there is no state, ConfigError when it is unreadable.
    """
    npz_path = os.path.join(save_dir, STATE_NPZ)
    if not os.path.isfile(npz_path):
        raise FileNotFoundError(f"no training state to resume in {save_dir} (expected {STATE_NPZ})")
    try:
        with np.load(npz_path) as data:
            arrays = {key: data[key] for key in data.files}
        state = json.loads(str(arrays.pop(PROGRESS_KEY)))
        int(state["epoch"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ConfigError(
            f"--resume: {npz_path} is not a readable training state "
            f"({' '.join(str(exc).split())[:120]})"
        ) from None
    return state, arrays


def restore_weights(body, arrays):
    """Put the state's model weights back into ``body``."""
    saved = _unnumbered("w", arrays)
    if len(saved) != len(body.weights):
        raise ConfigError(
            f"training state holds {len(saved)} weight arrays, model has "
            f"{len(body.weights)}: resume with the same backbone, alpha and classes"
        )
    body.set_weights(saved)


def restore_average(ema, arrays):
    """Put the state's weight average back into ``ema`` (a ``WeightAverage``); a state saved
    without one (or for another model) leaves the average starting from the current weights."""
    saved = _unnumbered("e", arrays)
    return bool(saved) and ema.restore(saved)


def restore_optimizer(optimizer, variables, arrays):
    """Build ``optimizer`` for ``variables`` and load its saved variables (same phase only)."""
    optimizer.build(variables)
    saved = _unnumbered("o", arrays)
    if len(saved) != len(optimizer.variables):
        return False
    for var, value in zip(optimizer.variables, saved):
        if tuple(var.shape) != value.shape:
            return False
    for var, value in zip(optimizer.variables, saved):
        var.assign(value)
    return True


def _numbered(prefix, values):
    """{prefix0: array, prefix1: ...}: how the npz stores a list of arrays."""
    return {f"{prefix}{i}": np.asarray(value) for i, value in enumerate(values)}


def _unnumbered(prefix, arrays):
    """The list :func:`_numbered` stored under ``prefix``."""
    values = []
    while f"{prefix}{len(values)}" in arrays:
        values.append(arrays[f"{prefix}{len(values)}"])
    return values
