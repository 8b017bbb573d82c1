"""Reading and writing weight files.

Three kinds of file load into a ``yolo_body`` model:

* HDF5 files written by the reference implementation (Keras 2 ``save_weights`` layout: a root
  attribute ``layer_names``, one group per layer with ``weight_names``). Their neck layers have
  auto-generated names that differ between Keras versions, so they are matched *by order*: the
  file stores weighted layers in Keras' depth-sorted graph order, which our graph reproduces.
* The project's own checkpoints, written by :func:`save_weights` in that same layout (so the
  reference can read them too).
* Keras Applications ImageNet backbone files, which hold only backbone layers: matched *by name*.

Model code does no I/O; this module is the one place that touches weight files.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import h5py
import numpy as np

from nets.backbones import backbone_for_layer_count
from nets.errors import WeightsMismatchError

if TYPE_CHECKING:
    import keras

# (stored layer name, its arrays) per weighted layer of a reference-layout file.
WeightGroups = list[tuple[str, list[np.ndarray]]]

# P3 head input channels at alpha 1 (the neck width int(256 * alpha) feeds the P3 head).
_P3_HEAD_IN_AT_ALPHA_1 = 256


@dataclass
class LoadReport:
    """What :func:`load_weights` did."""

    path: str
    method: str  # "by_order", "by_name" or "keras"
    loaded: list[str] = field(default_factory=list)  # model layer names that received weights
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (layer name, reason)
    model_weighted_layers: int = 0

    @property
    def num_loaded(self) -> int:
        return len(self.loaded)

    def summary(self) -> str:
        text = (
            f"loaded {self.num_loaded}/{self.model_weighted_layers} weighted layers from "
            f"{os.path.basename(self.path)} ({self.method.replace('_', ' ')})"
        )
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + ", ".join(
                f"{name} ({why})" for name, why in self.skipped[:8]
            )
            if len(self.skipped) > 8:
                text += ", ..."
        return text


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers that own weights, in the model's (depth-sorted) layer order."""
    return [layer for layer in model.layers if layer.weights]


def read_legacy_h5(path: str | os.PathLike[str]) -> WeightGroups:
    """Return [(layer name, [arrays])] for the weighted layers of a Keras 2 layout HDF5 file."""
    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        if "layer_names" not in root.attrs:
            raise WeightsMismatchError(f"{path}: not a Keras HDF5 weights file (no 'layer_names')")
        groups = []
        for raw in root.attrs["layer_names"]:
            name = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
            group = root[name]
            weight_names = [
                w.decode("utf8") if isinstance(w, bytes) else str(w)
                for w in group.attrs.get("weight_names", [])
            ]
            if weight_names:
                groups.append((name, [np.asarray(group[w]) for w in weight_names]))
        return groups


def describe_file(groups: Sequence[tuple[str, Sequence[np.ndarray]]]) -> str:
    """A human description of what a reference-layout file seems to hold."""
    parts = [f"{len(groups)} weighted layers"]
    heads = [arrays for _, arrays in groups[-3:] if len(arrays) == 2 and arrays[0].ndim == 4]
    if len(heads) == 3:
        out_channels = heads[0][0].shape[-1]
        if out_channels % 3 == 0 and out_channels // 3 > 5:
            parts.append(f"head channels {out_channels} -> {out_channels // 3 - 5} classes")
        # The last three groups are the heads P5, P4, P3: P3's input width gives alpha.
        p3_in = heads[-1][0].shape[2]
        alpha = p3_in / _P3_HEAD_IN_AT_ALPHA_1
        family = backbone_for_layer_count(len(groups))
        if family:
            parts.append(f"likely backbone {family} with alpha {alpha:g}")
        else:
            parts.append(f"neck width suggests alpha {alpha:g}")
    return ", ".join(parts)


def describe_model(model: keras.Model) -> str:
    name = getattr(model, "backbone_name", "?")
    alpha = getattr(model, "alpha", None)
    classes = getattr(model, "num_classes", None)
    return (
        (
            f"model {name} alpha {alpha:g} with {classes} classes "
            f"({len(weighted_layers(model))} weighted layers)"
        )
        if alpha is not None
        else f"model with {len(weighted_layers(model))} weighted layers"
    )


def _is_keras3_file(path: str) -> bool:
    with h5py.File(path, "r") as f:
        return "layer_names" not in f.attrs and "model_weights" not in f and "layers" in f


def _load_keras_native(model: keras.Model, path: str, skip_mismatch: bool) -> LoadReport:
    """A Keras 3 file (``.weights.h5`` or a whole ``.keras`` model) saved from this model."""
    try:
        with warnings.catch_warnings():  # Keras warns, then raises, on a mismatch
            warnings.simplefilter("ignore")
            model.load_weights(path, skip_mismatch=skip_mismatch)
    except (ValueError, KeyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise WeightsMismatchError(
            f"{path} (a Keras file) does not fit the {describe_model(model)}: {first}"
        ) from None
    layers = weighted_layers(model)
    return LoadReport(path, "keras", [layer.name for layer in layers], [], len(layers))


def load_weights(
    model: keras.Model, path: str | os.PathLike[str], skip_mismatch: bool = False
) -> LoadReport:
    """Load a weights file into ``model``; return a :class:`LoadReport`.

    Reference/own files with as many weighted layers as the model are matched by order;
    other files (ImageNet backbones) by layer name ('/' in stored names reads as '_').
    With ``skip_mismatch`` layers whose shapes differ are skipped and reported; without it any
    mismatch raises :class:`WeightsMismatchError` describing the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.endswith(".keras") and zipfile.is_zipfile(path):
        return _load_keras_native(model, path, skip_mismatch)
    try:
        if _is_keras3_file(path):
            return _load_keras_native(model, path, skip_mismatch)
        groups = read_legacy_h5(path)
    except (OSError, KeyError) as exc:
        raise WeightsMismatchError(f"{path}: cannot read as an HDF5 weights file ({exc})") from exc

    layers = weighted_layers(model)
    if len(groups) == len(layers):
        pairs = list(zip(layers, groups))
        method = "by_order"
    else:
        by_name = {name.replace("/", "_"): arrays for name, arrays in groups}
        pairs = [
            (layer, (layer.name, by_name[layer.name])) for layer in layers if layer.name in by_name
        ]
        method = "by_name"
        if not pairs:
            raise WeightsMismatchError(
                f"{path} does not fit the {describe_model(model)}: the file has "
                f"{describe_file(groups)}, and no layer names match"
            )

    report = LoadReport(path, method, model_weighted_layers=len(layers))
    assignments = []
    for layer, (stored_name, arrays) in pairs:
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(a.shape) for a in arrays]
        if expected != found:
            reason = f"shape {found} in file vs {expected} in model"
            if not skip_mismatch:
                raise WeightsMismatchError(
                    f"{path} does not fit the {describe_model(model)}: layer {layer.name} "
                    f"(file: {stored_name}) has {reason}. The file has {describe_file(groups)}."
                )
            report.skipped.append((layer.name, reason))
            continue
        assignments.append((layer, arrays))
        report.loaded.append(layer.name)
    # Assign only after every check passed, so a failed load leaves the model untouched.
    for layer, arrays in assignments:
        layer.set_weights(arrays)
    return report


def save_weights(model: keras.Model, path: str | os.PathLike[str] | BinaryIO) -> None:
    """Write the model's weights in the Keras 2 HDF5 layout (reference-compatible).

    ``path`` is a file name or a writable binary file object. The file is written in place:
    for a checkpoint that must survive an interruption, write through ``utils.files.atomic_path``
    (the training tools do).
    """
    with h5py.File(path, "w") as f:
        layers = list(model.layers)
        f.attrs["layer_names"] = [layer.name.encode("utf8") for layer in layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"3"
        for layer in layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{w.path.split('/')[-1]}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode("utf8") for n in names]
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name, data=value)


def read_head_arrays(
    path: str | os.PathLike[str], model: keras.Model, layer_names: Collection[str]
) -> dict[str, tuple[np.ndarray, ...]]:
    """{layer name: (kernel, bias)} of the layers ``layer_names`` of ``model`` as stored in a
    reference-layout file matched by order; empty when the file is not such a file (a Keras 3
    file) or its layer count differs."""
    try:
        groups = read_legacy_h5(path)
    except WeightsMismatchError:
        return {}
    layers = weighted_layers(model)
    if len(groups) != len(layers):
        return {}
    return {
        layer.name: tuple(arrays)
        for layer, (_, arrays) in zip(layers, groups)
        if layer.name in layer_names and len(arrays) == 2
    }
