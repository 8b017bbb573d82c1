"""Which layers of an int8 file stay float, and ONNX Runtime's static quantisation.

int8 files keep the heads' three output convolutions in float. Their one output tensor holds box
offsets, log sizes and logits together; quantised, it shares one 8-bit step over a range of some
60 logits (0.25 a step, so box sizes off by up to 13%), which cost 3.6 mAP points on raccoon
where float heads cost 0.4 (``benchmarks/bench_int8.py``). Both files also keep float the 8
layers whose int8 outputs are furthest from float, as TFLite's quantisation debugger ranks them
(RMSE in quantisation steps, on a few calibration images): helmet's int8 files went from -1.4
(TFLite) and -1.2 (ONNX) to -0.7 and -0.4 points. ONNX Runtime runs such a file as made only with
its ``WeightBiasQuantization`` pass disabled (:mod:`utils.inference.runtimes` does): the pass
quantises, per tensor, the weights of any float convolution between quantised neighbours.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

from utils import files
from utils.export.graphs import RAW_NAMES, ExportError

# 8 took helmet's files from -1.4 / -1.2 points (TFLite / ONNX) to -0.7 / -0.4, raccoon's
# stayed at -0.4 / -0.5; 4 did less on one or the other (benchmarks/bench_int8.py).
TFLITE_FLOAT_WORST = 8
ONNX_FLOAT_WORST = 8
# The debugger measures this many calibration images (spread over them) to rank the layers.
DEBUG_IMAGES = 8
# A SavedModel signature's outputs are named StatefulPartitionedCall:N in the converted graph;
# the ops that write them are the heads' output convolutions.
_SIGNATURE_OUTPUT = "StatefulPartitionedCall:"


def calibration_feed(batches: Iterable, progress: bool) -> Iterable[list]:
    """The calibration batches as a converter's representative dataset, with a progress bar."""
    from tqdm import tqdm

    for batch in tqdm(
        batches, desc="calibrating int8", unit="img", disable=not progress, dynamic_ncols=True
    ):
        yield [batch]


def _debug_images(calibration: Sequence | None, count: int):
    batches = list(calibration or [])[:: max(len(calibration or []) // count, 1)][:count]
    return lambda: ([batch] for batch in batches)


def ranked_layers(converter: Any, tf: Any, calibration: Sequence | None) -> tuple[list, list]:
    """(the heads' output tensors, every other tensor worst first) of the int8 model
    ``converter`` makes, ranked by TFLite's debugger: RMSE against the float op, in quantisation
    steps, over :data:`DEBUG_IMAGES` calibration images."""
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=_debug_images(calibration, DEBUG_IMAGES)
    )
    debugger.run()
    stats = io.StringIO()
    debugger.layer_statistics_dump(stats)
    stats.seek(0)
    rows = list(csv.DictReader(stats))
    heads = [row["tensor_name"] for row in rows if row["tensor_name"].startswith(_SIGNATURE_OUTPUT)]
    if len(heads) != len(RAW_NAMES):
        raise ExportError(f"int8: expected {len(RAW_NAMES)} head outputs, found {heads}")

    def error_in_steps(row: dict) -> float:
        scale = float(row["scale"])
        return float(row["mean_squared_error"]) ** 0.5 / scale if scale else 0.0

    others = sorted((r for r in rows if r["tensor_name"] not in heads), key=error_in_steps)
    return heads, [row["tensor_name"] for row in reversed(others)]


def selective_tflite(
    converter: Any, tf: Any, calibration: Sequence | None, float_tensors: Sequence[str]
) -> bytes:
    """The int8 flatbuffer with the ops writing ``float_tensors`` (the heads' outputs and the
    worst layers :func:`ranked_layers` names) left float: TFLite's selective quantisation (its
    debugger's deny list), calibrated as usual. Its input and outputs are float32, as the float
    files' are."""
    selective = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=_debug_images(calibration, DEBUG_IMAGES),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=list(float_tensors)
        ),
    )
    return selective.get_nondebug_quantized_model()


def quantize_onnx(
    proto: Any,
    calibration: Sequence | None,
    progress: bool,
    method: str = "minmax",
    float_heads: bool = True,
    float_worst: int = 0,
    ranked: Sequence[str] = (),
    moving_average: bool = False,
) -> Any:
    """``proto`` with int8 weights and uint8 activations in QDQ form, the activation ranges
    measured on ``calibration`` (float32 (1, H, W, 3) batches in [0, 1]) by ``method``
    (minmax, percentile or entropy); ``float_heads``: the heads' output convolutions stay
    float; so do the layers computing the first ``float_worst`` tensors of ``ranked`` (worst
    first, as :func:`ranked_layers` lists them) that the graph has. The input and outputs stay
    float, so the file runs as the float one does."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from nets.head import HEAD_LEVELS, head_layer_name

    batches = list(calibration or [])
    if not batches:
        raise ExportError("int8 quantisation needs calibration images (--data)")
    input_name = proto.graph.input[0].name
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    heads = [head_layer_name(level) for level in HEAD_LEVELS]
    excluded = [
        node.name
        for node in proto.graph.node
        if float_heads and node.op_type == "Conv" and any(head in node.name for head in heads)
    ]
    if float_heads and len(excluded) != len(heads):
        raise ExportError(f"ONNX int8: expected {len(heads)} head convolutions, found {excluded}")
    excluded += nodes_computing(proto, ranked, float_worst)

    class Feed(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration_feed(batches, progress))

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
                extra_options={
                    "CalibPercentile": 99.999,
                    "CalibMovingAverage": moving_average,
                },
            )
        except Exception as exc:  # ONNX Runtime raises its own exception types
            raise ExportError(
                f"ONNX int8 quantisation failed: {exc.__class__.__name__}: {str(exc)[:300]}"
            ) from None
        finally:
            root.setLevel(level)
        return onnx.load(target)


def nodes_computing(proto: Any, tensors: Sequence[str], count: int) -> list[str]:
    """The ONNX nodes that compute the first ``count`` of ``tensors`` that the graph has,
    each with the convolution its activation follows. ``tensors`` are TensorFlow tensor names as
    TFLite's debugger reports them (fused ops join theirs with ``;``, and a name that two tensors
    share gets a digit appended: ``.../Conv2D1``); tf2onnx keeps most as node outputs, and one it
    renamed is passed over."""
    producers = {value: node for node in proto.graph.node for value in node.output}
    names: list[str] = []
    found = 0
    for tensor in tensors:
        if found == count:
            break
        node = next(
            (
                producers[name + ":0"]
                for part in tensor.split(";")
                for name in (part, part.rstrip("0123456789"))
                if name + ":0" in producers
            ),
            None,
        )
        if node is None:
            continue
        found += 1
        names.append(node.name)
        convolution = _convolution_before(node, producers)
        if convolution is not None:
            names.append(convolution.name)
    return names


# TFLite fuses these into the convolution before them; in ONNX they are nodes of their own.
_FUSED_AFTER_CONV = ("Clip", "Relu", "Add", "Mul")


def _convolution_before(node: Any, producers: dict) -> Any:
    """The Conv whose output ``node`` (an activation TFLite fused into it) takes first, through
    the layout Transposes tf2onnx leaves when its transpose optimiser gives up (ghostnet)."""
    if node.op_type not in _FUSED_AFTER_CONV:
        return None
    source = producers.get(node.input[0])
    while source is not None and source.op_type == "Transpose":
        source = producers.get(source.input[0])
    return source if source is not None and source.op_type == "Conv" else None
