"""Exported models run by their own runtimes: LiteRT (``.tflite``), ONNX Runtime (``.onnx``) and
TensorFlow (a SavedModel folder).

Each runtime takes letterboxed uint8 canvases (N, H, W, 3) and returns what the exported graph
computes: the raw head outputs in ``anchors_mask`` order, or, for an end-to-end export
(``metadata["nms"]``), boxes [x1, y1, x2, y2] in input pixels, scores, class ids and valid counts.
Which runtime runs a path is its entry in the format table (:func:`utils.formats.open_runtime`);
only that runtime's library is imported. A file whose graph takes a fixed batch (the end-to-end
graphs take one image) is fed that many canvases at a time, so every runtime accepts any batch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nets.errors import UserError
from utils.formats import ModelFormat
from utils.formats import metadata as md


class RuntimeLoadError(UserError, ValueError):
    """An exported model file that its runtime cannot open."""


def _threads(num_threads):
    return int(num_threads or os.cpu_count() or 1)


def _float_images(canvases):
    return np.asarray(canvases, np.float32) / np.float32(255.0)


def _quantize(values, scale, zero_point, dtype):
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def _fixed_batch(shape: Any) -> int | None:
    """The batch a graph input's shape fixes (None where the batch is free)."""
    if shape is None or not len(shape):
        return None
    first = shape[0]
    return int(first) if isinstance(first, (int, np.integer)) and first > 0 else None


class _Runtime:
    """Common shape: ``metadata``, ``format``, ``outputs(canvases)`` for any batch."""

    format: str = ""
    metadata: dict
    max_batch: int | None = None  # set by a runtime whose graph takes a fixed batch

    def __init__(self, path: str, fmt: ModelFormat):
        self.path = os.fspath(path)
        self.spec = fmt

    @property
    def output_names(self) -> list[str]:
        return self.metadata["outputs"]

    def _batch_limit(self, from_file: int | None) -> int | None:
        """The file's own fixed batch, else the table's for an end-to-end graph."""
        if from_file is not None:
            return from_file
        if self.metadata.get("nms"):
            return self.spec.end_to_end_batch
        return None

    def outputs(self, canvases: np.ndarray) -> list[np.ndarray]:
        """The graph's outputs for uint8 canvases (N, H, W, 3), N of any size."""
        canvases = np.asarray(canvases)
        step = self.max_batch
        if step is None or len(canvases) <= step:
            return self._run(canvases)
        chunks = [self._run(canvases[i : i + step]) for i in range(0, len(canvases), step)]
        return [np.concatenate(parts, axis=0) for parts in zip(*chunks)]

    def _run(self, canvases: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def describe(self):
        meta = self.metadata
        name = meta.get("backbone") or "model"
        if meta.get("alpha") is not None:
            name += f" alpha {meta['alpha']:g}"
        quant = meta.get("quantization") or "float32"
        return f"{name} ({self.format} {quant}{', NMS in graph' if meta['nms'] else ''})"


class TFLiteRuntime(_Runtime):
    """A ``.tflite`` file on the LiteRT interpreter (XNNPACK on CPUs), through its signature."""

    format = "tflite"

    def __init__(self, path, fmt, num_threads=None):
        super().__init__(path, fmt)
        self.metadata = fmt.read_metadata(self.path)
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=self.path, num_threads=_threads(num_threads))
            self.runner = self.interpreter.get_signature_runner(
                self.metadata.get("signature", "raw")
            )
        except (ValueError, RuntimeError) as exc:
            raise RuntimeLoadError(f"{self.path}: LiteRT cannot load it ({exc})") from None
        inputs = self.runner.get_input_details()
        self.input_name, self.input_detail = next(iter(inputs.items()))
        self.output_details = self.runner.get_output_details()
        self.max_batch = self._batch_limit(
            _fixed_batch(self.input_detail.get("shape_signature", self.input_detail.get("shape")))
        )
        self._first_call = True

    def _run(self, canvases):
        detail = self.input_detail
        dtype = detail["dtype"]
        scale, zero_point = detail["quantization"]
        if dtype == np.float32:
            feed = _float_images(canvases)
        elif dtype == np.uint8 and zero_point == 0 and abs(scale * 255.0 - 1.0) < 1e-6:
            feed = np.asarray(canvases, np.uint8)  # the int8 export's input: the pixels as they are
        elif scale:  # quantised input: real = (q - zero_point) * scale, real in [0, 1]
            feed = _quantize(_float_images(canvases), scale, zero_point, dtype)
        else:
            feed = np.asarray(canvases, dtype)
        if self._first_call:  # LiteRT announces its XNNPACK delegate on the first run
            from utils.quiet import native_stderr_muted

            with native_stderr_muted():
                results = self.runner(**{self.input_name: feed})
            self._first_call = False
        else:
            results = self.runner(**{self.input_name: feed})
        arrays = []
        for name in self.output_names:
            value = results[name]
            scale, zero_point = self.output_details[name]["quantization"]
            if scale:
                value = (value.astype(np.float32) - zero_point) * np.float32(scale)
            arrays.append(value)
        return arrays


class ONNXRuntime(_Runtime):
    """An ``.onnx`` file on ONNX Runtime (its CPU provider, or CUDA when installed)."""

    format = "onnx"

    def __init__(self, path, fmt, num_threads=None):
        super().__init__(path, fmt)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads(num_threads)
        options.log_severity_level = 3
        providers = [
            p
            for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
            if p in ort.get_available_providers()
        ]
        try:
            # ORT's WeightBiasQuantization pass would quantise, per tensor, the weights of
            # the convolutions an int8 file keeps float between quantised neighbours.
            self.session = ort.InferenceSession(
                self.path,
                options,
                providers=providers,
                disabled_optimizers=["WeightBiasQuantization"],
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise RuntimeLoadError(
                f"{self.path} is not a readable ONNX model ({str(exc).splitlines()[0][:200]})"
            ) from None
        # From the open session: the table's reader would parse the file a second time.
        self.metadata = md.read_onnx_metadata(self.path, session=self.session)
        first = self.session.get_inputs()[0]
        self.input_name, self.input_type = first.name, first.type
        self.max_batch = self._batch_limit(_fixed_batch(first.shape))

    def _run(self, canvases):
        if self.input_type == "tensor(float)":
            feed = _float_images(canvases)
        else:
            feed = np.asarray(canvases, np.uint8)
        return self.session.run(self.output_names, {self.input_name: feed})


class SavedModelRuntime(_Runtime):
    """A SavedModel folder on TensorFlow, through its ``raw`` (or ``serve``) signature."""

    format = "saved_model"

    def __init__(self, path, fmt, num_threads=None):
        super().__init__(path, fmt)
        self.metadata = fmt.read_metadata(self.path)
        from utils.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(self.path)
        except (OSError, ValueError, tf.errors.OpError) as exc:
            raise RuntimeLoadError(
                f"{self.path}: TensorFlow cannot load it ({str(exc).splitlines()[0][:200]})"
            ) from None
        signature = self.metadata.get("signature", "raw")
        if signature not in loaded.signatures:
            raise RuntimeLoadError(f"{self.path} has no '{signature}' signature")
        self._loaded = loaded  # keeps the variables alive
        self.function = loaded.signatures[signature]
        spec = self.function.structured_input_signature[1]
        self.input_name, self.input_spec = next(iter(spec.items()))
        self.max_batch = self._batch_limit(_fixed_batch(self.input_spec.shape.as_list()))

    def _run(self, canvases):
        if self.input_spec.dtype.name == "float32":
            feed = _float_images(canvases)
        else:
            feed = np.asarray(canvases, np.uint8)
        results = self.function(**{self.input_name: feed})
        return [results[name].numpy() for name in self.output_names]
