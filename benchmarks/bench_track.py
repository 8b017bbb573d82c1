"""Every registered tracker on every MOT15 sequence's public detections: accuracy and speed.

Each tracker runs on each sequence's det.txt (the Faster R-CNN detections published with SORT)
at the sequence's frame rate, and its tracks are scored against gt.txt as track_eval.py scores
them. fps counts frames per second of the tracking alone: perf_counter around the loop over the
frames; reading, writing the rows and scoring excluded. A last row per tracker combines the
sequences as the benchmarks do (counts summed, scores recomputed from the sums; fps over all
frames).

    python benchmarks/bench_track.py [--data ../shared/tracking/mot15] [--trackers sort ...]
        [--high 0.8 --new 0.8] [--frames ../shared/tracking/mot17_frames/MOT17-04-FRCNN]

End to end, the same trackers follow the people of the real MOT17-04 frames found by the
detector (mobilenetv1-0.25 with its VOC weights, 960x544 input, the pipeline of predict.py):
fps there is frames per second of the whole run (reading, detecting, tracking, writing the MOT
file), the model built and warmed up before the clock starts.

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
DEFAULT_FRAMES = os.path.join(
    os.path.dirname(ROOT), "shared", "tracking", "mot17_frames", "MOT17-04-FRCNN"
)
DEFAULT_WEIGHTS = os.path.join(os.path.dirname(ROOT), "shared", "weights")
E2E_INPUT = (544, 960)
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
    parser.add_argument(
        "--frames",
        default=DEFAULT_FRAMES if os.path.isdir(DEFAULT_FRAMES) else None,
        help="a MOT17 sequence folder with img1/ and gt/gt.txt for the end-to-end table "
        "('' to skip)",
    )
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
    if args.frames:
        end_to_end(args.frames, args.trackers, settings)


def end_to_end(sequence, trackers, settings):
    """Detector + tracker over a MOT17 sequence's frames (img1/), scored on its gt.txt."""
    import tempfile

    from utils.data.images import load_image
    from utils.inference import jobs
    from utils.inference.detector import Detector
    from utils.inference.settings import PredictSettings
    from utils.inference.sources import open_source

    frames = os.path.join(sequence, "img1")
    weights = os.path.join(DEFAULT_WEIGHTS, "yolov4_mobilenet_v1_025_voc.h5")
    detector = Detector.from_options("mobilenetv1", 0.25, weights, conf=0.1, input_size=E2E_INPUT)
    first = sorted(os.listdir(frames))[0]
    detector.detect(load_image(os.path.join(frames, first)))  # trace the graph: not timed
    count = len(os.listdir(frames))
    gt = read_mot(os.path.join(sequence, "gt", "gt.txt"), "gt")
    gt = gt.select(gt.frames <= count)
    rows = []
    for tracker in trackers:
        with tempfile.TemporaryDirectory() as folder:
            predict = PredictSettings(
                save_dir=folder,
                save_mot=os.path.join(folder, "{class}.txt"),
                track=tracker,
                track_high=settings.high,
                track_new=settings.new,
                quiet=True,
            )
            start = time.perf_counter()
            jobs.predict_source(detector, open_source(frames), predict, log=lambda m: None)
            elapsed = time.perf_counter() - start
            tracks = read_mot(os.path.join(folder, "person.txt"), "pred")
        metrics = evaluate_tracks(gt, tracks)
        name = os.path.basename(sequence.rstrip("/"))
        rows.append([name, tracker, *metric_cells(metrics, COLUMNS), f"{count / elapsed:.1f}"])
    print(
        f"\nend to end: mobilenetv1-0.25 (VOC weights, input {E2E_INPUT[1]}x{E2E_INPUT[0]}) + "
        f"tracker on the first {count} frames, people only"
    )
    print(text_table(["sequence", "tracker", *COLUMNS, "fps"], rows, labels=2))


if __name__ == "__main__":
    main()
