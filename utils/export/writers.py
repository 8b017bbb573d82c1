"""The writers the format table names (:mod:`utils.formats`): one function per file kind, each
``write(graphs, path, fmt, nms, calibration, progress)`` with ``graphs`` an
:class:`utils.export.graphs.ExportGraphs`. Every file is written atomically (a temporary name,
renamed when complete) with its metadata inside.

int8 files keep a few layers float: :mod:`utils.export.int8` says which and why.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

from utils import files
from utils.export import int8
from utils.export.graphs import E2E_NAMES, RAW_NAMES, ExportError, ExportGraphs
from utils.formats import ModelFormat

ONNX_OPSET = 17


def _archive(graphs: ExportGraphs, path: str, endpoints: dict) -> None:
    """A SavedModel with the given endpoints {name: (function, spec)} at ``path``."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(graphs.inference_model)
    for name, (function, spec) in endpoints.items():
        archive.add_endpoint(name, function, input_signature=[spec])
    archive.write_out(path, verbose=False)


def write_saved_model(
    graphs: ExportGraphs,
    path: str,
    fmt: ModelFormat,
    nms: bool = False,
    calibration: Sequence | None = None,
    progress: bool = False,
) -> str:
    """Both signatures: ``serve`` (end to end; the first endpoint also becomes
    ``serving_default``, what TF Serving calls) and ``raw``."""
    with files.atomic_folder(path) as tmp:
        _archive(
            graphs,
            tmp,
            {"serve": (graphs.serve, graphs.uint8_spec), "raw": (graphs.raw, graphs.float_spec)},
        )
        fmt.write_metadata(tmp, graphs.metadata(False, fmt.quantization, "raw"))
    return path


def write_tflite(
    graphs: ExportGraphs,
    path: str,
    fmt: ModelFormat,
    nms: bool = False,
    calibration: Sequence | None = None,
    progress: bool = False,
    quantize_options: dict | None = None,
) -> str:
    """A LiteRT flatbuffer of builtin ops; ``fmt.quantization`` float32 / float16 / int8
    (``calibration``: float32 (1, H, W, 3) batches in [0, 1]; ``quantize_options``:
    ``float_heads`` (default True): float heads, float32 input and outputs like the float files
    (the input is quantised inside), and ``float_worst`` (default
    :data:`utils.export.int8.TFLITE_FLOAT_WORST`)
    more layers float, those with the largest int8 error; False: every op int8, uint8 input
    and outputs, or float32 outputs with ``float_outputs``)."""
    tf = graphs.tf
    end_to_end = fmt.writes_end_to_end(nms)
    signature = "detect" if end_to_end else "raw"
    with tempfile.TemporaryDirectory(prefix="yolo_export_") as work:
        if end_to_end:
            _archive(
                graphs,
                work,
                {
                    signature: (
                        graphs.end_to_end_single,
                        graphs.end_to_end_spec(fmt.end_to_end_batch),
                    )
                },
            )
        else:
            _archive(graphs, work, {signature: (graphs.raw, graphs.float_spec)})
        converter = tf.lite.TFLiteConverter.from_saved_model(work, signature_keys=[signature])
        # Builtin ops only: a model needing TensorFlow (Flex) ops cannot run in LiteRT's
        # Python or mobile runtimes, so such a conversion must fail here.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        options = {
            "float_heads": True,
            "float_worst": int8.TFLITE_FLOAT_WORST,
            "float_outputs": False,
            **(quantize_options or {}),
        }
        _quantization_settings(converter, tf, fmt.quantization, calibration, progress, options)
        try:
            if fmt.quantization == "int8" and options["float_heads"]:
                heads, others = _int8_ranking(graphs, calibration, converter)
                flatbuffer = int8.selective_tflite(
                    converter, tf, calibration, heads + others[: options["float_worst"]]
                )
            else:
                flatbuffer = converter.convert()
        except Exception as exc:  # the converter raises ConverterError and others
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise ExportError(
                f"TFLite conversion ({fmt.quantization}) failed: {exc.__class__.__name__}: {first}"
            ) from None
    meta = graphs.metadata(end_to_end, fmt.quantization, signature)
    files.write_bytes(path, fmt.write_metadata(flatbuffer, meta))
    return path


def _quantization_settings(
    converter: Any,
    tf: Any,
    quantization: str,
    calibration: Sequence | None,
    progress: bool,
    options: dict,
) -> None:
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        batches = list(calibration or [])
        if not batches:
            raise ExportError("int8 quantisation needs calibration images (--data)")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: int8.calibration_feed(batches, progress)
        if options["float_heads"]:
            # Float ops allowed; TFLite's selective quantisation keeps float input and outputs.
            return
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32 if options["float_outputs"] else tf.uint8


def write_onnx(
    graphs: ExportGraphs,
    path: str,
    fmt: ModelFormat,
    nms: bool = False,
    calibration: Sequence | None = None,
    progress: bool = False,
    quantize_options: dict | None = None,
) -> str:
    """An ONNX model (opset :data:`ONNX_OPSET`) converted by tf2onnx; for ``fmt.quantization``
    int8, then quantised statically by ONNX Runtime (QDQ: int8 weights per channel, uint8
    activations with ranges from ``calibration``; ``quantize_options``: ``float_worst``
    (default :data:`utils.export.int8.ONNX_FLOAT_WORST`) and those of
    :func:`utils.export.int8.quantize_onnx`)."""
    import logging

    import tf2onnx

    tf = graphs.tf
    # tf2onnx logs tracebacks of optimiser passes it skips; the conversion still succeeds.
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    end_to_end = fmt.writes_end_to_end(nms)
    if end_to_end:
        spec, function = graphs.end_to_end_spec(fmt.end_to_end_batch), graphs.end_to_end_single
    else:
        spec, function = graphs.float_spec, graphs.raw
    try:
        proto, _ = tf2onnx.convert.from_function(
            tf.function(function, input_signature=[spec]), input_signature=[spec], opset=ONNX_OPSET
        )
    except Exception as exc:
        raise ExportError(
            f"ONNX conversion failed: {exc.__class__.__name__}: {str(exc).strip()[:300]}"
        ) from None
    _rename_onnx_outputs(proto, E2E_NAMES if end_to_end else RAW_NAMES)
    if fmt.quantization == "int8":
        options = {"float_worst": int8.ONNX_FLOAT_WORST, **(quantize_options or {})}
        ranked = _int8_ranking(graphs, calibration)[1] if options["float_worst"] else []
        proto = int8.quantize_onnx(proto, calibration, progress, ranked=ranked, **options)
    meta = graphs.metadata(end_to_end, fmt.quantization, "detect" if end_to_end else "raw")
    fmt.write_metadata(proto, meta)
    files.write_bytes(path, proto.SerializeToString())
    return path


def _int8_ranking(
    graphs: ExportGraphs, calibration: Sequence | None, converter: Any = None
) -> tuple[list, list]:
    """(the heads' output tensors, the other tensors worst first) by their int8 error in
    TFLite (:func:`utils.export.int8.ranked_layers`), measured once per export: the ONNX file is
    converted from the same graph, so its tensors carry the same names. ``converter``: the
    TFLite int8 converter of the raw graph, when one is open."""
    key = id(calibration)
    if key not in graphs.int8_rankings:
        if converter is not None:
            graphs.int8_rankings[key] = int8.ranked_layers(converter, graphs.tf, calibration)
        else:
            tf = graphs.tf
            with tempfile.TemporaryDirectory(prefix="yolo_export_") as work:
                _archive(graphs, work, {"raw": (graphs.raw, graphs.float_spec)})
                converter = tf.lite.TFLiteConverter.from_saved_model(work, signature_keys=["raw"])
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
                _quantization_settings(
                    converter, tf, "int8", calibration, False, {"float_heads": True}
                )
                graphs.int8_rankings[key] = int8.ranked_layers(converter, tf, calibration)
    return graphs.int8_rankings[key]


def _rename_onnx_outputs(proto: Any, names: Sequence[str]) -> None:
    """tf2onnx names outputs after graph tensors (``Identity:0``); give them ours, in order of
    the function's dict keys (tf2onnx sorts them by name)."""
    renames = {}
    for output, name in zip(list(proto.graph.output), sorted(names)):
        renames[output.name] = name
        output.name = name
    for node in proto.graph.node:
        for i, value in enumerate(node.output):
            if value in renames:
                node.output[i] = renames[value]
        for i, value in enumerate(node.input):
            if value in renames:
                node.input[i] = renames[value]
