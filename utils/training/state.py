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
PROGRESS_KEY = "progress"   # the progress JSON, stored in the npz as a string array


def save_checkpoint(model, path):
    """Write ``model``'s weights to ``path`` (reference HDF5 layout) atomically."""
    with files.atomic_path(path) as tmp:
        save_weights(model, tmp)
    return path


def save_training_state(context, optimizer, epoch, phase):
    """Atomically store weights + optimiser variables (npz) and progress (json)."""
    arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(context.body.get_weights())}
    if optimizer is not None and optimizer.built:
        for i, v in enumerate(optimizer.variables):
            arrays[f"o{i}"] = np.asarray(v)
    if context.ema is not None:
        for i, value in enumerate(context.ema.state()):
            arrays[f"e{i}"] = value
    state = {"epoch": int(epoch), "phase": phase, "best_metric": context.best_metric,
             "best_mode": context.best_mode, "settings": context.settings,
             "history": context.history, "num_weights": len(context.body.get_weights()),
             "optimizer_built": bool(optimizer is not None and optimizer.built)}
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
        raise ConfigError(f"--resume: no training state in {save_dir} ({STATE_NPZ} missing)") \
            from None
    try:
        saved = state["settings"]["args"]
        return {k: v for k, v in saved.items() if k not in ("resume", "save_dir")}
    except (KeyError, TypeError, AttributeError):
        raise ConfigError(f"--resume: {os.path.join(save_dir, STATE_NPZ)} is not a training "
                          f"state written by train.py") from None


def load_training_state(save_dir):
    """The saved progress dict and the arrays of a run, from ``train_state.npz``.

    Raises FileNotFoundError when there is no state, ConfigError when it is unreadable.
    """
    npz_path = os.path.join(save_dir, STATE_NPZ)
    if not os.path.isfile(npz_path):
        raise FileNotFoundError(f"no training state to resume in {save_dir} "
                                f"(expected {STATE_NPZ})")
    try:
        with np.load(npz_path) as data:
            arrays = {key: data[key] for key in data.files}
        if PROGRESS_KEY in arrays:
            state = json.loads(str(arrays.pop(PROGRESS_KEY)))
        else:   # written before the progress moved into the npz
            with open(os.path.join(save_dir, STATE_JSON), encoding="utf8") as f:
                state = json.load(f)
        int(state["epoch"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"--resume: {npz_path} is not a readable training state "
                          f"({' '.join(str(exc).split())[:120]})") from None
    return state, arrays


def restore_weights(body, arrays):
    """Put the state's model weights back into ``body``."""
    count = len([k for k in arrays if k.startswith("w")])
    if count != len(body.weights):
        raise ConfigError(f"training state holds {count} weight arrays, model has "
                         f"{len(body.weights)}: resume with the same backbone, alpha and classes")
    body.set_weights([arrays[f"w{i}"] for i in range(count)])


def restore_average(ema, arrays):
    """Put the state's weight average back into ``ema`` (a ``WeightAverage``); a state saved
    without one (or for another model) leaves the average starting from the current weights."""
    saved = [arrays[f"e{i}"] for i in range(len([k for k in arrays if k.startswith("e")]))]
    return bool(saved) and ema.restore(saved)


def restore_optimizer(optimizer, variables, arrays):
    """Build ``optimizer`` for ``variables`` and load its saved variables (same phase only)."""
    optimizer.build(variables)
    saved = [arrays[f"o{i}"] for i in range(len([k for k in arrays if k.startswith("o")]))]
    if len(saved) != len(optimizer.variables):
        return False
    for var, value in zip(optimizer.variables, saved):
        if tuple(var.shape) != value.shape:
            return False
    for var, value in zip(optimizer.variables, saved):
        var.assign(value)
    return True
