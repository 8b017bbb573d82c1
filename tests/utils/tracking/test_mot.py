"""MOT files: the layouts of the real MOT15 and MOT17 ground truths, results rows, bad files."""

import os

import numpy as np
import pytest

from tests.conftest import shared_path
from utils.tracking import TrackingError
from utils.tracking.mot import data_lines, mot_lines, parse_mot, read_mot, write_mot

MOT15 = ("ADL-Rundle-6", "ETH-Bahnhof", "KITTI-13", "TUD-Campus", "TUD-Stadtmitte")


def mot15(sequence, name="gt.txt"):
    return shared_path("tracking", "mot15", sequence, name)


def mot17(*parts):
    return shared_path("tracking", "mot17_frames", "MOT17-04-FRCNN", *parts)


@pytest.mark.parametrize("sequence", MOT15)
def test_mot15_rows_are_all_pedestrians_and_conf_0_is_ignored(sequence):
    path = mot15(sequence)
    table = np.loadtxt(path, delimiter=",")
    gt = read_mot(path, "gt")
    assert gt.layout == "mot15" and len(gt) == len(table)
    assert (gt.classes == 1).all()
    assert gt.considered.sum() == (table[:, 6] != 0).sum()
    np.testing.assert_array_equal(gt.considered, table[:, 6] != 0)
    np.testing.assert_array_equal(gt.boxes, table[:, 2:6])
    # Column 8 is -1 or a world coordinate: a loader reading it as MOT17's class column (and
    # keeping class 1) would keep none of these rows.
    assert (table[:, 7] == 1).sum() == 0


def test_eth_bahnhof_world_coordinates_are_not_a_class():
    gt = read_mot(mot15("ETH-Bahnhof"), "gt")
    assert gt.layout == "mot15" and not gt.distractors.any()
    assert gt.considered.sum() == 5415 and len(gt) == 7670  # counted with awk


def test_mot17_ground_truth_has_class_and_consider_columns():
    path = mot17("gt", "gt.txt")
    table = np.loadtxt(path, delimiter=",")
    gt = read_mot(path, "gt")
    assert gt.layout == "mot17"
    np.testing.assert_array_equal(gt.classes, table[:, 7])
    np.testing.assert_array_equal(gt.considered, (table[:, 6] == 1) & (table[:, 7] == 1))
    # Class 7 (static person) is the only distractor class in these 8 frames.
    np.testing.assert_array_equal(gt.distractors, table[:, 7] == 7)
    assert gt.considered.sum() == 336 and gt.distractors.sum() == 32


def test_public_detections_of_mot17_have_7_columns():
    det = read_mot(mot17("det", "det.txt"), "det")
    assert det.layout == "results" and det.considered.all() and (det.ids == -1).all()
    assert det.last_frame == 1050


def test_mot_lines_are_results_rows():
    lines = mot_lines(
        3, np.array([7, 8]), np.array([[10, 20, 40.5, 80.25], [0, 0, 1, 1]]), [0.9, 1]
    )
    assert lines == [
        "3,7,10.00,20.00,30.50,60.25,0.900000,-1,-1,-1",
        "3,8,0.00,0.00,1.00,1.00,1.000000,-1,-1,-1",
    ]
    data = parse_mot(lines, "pred")
    np.testing.assert_array_equal(data.boxes, [[10, 20, 30.5, 60.25], [0, 0, 1, 1]])
    assert mot_lines(1, np.zeros(0), np.zeros((0, 4)), np.zeros(0)) == []


def test_write_mot_writes_sorted_rows_atomically(tmp_path):
    data = parse_mot(["2 5 1 1 2 2 0.5", "1 9 0 0 1 1", "", "1 3 0 0 1 1"], "pred")
    assert data.scores.tolist() == [0.5, 1.0, 1.0]  # whitespace separated, no score: 1
    path = tmp_path / "out" / "tracks.txt"
    write_mot(path, data)
    assert [line.split(",")[:2] for line in path.read_text().splitlines()] == [
        ["1", "3"],
        ["1", "9"],
        ["2", "5"],
    ]
    assert os.listdir(tmp_path / "out") == ["tracks.txt"]  # no temporary left
    write_mot(path, data_lines(data)[:1])
    assert path.read_text().count("\n") == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty, no MOT rows"),
        ("\n  \n", "empty, no MOT rows"),
        ("1,1,10,10,5,5,1,-1,-1,-1\n2,1,10,10\n", "line 2: 4 values, a MOT row needs at least 6"),
        ("1,1,10,ten,5,5,1\n", "line 1: 'ten' is not a number"),
        ("1,1,10,10,5,nan,1\n", "line 1: a value is not finite"),
        ("0,1,10,10,5,5,1\n", "line 1: the frame must be a whole number from 1"),
        ("1.5,1,10,10,5,5,1\n", "line 1: the frame must be a whole number from 1"),
        ("1e9,1,10,10,5,5,1\n", "line 1: the frame must be a whole number from 1 to 1000000"),
        ("1,1.5,10,10,5,5,1\n", "line 1: the id must be a whole number"),
        ("\x00\xff\xfe garbage\n", "line 1"),
    ],
)
def test_bad_files_name_the_file_and_the_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(TrackingError, match=message) as info:
        read_mot(path, "pred")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(TrackingError, match="missing.txt: file not found"):
        read_mot(tmp_path / "missing.txt", "gt")
    with pytest.raises(TrackingError, match="is a folder"):
        read_mot(tmp_path, "det")


def test_a_ground_truth_keeps_one_width():
    with pytest.raises(TrackingError, match="line 3: 7 values where the first row has 9"):
        parse_mot(["1,1,0,0,5,5,1,1,1", "", "2,1,0,0,5,5,1"], "gt", "gt.txt")


def test_detections_given_as_tracks_are_refused():
    with pytest.raises(TrackingError, match="is it a detections file"):
        parse_mot(["1,-1,0,0,5,5,0.9,-1,-1,-1"], "pred")
    assert len(parse_mot(["1,-1,0,0,5,5,0.9,-1,-1,-1"], "det")) == 1
