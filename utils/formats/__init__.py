"""The table of model file formats: one entry per kind of file export.py writes.

Each :class:`ModelFormat` names everything about its files: the ``--format`` family it belongs
to and the switch that adds it (``--half``, ``--int8``), its quantisation, how its file is named,
what input it accepts, and, by module path, its writer (``utils.export``), its runtime
(``utils.inference.runtimes``) and its metadata reader and writer (:mod:`.metadata`). The
exporter's dispatch and file names, the runtimes' suffix rules and the CLI choices are derived
from it. This package sits below both ``utils.export`` and ``utils.inference`` and imports
neither: writers and runtimes are loaded on first use, so a process that only runs a ``.tflite``
file never imports the exporter (or TensorFlow).

A new format is one :func:`register_format` call here plus its writer and runtime.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

KERAS = "keras"  # a weights file (.h5, .keras): not an export, run by the Keras detector


@dataclass(frozen=True)
class ModelFormat:
    """One kind of exported file.

    Attributes:
        name: unique key, e.g. ``"tflite_int8"``.
        family: the ``--format`` choice that writes it and the runtime family that runs it
            (``"saved_model"``, ``"tflite"``, ``"onnx"``).
        quantization: ``"float32"``, ``"float16"`` or ``"int8"``.
        tag: added to the file stem (``"_int8"``); ``"_nms"`` follows it for end-to-end graphs.
        extension: the file's ending (``".tflite"``), or for a folder its name's ending.
        folder: the model is a folder (SavedModel), not a file.
        switch: the export flag that adds this entry to its family (``"half"``, ``"int8"``);
            None: written whenever its family is asked for.
        writer: ``"module:function"`` writing the file: ``function(graphs, path, fmt, nms,
            calibration, progress)``.
        runtime: ``"module:Class"`` running the file: ``Class(path, fmt, num_threads)``.
        metadata_reader: ``"module:function"``: ``function(source) -> dict``.
        metadata_writer: ``"module:function"`` adding the metadata to the written model.
        end_to_end: whether decoding and NMS can be built into the graph (``--nms``).
        end_to_end_batch: the batch an end-to-end graph of this format takes (its builtin NMS
            works on one image); None: any batch.
        purpose: what the files are for, as ``--format``'s help says it.
    """

    name: str
    family: str
    quantization: str
    tag: str
    extension: str
    folder: bool
    switch: str | None
    writer: str
    runtime: str
    metadata_reader: str
    metadata_writer: str
    end_to_end: bool
    end_to_end_batch: int | None
    purpose: str = ""

    def file_name(self, stem: str, nms: bool = False) -> str:
        """The file (or folder) name of a model ``stem`` in this format."""
        in_graph = "_nms" if nms and self.end_to_end else ""
        return f"{stem}{self.tag}{in_graph}{self.extension}"

    def writes_end_to_end(self, nms: bool) -> bool:
        """Whether ``--nms`` builds decoding and NMS into this format's graph."""
        return bool(nms) and self.end_to_end

    def load_writer(self) -> Any:
        return _load(self.writer)

    def load_runtime(self) -> Any:
        return _load(self.runtime)

    def read_metadata(self, source: Any) -> dict:
        """The metadata stored in ``source`` (a path, or what the runtime opened)."""
        return _load(self.metadata_reader)(source)

    def write_metadata(self, target: Any, meta: dict) -> Any:
        return _load(self.metadata_writer)(target, meta)


_FORMATS: dict[str, ModelFormat] = {}


def register_format(**fields: Any) -> ModelFormat:
    """Add a format to the table (the keyword arguments are :class:`ModelFormat`'s fields)."""
    fmt = ModelFormat(**fields)
    if fmt.name in _FORMATS:
        raise ValueError(f"model format {fmt.name!r} is registered already")
    _FORMATS[fmt.name] = fmt
    return fmt


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


_MD = "utils.formats.metadata"
_RUNTIMES = "utils.inference.runtimes"
_WRITERS = "utils.export.writers"

register_format(
    name="saved_model",
    family="saved_model",
    quantization="float32",
    tag="",
    extension="_saved_model",
    folder=True,
    switch=None,
    writer=f"{_WRITERS}:write_saved_model",
    runtime=f"{_RUNTIMES}:SavedModelRuntime",
    metadata_reader=f"{_MD}:read_saved_model_metadata",
    metadata_writer=f"{_MD}:write_saved_model_metadata",
    # A SavedModel always has both: the raw signature and the end-to-end 'serve' one.
    end_to_end=False,
    end_to_end_batch=None,
    purpose="TF Serving, TF.js",
)


def _register_file_family(family, runtime, purpose, variants):
    """The entries of a one-file family (``.tflite``, ``.onnx``): each variant is (name,
    quantization, tag, switch); writer and metadata functions are named after the family."""
    for name, quantization, tag, switch in variants:
        register_format(
            name=name,
            family=family,
            quantization=quantization,
            tag=tag,
            extension=f".{family}",
            folder=False,
            switch=switch,
            writer=f"{_WRITERS}:write_{family}",
            runtime=f"{_RUNTIMES}:{runtime}",
            metadata_reader=f"{_MD}:read_{family}_metadata",
            metadata_writer=f"{_MD}:add_{family}_metadata",
            # int8 stays raw: a quantised NMS graph would round its boxes and scores to 8 bits.
            end_to_end=quantization != "int8",
            end_to_end_batch=1,
            purpose=purpose,
        )


_register_file_family(
    "tflite",
    "TFLiteRuntime",
    "phones, edge devices",
    [
        ("tflite", "float32", "", None),
        ("tflite_fp16", "float16", "_fp16", "half"),
        ("tflite_int8", "int8", "_int8", "int8"),
    ],
)
_register_file_family(
    "onnx",
    "ONNXRuntime",
    "ONNX Runtime, TensorRT, OpenVINO",
    [("onnx", "float32", "", None), ("onnx_int8", "int8", "_int8", "int8")],
)


def model_formats() -> list[ModelFormat]:
    """Every registered format, in registration order."""
    return list(_FORMATS.values())


def get_format(name: str) -> ModelFormat:
    try:
        return _FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown model format {name!r} (formats: {', '.join(_FORMATS)})"
        ) from None


def families() -> tuple[str, ...]:
    """The ``--format`` choices, in table order."""
    return tuple(dict.fromkeys(fmt.family for fmt in _FORMATS.values()))


def describe_families() -> str:
    """``--format``'s help: each family with what it is for."""
    purposes = {}
    for fmt in _FORMATS.values():
        purposes.setdefault(fmt.family, fmt.purpose)
    return ", ".join(f"{family} ({purpose})" for family, purpose in purposes.items())


def switches() -> tuple[str, ...]:
    """The export switches that add formats (``half``, ``int8``)."""
    return tuple(dict.fromkeys(f.switch for f in _FORMATS.values() if f.switch is not None))


def formats_for(chosen_families: Iterable[str], switches_on: Iterable[str] = ()) -> list:
    """The formats an export writes: every entry of the chosen families that needs no switch,
    plus those whose switch is on, in the order the families were given."""
    on = set(switches_on)
    chosen = list(dict.fromkeys(chosen_families))
    for family in chosen:
        if family not in families():
            raise ValueError(f"unknown format {family!r} (choose from {', '.join(families())})")
    return [
        fmt
        for family in chosen
        for fmt in _FORMATS.values()
        if fmt.family == family and (fmt.switch is None or fmt.switch in on)
    ]


def family_of(path: str | os.PathLike) -> str:
    """The family of the model at ``path`` from its name (a folder is a SavedModel), or
    :data:`KERAS` for anything else (a weights file)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return next(f.family for f in _FORMATS.values() if f.folder)
    lower = path.lower()
    for fmt in _FORMATS.values():
        if not fmt.folder and lower.endswith(fmt.extension):
            return fmt.family
    return KERAS


def format_of(path: str | os.PathLike) -> ModelFormat:
    """The table entry of the family an exported model file belongs to (the family's first:
    its members share writer, runtime and metadata; the quantisation is in the file)."""
    family = family_of(path)
    if family == KERAS:
        raise ValueError(f"{os.fspath(path)} is a Keras weights file, not an exported model")
    return next(f for f in _FORMATS.values() if f.family == family)


def open_runtime(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """The runtime of the table entry that ``path`` names, loaded on first use."""
    fmt = format_of(path)
    path = os.fspath(path)
    if not fmt.folder and not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    return fmt.load_runtime()(path, fmt, num_threads=num_threads)
