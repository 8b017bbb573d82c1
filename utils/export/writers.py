"""The writers the format table names (:mod:`utils.formats`): one function per file kind, each
``write(graphs, path, fmt, nms, calibration, progress)`` with ``graphs`` an
:class:`utils.export.graphs.ExportGraphs`. Every file is written atomically (a temporary name,
renamed when complete) with its metadata inside.

int8 files keep the heads' three output convolutions in float (``float_heads``). Their one
output tensor holds box offsets, log sizes and logits together; quantised, it shares one 8-bit
step over a range of some 60 logits (0.25 a step, so box sizes off by up to 13%), which cost
3.6 mAP points on raccoon where float heads cost 0.4 (``benchmarks/bench_int8.py``). TFLite's
int8 files also keep float the few layers its debugger finds furthest from float
(:data:`TFLITE_FLOAT_WORST`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

from utils import files
from utils.export.graphs import E2E_NAMES, RAW_NAMES, ExportError, ExportGraphs
from utils.formats import ModelFormat

ONNX_OPSET = 17
# TFLite int8 also keeps float the layers whose int8 outputs are furthest from float, measured
# by its quantisation debugger: 8 of them took helmet from -1.4 to -0.7 points at no cost in
# speed (benchmarks/bench_int8.py).
TFLITE_FLOAT_WORST = 8


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
    (the input is quantised inside), and ``float_worst`` (default :data:`TFLITE_FLOAT_WORST`)
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
            "float_worst": TFLITE_FLOAT_WORST,
            "float_outputs": False,
            **(quantize_options or {}),
        }
        _quantization_settings(converter, tf, fmt.quantization, calibration, progress, options)
        try:
            if fmt.quantization == "int8" and options["float_heads"]:
                flatbuffer = _with_float_heads(converter, tf, calibration, options["float_worst"])
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
        converter.representative_dataset = lambda: _calibration_feed(batches, progress)
        if options["float_heads"]:
            # Float ops allowed; TFLite's selective quantisation keeps float input and outputs.
            return
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32 if options["float_outputs"] else tf.uint8


# A SavedModel signature's outputs are named StatefulPartitionedCall:N in the converted graph;
# the ops that write them are the heads' output convolutions.
_SIGNATURE_OUTPUT = "StatefulPartitionedCall:"


def _with_float_heads(
    converter: Any, tf: Any, calibration: Sequence | None, float_worst: int = 0
) -> bytes:
    """The int8 flatbuffer with the heads' output convolutions left float: TFLite's
    selective quantisation (its quantisation debugger's deny list), calibrated as usual. Its
    input and outputs are float32, as the float files' are; the input is quantised inside.
    ``float_worst``: also leave float the layers with the largest int8 error (RMSE in
    quantisation steps, measured by the debugger on a few calibration images)."""
    import csv
    import io

    batches = list(calibration or [])[:: max(len(calibration or []) // 8, 1)][:8]

    def debug_images():
        return ([batch] for batch in batches[: 8 if float_worst else 1])

    probe = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=debug_images
    )
    probe.run()
    stats = io.StringIO()
    probe.layer_statistics_dump(stats)
    stats.seek(0)
    rows = list(csv.DictReader(stats))
    heads = [row["tensor_name"] for row in rows if row["tensor_name"].startswith(_SIGNATURE_OUTPUT)]
    if len(heads) != len(RAW_NAMES):
        raise ExportError(f"int8: expected {len(RAW_NAMES)} head outputs, found {heads}")

    def error_in_steps(row):
        scale = float(row["scale"])
        return float(row["mean_squared_error"]) ** 0.5 / scale if scale else 0.0

    others = sorted((r for r in rows if r["tensor_name"] not in heads), key=error_in_steps)
    worst = [row["tensor_name"] for row in others[::-1][:float_worst]]
    selective = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=debug_images,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=heads + worst),
    )
    return selective.get_nondebug_quantized_model()


def _calibration_feed(batches: Iterable, progress: bool) -> Iterable[list]:
    from tqdm import tqdm

    for batch in tqdm(
        batches, desc="calibrating int8", unit="img", disable=not progress, dynamic_ncols=True
    ):
        yield [batch]


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
    activations with ranges from ``calibration``; ``quantize_options``: see
    :func:`_quantize_onnx`)."""
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
        proto = _quantize_onnx(proto, calibration, progress, **(quantize_options or {}))
    meta = graphs.metadata(end_to_end, fmt.quantization, "detect" if end_to_end else "raw")
    fmt.write_metadata(proto, meta)
    files.write_bytes(path, proto.SerializeToString())
    return path


def _quantize_onnx(
    proto: Any,
    calibration: Sequence | None,
    progress: bool,
    method: str = "minmax",
    float_heads: bool = True,
) -> Any:
    """``proto`` with int8 weights and uint8 activations in QDQ form, the activation ranges
    measured on ``calibration`` (float32 (1, H, W, 3) batches in [0, 1]) by ``method``
    (minmax, percentile or entropy); ``float_heads``: the heads' output convolutions stay
    float. The input and outputs stay float, so the file runs as the float one does."""
    import logging

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    batches = list(calibration or [])
    if not batches:
        raise ExportError("int8 quantisation needs calibration images (--data)")
    input_name = proto.graph.input[0].name
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    from nets.head import HEAD_LEVELS, head_layer_name

    heads = [head_layer_name(level) for level in HEAD_LEVELS]
    excluded = [
        node.name
        for node in proto.graph.node
        if float_heads and node.op_type == "Conv" and any(head in node.name for head in heads)
    ]
    if float_heads and len(excluded) != len(heads):
        raise ExportError(f"ONNX int8: expected {len(heads)} head convolutions, found {excluded}")

    class Feed(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(_calibration_feed(batches, progress))

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch[0]}

    with tempfile.TemporaryDirectory(prefix="yolo_export_") as work:
        source, target = f"{work}/float.onnx", f"{work}/int8.onnx"
        files.write_bytes(source, proto.SerializeToString())
        # It logs advice on the root logger (run its shape pre-processing first); measured here
        # without it, the int8 file is what the benchmark reports.
        root = logging.getLogger()
        level, root.level = root.level, logging.ERROR
        try:
            quantize_static(
                source,
                target,
                Feed(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods[method],
                nodes_to_exclude=excluded,
                extra_options={"CalibPercentile": 99.999},
            )
        except Exception as exc:  # ONNX Runtime raises its own exception types
            raise ExportError(
                f"ONNX int8 quantisation failed: {exc.__class__.__name__}: {str(exc)[:300]}"
            ) from None
        finally:
            root.setLevel(level)
        return onnx.load(target)


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
