"""Every default is defined once, in the options table, and every entry point reads it there."""

import ast
import dataclasses
import glob
import importlib
import inspect
import os

import pytest

from tests.conftest import ROOT
from utils import options
from utils.options import OPTIONS

SCRIPTS = (
    "predict",
    "get_map",
    "train",
    "export",
    "summary",
    "kmeans_for_anchors",
    "voc_annotation",
    "convert_weights",
    "track_eval",
    "check_dataset",
    "convert_dataset",
    "serve",
    "benchmark",
)


def _parser_actions(script):
    module = importlib.import_module(script)
    parser = module.build_parser()
    return module.MODE, [a for a in parser._actions if a.dest != "help"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_flag_and_default_comes_from_the_options_table(script):
    mode, actions = _parser_actions(script)
    assert actions
    for action in actions:
        assert action.dest in OPTIONS, f"{script} --{action.dest} is not in the options table"
        if not action.required:
            assert action.default == options.default(action.dest, mode), action.dest


# The flags naming what each tool writes: they must carry the table's ``writes`` mark, which
# makes every tool check them before it starts (utils.cli.check_output_paths).
WRITTEN = {
    "predict": {"save_dir", "json", "crop", "save_txt", "save_mot"},
    "get_map": {"out"},
    "train": {"save_dir"},
    "export": {"out"},
    "summary": set(),
    "kmeans_for_anchors": {"out", "plot"},
    "voc_annotation": {"write_lines"},
    "convert_weights": {"convert_out"},
    "track_eval": {"pred", "json"},
    "check_dataset": set(),
    "convert_dataset": {"out"},
    "serve": set(),
    "benchmark": {"out"},
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_output_flag_is_marked_with_what_it_writes(script):
    mode, actions = _parser_actions(script)
    marked = {a.dest: a.writes for a in actions if a.writes is not None}
    assert set(marked) == WRITTEN[script]
    assert all(w.kind in ("folder", "file") for w in marked.values())
    assert all(w.under is None or w.under in marked for w in marked.values())
    assert options.OPTIONS["out"].writes_in("anchors").kind == "file"
    assert options.OPTIONS["out"].writes_in("eval").kind == "folder"


def test_no_script_defines_a_flag_or_a_default_itself():
    """Scripts add flags only through the table: no add_argument call, no default= literal."""
    for path in [os.path.join(ROOT, f"{s}.py") for s in SCRIPTS]:
        tree = ast.parse(open(path, encoding="utf8").read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
                pytest.fail(f"{path}:{node.lineno} adds a flag outside the options table")


def test_per_mode_values_are_where_tools_must_differ():
    assert options.default("conf", "predict") == 0.5
    assert options.default("conf", "eval") == 0.001
    assert options.detection_defaults("eval") == {
        "conf": 0.001,
        "nms_iou": 0.5,
        "max_boxes": 100,
        "letterbox": True,
    }
    with pytest.raises(KeyError, match="no value for mode"):
        options.default("conf", "train")


def test_train_settings_equal_train_py_without_flags():
    import train
    from utils.training import TrainSettings

    args = train.build_parser().parse_args(["--data", "somewhere"])
    from_cli = TrainSettings.from_args(args)
    api = TrainSettings()
    assert dataclasses.asdict(from_cli) == dataclasses.asdict(api)
    assert api.lr == options.LR_PER_64["adam"] and api.input_size == (416, 416)
    assert TrainSettings(optimizer="sgd").lr == options.LR_PER_64["sgd"]
    # The LR a user trains at is the same either way (1e-3 at batch 8, as documented).
    assert api.lr_function(8).keywords["lr"] == pytest.approx(1e-3)
    for field in dataclasses.fields(TrainSettings):
        if field.name in OPTIONS and field.name not in ("lr", "input_size"):
            assert getattr(api, field.name) == options.default(field.name, "train"), field.name


def test_python_api_defaults_are_the_tables():
    from utils.evaluation import evaluate
    from utils.inference.detector import Detector

    signature = inspect.signature(Detector.__init__).parameters
    for name, value in options.detection_defaults("predict").items():
        assert signature[name].default == value, name
    for function in (evaluate.evaluate_detector, evaluate.evaluate_map_out, evaluate.evaluate_data):
        parameters = inspect.signature(function).parameters
        assert parameters["metric"].default == options.default("metric", "eval")
        assert parameters["score_threshold"].default == options.default("score_threshold", "eval")
        assert parameters["iou_thresholds"].default == (0.5,)


def test_training_map_is_measured_like_get_map(tmp_path):
    """The evaluator train.py uses builds its detector with get_map.py's defaults."""
    from nets import yolo_body
    from utils.config import load_anchors
    from utils.training.map_evaluator import MapEvaluator
    from utils.training.settings import TrainSettings

    seen = {}

    class FakeEvaluate:
        @staticmethod
        def evaluate_detector(detector, samples, class_names, progress, batch_size):
            seen.update(
                conf=detector.conf,
                nms_iou=detector.nms_iou,
                max_boxes=detector.max_boxes,
                letterbox=detector.letterbox,
            )
            return {"voc": {"0.5": {"mAP": 0.25}}}

    body = yolo_body((128, 128), num_classes=1, alpha=0.25)
    settings = TrainSettings(input_size=128, save_dir=str(tmp_path))
    run = MapEvaluator(body, ["sample"], ["thing"], load_anchors(), settings, FakeEvaluate)
    assert run(1) == 0.25
    assert seen == options.detection_defaults("eval")


def test_anchor_mask_and_backbone_list_have_one_home():
    """Only nets/anchors.py spells out the anchor mask; no module lists the backbones by hand."""
    sources = [
        p
        for p in glob.glob(os.path.join(ROOT, "**", "*.py"), recursive=True)
        if "/tests/" not in p and "/.venv/" not in p and "/.ci-venv/" not in p
    ]
    for path in sources:
        text = open(path, encoding="utf8").read()
        if not path.endswith(os.path.join("nets", "anchors.py")):
            assert "(6, 7, 8)" not in text, path
        if not path.endswith(os.path.join("nets", "backbones", "__init__.py")):
            assert "mobilenetv1, mobilenetv2" not in text, path


def test_reading_options_and_the_registry_does_not_import_tensorflow():
    """Parsers, defaults and backbone facts are plain Python: --help and get_map.py --map-out
    never pay for a TensorFlow import."""
    import subprocess
    import sys

    code = (
        "import sys, get_map, train, predict, nets, utils.options, utils.hub\n"
        "for script in (get_map, train, predict): script.build_parser()\n"
        "nets.get_backbone('ghostnet').pretrained_file(1.0)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
