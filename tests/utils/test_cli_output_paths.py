"""The check of every path a tool writes, run by ``run_cli`` before the tool starts."""

import os

import pytest

from utils.cli import (
    EXIT_USER_ERROR,
    UsageError,
    check_output_path,
    check_output_paths,
    output_paths,
    run_cli,
)
from utils.files import output_path_problem


@pytest.fixture
def places(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "folder").mkdir()
    os.symlink(tmp_path / "nowhere", tmp_path / "broken")
    return tmp_path


@pytest.mark.parametrize(
    "path, kind, problem",
    [
        ("folder", "folder", None),
        ("new/deeper", "folder", None),  # created later by the tool
        ("folder/results.json", "file", None),
        ("afile", "file", None),  # replaced
        ("new/results.json", "file", None),
        ("afile", "folder", "is a file, not a folder"),
        ("folder", "file", "is a folder, not a file"),
        ("afile/sub", "folder", "afile is a file, not a folder"),
        ("afile/sub/deeper", "folder", "afile is a file, not a folder"),
        ("afile/results.json", "file", "afile is a file, not a folder"),
        ("broken", "folder", "is a broken symbolic link"),
        ("broken/x.json", "file", "broken is a broken symbolic link"),
    ],
)
def test_output_path_problems(places, path, kind, problem):
    found = output_path_problem(str(places / path), kind)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.endswith(problem), found
    # Nothing is created, and the probe file is gone.
    assert sorted(os.listdir(places)) == ["afile", "broken", "folder"]
    assert os.listdir(places / "folder") == []


@pytest.mark.parametrize("path", ["/sys/yolo_out", "/proc/yolo_out", "/sys/a/b"])
def test_places_even_root_cannot_write(path):
    top = "/" + path.split("/")[1]
    if not os.path.isdir(top):
        pytest.skip(f"no {top} on this system")
    problem = output_path_problem(path, "folder")
    assert problem is not None and problem.startswith("cannot write in /")
    assert output_path_problem(path + "/results.json", "file").startswith("cannot write in /")


def test_an_empty_path_is_refused():
    assert output_path_problem("", "folder") == "an empty path"
    assert output_path_problem("", "file") == "an empty path"


def test_relative_paths_name_the_working_folder(places, monkeypatch):
    monkeypatch.chdir(places)
    assert output_path_problem("out", "folder") is None
    assert output_path_problem("results.json", "file") is None
    assert output_path_problem("afile/x", "folder") == "afile is a file, not a folder"


def test_error_names_the_flag_and_the_path(places):
    with pytest.raises(UsageError, match=r"^--save-dir .*afile: is a file, not a folder$"):
        check_output_path("--save-dir", str(places / "afile"), "folder")


def _args(parser, *argv):
    return parser.parse_args(list(argv))


def test_predict_paths_follow_the_mode_and_the_switches(places):
    import predict

    parser = predict.build_parser()
    save = str(places / "out")
    found = list(output_paths(parser, _args(parser, "--save-dir", save, "--json", "r.json")))
    assert [(f, p, k) for f, p, k, _ in found] == [
        ("--save-dir", save, "folder"),
        ("--json", "r.json", "file"),
    ]
    crop = list(output_paths(parser, _args(parser, "--save-dir", save, "--crop")))
    assert ("--crop", os.path.join(save, "crops"), "folder") in [c[:3] for c in crop]
    # --mode fps only measures: an unusable --save-dir or --json is no error.
    args = _args(parser, "--mode", "fps", "--save-dir", str(places / "afile"), "--json", "/sys/j")
    assert list(output_paths(parser, args)) == []
    check_output_paths(parser, args)


def test_kmeans_checks_its_anchor_file_and_plot(places):
    import kmeans_for_anchors

    parser = kmeans_for_anchors.build_parser()
    args = _args(parser, "--data", "x", "--out", str(places / "folder"))
    with pytest.raises(UsageError, match="^--out .*folder: is a folder, not a file$"):
        check_output_paths(parser, args)
    args = _args(parser, "--data", "x", "--plot", str(places / "afile" / "p.png"))
    with pytest.raises(UsageError, match="^--plot "):
        check_output_paths(parser, args)


def test_run_cli_checks_before_the_tool_runs(places, capsys):
    import get_map

    ran = []
    status = run_cli(
        ran.append, get_map.build_parser(), ["--map-out", "x", "--out", str(places / "afile")]
    )
    assert status == EXIT_USER_ERROR and ran == []
    assert capsys.readouterr().err.startswith("error: --out ")


def test_export_still_creates_its_out_folder(places):
    import export

    args = export.build_parser().parse_args(["--alpha", "0.25", "--out", str(places / "e" / "x")])
    export.check_args(args)
    assert os.path.isdir(places / "e" / "x")
    args = export.build_parser().parse_args(["--alpha", "0.25", "--out", str(places / "afile")])
    with pytest.raises(UsageError, match="^--out .*afile: is a file, not a folder$"):
        export.check_args(args)
