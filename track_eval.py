"""Score multi-object tracks against MOT Challenge ground truth: HOTA, MOTA, IDF1.

Examples:
    python track_eval.py --gt MOT17-04/gt/gt.txt --pred results/MOT17-04.txt
    python track_eval.py --det TUD-Campus/det.txt --tracker bytetrack --pred tracks.txt \\
        --gt TUD-Campus/gt.txt

With --det, the tracker runs on the detections (every frame, at the frame rate of the
sequence's seqinfo.ini) and its tracks are written to --pred; with --gt they are scored in the
same run. --det without --pred keeps the tracks in memory: it prints how many there are, and
scores them when --gt is given.
"""

import os
import sys
import time

from utils import files
from utils.cli import ArgumentParser, UsageError, check_range, run_cli
from utils.options import add_options

MODE = "track_eval"
_TRACKER_FLAGS = ("track_buffer", "track_high", "track_new", "track_match", "track_min_frames")


def build_parser():
    from utils.tracking import describe_trackers

    parser = ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Metrics are those of the MOT Challenge's evaluation (TrackEval), in percent.",
    )
    add_options(parser.add_argument_group("files"), ("gt", "pred", "det"), MODE)
    add_options(
        parser.add_argument_group("tracker (with --det)"),
        ("tracker", "frame_rate", *_TRACKER_FLAGS),
        MODE,
        tracker=f"the tracker run on --det: {describe_trackers()}",
    )
    add_options(parser.add_argument_group("scoring"), ("iou_threshold", "json"), MODE)
    return parser


def check_args(args):
    """The flags' values and combinations, before any file is read."""
    from utils.tracking import tracker_names

    check_range(args.iou_threshold, "--iou-threshold", 0.0, 1.0)
    if args.frame_rate is not None:
        check_range(args.frame_rate, "--frame-rate", 0.0, low_open=True)
    check_range(args.track_buffer, "--track-buffer", 0.0)
    for name in ("track_high", "track_new", "track_match"):
        if getattr(args, name) is not None:
            check_range(getattr(args, name), "--" + name.replace("_", "-"), 0.0, 1.0)
    if args.track_min_frames is not None:
        check_range(args.track_min_frames, "--track-min-frames", 1)
    if args.tracker not in tracker_names():
        raise UsageError(
            f"--tracker {args.tracker}: unknown tracker (choose from {', '.join(tracker_names())})"
        )
    if not args.det and not args.gt:
        raise UsageError("give --gt FILE with --pred FILE to score tracks, or --det FILE to track")
    if not args.det and not args.pred:
        raise UsageError("--gt needs --pred FILE (tracks to score) or --det FILE (to track)")
    if args.det and args.pred:
        for flag, other in (("--det", args.det), ("--gt", args.gt)):
            if other and os.path.realpath(other) == os.path.realpath(args.pred):
                raise UsageError(f"--pred {args.pred} would overwrite {flag}")


def tracker_settings(args):
    from utils.tracking import TrackerSettings

    return TrackerSettings(
        buffer_s=args.track_buffer,
        high=args.track_high,
        new=args.track_new,
        match_iou=args.track_match,
        min_frames=args.track_min_frames,
    )


def sequence_name(path):
    """The sequence a MOT file belongs to: its folder for gt.txt / det.txt (above gt/ or
    det/ as MOT17 lays them out), else the file's name."""
    path = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem not in ("gt", "det"):
        return stem
    folder = os.path.dirname(path)
    if os.path.basename(folder) in ("gt", "det"):
        folder = os.path.dirname(folder)
    return os.path.basename(folder) or stem


def run_tracker(args, report):
    """Track --det; returns the tracks (and writes them to --pred when given)."""
    from utils.tracking import get_tracker
    from utils.tracking.mot import read_mot, write_mot
    from utils.tracking.offline import sequence_frame_rate, tracked_frames, tracks_as_rows

    det = read_mot(args.det, "det")
    rate = args.frame_rate or sequence_frame_rate(args.det)
    settings = tracker_settings(args)
    get_tracker(args.tracker).build(settings, rate)  # the library's imports, not timed
    start = time.perf_counter()
    tracked = tracked_frames(det, args.tracker, settings, rate)
    seconds = time.perf_counter() - start
    tracks = tracks_as_rows(tracked, det, args.tracker)
    fps = det.last_frame / max(seconds, 1e-9)
    count = len(set(tracks.ids.tolist()))
    print(
        f"{args.tracker} on {args.det}: {count} tracks, {len(tracks)} of {len(det)} boxes, "
        f"{det.last_frame} frames at {rate:g} fps; {fps:.0f} frames/s"
    )
    merged = get_tracker(args.tracker).merged(settings)
    report.update(
        tracker=args.tracker,
        det=args.det,
        frame_rate=rate,
        settings={name: getattr(merged, name) for name in merged.__dataclass_fields__},
        tracks=count,
        boxes=len(tracks),
        tracker_fps=fps,
    )
    if args.pred:
        write_mot(args.pred, tracks)
        print(f"tracks -> {args.pred}")
    return tracks


def run(args):
    from utils.tracking.metrics import evaluate_tracks, metrics_table
    from utils.tracking.mot import read_mot

    check_args(args)
    report = {"gt": args.gt, "pred": args.pred}
    # The ground truth first: a bad file is reported before any tracking.
    gt = read_mot(args.gt, "gt") if args.gt else None
    if args.det:
        tracks = run_tracker(args, report)
        label = args.tracker
    else:
        tracks = read_mot(args.pred, "pred")
        label = os.path.splitext(os.path.basename(args.pred))[0]
    if gt is not None:
        metrics = evaluate_tracks(gt, tracks, args.iou_threshold)
        name = sequence_name(args.gt)
        print(metrics_table([((name, label), metrics)]))
        print(
            f"{metrics.frames} frames, {metrics.gt_ids} ground-truth ids "
            f"({metrics.gt_boxes} boxes, {gt.layout} layout), {metrics.pred_ids} predicted ids; "
            f"IoU threshold {args.iou_threshold:g}"
        )
        if tracks.last_frame > gt.last_frame:
            print(
                f"note: the tracks run to frame {tracks.last_frame}, the ground truth ends at "
                f"frame {gt.last_frame}: every box after it counts as a false positive"
            )
        report.update(sequence=name, iou_threshold=args.iou_threshold, metrics=metrics.as_dict())
    if args.json:
        files.write_json(args.json, report)
        print(f"metrics -> {args.json}" if gt is not None else f"summary -> {args.json}")
    return 0


def main(argv=None):
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
