"""Tracking metrics on the real MOT15 and MOT17 ground truths: perfect tracks score 100, the
MOT Challenge's preprocessing (ignored rows, distractors), and two independent references."""

import numpy as np
import pytest

from tests.conftest import shared_path
from utils.tracking import TrackerSettings, TrackingError
from utils.tracking.metrics import (
    TABLE_COLUMNS,
    combine_metrics,
    evaluate_tracks,
    metrics_table,
)
from utils.tracking.mot import parse_mot, read_mot, write_mot
from utils.tracking.offline import track_detections

SEQUENCES = ("ADL-Rundle-6", "ETH-Bahnhof", "KITTI-13", "TUD-Campus", "TUD-Stadtmitte", "MOT17")


def gt_path(sequence):
    if sequence == "MOT17":
        return shared_path("tracking", "mot17_frames", "MOT17-04-FRCNN", "gt", "gt.txt")
    return shared_path("tracking", "mot15", sequence, "gt.txt")


def as_tracks(path, mask):
    """The rows ``mask`` of a ground-truth file, read as a tracker's results (box values
    exactly as in the file)."""
    return read_mot(path, "pred").select(mask)


def assert_perfect(m):
    assert (m.hota, m.det_a, m.ass_a, m.mota, m.motp, m.idf1) == pytest.approx((100.0,) * 6)
    assert (m.idsw, m.fp, m.fn) == (0, 0, 0)


@pytest.mark.parametrize("sequence", SEQUENCES)
def test_the_ground_truth_as_tracks_scores_100(sequence):
    gt = read_mot(gt_path(sequence), "gt")
    # The scored rows, and for MOT17 the static people (a distractor class) too: predictions
    # on them are taken out of the count, neither hits nor false positives.
    tracks = as_tracks(gt_path(sequence), gt.considered | gt.distractors)
    m = evaluate_tracks(gt, tracks)
    assert_perfect(m)
    assert m.tp == m.gt_boxes == gt.considered.sum()
    assert m.gt_ids == len(np.unique(gt.ids[gt.considered]))
    assert m.frames == gt.last_frame


def test_mot17_ignored_rows_are_no_misses_and_other_classes_no_distractors():
    gt = read_mot(gt_path("MOT17"), "gt")
    # Cars, bicycles, occluders (consider 0) are no misses: the pedestrians alone score 100.
    assert_perfect(evaluate_tracks(gt, as_tracks(gt_path("MOT17"), gt.considered)))
    # A prediction on a car (class 3) is a false positive: only distractor classes excuse it.
    car = np.flatnonzero(gt.classes == 3)[:1]
    with_car = gt.considered.copy()
    with_car[car] = True
    m = evaluate_tracks(gt, as_tracks(gt_path("MOT17"), with_car))
    assert (m.fp, m.fn, m.tp) == (1, 0, 336)


def test_mot15_ignored_rows_are_no_misses_but_predictions_on_them_count():
    # MOT15 has no distractor classes: TrackEval counts a box on an ignored row as a FP.
    gt = read_mot(gt_path("KITTI-13"), "gt")
    m = evaluate_tracks(gt, read_mot(gt_path("KITTI-13"), "pred"))
    assert (m.fn, m.fp) == (0, (~gt.considered).sum())


def test_mot17_agrees_with_the_trackers_librarys_own_evaluation(tmp_path):
    """Where the library's loader reads the layout right (MOT17), its whole evaluation and
    ours give the same numbers, on ByteTrack's tracks of the public detections."""
    from trackers.eval import evaluate_mot_sequence

    gt = read_mot(gt_path("MOT17"), "gt")
    det = read_mot(gt_path("MOT17").replace("gt/gt.txt", "det/det.txt"), "det")
    tracks = track_detections(det.select(det.frames <= gt.last_frame), "bytetrack", None, 30)
    write_mot(tmp_path / "tracks.txt", tracks)
    ours = evaluate_tracks(gt, tracks)
    theirs = evaluate_mot_sequence(
        gt_path("MOT17"), tmp_path / "tracks.txt", metrics=["CLEAR", "HOTA", "Identity"]
    )
    assert ours.mota == pytest.approx(100 * theirs.CLEAR.MOTA, abs=1e-9)
    assert ours.hota == pytest.approx(100 * theirs.HOTA.HOTA, abs=1e-9)
    assert ours.idf1 == pytest.approx(100 * theirs.Identity.IDF1, abs=1e-9)
    assert (ours.idsw, ours.fp, ours.fn) == (
        theirs.CLEAR.IDSW,
        theirs.CLEAR.CLR_FP,
        theirs.CLEAR.CLR_FN,
    )
    assert 0 < ours.mota < 100


@pytest.mark.parametrize("sequence", ["TUD-Campus", "TUD-Stadtmitte"])
def test_py_motmetrics_agrees(sequence, monkeypatch):
    """py-motmetrics, an independent implementation of CLEAR MOT and IDF1, on the tracker
    output its own tests use."""
    mm = pytest.importorskip("motmetrics")
    # motmetrics 1.4.0 (the latest) still calls np.asfarray, which NumPy 2 removed.
    if not hasattr(np, "asfarray"):
        monkeypatch.setattr(np, "asfarray", lambda a: np.asarray(a, float), raising=False)
    gt_file = gt_path(sequence)
    pred_file = shared_path("tracking", "mot15", sequence, "pymotmetrics_test_tracker_output.txt")
    accumulator = mm.utils.compare_to_groundtruth(
        mm.io.loadtxt(gt_file, fmt="mot15-2D", min_confidence=1),
        mm.io.loadtxt(pred_file, fmt="mot15-2D"),
        "iou",
        distth=0.5,
    )
    theirs = mm.metrics.create().compute(
        accumulator,
        metrics=["mota", "motp", "idf1", "num_switches", "num_false_positives", "num_misses"],
        name=sequence,
    )
    theirs = theirs.iloc[0]
    ours = evaluate_tracks(read_mot(gt_file, "gt"), read_mot(pred_file, "pred"))
    assert ours.mota / 100 == pytest.approx(theirs["mota"], abs=1e-6)
    assert ours.idf1 / 100 == pytest.approx(theirs["idf1"], abs=1e-6)
    assert 1 - ours.motp / 100 == pytest.approx(theirs["motp"], abs=1e-6)  # theirs: 1 - IoU
    assert ours.idsw == theirs["num_switches"]
    assert (ours.fp, ours.fn) == (theirs["num_false_positives"], theirs["num_misses"])


def test_an_id_twice_in_a_frame_is_refused():
    gt = parse_mot(["1,1,0,0,10,10,1,-1,-1,-1"], "gt", "gt.txt")
    tracks = parse_mot(["1,4,0,0,10,10,1", "1,4,5,5,10,10,1"], "pred", "tracks.txt")
    with pytest.raises(TrackingError, match="tracks.txt, lines 1 and 2: id 4 twice in frame 1"):
        evaluate_tracks(gt, tracks)


def test_frames_run_to_the_last_of_either_file():
    gt = parse_mot(["1,1,0,0,10,10,1,-1,-1,-1", "2,1,0,0,10,10,1,-1,-1,-1"], "gt")
    tracks = parse_mot(["1,1,0,0,10,10,1", "2,1,0,0,10,10,1", "5,1,0,0,10,10,1"], "pred")
    m = evaluate_tracks(gt, tracks)
    assert (m.frames, m.tp, m.fp, m.fn) == (5, 2, 1, 0)


def test_no_tracks_are_all_misses():
    gt = read_mot(gt_path("TUD-Campus"), "gt")
    det = read_mot(gt_path("TUD-Campus").replace("gt.txt", "det.txt"), "det")
    # No detection scores 1.0 exactly, so nothing starts a track.
    none = track_detections(det, "sort", TrackerSettings(new=1.0), 25)
    m = evaluate_tracks(gt, none)
    assert len(none) == 0 and (m.tp, m.fn, m.fp, m.mota) == (0, 359, 0, 0.0)


def test_combined_sequences_sum_the_counts():
    results = []
    for sequence in ("TUD-Campus", "TUD-Stadtmitte"):
        gt = read_mot(gt_path(sequence), "gt")
        pred = shared_path("tracking", "mot15", sequence, "pymotmetrics_test_tracker_output.txt")
        results.append(evaluate_tracks(gt, read_mot(pred, "pred")))
    total = combine_metrics(results)
    for name in ("tp", "fp", "fn", "idsw", "frames", "gt_boxes"):
        assert getattr(total, name) == sum(getattr(r, name) for r in results), name
    assert total.mota == pytest.approx(100 * (total.tp - total.fp - total.idsw) / total.gt_boxes)
    assert combine_metrics(results[:1]) == results[0]
    table = metrics_table([(("TUD-Campus", "x"), results[0]), (("all", "x"), total)])
    assert table.splitlines()[0].split() == ["sequence", "tracker", *TABLE_COLUMNS]
    assert f"{results[0].mota:.1f}" in table.splitlines()[2]
