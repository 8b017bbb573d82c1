"""The options of the tools that run a model on images, videos and streams: predict.py (with
tracking and counting), track_eval.py, benchmark.py and serve.py."""

from utils import formats as model_formats
from utils.options.base import ANY_VALUE, Option, PerMode, Writes

# predict.py's modes that write results (--mode fps only measures).
_WRITING_MODES = {"mode": ("predict", "heatmap")}

INFERENCE_TABLE = {
    # ---------------------------------------------------------------- predict.py
    "source": Option(
        None,
        "image file, folder, glob pattern ('photos/*.jpg'), text file listing images, video "
        "file, camera index such as 0, or rtsp:// or http(s):// stream "
        "(default: a sample photo shipped with matplotlib)",
    ),
    "mode": Option(
        "predict",
        "predict: draw and save detections; fps: time end-to-end latency; "
        "heatmap: save an objectness heat map",
        choices=("predict", "fps", "heatmap"),
    ),
    "save_dir": Option(
        PerMode(predict="img_out", train="logs"),
        PerMode(predict="where drawn results are saved", train="where checkpoints and logs go"),
        writes=PerMode(predict=Writes("folder", when=_WRITING_MODES), train=Writes("folder")),
    ),
    "json": Option(
        None,
        PerMode(
            predict="also write machine-readable results to FILE",
            track_eval="also write the metrics and settings as JSON to FILE",
        ),
        metavar="FILE",
        writes=PerMode(predict=Writes("file", when=_WRITING_MODES), track_eval=Writes("file")),
    ),
    "crop": Option(
        False,
        "save each detected object as an image in SAVE_DIR/crops/",
        action="store_true",
        writes=Writes("folder", when={"mode": ("predict",)}, under="save_dir", subfolder="crops"),
    ),
    "count": Option(False, "print the number of objects per class", action="store_true"),
    "save_txt": Option(
        False,
        "save YOLO-format labels (class cx cy w h, fractions of the image) per image or "
        "video frame in SAVE_DIR/labels/",
        action="store_true",
        writes=Writes("folder", when={"mode": ("predict",)}, under="save_dir", subfolder="labels"),
    ),
    "vid_stride": Option(1, "detect on every Nth frame of a video or stream", type=int),
    "stream_mode": Option(
        None,
        "latest: a reader thread keeps only the newest frame, so a slow model never falls "
        "behind real time (dropped frames are counted); all: every frame (default: latest "
        "for cameras and streams, all for files)",
        choices=("latest", "all"),
    ),
    "reconnect": Option(
        5, "times a dropped camera or stream is reopened (with back-off) before giving up", type=int
    ),
    # ---------------------------------------------------------------- tracking
    "track": Option(
        None,
        "follow objects across video frames with a tracker (bytetrack when given alone): "
        "track ids in the JSON, on the drawing and in --save-mot",
        nargs="?",
        const="bytetrack",
        metavar="TRACKER",
    ),
    "tracker": Option("bytetrack", "the tracker run on --det", metavar="TRACKER"),
    # Seconds, not frames: a lost object is waited for the same time at any frame rate.
    "track_buffer": Option(
        1.0, "seconds a lost track is kept to be found again", type=float, metavar="SECONDS"
    ),
    "track_high": Option(
        None,
        "detections scoring at least this are matched to tracks first, the rest in a second "
        "pass (default: the tracker's, 0.5 for bytetrack)",
        type=float,
    ),
    "track_new": Option(
        None,
        "the lowest score that starts a new track (default: the tracker's, 0.6 for bytetrack)",
        type=float,
    ),
    "track_match": Option(
        None,
        "the lowest IoU between a detection and a track's predicted box to match them "
        "(default: the tracker's, 0.2 for bytetrack)",
        type=float,
    ),
    "track_min_frames": Option(
        None,
        "frames in a row a new object must be seen before it gets a track id (default: the "
        "tracker's, 2 for bytetrack)",
        type=int,
    ),
    "save_mot": Option(
        None,
        "write the tracks as MOT Challenge results (frame, id, left, top, width, height, "
        "score, -1, -1, -1; frames from 1); a {class} in FILE writes one file per class",
        metavar="FILE",
        writes=Writes("file", when={"mode": ("predict",)}),
    ),
    "line": Option(
        None,
        "count tracked objects crossing the line x1,y1,x2,y2 in each direction, per class "
        "(integers are pixels, numbers with a point fractions of the frame; repeatable)",
        action="append",
        metavar="X1,Y1,X2,Y2",
    ),
    "zone": Option(
        None,
        "count tracked objects inside the polygon x1,y1,x2,y2,x3,y3,... per frame and in "
        "total (pixels or fractions as for --line; repeatable)",
        action="append",
        metavar="X1,Y1,...",
    ),
    # ---------------------------------------------------------------- track_eval.py
    "gt": Option(
        None,
        "MOT ground truth (gt.txt: MOT15, or MOT16/17 with class and consider columns)",
        metavar="FILE",
    ),
    "pred": Option(
        None,
        "MOT tracker results to score; with --det, where the tracks are written",
        metavar="FILE",
        writes=Writes("file", when={"det": (ANY_VALUE,)}),
    ),
    "det": Option(
        None,
        "MOT detections (det.txt) to run --tracker on, as tracking benchmarks compare trackers",
        metavar="FILE",
    ),
    "frame_rate": Option(
        None,
        "frames per second of the sequence (default: seqinfo.ini beside the file, else 30)",
        type=float,
    ),
    "iou_threshold": Option(
        0.5, "IoU at which a track box matches a ground-truth box (CLEAR and identity)", type=float
    ),
    "show": Option(False, "show results in a window", action="store_true"),
    "runs": Option(
        PerMode(predict=100, benchmark=20),
        PerMode(
            predict="timed runs in --mode fps",
            benchmark="timed runs per format (the median is reported)",
        ),
        type=int,
    ),
    # PIL's own guard is 89 megapixels; 100 admits every camera sensor sold today.
    "max_pixels": Option(
        100_000_000,
        "refuse images with more pixels than this (a guard "
        "against decompression bombs and out-of-memory)",
        type=int,
        metavar="N",
    ),
    "quiet": Option(
        False,
        PerMode(
            predict="print less",
            train="one line per epoch, no progress bar",
            serve="no access log",
        ),
        action="store_true",
    ),
    # ---------------------------------------------------------------- benchmark.py
    "files": Option(
        None,
        "measure these exported files (and --weights' .h5, if given) instead of exporting",
        nargs="+",
        metavar="FILE",
    ),
    "bench_formats": Option(
        ["keras", *(f.name for f in model_formats.model_formats())],
        "formats to export and measure (keras: the .h5 itself)",
        nargs="+",
        choices=("keras", *(f.name for f in model_formats.model_formats())),
    ),
    "calib_split": Option(
        "train", "split the int8 models are calibrated on (export.py's default: the training one)"
    ),
    # ---------------------------------------------------------------- serve.py
    "host": Option(
        "127.0.0.1",
        "address to listen on; any other than loopback needs --api-key (or $YOLO_LITE_API_KEY) "
        "or --no-auth",
    ),
    "port": Option(8000, "port to listen on (0: any free port, printed at start)", type=int),
    # Measured by benchmarks/bench_serve.py on 2 cores: see the README's Serve section.
    "max_batch": Option(
        8,
        "images per run of the model, gathered from concurrent requests (1: no batching)",
        type=int,
    ),
    "max_wait_ms": Option(
        5.0,
        "how long the first request of a batch waits for others to join it (milliseconds)",
        type=float,
    ),
    "max_queue": Option(
        64,
        "requests admitted at once (being read, waiting or in the model); one more is "
        "answered 503 with Retry-After",
        type=int,
    ),
    "max_upload_mb": Option(
        20.0, "largest upload accepted (MB); a larger one is answered 413", type=float
    ),
    "request_timeout": Option(
        30.0, "seconds a request may wait for its result; then it is answered 504", type=float
    ),
    "api_key": Option(
        None,
        "key every /v1 and /metrics request must send (header 'Authorization: Bearer KEY' or "
        "'X-API-Key: KEY'); default $YOLO_LITE_API_KEY",
        metavar="KEY",
    ),
    "no_auth": Option(
        False,
        "serve a non-loopback address without an API key (anyone who reaches it may use it)",
        action="store_true",
    ),
}
