"""One command-line regime for every script: one `error:` line and exit 2 for a bad input,
tracebacks for bugs, 130 for Ctrl-C."""

import importlib
import os
import subprocess
import sys

import pytest

from nets.errors import UserError
from tests.conftest import ROOT
from utils.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR, ArgumentParser, run_cli

# Per script: a flag value argparse rejects, and one that only the script's own check rejects.
BAD_FLAGS = {
    "predict": (["--max-boxes", "many"], ["--conf", "1.5"], "--conf must be in [0, 1]"),
    "get_map": (
        ["--metric", "f1"],
        ["--map-out", ".", "--score-threshold", "nan"],
        "--score-threshold must be in [0, 1]",
    ),
    "train": (
        ["--epochs", "1.5"],
        ["--data", ".", "--batch-size", "0"],
        "--batch-size must be at least 2",
    ),
    "summary": (
        ["--num-classes", "x"],
        ["--num-classes", "0"],
        "--num-classes must be in [1, 10000]",
    ),
    "kmeans_for_anchors": (
        ["--data", ".", "-k", "nine"],
        ["--data", ".", "-k", "-1"],
        "--num-anchors must be at least 1",
    ),
    "voc_annotation": (
        ["--data", ".", "--seed", "x"],
        ["--data", ".", "--train-percent", "2"],
        "--train-percent must be in [0, 1]",
    ),
    "export": (["--format", "pb"], ["--nms-iou", "0"], "--nms-iou must be in (0, 1]"),
    "benchmark": (
        ["--runs", "many"],
        ["--data", ".", "--runs", "0"],
        "--runs must be in [1, 100000]",
    ),
    "serve": (["--port", "http"], ["--max-batch", "0"], "--max-batch must be in [1, 1024]"),
    "convert_weights": (
        ["--alpha", "x", "--checkpoint", "c", "--out", "o"],
        ["--checkpoint", "c", "--out", "o"],
        "timm checkpoints convert for",
    ),
    "track_eval": (
        ["--gt", "g", "--pred", "p", "--iou-threshold", "x"],
        ["--gt", "g", "--pred", "p", "--iou-threshold", "2"],
        "--iou-threshold must be in [0, 1]",
    ),
    "check_dataset": (
        ["--data", ".", "--seed", "x"],
        ["--data", ".", "--max-problems", "-1"],
        "--max-problems must be at least 0",
    ),
    "convert_dataset": (
        ["--data", ".", "--to", "yolo", "--out", "o", "--max-problems", "x"],
        ["--data", ".", "--to", "yolo", "--out", "o", "--max-problems", "-1"],
        "--max-problems must be at least 0",
    ),
}


def _one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("script", sorted(BAD_FLAGS))
def test_bad_flag_values_give_one_error_line_and_exit_2(script, capsys):
    main = importlib.import_module(script).main
    parse_error, check_error, message = BAD_FLAGS[script]
    with pytest.raises(SystemExit) as info:
        main(parse_error)
    assert info.value.code == EXIT_USER_ERROR
    assert "invalid" in _one_error_line(capsys.readouterr().err)
    assert main(check_error) == EXIT_USER_ERROR
    assert message in _one_error_line(capsys.readouterr().err)


def test_a_script_run_as_a_process_prints_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "get_map.py"), "--map-out", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == EXIT_USER_ERROR
    assert "no such folder" in _one_error_line(result.stderr)


def _parser():
    parser = ArgumentParser(prog="tool")
    parser.add_argument("--x", type=int, default=0)
    return parser


def test_user_errors_bugs_and_interrupts(capsys):
    def user_error(args):
        raise UserError("the file\nis wrong")

    def bug(args):
        raise RuntimeError("a bug")

    def interrupted(args):
        raise KeyboardInterrupt

    assert run_cli(user_error, _parser(), [], quiet_tensorflow=False) == EXIT_USER_ERROR
    assert _one_error_line(capsys.readouterr().err) == "error: the file is wrong"
    with pytest.raises(RuntimeError, match="a bug"):
        run_cli(bug, _parser(), [], quiet_tensorflow=False)
    assert run_cli(interrupted, _parser(), [], quiet_tensorflow=False) == EXIT_INTERRUPTED
    assert run_cli(lambda args: args.x, _parser(), ["--x", "3"], quiet_tensorflow=False) == 3


def test_full_disk_is_a_user_error_not_a_bug(capsys):
    import errno

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device")

    assert run_cli(full, _parser(), [], quiet_tensorflow=False) == EXIT_USER_ERROR
    assert "No space left" in _one_error_line(capsys.readouterr().err)
