"""The format table: file names, suffix rules, the CLI choices and a format added by one entry."""

import os
import sys

import pytest

from utils import formats
from utils.options import OPTIONS


def test_file_names_follow_the_table():
    names = {f.name: f.file_name("m", nms=True) for f in formats.model_formats()}
    assert names == {
        "saved_model": "m_saved_model",  # always both signatures: no _nms
        "tflite": "m_nms.tflite",
        "tflite_fp16": "m_fp16_nms.tflite",
        "tflite_int8": "m_int8.tflite",  # int8 stays raw
        "onnx": "m_nms.onnx",
        "onnx_int8": "m_int8.onnx",  # int8 stays raw
    }


def test_suffix_rules(tmp_path):
    assert formats.family_of("a/b.TFLITE") == "tflite"
    assert formats.family_of("b_int8.tflite") == "tflite"
    assert formats.family_of("b.onnx") == "onnx"
    assert formats.family_of(tmp_path) == "saved_model"
    assert formats.family_of("best.h5") == formats.KERAS
    with pytest.raises(ValueError, match="Keras weights"):
        formats.format_of("best.h5")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        formats.open_runtime(tmp_path / "missing.onnx")


def test_switches_add_formats_to_their_family():
    pick = lambda *a: [f.name for f in formats.formats_for(*a)]  # noqa: E731
    assert pick(["onnx", "tflite"]) == ["onnx", "tflite"]
    assert pick(["tflite"], {"half", "int8"}) == ["tflite", "tflite_fp16", "tflite_int8"]
    assert pick(["saved_model"], {"int8"}) == ["saved_model"]
    assert pick(["onnx"], {"int8"}) == ["onnx", "onnx_int8"]
    with pytest.raises(ValueError, match="unknown format 'caffe'"):
        formats.formats_for(["caffe"])


def test_cli_choices_come_from_the_table():
    assert OPTIONS["format"].choices == formats.families() == ("saved_model", "tflite", "onnx")
    assert set(formats.switches()) == {"half", "int8"} <= set(OPTIONS)


def test_a_new_format_is_one_entry(tmp_path, monkeypatch):
    """An entry naming a runtime module is all the tools need to open its files."""
    monkeypatch.setattr(formats, "_FORMATS", dict(formats._FORMATS))
    module = tmp_path / "toy_runtime.py"
    module.write_text(
        "class ToyRuntime:\n"
        "    def __init__(self, path, fmt, num_threads=None):\n"
        "        self.path, self.fmt, self.metadata = path, fmt, {'nms': False}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    formats.register_format(
        name="toy",
        family="toy",
        quantization="float32",
        tag="",
        extension=".toy",
        folder=False,
        switch=None,
        writer="toy_runtime:write",
        runtime="toy_runtime:ToyRuntime",
        metadata_reader="toy_runtime:read",
        metadata_writer="toy_runtime:write_meta",
        end_to_end=False,
        end_to_end_batch=None,
    )
    assert "toy_runtime" not in sys.modules  # named, not imported
    path = tmp_path / "model.toy"
    path.write_bytes(b"")
    runtime = formats.open_runtime(path)
    assert type(runtime).__name__ == "ToyRuntime" and runtime.fmt.name == "toy"
    assert formats.family_of(os.fspath(path)) == "toy" and "toy" in formats.families()
    with pytest.raises(ValueError, match="registered already"):
        formats.register_format(**{**formats.get_format("toy").__dict__})
