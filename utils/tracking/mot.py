"""MOT Challenge text files: ground truth, tracker results and public detections.

One row per box, ``frame, id, left, top, width, height, ...`` (frames from 1, pixels). What
follows the box depends on the file:

* MOT16/17/20 ground truth, 9 columns: ``consider, class, visibility``. Only pedestrians
  (class 1) with ``consider`` 1 are scored; boxes of the distractor classes (person on a
  vehicle, static person, distractor, reflection) take the predictions that cover them out of
  the count; every other class is ignored.
* MOT15 ground truth, 10 columns: ``conf, x, y, z`` where x, y, z are -1 or world coordinates.
  There is no class column: every row is a pedestrian, and rows with conf 0 are ignored.
  (Reading column 8 as a class, as loaders written for MOT17 do, drops nearly all of MOT15.)
* Results and detections: ``score, -1, -1, -1`` (6 columns or more; the id is -1 in det.txt).

Values are separated by commas or white space; blank lines are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from utils import files
from utils.tracking import TrackingError

ROLES = ("gt", "pred", "det")
PEDESTRIAN = 1
# MOT17's classes whose matched predictions are removed instead of counted as false positives.
DISTRACTOR_CLASSES = (2, 7, 8, 12)
# Frames are counted one by one when scoring: a frame number past this is a broken file (a
# million frames is more than nine hours at 30 fps).
MAX_FRAME = 1_000_000
# The numbers every row starts with.
_MIN_COLUMNS = 6
_ROLE_NAMES = {"gt": "ground truth", "pred": "tracker results", "det": "detections"}


@dataclass(frozen=True)
class MotData:
    """The rows of one MOT file as numpy columns (row order kept).

    ``layout``: ``"mot17"`` (ground truth with consider/class columns), ``"mot15"`` (ground
    truth without a class column) or ``"results"`` (tracker results and detections).
    ``scores``: column 7 (for ground truth its consider/conf flag), 1 where absent.
    ``classes``: the ground truth's class (1 for every MOT15 row); -1 for results.
    ``considered``: rows that are scored: ground truth that is neither ignored nor of another
    class; results with a track id (a negative id is an unconfirmed track, or a detection).
    ``lines``: each row's line number in the file, for messages.
    """

    path: str
    role: str
    layout: str
    frames: np.ndarray  # (N,) int64, from 1
    ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float64: left, top, width, height
    scores: np.ndarray  # (N,) float64
    classes: np.ndarray  # (N,) int64
    considered: np.ndarray  # (N,) bool
    lines: np.ndarray  # (N,) int64, from 1

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def last_frame(self) -> int:
        return int(self.frames.max()) if len(self) else 0

    @property
    def distractors(self) -> np.ndarray:
        """Rows of a distractor class (MOT16/17 ground truth only)."""
        if self.layout != "mot17":
            return np.zeros(len(self), bool)
        return np.isin(self.classes, DISTRACTOR_CLASSES)

    def select(self, mask: np.ndarray) -> MotData:
        """The rows where ``mask`` is true (or the rows ``mask`` indexes)."""
        columns = ("frames", "ids", "boxes", "scores", "classes", "considered", "lines")
        return replace(self, **{name: getattr(self, name)[mask] for name in columns})


def read_mot(path: str | os.PathLike, role: str) -> MotData:
    """Read a MOT file as ``role`` ("gt", "pred" or "det").

    Raises :class:`TrackingError` (one line naming the file, and the line at fault) for a
    missing, unreadable or empty file, or a row that is not at least 6 finite numbers.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    path = os.fspath(path)
    label = f"{_ROLE_NAMES[role]} {path}"
    if os.path.isdir(path):
        raise TrackingError(f"{label}: is a folder, not a MOT file")
    try:
        # Undecodable bytes become a non-numeric row with its line number, not a crash.
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        raise TrackingError(f"{label}: file not found") from None
    except OSError as exc:
        raise TrackingError(f"{label}: cannot read ({exc.strerror or exc})") from None
    return parse_mot(text.splitlines(), role, path)


def parse_mot(lines: Iterable[str], role: str, path: str = "<memory>") -> MotData:
    """The rows of MOT text ``lines`` (as :func:`read_mot`; ``path`` names it in messages)."""
    label = f"{_ROLE_NAMES[role]} {path}"
    rows: list[list[float]] = []
    numbers: list[int] = []
    widths: list[int] = []
    for number, line in enumerate(lines, 1):
        fields = line.replace(",", " ").split()
        if not fields:
            continue
        where = f"{label}, line {number}"
        if len(fields) < _MIN_COLUMNS:
            raise TrackingError(
                f"{where}: {len(fields)} values, a MOT row needs at least {_MIN_COLUMNS} "
                "(frame, id, left, top, width, height)"
            )
        try:
            values = [float(v) for v in fields]
        except ValueError:
            bad = next(v for v in fields if not _is_number(v))
            raise TrackingError(f"{where}: {bad[:20]!r} is not a number") from None
        if not all(np.isfinite(values)):
            raise TrackingError(f"{where}: a value is not finite ({line.strip()[:60]})")
        if not 1 <= values[0] <= MAX_FRAME or values[0] != int(values[0]):
            raise TrackingError(f"{where}: the frame must be a whole number from 1 to {MAX_FRAME}")
        if values[1] != int(values[1]) or abs(values[1]) > 2**62:
            raise TrackingError(f"{where}: the id must be a whole number")
        # A ground truth's layout is read from its width: rows of two widths are no MOT file.
        if role == "gt" and widths and len(values) != widths[0]:
            raise TrackingError(
                f"{where}: {len(values)} values where the first row has {widths[0]}"
            )
        rows.append(values[:8] + [-1.0] * (8 - min(len(values), 8)))
        numbers.append(number)
        widths.append(len(values))
    if not rows:
        raise TrackingError(f"{label}: empty, no MOT rows")
    data = _columns(np.asarray(rows, np.float64), role, path, np.asarray(widths), numbers)
    if role == "pred" and not data.considered.any():
        raise TrackingError(
            f"{label}: no row has a track id (all are -1): is it a detections file? "
            "Give it with --det to run a tracker on it"
        )
    return data


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _columns(
    table: np.ndarray, role: str, path: str, widths: np.ndarray, lines: list[int]
) -> MotData:
    frames = table[:, 0].astype(np.int64)
    ids = table[:, 1].astype(np.int64)
    # Column 7 is optional: a row without it is considered (gt) or scores 1 (results).
    scores = np.where(widths > 6, table[:, 6], 1.0)
    if role == "gt":
        # 8 or 9 values: MOT16/17's class column; 10: MOT15's world coordinates instead.
        layout = "mot17" if widths[0] in (8, 9) else "mot15"
        if layout == "mot17":
            classes = table[:, 7].astype(np.int64)
            considered = (scores != 0) & (classes == PEDESTRIAN)
        else:
            classes = np.full(len(table), PEDESTRIAN, np.int64)
            considered = scores != 0
    else:
        layout = "results"
        classes = np.full(len(table), -1, np.int64)
        considered = ids >= 0 if role == "pred" else np.ones(len(table), bool)
    return MotData(
        path,
        role,
        layout,
        frames,
        ids,
        table[:, 2:6].copy(),
        scores,
        classes,
        considered,
        np.asarray(lines, np.int64),
    )


# ------------------------------------------------------------------------------------ writing


def _row(frame: int, track_id: int, box: Iterable[float], score: float) -> str:
    left, top, width, height = (float(v) for v in box)
    return (
        f"{int(frame)},{int(track_id)},{left:.2f},{top:.2f},{width:.2f},{height:.2f},"
        f"{float(score):.6f},-1,-1,-1"
    )


def mot_lines(
    frame: int, track_ids: np.ndarray, boxes_xyxy: np.ndarray, scores: np.ndarray
) -> list[str]:
    """The MOT result rows of one frame (``frame`` from 1): ``frame,id,left,top,width,height,
    score,-1,-1,-1`` with the box in pixels to 2 decimals and the score to 6."""
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    ids = np.asarray(track_ids).reshape(-1)
    scores = np.asarray(scores, np.float64).reshape(-1)
    return [_row(frame, i, box, s) for i, box, s in zip(ids, xywh, scores)]


def data_lines(data: MotData) -> list[str]:
    """``data``'s rows in the results format, sorted by frame then id."""
    order = np.lexsort((data.ids, data.frames))
    return [
        _row(data.frames[i], data.ids[i], data.boxes[i], data.scores[i]) for i in order.tolist()
    ]


def write_mot(path: str | os.PathLike, rows: MotData | Iterable[str]) -> str:
    """Write result rows (a :class:`MotData`, or lines from :func:`mot_lines`) to ``path``
    atomically: a reader sees the previous file or the whole new one."""
    lines = data_lines(rows) if isinstance(rows, MotData) else list(rows)
    files.write_text(path, "".join(line.rstrip("\n") + "\n" for line in lines))
    return os.fspath(path)
