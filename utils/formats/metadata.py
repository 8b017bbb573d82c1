"""The description every exported model carries, and where each format keeps it.

An exported model holds what running it needs besides the network: class names, input size,
anchors and their mask, letterbox or plain resize, backbone and alpha, whether decoding and NMS
are inside the graph, its quantisation and the exporter's version. ``predict.py`` and
``get_map.py`` read it, so an exported file needs no ``--classes``, ``--anchors`` or
``--input-size``.

* SavedModel: ``assets.extra/yolov4_lite.json`` (TF Serving's folder for files it leaves alone);
* TFLite: a named metadata buffer in the flatbuffer (``yolov4_lite``);
* ONNX: the model's ``metadata_props`` (key ``yolov4_lite``).

Reading needs neither TensorFlow nor the runtime's session. Which reader and writer a file
uses is its entry in the format table (:mod:`utils.formats`).
"""

import json
import os

from nets.errors import UserError

KEY = "yolov4_lite"
FORMAT_VERSION = 1
SAVED_MODEL_FILE = os.path.join("assets.extra", KEY + ".json")
REQUIRED = ("class_names", "input_size", "anchors", "anchors_mask", "letterbox", "nms", "outputs")


class MetadataError(UserError, ValueError):
    """An exported model without (or with unusable) yolov4-lite metadata."""


def exporter_version():
    try:
        from importlib.metadata import version

        return version("yolov4-lite")
    except Exception:  # not installed as a package (a plain checkout)
        return "unknown"


def build_metadata(
    class_names,
    input_size,
    anchors,
    anchors_mask,
    letterbox,
    backbone,
    alpha,
    nms,
    quantization,
    outputs,
    nms_settings=None,
):
    """The metadata dict (JSON-able).

    Args:
        outputs: names of the raw outputs in ``anchors_mask`` order (e.g. p5, p4, p3), or of
            the end-to-end outputs with ``nms``.
        nms_settings: ``{"conf", "nms_iou", "max_boxes"}`` built into an end-to-end graph.
    """
    meta = {
        "format_version": FORMAT_VERSION,
        "exporter": f"yolov4-lite {exporter_version()}",
        "class_names": [str(c) for c in class_names],
        "input_size": [int(v) for v in input_size],
        "anchors": [[float(w), float(h)] for w, h in anchors],
        "anchors_mask": [[int(i) for i in m] for m in anchors_mask],
        "letterbox": bool(letterbox),
        "backbone": backbone,
        "alpha": None if alpha is None else float(alpha),
        "nms": bool(nms),
        "quantization": quantization,
        "outputs": list(outputs),
    }
    if nms_settings:
        meta["nms_settings"] = dict(nms_settings)
    return meta


def check_metadata(meta, source):
    """Return ``meta`` if it has every field a detector needs; else MetadataError."""
    if not isinstance(meta, dict):
        raise MetadataError(f"{source}: its yolov4-lite metadata is not a JSON object")
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        raise MetadataError(f"{source}: its yolov4-lite metadata lacks {', '.join(missing)}")
    return meta


def _parse(text, source):
    try:
        return check_metadata(json.loads(text), source)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(
            f"{source}: its yolov4-lite metadata is not valid JSON ({exc})"
        ) from None


def _no_metadata(source):
    return MetadataError(f"{source} has no yolov4-lite metadata: export it with export.py")


# ------------------------------------------------------------------------------- SavedModel


def write_saved_model_metadata(folder, meta):
    from utils.files import write_json

    os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
    write_json(os.path.join(folder, SAVED_MODEL_FILE), meta)


def read_saved_model_metadata(folder):
    path = os.path.join(folder, SAVED_MODEL_FILE)
    if not os.path.isfile(path):
        raise _no_metadata(folder)
    with open(path, encoding="utf8") as f:
        return _parse(f.read(), folder)


# ----------------------------------------------------------------------------------- TFLite


def _tflite_schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def add_tflite_metadata(model_bytes, meta):
    """The flatbuffer ``model_bytes`` with ``meta`` added as a named metadata buffer."""
    import flatbuffers

    schema = _tflite_schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(bytearray(model_bytes), 0))
    buffer = schema.BufferT()
    buffer.data = list(json.dumps(meta).encode("utf8"))
    model.buffers = (model.buffers or []) + [buffer]
    entry = schema.MetadataT()
    entry.name = KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (KEY, KEY.encode())]
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_tflite_metadata(path):
    schema = _tflite_schema()
    with open(path, "rb") as f:
        data = bytearray(f.read())
    try:
        model = schema.Model.GetRootAs(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == KEY.encode():
                return _parse(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes(), path)
    except MetadataError:
        raise
    except Exception as exc:  # a damaged flatbuffer raises anything from struct to IndexError
        raise MetadataError(
            f"{path} is not a readable TFLite model ({exc.__class__.__name__})"
        ) from None
    raise _no_metadata(path)


# ------------------------------------------------------------------------------------- ONNX


def add_onnx_metadata(model_proto, meta):
    """Set ``meta`` as the ``yolov4_lite`` metadata property of an ONNX ModelProto."""
    for prop in list(model_proto.metadata_props):
        if prop.key == KEY:
            model_proto.metadata_props.remove(prop)
    entry = model_proto.metadata_props.add()
    entry.key, entry.value = KEY, json.dumps(meta)
    return model_proto


def read_onnx_metadata(source, session=None):
    """Metadata of an ONNX file: from its ``onnxruntime.InferenceSession`` when one is open,
    else from the file's properties (the graph's weights are not read)."""
    if session is not None:
        props = session.get_modelmeta().custom_metadata_map
    else:
        import onnx

        try:
            proto = onnx.load_model(os.fspath(source), load_external_data=False)
        except Exception as exc:  # protobuf's DecodeError and others
            raise MetadataError(
                f"{source} is not a readable ONNX model ({exc.__class__.__name__})"
            ) from None
        props = {prop.key: prop.value for prop in proto.metadata_props}
    if KEY not in props:
        raise _no_metadata(source)
    return _parse(props[KEY], source)
