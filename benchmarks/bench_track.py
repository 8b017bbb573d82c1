"""Every registered tracker on every MOT15 sequence's public detections: accuracy and speed.

Each tracker runs on each sequence's det.txt (the Faster R-CNN detections published with SORT)
at the sequence's frame rate, and its tracks are scored against gt.txt as track_eval.py scores
them. fps counts frames per second of the tracking alone: perf_counter around the loop over the
frames; reading, writing the rows and scoring excluded. A last row per tracker combines the
sequences as the benchmarks do (counts summed, scores recomputed from the sums; fps over all
frames).

    python benchmarks/bench_track.py [--data ../shared/tracking/mot15] [--trackers sort ...]
        [--high 0.8 --new 0.8]

The project's tracker settings are set for YOLO scores; these detections score higher (median
0.99), so --high 0.8 --new 0.8 fits them better (tests/test_track_eval.py).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.tracking import TrackerSettings, get_tracker, tracker_names
from utils.tracking.metrics import combine_metrics, evaluate_tracks, metric_cells, text_table
from utils.tracking.mot import read_mot
from utils.tracking.offline import sequence_frame_rate, tracked_frames, tracks_as_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "tracking", "mot15")
COLUMNS = ("HOTA", "MOTA", "IDF1", "IDSW", "FP", "FN")


def sequences(folder):
    """The sequence folders of ``folder`` holding both det.txt and gt.txt, sorted."""
    return sorted(
        name
        for name in os.listdir(folder)
        if all(os.path.isfile(os.path.join(folder, name, f)) for f in ("det.txt", "gt.txt"))
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder of MOT15 sequences")
    parser.add_argument("--trackers", nargs="+", default=tracker_names(), choices=tracker_names())
    parser.add_argument("--high", type=float, help="--track-high for every tracker")
    parser.add_argument("--new", type=float, help="--track-new for every tracker")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        parser.error(f"--data {args.data}: no such folder (the MOT15 sequences of ../shared)")
    settings = TrackerSettings(high=args.high, new=args.new)
    names = sequences(args.data)
    data = {}
    for name in names:
        folder = os.path.join(args.data, name)
        gt = read_mot(os.path.join(folder, "gt.txt"), "gt")
        det = read_mot(os.path.join(folder, "det.txt"), "det")
        data[name] = gt, det, sequence_frame_rate(os.path.join(folder, "det.txt"))

    rows, totals = [], []
    for tracker in args.trackers:
        results, tracker_frames, seconds = [], 0, 0.0
        get_tracker(tracker).build(settings, 30.0)  # the library's imports, not timed
        for name in names:
            gt, det, rate = data[name]
            start = time.perf_counter()
            tracked = tracked_frames(det, tracker, settings, rate)
            elapsed = time.perf_counter() - start
            tracks = tracks_as_rows(tracked, det, tracker)
            metrics = evaluate_tracks(gt, tracks)
            results.append(metrics)
            tracker_frames += det.last_frame
            seconds += elapsed
            fps = det.last_frame / elapsed
            rows.append([name, tracker, *metric_cells(metrics, COLUMNS), f"{fps:.0f}"])
        combined = combine_metrics(results)
        totals.append(
            ["all", tracker, *metric_cells(combined, COLUMNS), f"{tracker_frames / seconds:.0f}"]
        )
    header = ["sequence", "tracker", *COLUMNS, "fps"]
    chosen = ", ".join(
        f"{flag} {value:g}"
        for flag, value in (("high", args.high), ("new", args.new))
        if value is not None
    )
    frames = sum(d[1].last_frame for d in data.values())
    chosen = chosen or "each tracker's defaults"
    print(f"{len(names)} sequences, {frames} frames; settings: {chosen}")
    print(text_table(header, rows + totals, labels=2))


if __name__ == "__main__":
    main()
